# expect-fail: counted_positions_and_steps, server_batches_concurrent_clients
"""No continuous batching: a request is admitted only when nothing runs (one request at a time)."""
_right_schedule = LLMEngine._schedule


def _schedule(self):
    saved = self.max_num_seqs
    self.max_num_seqs = 1
    try:
        return _right_schedule(self)
    finally:
        self.max_num_seqs = saved


LLMEngine._schedule = _schedule
