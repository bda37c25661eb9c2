# expect-fail: causal_mask_square, causal_mask_rectangular, generate_greedy_small, generate_greedy_matches_reference, generate_prompt_of_length_one, generate_cache_counts_small, generate_processes_each_token_once
"""Off-by-one causal mask: a query may not see its own key (j < i + offset), so generate goes wrong too."""
import torch


def causal_mask(n_q, n_k, device=None):
    if n_q < 1 or n_k < 1 or n_q > n_k:
        raise ValueError(f"need 1 <= n_q <= n_k, got n_q={n_q}, n_k={n_k}")
    i = torch.arange(n_q, device=device)[:, None]
    j = torch.arange(n_k, device=device)[None, :]
    return j < i + (n_k - n_q)
