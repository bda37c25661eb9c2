# expect-fail: kv_transfer_time_whole, kv_transfer_time_overlaps_layers
"""Bandwidth only: every message's latency forgotten."""


def kv_transfer_time(kv_bytes, latency, bandwidth, num_layers=1, prefill_time=0.0):
    if not bandwidth > 0 or latency < 0 or num_layers < 1:
        raise ValueError(f"bad argument: bandwidth {bandwidth}, latency {latency}, num_layers {num_layers}")
    t = kv_bytes / (num_layers * bandwidth)
    c = prefill_time / num_layers
    return max(t, num_layers * t - (num_layers - 1) * c)
