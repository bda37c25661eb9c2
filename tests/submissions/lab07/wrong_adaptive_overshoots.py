# expect-fail: adaptive_greedy_small, adaptive_beats_every_fixed_k
"""Confident drafting that forgets how many tokens are still owed: the last round commits too many."""


def adaptive_speculative_generate(target, draft, prompt_ids, max_new_tokens, cost_ratio=0.25,
                                  temperature=0.0, seed=None):
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    tcache, dcache = KVModel(target), KVModel(draft)
    seq, new = list(prompt), []
    stats = {"target_calls": 0, "draft_calls": 0, "accepted": [], "proposed": []}
    while len(new) < max_new_tokens:
        drafts, qs, logits = [], [], None
        while not drafts or (len(drafts) < 16 and float(torch.softmax(logits.double(), -1).max()) >= 0.7):
            logits = dcache.run(seq[dcache.length:] if not drafts else drafts[-1:])[-1]
            q = _probs(logits, temperature)
            stats["draft_calls"] += 1
            drafts.append(int(q.argmax()))
            qs.append(q)
        p = _probs(tcache.run(seq[tcache.length:] + drafts)[-(len(drafts) + 1):], temperature)
        stats["target_calls"] += 1
        out = speculative_accept(p, torch.stack(qs), torch.tensor(drafts))
        tcache.truncate(len(seq) + len(out) - 1)
        dcache.truncate(len(seq) + len(out) - 1)
        seq += out
        new += out
        stats["accepted"].append(len(out) - 1)
        stats["proposed"].append(len(drafts))
    return new, stats
