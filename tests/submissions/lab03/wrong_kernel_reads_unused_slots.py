# expect-fail: paged_attention_awkward_tables, paged_attention_grouped_query_heads
"""Loads whole blocks and masks only the scores: NaN in a slot past the context turns into NaN output (0 * NaN)."""


@triton.jit  # noqa: F821
def _unmasked_v_kernel(q_ptr, k_ptr, v_ptr, bt_ptr, lens_ptr, o_ptr, sm_scale,
                       stride_qb, stride_qh, stride_kb, stride_ks, stride_kh, stride_btb, stride_ob, stride_oh,
                       BLOCK_SIZE: tl.constexpr, BS_P: tl.constexpr, GROUP: tl.constexpr,  # noqa: F821
                       GROUP_P: tl.constexpr, D: tl.constexpr):  # noqa: F821
    b = tl.program_id(0)  # noqa: F821
    kvh = tl.program_id(1)  # noqa: F821
    ctx = tl.load(lens_ptr + b)  # noqa: F821
    offs_g = tl.arange(0, GROUP_P)  # noqa: F821
    offs_d = tl.arange(0, D)  # noqa: F821
    offs_s = tl.arange(0, BS_P)  # noqa: F821
    g_mask = offs_g < GROUP
    heads = kvh * GROUP + offs_g
    q = tl.load(q_ptr + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :], mask=g_mask[:, None], other=0.0)
    q = q.to(tl.float32)  # noqa: F821
    m_i = tl.full([GROUP_P], float("-inf"), tl.float32)  # noqa: F821
    l_i = tl.zeros([GROUP_P], tl.float32)  # noqa: F821
    acc = tl.zeros([GROUP_P, D], tl.float32)  # noqa: F821
    for j in range(0, (ctx + BLOCK_SIZE - 1) // BLOCK_SIZE):
        blk = tl.load(bt_ptr + b * stride_btb + j).to(tl.int64)  # noqa: F821
        tok = j * BLOCK_SIZE + offs_s
        in_blk = offs_s < BLOCK_SIZE
        off = blk * stride_kb + offs_s[:, None] * stride_ks + kvh * stride_kh + offs_d[None, :]
        k = tl.load(k_ptr + off, mask=in_blk[:, None], other=0.0).to(tl.float32)  # noqa: F821
        v = tl.load(v_ptr + off, mask=in_blk[:, None], other=0.0).to(tl.float32)  # noqa: F821
        s = tl.where(((tok < ctx) & in_blk)[None, :], tl.dot(q, tl.trans(k)) * sm_scale, float("-inf"))  # noqa: F821
        m_new = tl.maximum(m_i, tl.max(s, 1))  # noqa: F821
        alpha = tl.exp(m_i - m_new)  # noqa: F821
        p = tl.exp(s - m_new[:, None])  # noqa: F821
        l_i = l_i * alpha + tl.sum(p, 1)  # noqa: F821
        acc = acc * alpha[:, None] + tl.dot(p, v)  # noqa: F821
        m_i = m_new
    o = acc / l_i[:, None]
    tl.store(o_ptr + b * stride_ob + heads[:, None] * stride_oh + offs_d[None, :],  # noqa: F821
             o.to(o_ptr.dtype.element_ty), mask=g_mask[:, None])


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)  # noqa: F821
    o = torch.empty_like(q)  # noqa: F821
    g = H // h_kv
    _unmasked_v_kernel[(B, h_kv)](q, k_cache, v_cache, block_tables, context_lens, o, sm_scale,
                                  q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
                                  block_tables.stride(0), o.stride(0), o.stride(1),
                                  BLOCK_SIZE=bs, BS_P=max(16, triton.next_power_of_2(bs)), GROUP=g,  # noqa: F821
                                  GROUP_P=max(16, triton.next_power_of_2(g)), D=D)  # noqa: F821
    return o
