# expect-fail: sample_greedy_argmax, sample_greedy_ties_and_shapes, sample_rejects_bad_temperature
"""Greedy uses torch.argmax(logits) without dim=-1: one flattened index for a whole batch."""
import torch

_reference_sample = sample_next


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return torch.argmax(logits)
    return _reference_sample(logits, temperature, top_k, top_p, generator)
