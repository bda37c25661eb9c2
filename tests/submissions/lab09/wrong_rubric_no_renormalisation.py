# expect-fail: rubric_score_renormalises, rubric_score_band_boundaries
"""Divides by 100 whatever categories are present: a lab without frontier checks can never reach 100."""
_reference_rubric_score = rubric_score


def rubric_score(points):
    _reference_rubric_score(points)  # its argument checks
    num = sum(RUBRIC_WEIGHTS[c] * e / p for c, (e, p) in points.items() if p > 0)
    score = round(num, 2)
    band = "excellent" if score >= 90 else "good" if score >= 80 else "fair" if score >= 70 else "poor"
    return {"score": score, "band": band}
