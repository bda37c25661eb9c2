# expect-fail: allocate_and_free_are_constant_time
"""allocate() searches the refcounts for the first free block: cheap on a fresh pool, O(num_blocks) when it is nearly full."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def __init__(self, num_blocks, block_size):
        super().__init__(num_blocks, block_size)
        self._nfree = num_blocks

    @property
    def num_free_blocks(self):
        return self._nfree

    def allocate(self):
        if self._nfree == 0:
            raise OutOfBlocksError("no free block")  # noqa: F821
        block_id = self._refcount.index(0)
        self._refcount[block_id] = 1
        self._nfree -= 1
        return block_id

    def free(self, block_id):
        block_id = self._check_id(block_id)
        if self._refcount[block_id] == 0:
            raise ValueError(f"block_id {block_id} is already free")
        self._refcount[block_id] -= 1
        if self._refcount[block_id] == 0:
            self._nfree += 1
