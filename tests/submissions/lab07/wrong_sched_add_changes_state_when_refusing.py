# expect-fail: scheduler_refuses_what_never_fits, scheduler_rejects_bad_input
"""add queues the request first and validates after: a refused request stays in the queue."""
_Reference = Scheduler


class Scheduler(_Reference):
    def add(self, req_id, prompt_len, max_new_tokens):
        if req_id in self.requests:
            raise ValueError(f"req_id {req_id!r} was already added")
        self.requests[req_id] = {"prompt": prompt_len, "max_new": max_new_tokens, "outputs": 0,
                                 "target": prompt_len, "done": 0, "order": len(self.requests)}
        self.waiting.append(req_id)
        for name, value in (("prompt_len", prompt_len), ("max_new_tokens", max_new_tokens)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if -(-(prompt_len + max_new_tokens) // self.block_size) > self.num_blocks:
            raise ValueError(f"request {req_id!r} can never fit in num_blocks={self.num_blocks}")
