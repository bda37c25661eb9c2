# expect-fail: quantize_rejects_bad_input
"""No input checks: an integer x, a bad dim, a float q or a mismatched scale go through or fail oddly."""
_reference_quantize = quantize_int8


def quantize_int8(x, dim=-1):
    if not x.is_floating_point():
        x = x.float()
    return _reference_quantize(x, dim=max(-x.dim(), min(dim, x.dim() - 1)))


def dequantize_int8(q, scale):
    return q.float() * scale.float()
