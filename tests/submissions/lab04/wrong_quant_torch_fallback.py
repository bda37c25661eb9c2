# expect-fail: quantize_kernel_reads_x_once_and_writes_q_and_scale_once
"""A correct quantiser in plain torch: no Triton kernel."""


def quantize_int8(x, dim=-1):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating tensor")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim {dim} out of range")
    absmax = x.float().abs().amax(dim=dim, keepdim=True)
    scale = torch.where(absmax > 0, absmax / 127, torch.ones_like(absmax))
    q = torch.clamp(torch.round(x.float() / scale), -127, 127).to(torch.int8)
    return q, scale
