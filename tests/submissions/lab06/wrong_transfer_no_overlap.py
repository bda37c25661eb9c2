# expect-fail: kv_transfer_time_overlaps_layers
"""Layer-by-layer transfer that overlaps nothing: L messages after the prefill, L * (latency + bytes/(L bw))."""


def kv_transfer_time(kv_bytes, latency, bandwidth, num_layers=1, prefill_time=0.0):
    if not bandwidth > 0 or latency < 0 or num_layers < 1:
        raise ValueError(f"bad argument: bandwidth {bandwidth}, latency {latency}, num_layers {num_layers}")
    return num_layers * (latency + kv_bytes / (num_layers * bandwidth))
