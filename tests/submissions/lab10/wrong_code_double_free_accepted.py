# expect-fail: code_hidden
"""The coding task (lab03's allocator): free() of a free block puts it on the free list a second time."""


class BlockAllocator(BlockAllocator):  # noqa: F821 - the reference's class
    def free(self, block_id):
        block_id = self._check_id(block_id)
        self._refcount[block_id] = max(0, self._refcount[block_id] - 1)
        if self._refcount[block_id] == 0:
            self._free.append(block_id)
