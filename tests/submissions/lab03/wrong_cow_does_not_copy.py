# expect-fail: out_of_blocks_append_is_all_or_nothing, fork_then_append_copies_the_shared_block, free_sequence_keeps_shared_blocks_for_the_others, random_operations_match_a_model
"""append writes into a shared last block instead of copying it: the parent sees the child's tokens."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def append(self, seq_id, k, v):
        self._known(seq_id)
        self._check_kv(k, "k")
        self._check_kv(v, "v")
        if k.shape[0] != v.shape[0]:
            raise ValueError("k and v must hold the same number of tokens")
        table, n, t = self._tables[seq_id], self._lens[seq_id], k.shape[0]
        need = -(-(n + t) // self.block_size) - len(table)
        if need > self.allocator.num_free_blocks:
            raise OutOfBlocksError("not enough free blocks")  # noqa: F821
        for _ in range(need):
            table.append(self.allocator.allocate())
        slots = self._slots(table, n, n + t)
        self._flat(self.k_cache)[slots] = k.to(self.dtype)
        self._flat(self.v_cache)[slots] = v.to(self.dtype)
        self._lens[seq_id] = n + t
