# expect-fail: speedup_ci_brackets_the_estimate, speedup_ci_covers_the_true_speedup, speedup_ci_follows_confidence
"""The ratio upside down: median(new) / median(baseline), a 'speed-up' below 1 for faster code."""
_reference_speedup_ci = speedup_ci


def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    _reference_speedup_ci(baseline_times, new_times, confidence, n_boot, seed)  # its argument checks
    return _reference_speedup_ci(new_times, baseline_times, confidence, n_boot, seed)
