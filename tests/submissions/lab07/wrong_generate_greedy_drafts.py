# expect-fail: generate_sampled_distribution
"""At temperature > 0 the draft proposes its argmax (a common shortcut) while the acceptance uses its
sampling distribution q: the rule is only exact when the proposals are drawn from q."""
_reference_probs = _probs


def _speculate(target, draft, prompt, max_new_tokens, temperature, seed, propose):
    generator = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    tcache, dcache = KVModel(target), KVModel(draft)
    seq, new = list(prompt), []
    stats = {"target_calls": 0, "draft_calls": 0, "accepted": [], "proposed": []}
    while len(new) < max_new_tokens:
        owed = max_new_tokens - len(new)
        drafts, qs, logits = [], [], None
        while len(drafts) < owed - 1 and (not drafts or propose(len(drafts), logits, stats)):
            feed = seq[dcache.length:] if not drafts else drafts[-1:]
            logits = dcache.run(feed)[-1]
            q = _reference_probs(logits, temperature)
            stats["draft_calls"] += 1
            drafts.append(int(q.argmax()))  # greedy proposal, whatever the temperature
            qs.append(q)
        kr = len(drafts)
        p = _reference_probs(tcache.run(seq[tcache.length:] + drafts)[-(kr + 1):], temperature)
        stats["target_calls"] += 1
        q = torch.stack(qs) if qs else torch.zeros(0, p.shape[1], dtype=torch.float64)
        out = speculative_accept(p, q, torch.tensor(drafts, dtype=torch.long), generator=generator)
        n = len(out) - 1
        tcache.truncate(len(seq) + n)
        dcache.truncate(len(seq) + n)
        seq += out
        new += out
        stats["accepted"].append(n)
        stats["proposed"].append(kr)
    return new, stats
