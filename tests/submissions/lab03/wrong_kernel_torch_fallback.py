# expect-fail: paged_attention_reads_only_the_context, paged_attention_reads_kv_once_per_group
"""paged_attention computed with torch (gather, then softmax): right numbers, but no kernel made them."""


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)  # noqa: F821
    out = torch.empty_like(q)  # noqa: F821
    for b in range(B):
        n = int(context_lens[b])
        blocks = block_tables[b, : -(-n // bs)].long()
        k = k_cache[blocks].reshape(-1, h_kv, D)[:n].float().repeat_interleave(H // h_kv, dim=1)
        v = v_cache[blocks].reshape(-1, h_kv, D)[:n].float().repeat_interleave(H // h_kv, dim=1)
        s = torch.einsum("hd,lhd->hl", q[b].float(), k) * sm_scale  # noqa: F821
        out[b] = torch.einsum("hl,lhd->hd", torch.softmax(s, -1), v).to(q.dtype)  # noqa: F821
    return out
