# expect-fail: roofline_time_hand_cases
"""roofline_time adds the compute and memory times instead of taking the larger (no overlap)."""


def roofline_time(flops, bytes, peak_flops, peak_bandwidth):
    if peak_flops <= 0 or peak_bandwidth <= 0:
        raise ValueError(f"peak_flops and peak_bandwidth must be > 0, got {peak_flops}, {peak_bandwidth}")
    return flops / peak_flops + bytes / peak_bandwidth
