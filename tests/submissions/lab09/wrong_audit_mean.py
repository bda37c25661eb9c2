# expect-fail: audit_step_time_is_the_median
"""The fixed harness times the rep calls in one span and divides: the mean, outliers included."""


def fixed_harness(device, step, records, warmup=3, rep=30):
    for _ in range(warmup):
        step()
    device.synchronize()
    t0 = device.clock()
    for _ in range(rep):
        step()
    device.synchronize()
    s = latency_summary(records)
    return {"step_s": (device.clock() - t0) / rep, "ttft_p50": s["ttft"]["p50"], "ttft_p99": s["ttft"]["p99"],
            "output_tokens_per_s": s["output_tokens_per_s"]}
