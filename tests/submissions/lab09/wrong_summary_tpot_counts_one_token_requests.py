# expect-fail: latency_summary_hand_built, latency_summary_tpot_over_multi_token_requests, latency_summary_edge_cases_and_bad_input
"""TPOT over every request: a one-token request counts as TPOT 0, which flatters the server."""
import numpy as np


def latency_summary(records):
    recs = _check_records(records)
    ttft = [times[0] - arrival for arrival, times in recs]
    tpot = [(times[-1] - times[0]) / max(1, len(times) - 1) for _, times in recs]
    itl = [b - a for _, times in recs for a, b in zip(times, times[1:])]
    span = max(times[-1] for _, times in recs) - min(arrival for arrival, _ in recs)
    if span <= 0:
        raise ValueError("records: zero span")

    def pct(xs):
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        return dict(zip(("p50", "p90", "p99"), (float(x) for x in np.percentile(xs, [50, 90, 99]))))

    return {"ttft": pct(ttft), "tpot": pct(tpot), "itl": pct(itl),
            "output_tokens_per_s": sum(len(t) for _, t in recs) / span}
