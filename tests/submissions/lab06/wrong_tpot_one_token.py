# expect-fail: tpot_of_a_one_token_request_is_none
"""TPOT counted over one-token requests: 0.0 instead of None (flatters every TPOT average)."""


def tpot(record):
    _, times = _record_times(record)
    return (times[-1] - times[0]) / max(len(times) - 1, 1)
