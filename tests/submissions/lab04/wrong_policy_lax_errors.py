# expect-fail: policies_reject_bad_calls_and_stay_unchanged
"""An LRU that returns None when empty and silently re-inserts a held key."""
from collections import OrderedDict


class LRUPolicy:
    def __init__(self):
        self._order = OrderedDict()

    def insert(self, key):
        self._order[key] = None
        self._order.move_to_end(key)

    def access(self, key):
        self._order.move_to_end(key)

    def remove(self, key):
        del self._order[key]

    def evict(self):
        if not self._order:
            return None
        return self._order.popitem(last=False)[0]

    def __len__(self):
        return len(self._order)

    def __contains__(self, key):
        return key in self._order
