# expect-fail: paged_attention_reads_kv_once_per_group
"""One program per query head (KV head h // G, the right one): each KV block is loaded G times per group."""


@triton.jit  # noqa: F821
def _per_head_kernel(q_ptr, k_ptr, v_ptr, bt_ptr, lens_ptr, o_ptr, sm_scale,
                     stride_qb, stride_qh, stride_kb, stride_ks, stride_kh, stride_btb, stride_ob, stride_oh,
                     BLOCK_SIZE: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr,  # noqa: F821
                     BLOCK_N: tl.constexpr):  # noqa: F821
    b = tl.program_id(0)  # noqa: F821
    h = tl.program_id(1)  # noqa: F821
    kvh = h // GROUP
    ctx = tl.load(lens_ptr + b)  # noqa: F821
    offs_d = tl.arange(0, D)  # noqa: F821
    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + offs_d).to(tl.float32)  # noqa: F821
    m_i = float("-inf")
    l_i = 0.0
    acc = tl.zeros([D], tl.float32)  # noqa: F821
    for start in range(0, ctx, BLOCK_N):
        tok = start + tl.arange(0, BLOCK_N)  # noqa: F821
        t_mask = tok < ctx
        blk = tl.load(bt_ptr + b * stride_btb + tok // BLOCK_SIZE, mask=t_mask, other=0).to(tl.int64)  # noqa: F821
        off = blk[:, None] * stride_kb + (tok % BLOCK_SIZE)[:, None] * stride_ks + kvh * stride_kh + offs_d[None, :]
        k = tl.load(k_ptr + off, mask=t_mask[:, None], other=0.0).to(tl.float32)  # noqa: F821
        v = tl.load(v_ptr + off, mask=t_mask[:, None], other=0.0).to(tl.float32)  # noqa: F821
        s = tl.where(t_mask, tl.sum(q[None, :] * k, 1) * sm_scale, float("-inf"))  # noqa: F821
        m_new = tl.maximum(m_i, tl.max(s, 0))  # noqa: F821
        alpha = tl.exp(m_i - m_new)  # noqa: F821
        p = tl.exp(s - m_new)  # noqa: F821
        l_i = l_i * alpha + tl.sum(p, 0)  # noqa: F821
        acc = acc * alpha + tl.sum(p[:, None] * v, 0)  # noqa: F821
        m_i = m_new
    tl.store(o_ptr + b * stride_ob + h * stride_oh + offs_d, (acc / l_i).to(o_ptr.dtype.element_ty))  # noqa: F821


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)  # noqa: F821
    o = torch.empty_like(q)  # noqa: F821
    _per_head_kernel[(B, H)](q, k_cache, v_cache, block_tables, context_lens, o, sm_scale,
                             q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
                             block_tables.stride(0), o.stride(0), o.stride(1),
                             BLOCK_SIZE=bs, GROUP=H // h_kv, D=D, BLOCK_N=32)
    return o
