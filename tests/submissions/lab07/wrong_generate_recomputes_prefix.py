# expect-fail: generate_positions_nothing_recomputed
"""Right tokens and one target pass per round, but no KV cache: every pass reruns the whole sequence
(prompt + accepted tokens + proposals) through each model."""
import torch


@torch.no_grad()
def speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0, seed=None):
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    seq, new = list(prompt), []
    stats = {"target_calls": 0, "draft_calls": 0, "accepted": [], "proposed": []}
    while len(new) < max_new_tokens:
        kr = min(k, max_new_tokens - len(new) - 1)
        drafts, qs = [], []
        for _ in range(kr):
            q = _probs(draft(torch.tensor([seq + drafts]))[0, -1], temperature)  # the whole sequence again
            stats["draft_calls"] += 1
            drafts.append(int(q.argmax()) if temperature == 0 else int(torch.multinomial(q, 1, generator=generator)))
            qs.append(q)
        p = _probs(target(torch.tensor([seq + drafts]))[0, -(kr + 1):], temperature)  # (kr + 1, V)
        stats["target_calls"] += 1
        q = torch.stack(qs) if qs else torch.zeros(0, p.shape[1], dtype=torch.float64)
        out = speculative_accept(p, q, torch.tensor(drafts, dtype=torch.long), generator=generator)
        stats["accepted"].append(len(out) - 1)
        stats["proposed"].append(kr)
        seq += out
        new += out
    return new, stats
