# expect-fail: bench_reports_median_p10_p90, bench_warms_up_then_repeats, bench_median_not_mean
"""Returns a tuple (median, p10, p90) where SPEC asks for a dict with those keys."""
_reference_bench = bench


def bench(fn, warmup=3, rep=20):
    out = _reference_bench(fn, warmup=warmup, rep=rep)
    return out["median"], out["p10"], out["p90"]
