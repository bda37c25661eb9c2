# expect-fail: out_of_blocks_append_is_all_or_nothing, random_operations_match_a_model
"""append allocates block by block and lets OutOfBlocksError escape half way: the blocks taken so far stay taken."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def append(self, seq_id, k, v):
        self._known(seq_id)
        self._check_kv(k, "k")
        self._check_kv(v, "v")
        if k.shape[0] != v.shape[0]:
            raise ValueError("k and v must hold the same number of tokens")
        table, n, t = self._tables[seq_id], self._lens[seq_id], k.shape[0]
        bs, alloc = self.block_size, self.allocator
        if n % bs != 0 and alloc.refcount(table[-1]) > 1:
            new = alloc.allocate()
            self.k_cache[new].copy_(self.k_cache[table[-1]])
            self.v_cache[new].copy_(self.v_cache[table[-1]])
            alloc.free(table[-1])
            table[-1] = new
        while len(table) * bs < n + t:
            table.append(alloc.allocate())  # may raise with some blocks already taken
        slots = self._slots(table, n, n + t)
        self._flat(self.k_cache)[slots] = k.to(self.dtype)
        self._flat(self.v_cache)[slots] = v.to(self.dtype)
        self._lens[seq_id] = n + t
