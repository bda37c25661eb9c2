# expect-fail: kv_transfer_time_refuses_bad_input
"""The right formula without argument checks: bandwidth 0 divides by zero, a negative latency passes."""


def kv_transfer_time(kv_bytes, latency, bandwidth, num_layers=1, prefill_time=0.0):
    t = latency + kv_bytes / (num_layers * bandwidth)
    c = prefill_time / num_layers
    return max(t, num_layers * t - (num_layers - 1) * c)
