# expect-fail: bad_input_raises_and_changes_nothing
"""add_sequence of an existing id silently starts it over (its blocks leak) instead of raising ValueError."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def add_sequence(self, seq_id):
        self._tables[seq_id] = []
        self._lens[seq_id] = 0
