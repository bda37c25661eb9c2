# expect-fail: paged_attention_grouped_query_heads
"""sm_scale is accepted but the kernel always uses D ** -0.5."""

_reference_paged_attention = paged_attention  # noqa: F821


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    return _reference_paged_attention(q, k_cache, v_cache, block_tables, context_lens)
