# expect-fail: sample_reproducible_with_generator, generate_sampling_uses_seed_and_filters
"""Sampling ignores the generator argument (the global RNG is used): seeds reproduce nothing."""
_reference_sample = sample_next


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    return _reference_sample(logits, temperature, top_k, top_p, None)
