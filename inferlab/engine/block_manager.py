"""BlockManager: which KV blocks each sequence holds — a free list, reference counts, prefix caching.

A sequence's `block_table[i]` holds the KV of token positions `[i * block_size, (i + 1) * block_size)`;
a sequence whose cache holds `c` tokens has exactly `ceil(c / block_size)` blocks. Blocks are
shared in two ways, both counted by reference counts:
- prefix caching: a full block is named by a chained key of every token up to its end
  (`inferlab.traces.block_keys`, hashlib-based, the same in every process); a new prompt
  whose leading full blocks have known keys takes those blocks instead of recomputing them.
  A freed block keeps its key until the free list hands it out again (least recently freed first).
- `fork(parent, child)`: the child shares every block; a later write into a shared, partly
  filled block copies it first (copy-on-write; `append` returns the `(src, dst)` copies to make).
Every method is a check/act pair: `can_X` answers without changing anything, `X` asserts it.
"""
from __future__ import annotations

from inferlab.engine.sequence import Sequence
from inferlab.traces import block_keys


class BlockManager:
    """Hands out KV blocks to sequences: free list, refcounts, prefix cache, fork with copy-on-write."""

    def __init__(self, num_blocks: int, block_size: int, enable_prefix_caching: bool = False):
        for name, value in (("num_blocks", num_blocks), ("block_size", block_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.enable_prefix_caching = enable_prefix_caching
        self.ref_counts = [0] * num_blocks
        self._free = dict.fromkeys(range(num_blocks))  # insertion-ordered: least recently freed first
        self._key_of: list[int | None] = [None] * num_blocks  # prefix-cache key of a full block
        self._block_of: dict[int, int] = {}  # key -> block

    # ------------------------------------------------------------------ counts

    @property
    def num_free_blocks(self) -> int:
        """Blocks no sequence holds (cached ones included: they are reusable)."""
        return len(self._free)

    @property
    def num_used_blocks(self) -> int:
        """Blocks held by at least one sequence."""
        return self.num_blocks - len(self._free)

    def blocks_for(self, num_tokens: int) -> int:
        """ceil(num_tokens / block_size)."""
        return -(-num_tokens // self.block_size)

    # ------------------------------------------------------------------ admission (prefix hits)

    def prefix_hits(self, seq: Sequence) -> list[int]:
        """Cached blocks holding the leading full blocks of `seq`'s prompt (one token always left to run)."""
        if not self.enable_prefix_caching:
            return []
        max_blocks = (seq.num_prefill_tokens - 1) // self.block_size
        hits = []
        for key in block_keys(seq.token_ids[:max_blocks * self.block_size], self.block_size):
            block = self._block_of.get(key)
            if block is None:
                break
            hits.append(block)
        return hits

    def num_prefix_hit_tokens(self, seq: Sequence) -> int:
        """Tokens of `seq` an admission now would take from the prefix cache."""
        return len(self.prefix_hits(seq)) * self.block_size

    def _admission_cost(self, seq: Sequence, num_new_tokens: int) -> int:
        """Free blocks that `allocate(seq, num_new_tokens)` takes."""
        hits = self.prefix_hits(seq)
        revived = sum(1 for b in hits if self.ref_counts[b] == 0)  # cached but free: leaves the free list
        return revived + self.blocks_for(len(hits) * self.block_size + num_new_tokens) - len(hits)

    def can_allocate(self, seq: Sequence, num_new_tokens: int) -> bool:
        """Whether `seq` (holding nothing) can take its prefix hits plus blocks for `num_new_tokens` more."""
        return self._admission_cost(seq, num_new_tokens) <= len(self._free)

    def allocate(self, seq: Sequence, num_new_tokens: int) -> None:
        """Admit `seq`: take its prefix hits (`num_cached_tokens` set), then room for `num_new_tokens`."""
        assert not seq.block_table and seq.num_cached_tokens == 0, f"{seq} already holds blocks"
        assert self.can_allocate(seq, num_new_tokens), f"{seq}: not enough free blocks"
        for block in self.prefix_hits(seq):
            if self.ref_counts[block] == 0:
                del self._free[block]
            self.ref_counts[block] += 1
            seq.block_table.append(block)
        seq.num_cached_tokens = seq.num_prefix_hit_tokens = len(seq.block_table) * self.block_size
        self.append(seq, num_new_tokens)

    # ------------------------------------------------------------------ growth

    def blocks_needed(self, seq: Sequence, num_new_tokens: int) -> int:
        """Free blocks that writing `num_new_tokens` more tokens into `seq`'s cache takes (copy-on-write included)."""
        c = seq.num_cached_tokens
        assert len(seq.block_table) == self.blocks_for(c), f"{seq}: table does not match its cached tokens"
        shared_tail = c % self.block_size != 0 and self.ref_counts[seq.block_table[-1]] > 1
        return self.blocks_for(c + num_new_tokens) - len(seq.block_table) + int(shared_tail)

    def can_append(self, seq: Sequence, num_new_tokens: int = 1) -> bool:
        """Whether `seq` can grow by `num_new_tokens` tokens now."""
        return self.blocks_needed(seq, num_new_tokens) <= len(self._free)

    def append(self, seq: Sequence, num_new_tokens: int = 1) -> list[tuple[int, int]]:
        """Give `seq` room for `num_new_tokens` more tokens; returns the (src, dst) block copies to make first."""
        assert self.can_append(seq, num_new_tokens), f"{seq}: not enough free blocks"
        copies = []
        c = seq.num_cached_tokens
        if c % self.block_size != 0 and self.ref_counts[seq.block_table[-1]] > 1:  # copy-on-write
            src = seq.block_table[-1]
            dst = self._take_free_block()
            self.ref_counts[src] -= 1  # still held by the others (count was > 1)
            seq.block_table[-1] = dst
            copies.append((src, dst))
        while len(seq.block_table) < self.blocks_for(c + num_new_tokens):
            seq.block_table.append(self._take_free_block())
        return copies

    # ------------------------------------------------------------------ sharing and release

    def fork(self, parent: Sequence, child: Sequence) -> None:
        """`child` (holding nothing) shares every block of `parent` and its cached tokens."""
        assert not child.block_table, f"{child} already holds blocks"
        for block in parent.block_table:
            self.ref_counts[block] += 1
        child.block_table = list(parent.block_table)
        child.num_cached_tokens = parent.num_cached_tokens

    def deallocate(self, seq: Sequence) -> None:
        """Drop `seq`'s reference to each of its blocks; a block nobody holds returns to the free list."""
        for block in reversed(seq.block_table):  # the prompt's first blocks are freed last: evicted last
            assert self.ref_counts[block] > 0, f"block {block} freed more often than taken"
            self.ref_counts[block] -= 1
            if self.ref_counts[block] == 0:
                self._free[block] = None
        seq.block_table = []
        seq.num_cached_tokens = 0

    def cache_full_blocks(self, seq: Sequence) -> None:
        """Name `seq`'s full, computed blocks in the prefix cache (call after their KV is written)."""
        if not self.enable_prefix_caching:
            return
        full = seq.num_cached_tokens // self.block_size
        if all(self._key_of[b] is not None for b in seq.block_table[:full]):
            return
        keys = block_keys(seq.token_ids[:full * self.block_size], self.block_size)
        for block, key in zip(seq.block_table, keys):
            if self._key_of[block] is None and key not in self._block_of:
                self._key_of[block] = key
                self._block_of[key] = block

    def _take_free_block(self) -> int:
        block = next(iter(self._free))  # least recently freed
        del self._free[block]
        key = self._key_of[block]
        if key is not None:  # its cached KV is about to be overwritten
            del self._block_of[key]
            self._key_of[block] = None
        assert self.ref_counts[block] == 0
        self.ref_counts[block] = 1
        return block

    # ------------------------------------------------------------------ invariants

    def check_invariants(self, seqs=()) -> None:
        """Assert the books balance; with `seqs` (every sequence holding blocks), refcounts equal table counts."""
        assert len(self._free) + sum(1 for r in self.ref_counts if r > 0) == self.num_blocks
        for block, ref in enumerate(self.ref_counts):
            assert ref >= 0, f"block {block} has refcount {ref}"
            assert (ref == 0) == (block in self._free), f"block {block}: refcount {ref} vs free list"
        for key, block in self._block_of.items():
            assert self._key_of[block] == key, f"prefix cache: key {key} -> block {block} is stale"
        if seqs:
            held = [0] * self.num_blocks
            for seq in seqs:
                assert len(seq.block_table) >= self.blocks_for(seq.num_cached_tokens), f"{seq}: too few blocks"
                for block in seq.block_table:
                    held[block] += 1
            assert held == self.ref_counts, f"refcounts {self.ref_counts} != tables' counts {held}"
