# expect-fail: tp_mlp_makes_one_all_reduce_of_sharded_partials
"""Up projection sharded by rows (the input dimension): needs an all-reduce before the gelu, two in all."""
import torch
import torch.distributed as dist
import torch.nn.functional as F


def tp_mlp(x, w_up, w_down):
    r, p = dist.get_rank(), dist.get_world_size()
    d_idx = torch.tensor_split(torch.arange(w_up.shape[0]), p)[r]
    h_idx = torch.tensor_split(torch.arange(w_up.shape[1]), p)[r]
    pre = x[..., d_idx] @ w_up[d_idx, :]          # partial pre-activation
    dist.all_reduce(pre)                           # 1st all-reduce
    partial = F.gelu(pre[..., h_idx]) @ w_down[h_idx, :]
    dist.all_reduce(partial)                       # 2nd all-reduce
    return partial
