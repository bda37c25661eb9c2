# expect-fail: allocator_hands_out_every_block_once, out_of_blocks_error_is_a_runtime_error, refcounts_incref_and_double_free
"""allocate() pops from an empty free list: IndexError instead of OutOfBlocksError."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def allocate(self):
        block_id = self._free.pop()
        self._refcount[block_id] = 1
        return block_id
