# expect-fail: attention_matches_reference_small, attention_matches_float64_across_dtypes
"""attention always scales by D ** -0.5, ignoring the sm_scale argument."""
_reference_attention = attention


def attention(q, k, v, mask=None, sm_scale=None):
    return _reference_attention(q, k, v, mask=mask)
