# expect-fail: engine_greedy_tokens_under_preemption, counted_recomputation_under_preemption, no_block_held_after_generate, prefix_hits_only_on_equal_prefixes
"""A scheduler that never preempts: a running request whose next tokens do not fit just waits for blocks."""
def _schedule(self):
    batch, budget = [], self.max_num_batched_tokens
    for req in list(self.running):
        if budget <= 0:
            break
        n = min(req.num_prefill - req.num_cached_tokens, budget) if req.prefilling else 1
        if self.blocks.need(req, n) > len(self.blocks.free):
            continue  # wait for a block someone else gives back (nobody will)
        self.blocks.grow(req, n)
        batch.append((req, n))
        budget -= n
    while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
        req = self.waiting[0]
        hit = len(self.blocks.hits(req)) * self.block_size
        n = min(req.num_prefill - hit, budget)
        if self.blocks.admit_cost(req, n) > len(self.blocks.free):
            break
        self.waiting.popleft()
        self._stats["prefix_hit_tokens"] += self.blocks.admit(req)
        self.blocks.grow(req, n)
        self.running.append(req)
        batch.append((req, n))
        budget -= n
    return batch


LLMEngine._schedule = _schedule
