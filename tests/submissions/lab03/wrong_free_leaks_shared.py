# expect-fail: free_sequence_keeps_shared_blocks_for_the_others, random_operations_match_a_model
"""free_sequence skips the blocks other sequences share: they leak when the last sharer goes."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def free_sequence(self, seq_id):
        self._known(seq_id)
        for block_id in self._tables.pop(seq_id):
            if self.allocator.refcount(block_id) == 1:
                self.allocator.free(block_id)
        del self._lens[seq_id]
