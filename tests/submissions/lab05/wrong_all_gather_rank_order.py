# expect-fail: ring_all_gather_on_two_ranks, ring_all_gather_matches_reference
"""All-gather that stores chunks in arrival order (own chunk first) instead of rank order."""
import torch
import torch.distributed as dist


def ring_all_gather(chunk):
    r, p = dist.get_rank(), dist.get_world_size()
    got = [chunk.clone()]
    current = chunk.contiguous()
    for _ in range(p - 1):
        incoming = torch.empty_like(current)
        ring_exchange(current, incoming)
        got.append(incoming)
        current = incoming
    return torch.cat(got, dim=0)
