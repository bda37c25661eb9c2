# expect-fail: ring_all_reduce_sends_ring_bytes
"""All-reduce by sending the whole tensor to every other rank: right sum, (p-1) * N bytes per rank."""
import torch
import torch.distributed as dist


def ring_all_reduce(tensor):
    r, p = dist.get_rank(), dist.get_world_size()
    flat = tensor.detach().contiguous().view(-1)
    mine = flat.clone()
    reqs = [dist.isend(mine, q) for q in range(p) if q != r]
    total = torch.zeros_like(mine)
    for q in range(p):
        if q == r:
            total += mine
        else:
            buf = torch.empty_like(mine)
            dist.recv(buf, q)
            total += buf
    for req in reqs:
        req.wait()
    flat.copy_(total)
    if flat.data_ptr() != tensor.data_ptr():
        tensor.copy_(flat.view(tensor.shape))
    return tensor
