# expect-fail: paged_attention_small_batch, paged_attention_awkward_tables, paged_attention_grouped_query_heads, paged_attention_rejects_bad_input, paged_attention_reads_only_the_context
"""Counts a context's blocks as L // bs: the tokens of a partly filled last block are dropped."""

_reference_paged_attention = paged_attention  # noqa: F821


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    bs = k_cache.shape[1]
    floored = torch.clamp(context_lens // bs * bs, min=1).to(context_lens.dtype)  # noqa: F821
    return _reference_paged_attention(q, k_cache, v_cache, block_tables, floored, sm_scale)
