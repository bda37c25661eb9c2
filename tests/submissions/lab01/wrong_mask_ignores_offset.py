# expect-fail: causal_mask_rectangular
"""causal_mask forgets that the queries are the *last* n_q positions: query i sees keys j <= i."""
import torch


def causal_mask(n_q, n_k, device=None):
    if n_q < 1 or n_k < 1 or n_q > n_k:
        raise ValueError(f"need 1 <= n_q <= n_k, got n_q={n_q}, n_k={n_k}")
    i = torch.arange(n_q, device=device)[:, None]
    j = torch.arange(n_k, device=device)[None, :]
    return j <= i
