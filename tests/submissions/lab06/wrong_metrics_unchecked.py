# expect-fail: metrics_refuse_bad_input
"""Metrics that never validate: an empty token_times gives an IndexError, a negative SLO is accepted."""


def ttft(record):
    return record["token_times"][0] - record["arrival"]


def tpot(record):
    t = record["token_times"]
    return None if len(t) == 1 else (t[-1] - t[0]) / (len(t) - 1)


def goodput(records, ttft_slo, tpot_slo):
    records = list(records)
    if not records:
        return 0.0
    met = sum(1 for r in records if ttft(r) <= ttft_slo and (tpot(r) is None or tpot(r) <= tpot_slo))
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    return met / span
