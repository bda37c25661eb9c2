# expect-fail: scheduler_refuses_what_never_fits, scheduler_rules_on_random_workloads, scheduler_uses_what_is_free, scheduler_preempts_the_newest, scheduler_frees_blocks_when_a_request_finishes
"""Refuses a request that exactly fills num_blocks (>= instead of >)."""
_Reference = Scheduler


class Scheduler(_Reference):
    def add(self, req_id, prompt_len, max_new_tokens):
        if isinstance(prompt_len, int) and isinstance(max_new_tokens, int) and \
                -(-(prompt_len + max_new_tokens) // self.block_size) >= self.num_blocks:
            raise ValueError(f"request {req_id!r} does not fit in num_blocks={self.num_blocks}")
        super().add(req_id, prompt_len, max_new_tokens)
