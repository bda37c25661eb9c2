# expect-fail: prefix_hits_counted, prefix_hits_only_on_equal_prefixes
"""Prefix hits that skip positions: after taking the cached blocks the run starts one token late."""
def _admit(self, req):
    for b in self.hits(req):
        if self.refs[b] == 0:
            del self.free[b]
            self.used += 1
        self.refs[b] += 1
        req.block_table.append(b)
    hit = len(req.block_table) * self.block_size
    req.num_cached_tokens = hit + 1 if hit else 0  # off by one: the first token after the hits never runs
    return hit


BlockManager.admit = _admit
