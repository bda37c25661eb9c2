# expect-fail: latency_summary_hand_built, latency_summary_percentiles_interpolate, audit_ttft_over_every_request
"""Percentiles by nearest rank (sorted[ceil(p/100 * n) - 1]) instead of linear interpolation."""
import math


def latency_summary(records):
    recs = _check_records(records)
    ttft = [times[0] - arrival for arrival, times in recs]
    tpot = [(times[-1] - times[0]) / (len(times) - 1) for _, times in recs if len(times) >= 2]
    itl = [b - a for _, times in recs for a, b in zip(times, times[1:])]
    span = max(times[-1] for _, times in recs) - min(arrival for arrival, _ in recs)
    if span <= 0:
        raise ValueError("records: zero span")

    def pct(xs):
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        xs = sorted(xs)
        return {f"p{p}": xs[max(0, math.ceil(p / 100 * len(xs)) - 1)] for p in (50, 90, 99)}

    return {"ttft": pct(ttft), "tpot": pct(tpot), "itl": pct(itl),
            "output_tokens_per_s": sum(len(t) for _, t in recs) / span}
