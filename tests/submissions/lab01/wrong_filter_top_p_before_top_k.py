# expect-fail: top_k_then_top_p
"""Both filters given: top-p on the full distribution first, then top-k (the wrong order)."""
_reference_filter = top_k_top_p_filter


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    _reference_filter(logits, top_k=top_k, top_p=top_p)  # the reference's argument checks
    return _reference_filter(_reference_filter(logits, top_p=top_p), top_k=top_k)
