# expect-fail: capacity_plan_on_two_workers, capacity_plan_reaches_best_goodput
"""The right plan, but its "goodput" is reported per worker instead of for the whole system."""
_reference_plan_capacity = plan_capacity  # noqa: F821 - defined by the reference cells


def plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes=(128, 512, 2048)):
    plan = _reference_plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes)
    return {**plan, "goodput": plan["goodput"] / num_workers}
