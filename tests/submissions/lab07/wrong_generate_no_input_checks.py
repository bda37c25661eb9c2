# expect-fail: generate_rejects_bad_input
"""No argument checks: k = 0 silently becomes plain decoding, a negative temperature runs."""


def speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0, seed=None):
    prompt = [int(t) for t in prompt_ids]
    return _speculate(target, draft, prompt, max(max_new_tokens, 0), abs(temperature), seed,
                      lambda j, logits, stats: j < k)
