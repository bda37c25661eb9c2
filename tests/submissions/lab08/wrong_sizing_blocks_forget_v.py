# expect-fail: sizing_formulas, sizing_edge_cases_and_bad_input
"""A KV block sized for K alone (the factor 2 for V forgotten): twice the blocks the memory holds."""
def kv_blocks_for_memory(gpu_bytes, weight_bytes, num_layers, num_kv_heads, head_dim, block_size,
                         dtype_bytes=2, reserve_fraction=0.1):
    _check_num("gpu_bytes", gpu_bytes, 0, integer=False)
    _check_num("block_size", block_size, 1)
    block_bytes = num_layers * num_kv_heads * head_dim * block_size * dtype_bytes
    return max(0, math.floor((gpu_bytes * (1 - reserve_fraction) - weight_bytes) / block_bytes))
