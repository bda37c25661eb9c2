"""The interview's answer key: every quantitative question's expected value, from the SPEC formulas.

Plain functions of plain numbers, written here from the course's interface page
(labs 01-05's graded formulas and the formulas of sections 6-9), so the grader
never imports a lab's solution and a lab still being written cannot change an
interview's expected values. Each function validates nothing beyond what the
generator needs: the generator only calls them with parameters it drew itself.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from fractions import Fraction


# §1 · inference basics ----------------------------------------------------------------------

def kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, batch_size=1, dtype_bytes=2) -> int:
    """K and V of every layer: 2 · L · H_kv · D · N · B · bytes."""
    return 2 * num_layers * num_kv_heads * head_dim * seq_len * batch_size * dtype_bytes


def matmul_cost(m, n, k, dtype_bytes=2) -> tuple[int, int]:
    """(FLOPs 2mnk, bytes (mk + kn + mn) · dtype_bytes) of an (m, k) @ (k, n) product."""
    return 2 * m * n * k, (m * k + k * n + m * n) * dtype_bytes


def roofline_time(flops, nbytes, peak_flops, peak_bandwidth) -> float:
    """Seconds on a roofline: the slower of compute and memory traffic."""
    return max(flops / peak_flops, nbytes / peak_bandwidth)


def arithmetic_intensity(m, n, k, dtype_bytes=2) -> float:
    """FLOPs per byte moved by an (m, k) @ (k, n) product."""
    flops, nbytes = matmul_cost(m, n, k, dtype_bytes)
    return flops / nbytes


# §2 · FlashAttention ------------------------------------------------------------------------

def attention_scores_bytes(batch, heads, n_q, n_k, dtype_bytes=4) -> int:
    """Bytes of the Nq x Nk score matrix that standard attention materialises."""
    return batch * heads * n_q * n_k * dtype_bytes


def flash_tiles(n, block_m, block_n, causal=False) -> int:
    """(query block, key block) tiles one FlashAttention program grid computes for one (batch, head)."""
    q_blocks = math.ceil(n / block_m)
    if not causal:
        return q_blocks * math.ceil(n / block_n)
    # query block i covers rows up to min((i+1)·BM, N) - 1; causal keys reach that row
    return sum(math.ceil(min((i + 1) * block_m, n) / block_n) for i in range(q_blocks))


def flash_kv_bytes(batch, heads, n_q, n_k, head_dim, block_m, dtype_bytes=2) -> int:
    """Bytes of K and V read from HBM by non-causal FlashAttention: every query block reads all of K and V."""
    return batch * heads * math.ceil(n_q / block_m) * 2 * n_k * head_dim * dtype_bytes


# §3 · PagedAttention ------------------------------------------------------------------------

def paged_blocks(seq_lens, block_size) -> int:
    """Blocks a paged cache holds for these sequences: Σ ceil(len / block_size)."""
    return sum(math.ceil(s / block_size) for s in seq_lens)


def kv_memory_waste(seq_lens, max_seq_len, block_size) -> dict:
    """Unused share of reserved KV slots: contiguous (max_seq_len each) vs paged (whole blocks)."""
    used = sum(seq_lens)
    contiguous = 1.0 - used / (len(seq_lens) * max_seq_len)
    paged = 1.0 - used / (paged_blocks(seq_lens, block_size) * block_size)
    return {"contiguous": contiguous, "paged": paged}


# §4 · KV cache tiers ------------------------------------------------------------------------

def policy_hits(trace, capacity, policy) -> int:
    """Hits of one cache of `capacity` entries under lru, lfu (ties: least recent) or fifo on `trace`."""
    if policy not in ("lru", "lfu", "fifo"):
        raise ValueError(f"policy must be lru, lfu or fifo, got {policy!r}")
    order: OrderedDict = OrderedDict()   # key -> [frequency, last use]; insertion order = FIFO order
    hits = 0
    for t, key in enumerate(trace):
        if key in order:
            hits += 1
            order[key][0] += 1
            order[key][1] = t
            if policy == "lru":
                order.move_to_end(key)
            continue
        if len(order) >= capacity:
            if policy == "lfu":
                victim = min(order, key=lambda k: (order[k][0], order[k][1]))
            else:  # lru keeps recency order, fifo insertion order: the first entry is the victim
                victim = next(iter(order))
            del order[victim]
        order[key] = [1, t]
    return hits


# §5 · collectives ---------------------------------------------------------------------------

def allreduce_time(nbytes, world_size, alpha, beta, algorithm="ring") -> float:
    """α-β model: ring 2(p-1)α + 2(p-1)/p·n·β; recursive doubling log2(p)(α + nβ); p = 1 costs 0."""
    p = world_size
    if p == 1:
        return 0.0
    if algorithm == "ring":
        return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta
    if algorithm == "recursive_doubling":
        return math.log2(p) * (alpha + nbytes * beta)
    raise ValueError(f"algorithm must be ring or recursive_doubling, got {algorithm!r}")


def pipeline_bubble_fraction(num_stages, num_microbatches) -> float:
    """Idle share of a GPipe-style schedule: (p-1)/(m+p-1)."""
    return (num_stages - 1) / (num_microbatches + num_stages - 1)


def microbatches_for_bubble(num_stages, max_fraction) -> int:
    """Fewest micro-batches m with (p-1)/(m+p-1) <= max_fraction (exact arithmetic)."""
    p, f = num_stages, Fraction(str(max_fraction))
    return max(1, math.ceil((p - 1) * (1 - f) / f))


# §6 · serving metrics (lab06's formulas) ----------------------------------------------------

def ttft(record) -> float:
    """Time to first token: token_times[0] - arrival."""
    return record["token_times"][0] - record["arrival"]


def tpot(record):
    """Time per output token after the first: (last - first) / (n - 1); None for one token."""
    times = record["token_times"]
    if len(times) < 2:
        return None
    return (times[-1] - times[0]) / (len(times) - 1)


def goodput(records, ttft_slo, tpot_slo) -> float:
    """Requests per second that met both SLOs, over first arrival .. last token."""
    if not records:
        return 0.0
    good = sum(1 for r in records if ttft(r) <= ttft_slo and (tpot(r) is None or tpot(r) <= tpot_slo))
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    return good / span


# §7 · speculative decoding ------------------------------------------------------------------

def expected_accepted_tokens(alpha, k) -> float:
    """Tokens per target call with k drafted tokens, each accepted with probability α: (1-α^(k+1))/(1-α)."""
    if alpha == 1:
        return float(k + 1)
    return (1 - alpha ** (k + 1)) / (1 - alpha)


def speculative_speedup(alpha, k, draft_cost) -> float:
    """Tokens per unit of target time: E[tokens] / (1 + k · draft_cost), draft_cost = draft/target step time."""
    return expected_accepted_tokens(alpha, k) / (1 + k * draft_cost)


# §8 · capacity ------------------------------------------------------------------------------

def max_concurrent_sequences(gpu_bytes, weight_bytes, kv_bytes_per_token, seq_len, reserve_fraction=0.1) -> int:
    """floor((gpu · (1 - reserve) - weights) / (kv per token · seq_len)), 0 when negative."""
    free = gpu_bytes * (1 - reserve_fraction) - weight_bytes
    return max(0, math.floor(free / (kv_bytes_per_token * seq_len)))
