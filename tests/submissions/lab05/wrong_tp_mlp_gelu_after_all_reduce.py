# expect-fail: tp_mlp_on_two_ranks, tp_mlp_matches_unsharded, tp_mlp_makes_one_all_reduce_of_sharded_partials
"""gelu applied to the all-reduced output instead of to each rank's hidden shard: gelu(x W1) W2 != gelu(x W1 W2)."""
import torch
import torch.distributed as dist
import torch.nn.functional as F


def tp_mlp(x, w_up, w_down):
    r, p = dist.get_rank(), dist.get_world_size()
    h_idx = torch.tensor_split(torch.arange(w_up.shape[1]), p)[r]
    partial = (x @ w_up[:, h_idx]) @ w_down[h_idx, :]
    dist.all_reduce(partial)
    return F.gelu(partial)
