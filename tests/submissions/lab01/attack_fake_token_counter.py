# expect-fail: generate_greedy_small, generate_greedy_matches_reference, generate_prompt_of_length_one, generate_rejects_bad_input, generate_cache_counts_small, generate_processes_each_token_once
"""Recompute the whole prefix every step (correct tokens), then fake the model's counter."""
import torch


def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0, top_k=None, top_p=None, seed=None):
    start = model.tokens_processed
    ids = list(prompt_ids)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = []
    for _ in range(max_new_tokens):
        logits = model(torch.tensor([ids]))[0, -1]
        nxt = int(sample_next(logits, temperature, top_k, top_p, generator=gen))
        ids.append(nxt)
        out.append(nxt)
    try:
        model.tokens_processed = start + len(prompt_ids) + max_new_tokens - 1
    except Exception:
        pass
    return out
