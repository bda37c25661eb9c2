# expect-fail: disaggregated_tokens_under_back_pressure
"""The router sends each request to the emptiest decode worker even when it lacks the blocks: the worker,
asked to hold more than its pool, fails."""


def _pick_decode(free, need):
    return max(free, key=lambda d: free[d])
