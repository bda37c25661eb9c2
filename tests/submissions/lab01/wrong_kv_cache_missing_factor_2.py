# expect-fail: kv_cache_bytes_llama2_7b, kv_cache_bytes_gqa_and_random
"""kv_cache_bytes counts only the keys (or only the values): the factor 2 is missing."""


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, batch_size=1, dtype_bytes=2):
    if min(num_layers, num_kv_heads, head_dim, batch_size) < 1 or seq_len < 0:
        raise ValueError(f"bad sizes: num_layers={num_layers}, seq_len={seq_len}, batch_size={batch_size}")
    return num_layers * num_kv_heads * head_dim * seq_len * batch_size * dtype_bytes
