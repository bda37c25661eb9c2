# expect-fail: bench_median_not_mean
"""Reports the mean of the timed calls as the 'median'."""
import time

import numpy as np


def bench(fn, warmup=3, rep=20):
    if not callable(fn):
        raise TypeError("fn must be callable")
    for name, v, low in (("warmup", warmup, 0), ("rep", rep, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"{name} must be an int >= {low}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rep):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    p10, p90 = np.percentile(times, [10, 90])
    return {"median": float(np.mean(times)), "p10": float(p10), "p90": float(max(p90, np.mean(times)))}
