# expect-fail: split_kv_matches_reference
"""Split-KV whose empty partitions (past a short context) store 0 / 0 = NaN, and whose merge reads every partition: NaN out."""
# flake8: noqa


@triton.jit
def _nan_kernel(
    q_ptr, k_ptr, v_ptr, bt_ptr, lens_ptr, o_ptr, lse_ptr,
    sm_scale,
    stride_qb, stride_qh, stride_qd,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_btb, stride_btn,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_lb, stride_lh, stride_ls,
    PARTITION,  # tokens per split; the whole context when not split
    BLOCK_SIZE: tl.constexpr, GROUP: tl.constexpr, GROUP_P: tl.constexpr, D: tl.constexpr,
    BLOCK_N: tl.constexpr, FP32_DOT: tl.constexpr, SPLIT: tl.constexpr,
):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    ctx = tl.load(lens_ptr + b)
    lo = split * PARTITION
    hi = tl.minimum(lo + PARTITION, ctx)

    offs_g = tl.arange(0, GROUP_P)
    offs_d = tl.arange(0, D)
    g_mask = offs_g < GROUP
    heads = kvh * GROUP + offs_g  # query heads served by this KV head
    q = tl.load(q_ptr + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=g_mask[:, None], other=0.0)  # (G, D)
    if FP32_DOT:
        q = q.to(tl.float32)
    qk_scale = sm_scale * 1.4426950408889634  # softmax in base 2: exp(x) = exp2(x * log2(e))

    m_i = tl.full([GROUP_P], float("-inf"), tl.float32)
    l_i = tl.zeros([GROUP_P], tl.float32)
    acc = tl.zeros([GROUP_P, D], tl.float32)
    bt_row = bt_ptr + b * stride_btb
    k_base = k_ptr + kvh * stride_kh
    v_base = v_ptr + kvh * stride_vh
    for start in range(lo, hi, BLOCK_N):
        tok = start + tl.arange(0, BLOCK_N)
        t_mask = tok < hi
        blk = tl.load(bt_row + (tok // BLOCK_SIZE) * stride_btn, mask=t_mask, other=0).to(tl.int64)
        slot = tok % BLOCK_SIZE
        k = tl.load(k_base + blk[:, None] * stride_kb + slot[:, None] * stride_ks + offs_d[None, :] * stride_kd,
                    mask=t_mask[:, None], other=0.0)  # (BLOCK_N, D)
        v = tl.load(v_base + blk[:, None] * stride_vb + slot[:, None] * stride_vs + offs_d[None, :] * stride_vd,
                    mask=t_mask[:, None], other=0.0)  # (BLOCK_N, D)
        if FP32_DOT:
            s = tl.dot(q, tl.trans(k.to(tl.float32)), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))  # (G, BLOCK_N), fp32 accumulate
        s = tl.where(t_mask[None, :], s * qk_scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        if FP32_DOT:
            acc = acc * alpha[:, None] + tl.dot(p, v.to(tl.float32), input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    o = acc / l_i[:, None]  # an empty partition gives 0 / 0 = NaN
    o_ptrs = o_ptr + b * stride_ob + heads[:, None] * stride_oh + split * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(o_ptr.dtype.element_ty), mask=g_mask[:, None])
    if SPLIT:
        lse = (m_i + tl.log2(l_i)) * 0.6931471805599453
        tl.store(lse_ptr + b * stride_lb + heads * stride_lh + split * stride_ls, lse, mask=g_mask)


@triton.jit
def _merge_all_kernel(
    po_ptr, plse_ptr, lens_ptr, o_ptr,
    stride_pb, stride_ph, stride_ps, stride_pd,
    stride_lb, stride_lh, stride_ls,
    stride_ob, stride_oh, stride_od,
    H, PARTITION, NUM_SPLITS,
    D: tl.constexpr, SPLITS_P: tl.constexpr,
):
    bh = tl.program_id(0)
    b = bh // H
    h = bh % H
    ctx = tl.load(lens_ptr + b)
    n_parts = NUM_SPLITS  # every partition, empty ones included
    offs_s = tl.arange(0, SPLITS_P)
    offs_d = tl.arange(0, D)
    s_mask = offs_s < n_parts
    lse = tl.load(plse_ptr + b * stride_lb + h * stride_lh + offs_s * stride_ls, mask=s_mask, other=float("-inf"))
    m = tl.max(lse, 0)
    w = tl.where(s_mask, tl.exp(lse - m), 0.0)  # (S,)
    po = tl.load(po_ptr + b * stride_pb + h * stride_ph + offs_s[:, None] * stride_ps + offs_d[None, :] * stride_pd,
                 mask=s_mask[:, None], other=0.0)  # (S, D)
    o = tl.sum(w[:, None] * po, 0) / tl.sum(w, 0)
    tl.store(o_ptr + b * stride_ob + h * stride_oh + offs_d * stride_od, o.to(o_ptr.dtype.element_ty))

def paged_attention_split_kv(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None, partition_size=512):
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)
    partition_size = _check_int(partition_size, "partition_size", lo=1)
    if partition_size % bs:
        raise ValueError(f"partition_size must be a multiple of the block size {bs}")
    o = torch.empty_like(q)
    num_splits = triton.cdiv(block_tables.shape[1] * bs, partition_size)
    part_o = torch.empty(B, H, num_splits, D, dtype=torch.float32)
    part_lse = torch.empty(B, H, num_splits, dtype=torch.float32)
    group = H // h_kv
    _nan_kernel[(B, h_kv, num_splits)](
        q, k_cache, v_cache, block_tables, context_lens, part_o, part_lse, sm_scale,
        *q.stride(), *k_cache.stride(), *v_cache.stride(), *block_tables.stride(), *part_o.stride(), *part_lse.stride(),
        partition_size, BLOCK_SIZE=bs, GROUP=group, GROUP_P=max(16, triton.next_power_of_2(group)), D=D,
        BLOCK_N=64, FP32_DOT=True, SPLIT=True)
    _merge_all_kernel[(B * H,)](part_o, part_lse, context_lens, o, *part_o.stride(), *part_lse.stride(), *o.stride(),
                                H, partition_size, num_splits, D=D, SPLITS_P=max(2, triton.next_power_of_2(num_splits)))
    return o
