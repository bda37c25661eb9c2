# expect-fail: latency_summary_edge_cases_and_bad_input
"""No checks on the records: a first token before its arrival or times going backwards pass silently."""
import numpy as np


def latency_summary(records):
    ttft = [r["token_times"][0] - r["arrival"] for r in records]
    tpot = [(r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
            for r in records if len(r["token_times"]) >= 2]
    itl = [b - a for r in records for a, b in zip(r["token_times"], r["token_times"][1:])]
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)

    def pct(xs):
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        return dict(zip(("p50", "p90", "p99"), (float(x) for x in np.percentile(xs, [50, 90, 99]))))

    return {"ttft": pct(ttft), "tpot": pct(tpot), "itl": pct(itl),
            "output_tokens_per_s": sum(len(r["token_times"]) for r in records) / span}
