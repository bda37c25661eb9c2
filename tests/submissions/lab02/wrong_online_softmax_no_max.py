# expect-fail: online_softmax_hard_inputs
"""online_softmax streams a running sum of exp(x) without a running max: overflow at magnitude 1e4."""


def online_softmax(x, block_size=128):
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    xs = x.float()
    l = torch.zeros(xs.shape[:-1])
    for start in range(0, xs.shape[-1], block_size):
        l = l + torch.exp(xs[..., start:start + block_size]).sum(-1)
    return (torch.exp(xs) / l[..., None]).to(x.dtype)
