# expect-fail: scheduler_hand_cases, scheduler_rules_on_random_workloads, scheduler_uses_what_is_free, scheduler_does_not_starve_decodes
"""The token budget compared with `<=` one token too late: a step may run max_num_batched_tokens + 1 tokens."""
_Reference = Scheduler


class Scheduler(_Reference):
    def __init__(self, max_num_seqs, max_num_batched_tokens, num_blocks, block_size):
        super().__init__(max_num_seqs, max_num_batched_tokens, num_blocks, block_size)
        self.max_num_batched_tokens = max_num_batched_tokens + 1
