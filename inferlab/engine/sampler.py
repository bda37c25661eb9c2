"""Sampler: the next token of each sequence from its last logits — greedy, or seeded temperature sampling."""
from __future__ import annotations

import torch


def make_generator(seed: int | None) -> torch.Generator | None:
    """A CPU generator for one request's draws (None: unseeded)."""
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def sample(logits: torch.Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> int:
    """One token from logits (V,): argmax (lowest index on ties) at temperature 0, else softmax(logits / T)."""
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double().cpu() / temperature, dim=-1)  # (V,)
    return int(torch.multinomial(probs, 1, generator=generator))
