# expect-fail: speedup_ci_brackets_the_estimate, speedup_ci_covers_the_true_speedup, speedup_ci_follows_confidence
"""Bootstraps the ratio of means: the outliers of a skewed sample drag it far from the median ratio."""
import numpy as np

_reference_speedup_ci = speedup_ci


def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    _reference_speedup_ci(baseline_times, new_times, confidence, n_boot, seed)  # its argument checks
    base, new = np.asarray(baseline_times, float), np.asarray(new_times, float)
    rng = np.random.default_rng(seed)
    b = base[rng.integers(0, base.size, (n_boot, base.size))].mean(axis=1)
    n = new[rng.integers(0, new.size, (n_boot, new.size))].mean(axis=1)
    lo, hi = np.quantile(b / n, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)
