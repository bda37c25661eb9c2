# expect-fail: capacity_plan_refuses_bad_input
"""No argument checks: no chunk sizes gives None instead of a ValueError."""


def plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes=(128, 512, 2048)):
    best = None
    for plan in disagg_sim.all_plans(num_workers, list(chunk_sizes)):
        g = goodput(disagg_sim.simulate(requests, plan), ttft_slo, tpot_slo)
        if best is None or g > best["goodput"]:
            best = {**plan, "goodput": g}
    return best
