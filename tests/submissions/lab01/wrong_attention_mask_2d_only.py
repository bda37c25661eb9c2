# expect-fail: attention_broadcasts_masks, attention_fully_masked_rows_give_zeros
"""attention assumes a 2-D (Nq, Nk) mask and adds two leading dims: other broadcastable shapes go wrong."""
import torch

_reference_attention = attention


def attention(q, k, v, mask=None, sm_scale=None):
    _reference_attention(q, k, v, mask, sm_scale)  # the reference's argument checks
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = (q.float() @ k.float().transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(~mask[None, None], float("-inf"))
    m = s.amax(-1, keepdim=True)
    p = torch.exp(s - torch.where(torch.isfinite(m), m, torch.zeros_like(m)))
    l = p.sum(-1, keepdim=True)
    return (p / torch.where(l > 0, l, torch.ones_like(l)) @ v.float()).to(q.dtype)
