# expect-fail: policy_calls_cost_the_same_at_1e3_and_1e5_keys
"""A correct LFU whose evict scans every key for the minimum (O(n))."""


class LFUPolicy:
    def __init__(self):
        self._meta = {}
        self._t = 0

    def insert(self, key):
        if key in self._meta:
            raise ValueError(f"key {key!r} is already held")
        self._t += 1
        self._meta[key] = (1, self._t)

    def access(self, key):
        c, _ = self._meta[key]
        self._t += 1
        self._meta[key] = (c + 1, self._t)

    def remove(self, key):
        del self._meta[key]

    def evict(self):
        if not self._meta:
            raise KeyError("empty")
        key = min(self._meta, key=self._meta.__getitem__)
        del self._meta[key]
        return key

    def __len__(self):
        return len(self._meta)

    def __contains__(self, key):
        return key in self._meta
