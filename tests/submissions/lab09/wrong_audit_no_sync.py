# expect-fail: audit_synchronises, audit_step_time_is_the_median
"""The fixed harness warms up and takes the median but never synchronises: it times the launch."""
import numpy as np


def fixed_harness(device, step, records, warmup=3, rep=30):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(rep):
        t0 = device.clock()
        step()
        times.append(device.clock() - t0)
    s = latency_summary(records)
    return {"step_s": float(np.median(times)), "ttft_p50": s["ttft"]["p50"], "ttft_p99": s["ttft"]["p99"],
            "output_tokens_per_s": s["output_tokens_per_s"]}
