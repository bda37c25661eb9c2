# expect-fail: ring_reduce_scatter_on_two_ranks, ring_reduce_scatter_matches_reference
"""Reduce-scatter that returns the chunk the ring finished next to this rank's: chunk r+1, not r."""
import torch
import torch.distributed as dist


def ring_reduce_scatter(tensor):
    r, p = dist.get_rank(), dist.get_world_size()
    flat = tensor.detach().reshape(-1).clone()
    chunks = list(torch.tensor_split(flat, p))
    _ring_reduce_scatter_(chunks)
    return chunks[(r + 1) % p].clone()
