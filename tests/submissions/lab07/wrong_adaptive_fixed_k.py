# expect-fail: adaptive_beats_every_fixed_k
"""'Adaptive' speculation that always proposes 4 tokens: right tokens, no gain over the best fixed k."""


def adaptive_speculative_generate(target, draft, prompt_ids, max_new_tokens, cost_ratio=0.25,
                                  temperature=0.0, seed=None):
    return speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=temperature, seed=seed)
