# expect-fail: bench_warms_up_then_repeats
"""Runs the warm-up calls but times them too (warmup + rep samples)."""
import time

import numpy as np


def bench(fn, warmup=3, rep=20):
    if not callable(fn):
        raise TypeError("fn must be callable")
    for name, v, low in (("warmup", warmup, 0), ("rep", rep, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"{name} must be an int >= {low}")
    times = []
    for _ in range(warmup + rep):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    p10, p50, p90 = np.percentile(times, [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90)}
