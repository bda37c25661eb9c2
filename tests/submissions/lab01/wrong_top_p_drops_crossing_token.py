# expect-fail: filter_top_k_and_top_p_small, top_p_exact_sets, top_k_then_top_p, sample_follows_filtered_softmax
"""top-p keeps tokens while the inclusive cumulative sum is <= p: the token that crosses p is dropped."""
import torch

_reference_filter = top_k_top_p_filter


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    out = _reference_filter(logits, top_k=top_k)
    _reference_filter(logits, top_p=top_p)  # the reference's argument checks
    if top_p is None:
        return out
    probs = torch.softmax(out.float(), -1)
    sp, order = torch.sort(probs, -1, descending=True)
    drop = torch.cumsum(sp, -1) > top_p
    drop[..., 0] = False
    return out.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
