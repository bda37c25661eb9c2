# expect-fail: rubric_score_rejects_bad_points
"""Skips categories it does not know and scores an empty dict 0 instead of refusing them."""
_reference_rubric_score = rubric_score


def rubric_score(points):
    known = {c: v for c, v in points.items() if c in RUBRIC_WEIGHTS and v[1] > 0}
    if not known:
        return {"score": 0.0, "band": "poor"}
    return _reference_rubric_score(known)
