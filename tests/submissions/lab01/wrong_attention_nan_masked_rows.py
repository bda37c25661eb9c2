# expect-fail: attention_fully_masked_rows_give_zeros
"""masked_fill(-inf) then torch.softmax: a fully masked row becomes NaN instead of zeros."""
import torch

_reference_attention = attention


def attention(q, k, v, mask=None, sm_scale=None):
    _reference_attention(q, k, v, mask, sm_scale)  # the reference's argument checks
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = (q.float() @ k.float().transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v.float()).to(q.dtype)
