# expect-fail: fork_shares_blocks_without_copying, fork_then_append_copies_the_shared_block, free_sequence_keeps_shared_blocks_for_the_others, random_operations_match_a_model, out_of_blocks_append_is_all_or_nothing
"""fork copies the block table but not the references: the blocks look unshared."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def fork(self, parent_id, child_id):
        self._known(parent_id, "parent_id")
        self._new_id(child_id, "child_id")
        self._tables[child_id] = list(self._tables[parent_id])
        self._lens[child_id] = self._lens[parent_id]
