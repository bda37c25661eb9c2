# expect-fail: generate_greedy_small, generate_greedy_any_k, generate_one_target_pass_per_round
"""Never rolls the caches back: rejected proposals stay in both KV caches, so every later position
attends to tokens that are not in the text."""


def speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0, seed=None):
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    tcache, dcache = KVModel(target), KVModel(draft)
    seq, new, fed_t, fed_d = list(prompt), [], 0, 0  # committed tokens each model has been fed
    stats = {"target_calls": 0, "draft_calls": 0, "accepted": [], "proposed": []}
    while len(new) < max_new_tokens:
        kr = min(k, max_new_tokens - len(new) - 1)
        drafts, qs = [], []
        for _ in range(kr):
            feed = drafts[-1:] if drafts else seq[fed_d:]
            q = _probs(dcache.run(feed)[-1], temperature)
            stats["draft_calls"] += 1
            drafts.append(int(q.argmax()) if temperature == 0 else int(torch.multinomial(q, 1, generator=generator)))
            qs.append(q)
        p = _probs(tcache.run(seq[fed_t:] + drafts)[-(kr + 1):], temperature)
        stats["target_calls"] += 1
        q = torch.stack(qs) if qs else torch.zeros(0, p.shape[1], dtype=torch.float64)
        out = speculative_accept(p, q, torch.tensor(drafts, dtype=torch.long), generator=generator)
        n = len(out) - 1
        fed_t = len(seq) + n  # the caches keep every proposal, accepted or not
        fed_d = len(seq) + min(n, max(kr - 1, 0)) if kr else fed_d
        seq += out
        new += out
        stats["accepted"].append(n)
        stats["proposed"].append(kr)
    return new, stats
