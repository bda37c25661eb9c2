# expect-fail: rubric_score_band_boundaries
"""Bands with > instead of >=: a score of exactly 90 is only 'good'."""
_reference_rubric_score = rubric_score


def rubric_score(points):
    score = _reference_rubric_score(points)["score"]
    band = "excellent" if score > 90 else "good" if score > 80 else "fair" if score > 70 else "poor"
    return {"score": score, "band": band}
