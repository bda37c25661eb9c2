# expect-fail: bench_rejects_bad_arguments
"""No argument checks: bench(fn, rep=0) fails deep inside numpy, bench(42) only when it calls 42."""
import time

import numpy as np


def bench(fn, warmup=3, rep=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rep):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    p10, p50, p90 = np.percentile(times, [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90)}
