# expect-fail: metrics_on_a_small_trace, goodput_edge_cases, capacity_plan_on_two_workers, capacity_plan_reaches_best_goodput
"""Goodput over the span from the first token instead of the first arrival: hides the first requests'
queueing (and the capacity plan built on it reports a goodput the simulator does not reach)."""


def goodput(records, ttft_slo, tpot_slo):
    for name, v in (("ttft_slo", ttft_slo), ("tpot_slo", tpot_slo)):
        if not v >= 0:
            raise ValueError(f"{name} must be >= 0, got {v!r}")
    records = list(records)
    if not records:
        return 0.0
    met = sum(1 for r in records if ttft(r) <= ttft_slo and (tpot(r) is None or tpot(r) <= tpot_slo))
    span = max(r["token_times"][-1] for r in records) - min(r["token_times"][0] for r in records)
    return met / span if span > 0 else 0.0
