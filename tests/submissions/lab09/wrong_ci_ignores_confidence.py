# expect-fail: speedup_ci_follows_confidence
"""Always a 95% interval, whatever confidence asks for."""
_reference_speedup_ci = speedup_ci


def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    _reference_speedup_ci(baseline_times, new_times, confidence, n_boot, seed)  # its argument checks
    return _reference_speedup_ci(baseline_times, new_times, 0.95, n_boot, seed)
