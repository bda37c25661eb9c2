# expect-fail: lfu_matches_the_reference_on_random_operations
"""O(1) LFU whose evict pops the *most* recently used key of the lowest count (popitem() defaults to last=True)."""


class LFUPolicy(LFUPolicy):
    def evict(self):
        c = self._next[0]
        if c is None:
            raise KeyError("evict() from an empty policy")
        key, _ = self._bucket[c].popitem()
        del self._count[key]
        self._unlink_if_empty(c)
        return key
