# expect-fail: rubric_score_weights, rubric_score_renormalises
"""Every category weighs the same (25/25/25/25) instead of 40/30/20/10."""
_reference_rubric_score = rubric_score


def rubric_score(points):
    _reference_rubric_score(points)  # its argument checks
    parts = [e / p for e, p in points.values() if p > 0]
    score = round(100.0 * sum(parts) / len(parts), 2)
    band = "excellent" if score >= 90 else "good" if score >= 80 else "fair" if score >= 70 else "poor"
    return {"score": score, "band": band}
