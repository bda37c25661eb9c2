# expect-fail: policies_evict_the_right_victim, lru_matches_the_reference_on_random_operations
"""LRU whose access does not refresh the key: it is FIFO."""
from collections import OrderedDict


class LRUPolicy:
    def __init__(self):
        self._order = OrderedDict()

    def insert(self, key):
        if key in self._order:
            raise ValueError(f"key {key!r} is already held")
        self._order[key] = None

    def access(self, key):
        if key not in self._order:
            raise KeyError(key)

    def remove(self, key):
        del self._order[key]

    def evict(self):
        if not self._order:
            raise KeyError("empty")
        return self._order.popitem(last=False)[0]

    def __len__(self):
        return len(self._order)

    def __contains__(self, key):
        return key in self._order
