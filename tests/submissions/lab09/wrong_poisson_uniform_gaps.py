# expect-fail: poisson_arrivals_are_exponential
"""Gaps uniform on [0, 2 / rate]: the right mean rate, the wrong process (no bursts)."""
import numpy as np


def poisson_arrivals(rate, n, seed=0):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError("rate must be > 0")
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be an int >= 0")
    return [float(t) for t in np.cumsum(np.random.default_rng(seed).uniform(0, 2 / rate, n))]
