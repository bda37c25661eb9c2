# expect-fail: generate_cache_counts_small, generate_processes_each_token_once
"""generate ignores use_cache and reruns the whole prefix every step: right tokens, quadratic work."""
_reference_generate = generate


def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0, top_k=None, top_p=None,
             seed=None):
    return _reference_generate(model, prompt_ids, max_new_tokens, use_cache=False, temperature=temperature,
                               top_k=top_k, top_p=top_p, seed=seed)
