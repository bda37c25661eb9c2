# expect-fail: generate_sampling_uses_seed_and_filters
"""generate accepts temperature/top_k/top_p/seed but always decodes greedily."""
_reference_generate = generate


def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0, top_k=None, top_p=None,
             seed=None):
    return _reference_generate(model, prompt_ids, max_new_tokens, use_cache=use_cache)
