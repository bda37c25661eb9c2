# expect-fail: ring_all_reduce_on_two_ranks, ring_all_reduce_matches_all_reduce, ring_all_reduce_sends_ring_bytes
"""Ring all-reduce that assumes numel divides by p: view(p, -1) fails for numel 1, 7, 1003..."""
import torch
import torch.distributed as dist


def ring_all_reduce(tensor):
    p = dist.get_world_size()
    flat = tensor.detach().contiguous().view(-1)
    if p > 1:
        chunks = list(flat.view(p, -1))  # equal chunks only: a RuntimeError when p does not divide numel
        _ring_reduce_scatter_(chunks)
        _ring_all_gather_(chunks)
    if flat.data_ptr() != tensor.data_ptr():
        tensor.copy_(flat.view(tensor.shape))
    return tensor
