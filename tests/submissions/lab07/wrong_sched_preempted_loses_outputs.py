# expect-fail: scheduler_rules_on_random_workloads, scheduler_uses_what_is_free, scheduler_preempts_the_newest
"""Preemption throws the request's output tokens away: it restarts from its prompt alone."""
_Reference = Scheduler


class Scheduler(_Reference):
    def step(self):
        plan = super().step()
        for rid in plan.preempted:
            r = self.requests[rid]
            r["outputs"], r["target"] = 0, r["prompt"]
        return plan
