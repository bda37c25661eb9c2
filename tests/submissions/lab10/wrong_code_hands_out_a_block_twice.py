# expect-fail: code_example, code_hidden
"""The coding task (lab03's allocator): allocate() peeks at the free list instead of popping it."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def allocate(self):
        if not self._free:
            raise OutOfBlocksError("no free block")  # noqa: F821
        block_id = self._free[-1]
        self._refcount[block_id] = 1
        return block_id
