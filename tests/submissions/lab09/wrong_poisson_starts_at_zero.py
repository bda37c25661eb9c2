# expect-fail: poisson_arrivals_shape
"""The first request arrives at t = 0 (cumulative sums shifted by one gap)."""
import numpy as np


def poisson_arrivals(rate, n, seed=0):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError("rate must be > 0")
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be an int >= 0")
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=n)
    return [float(t) for t in np.concatenate([[0.0], np.cumsum(gaps)[:-1]])] if n else []
