# expect-fail: sample_follows_temperature_softmax
"""Sampling draws from softmax(logits) whatever the temperature (only 0 is honoured, as argmax)."""
_reference_sample = sample_next


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return _reference_sample(logits, 0.0, top_k, top_p, generator)
    _reference_sample(logits[..., :1], temperature, top_k, top_p)  # argument checks
    return _reference_sample(logits, 1.0, top_k, top_p, generator)
