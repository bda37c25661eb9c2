# expect-fail: paged_attention_rejects_bad_input
"""The kernel without argument checks: a context of 0 or past the table, a short table, H % H_kv != 0 give silent garbage."""


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    sm_scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    o = torch.empty_like(q)  # noqa: F821
    _launch(q, k_cache, v_cache, block_tables, context_lens, sm_scale,  # noqa: F821
            block_tables.shape[1] * k_cache.shape[1], o, None, split=False)
    return o
