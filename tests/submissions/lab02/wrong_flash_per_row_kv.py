# expect-fail: flash_attention_reads_kv_per_query_block
"""Too few query rows per program (BLOCK_M = 16): every program re-reads all of K and V, 9x at Nq = 129."""


def _flash_configs():
    return [triton.Config({"BLOCK_M": 16, "BLOCK_N": 16}, num_warps=4, num_stages=1)]


_tuned_flash_kernel.cache_clear()
