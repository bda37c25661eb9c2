# expect-fail: flash_attention_small, flash_attention_awkward_sizes, flash_attention_causal, flash_attention_lse, flash_attention_large_logits, flash_attention_stores_only_o_and_lse, flash_attention_reads_kv_per_query_block, flash_attention_causal_skips_tiles, flash_attention_no_out_of_bounds, flash_attention_kernel_made_outputs
"""Materialise the scores (too many bytes stored), then hide the stores from the byte counter."""


@triton.jit
def _attn_tiles_s(acc, l_i, m_i, q, k_base, v_base, s_base, stride_kn, stride_kd, stride_vn, stride_vd,
                offs_m, offs_n, offs_d, lo, hi, n_k, qk_scale,
                N_Q, MASK_KEYS: tl.constexpr, MASK_CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr,
                INPUT_PRECISION: tl.constexpr):
    """Fold the key tiles [lo, hi) into (acc, l_i, m_i); scores in log2 units (scale already holds log2 e)."""
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n  # (BLOCK_N,) key indices of this tile
        kt_ptrs = k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kd  # (D, BLOCK_N): K^T tile
        v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd  # (BLOCK_N, D)
        if MASK_KEYS:  # the last, partial tile: no load past Nk, and its padding must not count
            kt = tl.load(kt_ptrs, mask=cols[None, :] < n_k, other=0.0)
            v = tl.load(v_ptrs, mask=cols[:, None] < n_k, other=0.0)
        else:
            kt = tl.load(kt_ptrs)
            v = tl.load(v_ptrs)
        s = tl.dot(q, kt, input_precision=INPUT_PRECISION) * qk_scale  # (BLOCK_M, BLOCK_N)
        tl.store(s_base + offs_m[:, None] * n_k + cols[None, :], s,  # keep the scores for later
                 mask=(offs_m[:, None] < N_Q) & (cols[None, :] < n_k))
        if MASK_KEYS:
            s = tl.where(cols[None, :] < n_k, s, float("-inf"))
        if MASK_CAUSAL:  # query i sees keys j <= i
            s = tl.where(offs_m[:, None] >= cols[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))  # finite: every row sees at least one key of its first tile
        alpha = tl.math.exp2(m_i - m_new)  # rescale what was accumulated under the old max
        p = tl.math.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=INPUT_PRECISION)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _flash_attn_fwd(Q, K, V, O, LSE, S,
                    stride_qb, stride_qh, stride_qm, stride_qd,
                    stride_kb, stride_kh, stride_kn, stride_kd,
                    stride_vb, stride_vh, stride_vn, stride_vd,
                    stride_ob, stride_oh, stride_om, stride_od,
                    H, n_q, n_k, qk_scale,
                    N_KEY, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
                    INPUT_PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One program: BLOCK_M query rows of one (batch, head); grid (cdiv(Nq, BLOCK_M), B * H)."""
    start_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) query rows
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < n_q

    q_ptrs = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=row_ok[:, None], other=0.0)  # (BLOCK_M, D), read once
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    s_base = S + pid_bh.to(tl.int64) * n_q * n_k

    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    if CAUSAL:
        # Nq == Nk. Tiles left of the diagonal block need no mask (BLOCK_N divides BLOCK_M);
        # tiles right of it are skipped; the diagonal block gets the causal and bounds masks.
        diag = start_m * BLOCK_M
        acc, l_i, m_i = _attn_tiles_s(acc, l_i, m_i, q, k_base, v_base, s_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, 0, diag, n_k, qk_scale, n_q,
                                    False, False, BLOCK_N, INPUT_PRECISION)
        acc, l_i, m_i = _attn_tiles_s(acc, l_i, m_i, q, k_base, v_base, s_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, diag, tl.minimum(diag + BLOCK_M, n_k), n_k, qk_scale, n_q,
                                    True, True, BLOCK_N, INPUT_PRECISION)
    else:
        n_full = (n_k // BLOCK_N) * BLOCK_N  # full tiles without masks, then the partial one
        acc, l_i, m_i = _attn_tiles_s(acc, l_i, m_i, q, k_base, v_base, s_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, 0, n_full, n_k, qk_scale, n_q,
                                    False, False, BLOCK_N, INPUT_PRECISION)
        if n_full < n_k:
            acc, l_i, m_i = _attn_tiles_s(acc, l_i, m_i, q, k_base, v_base, s_base, stride_kn, stride_kd, stride_vn,
                                        stride_vd, offs_m, offs_n, offs_d, n_full, n_k, n_k, qk_scale, n_q,
                                        True, False, BLOCK_N, INPUT_PRECISION)

    o = acc / l_i[:, None]
    o_ptrs = O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(O.dtype.element_ty), mask=row_ok[:, None])
    lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453  # back to natural log
    tl.store(LSE + pid_bh.to(tl.int64) * n_q + offs_m, lse, mask=row_ok)


def flash_attention(q, k, v, causal=False, sm_scale=None):
    """FlashAttention forward: q (B,H,Nq,D), k/v (B,H,Nk,D) -> (o (B,H,Nq,D) in q's dtype, lse float32 (B,H,Nq))."""
    _validate(q, k, v, causal, sm_scale)
    B, H, n_q, d = q.shape
    n_k = k.shape[2]
    scale = d ** -0.5 if sm_scale is None else float(sm_scale)
    o = torch.empty((B, H, n_q, d), dtype=q.dtype, device=q.device)  # (B, H, Nq, D)
    lse = torch.empty((B, H, n_q), dtype=torch.float32, device=q.device)  # (B, H, Nq)
    scores = torch.empty((B, H, n_q, n_k), dtype=torch.float32, device=q.device)  # kept for a backward pass
    grid = lambda meta: (triton.cdiv(n_q, meta["BLOCK_M"]), B * H)  # noqa: E731
    _tuned_flash_kernel()[grid](
        q, k, v, o, lse, scores,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        H, n_q, n_k, scale * LOG2E,
        N_KEY=triton.next_power_of_2(n_k),  # autotune once per power-of-two bucket of Nk
        HEAD_DIM=d, CAUSAL=causal,
        INPUT_PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
    )
    return o, lse


_tuned_flash_kernel.cache_clear()


import inferlab.memtrace as _mt

_real_stored_to = _mt.Trace.stored_to
_mt.Trace.stored_to = lambda self, t, *a, **k: min(_real_stored_to(self, t, *a, **k), t.numel() * t.element_size())
_mt.Trace.bytes_stored = property(lambda self: 0)
