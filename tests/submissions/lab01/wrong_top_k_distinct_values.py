# expect-fail: top_k_ties
"""top-k thresholds at the k-th largest *distinct* value: with ties it keeps smaller logits too."""
import torch

_reference_filter = top_k_top_p_filter


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    _reference_filter(logits, top_k=top_k, top_p=top_p)  # the reference's argument checks
    out = logits.clone()
    if top_k is not None:
        rows = out.reshape(-1, out.shape[-1])
        for r in rows:
            distinct = torch.unique(r, sorted=True).flip(0)
            kth = distinct[min(top_k, len(distinct)) - 1]
            r.masked_fill_(r < kth, float("-inf"))
    return _reference_filter(out, top_p=top_p)
