# expect-fail: tp_mlp_makes_one_all_reduce_of_sharded_partials
"""No sharding at all: every rank computes the whole MLP, divides by p and all-reduces once."""
import torch.distributed as dist
import torch.nn.functional as F


def tp_mlp(x, w_up, w_down):
    out = F.gelu(x @ w_up) @ w_down / dist.get_world_size()
    dist.all_reduce(out)
    return out
