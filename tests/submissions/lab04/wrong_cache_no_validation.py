# expect-fail: tiered_cache_rejects_bad_input_and_stays_unchanged
"""No checks on capacity, tiers, policy or block: bad input fails later, with unrelated errors."""


class Tier(Tier):
    def __init__(self, name, capacity, device=None, path=None):
        super().__init__(name, max(1, capacity) if isinstance(capacity, int) else 1, device, path)
        self.capacity = capacity


class TieredKVCache(TieredKVCache):
    def __init__(self, tiers, policy="lru"):
        super().__init__(list(tiers) or [Tier("default", 1)], policy if policy in _POLICIES else "lru")

    def put(self, key, block):
        if key in self._where:
            self._leave(key)
        self._enter(0, key, block)
