# expect-fail: is_memory_bound_prefill_vs_decode
"""is_memory_bound compares the wrong way round: high arithmetic intensity called memory-bound."""


def is_memory_bound(flops, bytes, peak_flops, peak_bandwidth):
    if peak_flops <= 0 or peak_bandwidth <= 0:
        raise ValueError(f"peak_flops and peak_bandwidth must be > 0, got {peak_flops}, {peak_bandwidth}")
    return flops / peak_flops > bytes / peak_bandwidth
