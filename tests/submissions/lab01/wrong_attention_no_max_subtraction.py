# expect-fail: attention_stable_at_logits_1e4
"""Softmax without subtracting the row max: exp(1e4) = inf, exp(-1e4) = 0."""
import torch

_reference_attention = attention


def attention(q, k, v, mask=None, sm_scale=None):
    _reference_attention(q, k, v, mask, sm_scale)  # the reference's argument checks
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = (q.float() @ k.float().transpose(-1, -2)) * scale
    p = torch.exp(s)
    if mask is not None:
        p = p.masked_fill(~mask, 0.0)
    l = p.sum(-1, keepdim=True)
    p = p / torch.where(l > 0, l, torch.ones_like(l))
    return (p @ v.float()).to(q.dtype)
