# expect-fail: ring_all_reduce_on_two_ranks, ring_all_reduce_matches_all_reduce, ring_all_reduce_sends_ring_bytes, ring_all_reduce_uses_point_to_point_only
"""Collectives reached around the patched module attributes: a name bound before grading, the
ProcessGroup object itself, and a try/except that swallows the refusal."""
from torch.distributed import all_reduce as _early_all_reduce
import torch.distributed as dist
from torch.distributed.distributed_c10d import _get_default_group


def ring_all_reduce(tensor):
    try:
        _early_all_reduce(tensor)
    except Exception:  # noqa: BLE001
        _get_default_group().allreduce([tensor]).wait()
    return tensor
