# expect-fail: split_kv_small, split_kv_matches_reference
"""Split-KV that averages the partial outputs instead of weighting each by exp(lse_i - lse)."""


@triton.jit  # noqa: F821
def _merge_partitions_kernel(po_ptr, plse_ptr, lens_ptr, o_ptr,
                             stride_pb, stride_ph, stride_ps, stride_pd, stride_lb, stride_lh, stride_ls,
                             stride_ob, stride_oh, stride_od, H, PARTITION,
                             D: tl.constexpr, SPLITS_P: tl.constexpr):  # noqa: F821
    bh = tl.program_id(0)  # noqa: F821
    b = bh // H
    h = bh % H
    ctx = tl.load(lens_ptr + b)  # noqa: F821
    n_parts = (ctx + PARTITION - 1) // PARTITION
    offs_s = tl.arange(0, SPLITS_P)  # noqa: F821
    offs_d = tl.arange(0, D)  # noqa: F821
    s_mask = offs_s < n_parts
    po = tl.load(po_ptr + b * stride_pb + h * stride_ph + offs_s[:, None] * stride_ps + offs_d[None, :] * stride_pd,
                 mask=s_mask[:, None], other=0.0)  # noqa: F821
    o = tl.sum(po, 0) / n_parts  # noqa: F821
    tl.store(o_ptr + b * stride_ob + h * stride_oh + offs_d * stride_od, o.to(o_ptr.dtype.element_ty))  # noqa: F821
