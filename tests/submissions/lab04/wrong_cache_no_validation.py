# expect-fail: tiered_cache_rejects_bad_input_and_stays_unchanged
"""No checks on tiers, policy, capacity or block: bad input fails later, with unrelated errors."""


class Tier(Tier):
    def __init__(self, name, capacity, device=None, path=None):
        self.name, self.capacity, self.path = name, capacity, path
        self.device = None if path is not None else torch.device(device or "cpu")
        if path is not None:
            os.makedirs(path, exist_ok=True)


class TieredKVCache(TieredKVCache):
    def __init__(self, tiers, policy="lru"):
        self.tiers = list(tiers)
        self._stores = [_DiskStore(t.path) if t.path is not None else _MemoryStore(t.device) for t in self.tiers]
        self._policies = [_POLICIES.get(policy, LRUPolicy)() for _ in self.tiers]
        self._where = {}
        self._hits = {t.name: 0 for t in self.tiers}
        self._misses = 0
        self._written = {t.name: 0 for t in self.tiers}

    def put(self, key, block):
        if key in self._where:
            self._leave(key)
        self._enter(0, key, block)
