# expect-fail: speedup_ci_rejects_bad_input
"""No argument checks: an empty sample or confidence=1.0 gives nan or a silent answer."""
import numpy as np


def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    base, new = np.asarray(baseline_times, float), np.asarray(new_times, float)
    rng = np.random.default_rng(seed)
    b = np.median(base[rng.integers(0, max(base.size, 1), (n_boot, base.size))], axis=1)
    n = np.median(new[rng.integers(0, max(new.size, 1), (n_boot, new.size))], axis=1)
    lo, hi = np.quantile(b / n, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)
