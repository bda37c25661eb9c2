# expect-fail: capacity_plan_reaches_best_goodput
"""The capacity plan maximises goodput under the TTFT SLO alone (the reported goodput is the plan's real one)."""


def plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes=(128, 512, 2048)):
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
    if not list(chunk_sizes):
        raise ValueError("chunk_sizes must hold at least one chunk size")
    best, best_key = None, None
    for plan in disagg_sim.all_plans(num_workers, list(chunk_sizes)):
        recs = disagg_sim.simulate(requests, plan)
        key = goodput(recs, ttft_slo, float("inf"))
        if best is None or key > best_key:
            best, best_key = {**plan, "goodput": goodput(recs, ttft_slo, tpot_slo)}, key
    return best
