# expect-fail: policy_calls_cost_the_same_at_1e3_and_1e5_keys
"""A correct LRU kept in a Python list: access and remove scan it (O(n) per call)."""


class LRUPolicy:
    def __init__(self):
        self._order = []
        self._held = set()

    def insert(self, key):
        if key in self._held:
            raise ValueError(f"key {key!r} is already held")
        self._order.append(key)
        self._held.add(key)

    def access(self, key):
        if key not in self._held:
            raise KeyError(key)
        self._order.remove(key)
        self._order.append(key)

    def remove(self, key):
        if key not in self._held:
            raise KeyError(key)
        self._order.remove(key)
        self._held.discard(key)

    def evict(self):
        if not self._order:
            raise KeyError("empty")
        key = self._order.pop(0)
        self._held.discard(key)
        return key

    def __len__(self):
        return len(self._order)

    def __contains__(self, key):
        return key in self._held
