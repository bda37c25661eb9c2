# expect-fail: lfu_matches_the_reference_on_random_operations
"""LFU that breaks count ties by first insertion instead of least recent use."""


class LFUPolicy:
    def __init__(self):
        self._count = {}
        self._born = {}
        self._t = 0

    def insert(self, key):
        if key in self._count:
            raise ValueError(f"key {key!r} is already held")
        self._t += 1
        self._count[key] = 1
        self._born[key] = self._t

    def access(self, key):
        self._count[key] += 1

    def remove(self, key):
        del self._count[key]
        del self._born[key]

    def evict(self):
        if not self._count:
            raise KeyError("empty")
        key = min(self._count, key=lambda k: (self._count[k], self._born[k]))
        self.remove(key)
        return key

    def __len__(self):
        return len(self._count)

    def __contains__(self, key):
        return key in self._count
