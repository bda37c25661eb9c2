# expect-fail: latency_summary_hand_built, latency_summary_itl_within_requests
"""ITL from every token of every request sorted together: gaps between two requests' tokens count."""
import numpy as np


def latency_summary(records):
    recs = _check_records(records)
    ttft = [times[0] - arrival for arrival, times in recs]
    tpot = [(times[-1] - times[0]) / (len(times) - 1) for _, times in recs if len(times) >= 2]
    everything = sorted(t for _, times in recs for t in times)
    itl = [b - a for a, b in zip(everything, everything[1:])] if any(len(t) > 1 for _, t in recs) else []
    span = max(times[-1] for _, times in recs) - min(arrival for arrival, _ in recs)
    if span <= 0:
        raise ValueError("records: zero span")

    def pct(xs):
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        return dict(zip(("p50", "p90", "p99"), (float(x) for x in np.percentile(xs, [50, 90, 99]))))

    return {"ttft": pct(ttft), "tpot": pct(tpot), "itl": pct(itl),
            "output_tokens_per_s": sum(len(t) for _, t in recs) / span}
