# expect-fail: metrics_on_a_small_trace, goodput_edge_cases
"""Goodput over the span from the first token instead of the first arrival: hides the first requests' queueing."""


def goodput(records, ttft_slo, tpot_slo):
    records = list(records)
    if not records:
        return 0.0
    met = sum(1 for r in records if ttft(r) <= ttft_slo and (tpot(r) is None or tpot(r) <= tpot_slo))
    span = max(r["token_times"][-1] for r in records) - min(r["token_times"][0] for r in records)
    return met / span if span > 0 else 0.0
