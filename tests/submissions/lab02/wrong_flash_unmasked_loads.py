# expect-fail: flash_attention_no_out_of_bounds
"""The padding keys are masked (scores -inf, values 0), but the loads of the last K/V tile are not: they run past Nk."""


@triton.jit
def _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn, stride_vd,
                offs_m, offs_n, offs_d, lo, hi, n_k, qk_scale,
                MASK_KEYS: tl.constexpr, MASK_CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr,
                INPUT_PRECISION: tl.constexpr):
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        kt = tl.load(k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kd)
        v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd)
        v = tl.where(cols[:, None] < n_k, v, 0.0)  # whatever lies past Nk (NaN too) must not reach acc
        s = tl.dot(q, kt, input_precision=INPUT_PRECISION) * qk_scale
        if MASK_KEYS:
            s = tl.where(cols[None, :] < n_k, s, float("-inf"))
        if MASK_CAUSAL:
            s = tl.where(offs_m[:, None] >= cols[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.math.exp2(m_i - m_new)
        p = tl.math.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=INPUT_PRECISION)
        m_i = m_new
    return acc, l_i, m_i
