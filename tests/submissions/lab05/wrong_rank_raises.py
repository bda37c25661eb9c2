# expect-fail: ring_all_reduce_on_two_ranks, ring_all_reduce_matches_all_reduce, ring_all_reduce_sends_ring_bytes, ring_all_reduce_uses_point_to_point_only
"""One rank raises while the others wait for it in recv: the checks must fail fast, not hang."""
import torch.distributed as dist

_reference_ring_all_reduce = ring_all_reduce  # noqa: F821 - defined by the reference cells


def ring_all_reduce(tensor):
    if dist.get_world_size() > 1 and dist.get_rank() == 1:
        raise RuntimeError("rank 1 lost its buffer")
    return _reference_ring_all_reduce(tensor)
