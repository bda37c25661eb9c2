# expect-fail: flash_attention_stores_only_o_and_lse, flash_attention_reads_kv_per_query_block, flash_attention_causal_skips_tiles, flash_attention_kernel_made_outputs
"""A torch fallback: right values from scaled_dot_product_attention, but no Triton kernel at all."""


def flash_attention(q, k, v, causal=False, sm_scale=None):
    _validate(q, k, v, causal, sm_scale)
    scale = q.shape[-1] ** -0.5 if sm_scale is None else float(sm_scale)
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    s = (q.float() @ k.float().transpose(-1, -2)) * scale
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), -math.inf)
    return o, torch.logsumexp(s, dim=-1)
