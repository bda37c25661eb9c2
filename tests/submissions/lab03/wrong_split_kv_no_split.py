# expect-fail: split_kv_spreads_a_long_context
"""Split-KV that does not split: checks partition_size, then runs the one-program-per-KV-head kernel."""


def paged_attention_split_kv(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None, partition_size=512):
    partition_size = _check_int(partition_size, "partition_size", lo=1)  # noqa: F821
    if partition_size % k_cache.shape[1]:
        raise ValueError("partition_size must be a multiple of the block size")
    return paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale)  # noqa: F821
