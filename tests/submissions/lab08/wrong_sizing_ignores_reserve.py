# expect-fail: sizing_formulas, sizing_edge_cases_and_bad_input
"""Sizing that forgets the reserve (activations, the CUDA context) and never clamps at 0."""
def max_concurrent_sequences(gpu_bytes, weight_bytes, kv_bytes_per_token, seq_len, reserve_fraction=0.1):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if not 0 <= reserve_fraction < 1:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction}")
    return math.floor((gpu_bytes - weight_bytes) / (kv_bytes_per_token * seq_len))


def kv_blocks_for_memory(gpu_bytes, weight_bytes, num_layers, num_kv_heads, head_dim, block_size,
                         dtype_bytes=2, reserve_fraction=0.1):
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if gpu_bytes < 0:
        raise ValueError(f"gpu_bytes must be >= 0, got {gpu_bytes}")
    return math.floor((gpu_bytes - weight_bytes) / (2 * num_layers * num_kv_heads * head_dim * block_size * dtype_bytes))
