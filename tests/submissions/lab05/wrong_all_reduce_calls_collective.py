# expect-fail: ring_all_reduce_on_two_ranks, ring_all_reduce_matches_all_reduce, ring_all_reduce_sends_ring_bytes, ring_all_reduce_uses_point_to_point_only
"""'Ring' all-reduce that calls torch.distributed.all_reduce: refused while graded."""
import torch.distributed as dist


def ring_all_reduce(tensor):
    dist.all_reduce(tensor)
    return tensor
