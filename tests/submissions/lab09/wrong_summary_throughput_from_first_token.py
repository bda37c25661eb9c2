# expect-fail: latency_summary_hand_built, latency_summary_throughput_from_first_arrival, latency_summary_edge_cases_and_bad_input, audit_throughput_from_first_arrival
"""Throughput over the span from the first *token* (not the first arrival) to the last token."""
_reference_latency_summary = latency_summary


def latency_summary(records):
    out = _reference_latency_summary(records)
    recs = _check_records(records)
    span = max(t[-1] for _, t in recs) - min(t[0] for _, t in recs)
    n = sum(len(t) for _, t in recs)
    out["output_tokens_per_s"] = n / span if span > 0 else float(n)
    return out
