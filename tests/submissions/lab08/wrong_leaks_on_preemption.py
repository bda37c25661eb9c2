# expect-fail: engine_greedy_tokens_under_preemption, counted_recomputation_under_preemption, no_block_held_after_generate, prefix_hits_only_on_equal_prefixes
"""A block manager that leaks on preemption: the preempted request forgets its table without giving the blocks back."""
def _preempt(self, req):
    self._stats["preemptions"] += 1
    self._stats["recomputed_tokens"] += req.num_cached_tokens
    req.block_table = []  # the leak: the references are never dropped
    req.num_cached_tokens = 0
    req.num_prefill = len(req.token_ids)
    self.waiting.appendleft(req)


LLMEngine._preempt = _preempt
