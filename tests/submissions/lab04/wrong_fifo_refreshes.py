# expect-fail: policies_evict_the_right_victim, fifo_matches_the_reference_on_random_operations
"""FIFO whose access moves the key to the back (it is LRU)."""
from collections import OrderedDict


class FIFOPolicy:
    def __init__(self):
        self._order = OrderedDict()

    def insert(self, key):
        if key in self._order:
            raise ValueError(f"key {key!r} is already held")
        self._order[key] = None

    def access(self, key):
        self._order.move_to_end(key)

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
