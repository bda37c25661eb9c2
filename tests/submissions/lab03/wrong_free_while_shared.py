# expect-fail: refcounts_incref_and_double_free, out_of_blocks_append_is_all_or_nothing, fork_then_append_copies_the_shared_block, free_sequence_keeps_shared_blocks_for_the_others, random_operations_match_a_model
"""free() returns the block at once, even while other sequences still hold it."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def free(self, block_id):
        block_id = self._check_id(block_id)
        if self._refcount[block_id] == 0:
            raise ValueError(f"block_id {block_id} is already free")
        self._refcount[block_id] = 0
        self._free.append(block_id)
