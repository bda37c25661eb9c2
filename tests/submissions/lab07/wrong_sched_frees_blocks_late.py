# expect-fail: scheduler_uses_what_is_free, scheduler_frees_blocks_when_a_request_finishes
"""A finished request's blocks are returned one step late (at the end of the next step), so the step
after a request finishes cannot use them."""
_Reference = Scheduler


class Scheduler(_Reference):
    def __init__(self, *args):
        super().__init__(*args)
        self._late = 0  # blocks of the requests that finished in the previous step

    def step(self):
        held, self.num_blocks = self._late, self.num_blocks - self._late
        try:
            plan = super().step()
        finally:
            self.num_blocks += held
        bs = self.block_size
        done = [r for r in list(plan.prefill) + plan.decode if r in self._finished]
        self._late = sum(-(-self.requests[r]["done"] // bs) for r in done)
        return plan
