# expect-fail: sample_greedy_ties_and_shapes
"""Greedy breaks ties toward the highest index instead of the lowest."""
import torch

_reference_sample = sample_next


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        V = logits.shape[-1]
        return V - 1 - torch.argmax(logits.flip(-1), dim=-1)
    return _reference_sample(logits, temperature, top_k, top_p, generator)
