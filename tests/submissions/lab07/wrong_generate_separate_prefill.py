# expect-fail: generate_one_target_pass_per_round, generate_positions_nothing_recomputed
"""Runs the prompt through the target in a pass of its own before the first round (one target pass
more than there are rounds, and the prompt's last position computed twice)."""
_reference_speculate = _speculate


def speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0, seed=None):
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k}")
    warm = KVModel(target)
    warm.run(prompt)  # "prefill" whose cache is then thrown away
    tokens, stats = _reference_speculate(target, draft, prompt, max_new_tokens, temperature, seed,
                                         lambda j, logits, stats: j < k)
    stats["target_calls"] += 1
    return tokens, stats
