# expect-fail: sample_follows_filtered_softmax, generate_sampling_uses_seed_and_filters
"""Sampling forgets top_k and top_p: it draws from the whole tempered softmax."""
_reference_sample = sample_next


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    _reference_sample(logits[..., :1], temperature, top_k, top_p)  # argument checks
    return _reference_sample(logits, temperature, None, None, generator)
