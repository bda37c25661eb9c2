"""Inputs of checks: fresh, seeded from the check's generator (so a reported seed replays a grade).

    seed(rng) · py_random(rng) · randint(rng, lo, hi)   numbers for other generators; awkward sizes
    randn(rng, *shape, dtype, scale)                    drawn in float64, then cast
    qkv(rng, B, H, Nq, Nk, D, dtype, scale)             attention inputs (B, H, N, D)
    exact_kv(rng, t, h_kv, d)                           KV exact in every dtype (multiples of 1/64)
    paged_inputs(rng, lens=..., ...)                    caches + block tables: shared blocks, garbage
                                                        table entries, poisoned unused slots
Traces of requests live in `inferlab.traces` (the course's workload generator).
"""
from __future__ import annotations

import random

import torch

from inferlab.grading.answers import cdiv


def seed(rng: torch.Generator, high: int = 2**62) -> int:
    """An int in [0, high) drawn from the check's generator."""
    return int(torch.randint(0, high, (1,), generator=rng))


def py_random(rng: torch.Generator) -> random.Random:
    """A Python RNG seeded from the check's torch generator (reproducible from the reported seed)."""
    return random.Random(seed(rng))


def randint(rng: torch.Generator, lo: int, hi: int) -> int:
    """An int in [lo, hi] (both included): awkward sizes."""
    return int(torch.randint(lo, hi + 1, (1,), generator=rng))


def randn(rng: torch.Generator, *shape, dtype=torch.float32, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, generator=rng, dtype=torch.float64) * scale).to(dtype)


def qkv(rng: torch.Generator, b: int, h: int, nq: int, nk: int, d: int, dtype=torch.float32, scale: float = 1.0):
    """q (b, h, nq, d), k and v (b, h, nk, d); q and k scaled by `scale` (large logits)."""
    return (randn(rng, b, h, nq, d, dtype=dtype, scale=scale), randn(rng, b, h, nk, d, dtype=dtype, scale=scale),
            randn(rng, b, h, nk, d, dtype=dtype))


def exact_kv(rng: torch.Generator, t: int, h_kv: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, v) of t tokens, float32 values exact in every dtype used here (multiples of 1/64 in [-4, 4])."""
    k = (torch.randint(-256, 257, (t, h_kv, d), generator=rng) / 64.0).float()
    v = (torch.randint(-256, 257, (t, h_kv, d), generator=rng) / 64.0).float()
    return k, v


def paged_inputs(rng: torch.Generator, *, lens, h: int, h_kv: int, d: int, bs: int, dtype, num_blocks=None,
                 extra_cols: int = 3, share: bool = True, garbage: str = "mixed", poison: bool = True):
    """(q, k_cache, v_cache, block_tables, seq_lens) of a decode batch over a paged cache.

    The tables are non-contiguous, share full blocks of the first sequence now and then (a
    forked prompt), and hold garbage past each context (-1, out-of-range ids or a real block:
    garbage="mixed" | "minus1"); with poison=True every cache slot no context uses holds NaN
    or 6e4, so reading one shows in the output.
    """
    pr = py_random(rng)
    b_n = len(lens)
    need = [cdiv(n, bs) for n in lens]
    num_blocks = num_blocks or sum(need) + 5
    perm = torch.randperm(num_blocks, generator=rng).tolist()
    tables, used = [], 0
    for i, nb in enumerate(need):
        row = []
        for j in range(nb):
            if share and i > 0 and j < need[0] - 1 and j < nb - 1 and pr.random() < 0.5:
                row.append(tables[0][j])
            else:
                row.append(perm[used])
                used += 1
        tables.append(row)
    max_blocks = max(need) + extra_cols
    bt = torch.empty(b_n, max_blocks, dtype=torch.int32)
    for i, row in enumerate(tables):
        for j in range(max_blocks):
            if j < len(row):
                bt[i, j] = row[j]
            elif garbage == "minus1" or (garbage == "mixed" and pr.random() < 0.5):
                bt[i, j] = -1
            else:
                bt[i, j] = pr.choice([num_blocks + 7, 2**30, pr.randrange(num_blocks)])
    kc = torch.randn(num_blocks, bs, h_kv, d, generator=rng)
    vc = torch.randn(num_blocks, bs, h_kv, d, generator=rng)
    if poison:
        keep = torch.zeros(num_blocks, bs, dtype=torch.bool)
        for i, row in enumerate(tables):
            for p in range(lens[i]):
                keep[row[p // bs], p % bs] = True
        junk = torch.where(torch.rand(num_blocks, bs, generator=rng) < 0.5, float("nan"), 6.0e4)
        kc = torch.where(keep[:, :, None, None], kc, junk[:, :, None, None])
        vc = torch.where(keep[:, :, None, None], vc, junk[:, :, None, None])
    q = torch.randn(b_n, h, d, generator=rng)
    lens_t = torch.tensor(lens, dtype=torch.int32)
    return q.to(dtype), kc.to(dtype), vc.to(dtype), bt, lens_t
