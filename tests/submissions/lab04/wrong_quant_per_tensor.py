# expect-fail: quantize_int8_rows, quantize_int8_every_dim_dtype_and_edge, quantize_kernel_reads_x_once_and_writes_q_and_scale_once
"""One scale for the whole tensor (per-tensor), broadcast to the per-slice shape."""


def quantize_int8(x, dim=-1):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating tensor")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim {dim} out of range")
    d = dim % x.dim()
    absmax = x.float().abs().max()
    scale = absmax / 127 if absmax > 0 else torch.tensor(1.0)
    q = torch.clamp(torch.round(x.float() / scale), -127, 127).to(torch.int8)
    shape = [1 if i == d else n for i, n in enumerate(x.shape)]
    return q, scale.expand(shape).contiguous()
