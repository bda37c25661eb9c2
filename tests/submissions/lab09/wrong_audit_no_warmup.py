# expect-fail: audit_warms_up_and_repeats, audit_step_time_is_the_median
"""The fixed harness forgets the warm-up: the cold calls are timed."""
import numpy as np


def fixed_harness(device, step, records, warmup=3, rep=30):
    times = []
    for _ in range(rep):
        t0 = device.clock()
        step()
        device.synchronize()
        times.append(device.clock() - t0)
    s = latency_summary(records)
    return {"step_s": float(np.median(times)), "ttft_p50": s["ttft"]["p50"], "ttft_p99": s["ttft"]["p99"],
            "output_tokens_per_s": s["output_tokens_per_s"]}
