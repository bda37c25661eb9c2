# expect-fail: allreduce_time_ring_example, allreduce_time_edge_cases
"""Ring all-reduce time without the (p-1)/p factor on the bandwidth term: 2 N beta."""
import math


def allreduce_time(nbytes, world_size, alpha, beta, algorithm="ring"):
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if algorithm not in ("ring", "recursive_doubling"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    p = world_size
    if algorithm == "recursive_doubling" and p & (p - 1):
        raise ValueError(f"world_size must be a power of two, got {p}")
    if p == 1:
        return 0.0
    if algorithm == "ring":
        return 2 * (p - 1) * alpha + 2 * nbytes * beta
    return math.log2(p) * (alpha + nbytes * beta)
