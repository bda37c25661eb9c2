# expect-fail: allocate_and_free_are_constant_time
"""allocate() takes the lowest-numbered free block with list.pop(0): O(num_blocks) per call."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def __init__(self, num_blocks, block_size):
        super().__init__(num_blocks, block_size)
        self._free.reverse()  # ascending ids; pop(0) hands out the lowest

    def allocate(self):
        if not self._free:
            raise OutOfBlocksError("no free block")  # noqa: F821
        block_id = self._free.pop(0)
        self._refcount[block_id] = 1
        return block_id
