# %% [markdown]
# # lab03 · PagedAttention · 分页注意力
#
# A serving engine keeps the keys and values (KV) of every running sequence. Reserving
# `max_seq_len` contiguous slots per sequence wastes most of the memory (sequences stop at
# unknown lengths) and fragments it. PagedAttention (vLLM) borrows the operating system's
# answer: cut the KV cache into fixed-size **blocks** (pages), give each sequence a **block
# table** (its page table) that maps logical block `i` to a physical block, and let the
# attention kernel follow the table.
#
# | OS virtual memory | PagedAttention |
# | --- | --- |
# | page | KV block of `block_size` tokens |
# | page table | `block_table(seq_id) -> list[int]` |
# | virtual address → physical address | token position `p` → slot `table[p // bs] * bs + p % bs` |
# | fork + copy-on-write | parallel sampling / beam search share prompt blocks |
# | page fault → allocate a frame | append crosses a block boundary → allocate a block |
#
# Tasks
# 1. `OutOfBlocksError`, `BlockAllocator`: a free list with reference counts, O(1) allocate and free.
# 2. `PagedKVCache`: block tables, slot mapping, append (all or nothing), gather.
# 3. `fork` and copy-on-write.
# 4. `paged_attention`: the decode kernel in Triton, grouped-query attention included.
# 5. `kv_memory_waste`: contiguous reservation versus paging.
# 6. Frontier: `paged_attention_split_kv`, split-KV (flash-decoding) for long contexts, merging
#    partial results with their log-sum-exp.
#
# Dimension letters: B batch, H query heads, H_kv KV heads (H % H_kv == 0), D head dim,
# N blocks in the cache, bs tokens per block, L context length.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU, before triton is imported

import math

import torch
import triton
import triton.language as tl

# %% [markdown]
# ## Task 1 · BlockAllocator (lab03 · task 1)
#
# The allocator owns `num_blocks` physical block ids. Every block has a reference count: the
# number of sequences whose block table holds it. `allocate()` hands out a free block with
# count 1, `incref` adds a sharer, `free` drops one reference and returns the block to the free
# list when the count reaches zero. Fixed-size blocks make placement trivial: any free block is
# as good as any other, so a stack of free ids gives O(1) allocate and free, with no first-fit or
# best-fit search and no external fragmentation.
#
# - `allocate()` raises `OutOfBlocksError` (a `RuntimeError`) when no block is free.
# - `free(block_id)` of a free or unknown block raises `ValueError` naming `block_id`, and changes nothing.
# - Both must be O(1): never scan the free list or the reference counts (no `list.pop(0)`, no `min(...)`).

# %% [solution id=lab03_allocator]
class OutOfBlocksError(RuntimeError):
    """No free KV block is left."""


def _check_int(value, name, lo=None, hi=None):
    """Validate an integer argument (bools refused); return it as int."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numbers

            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value}")
    return value


class BlockAllocator:
    """A pool of `num_blocks` KV blocks with reference counts; O(1) allocate and free."""

    def __init__(self, num_blocks, block_size):
        ### BEGIN SOLUTION
        self.num_blocks = _check_int(num_blocks, "num_blocks", lo=1)
        self.block_size = _check_int(block_size, "block_size", lo=1)
        self._free = list(range(self.num_blocks - 1, -1, -1))  # a stack: pop() hands out block 0 first
        self._refcount = [0] * self.num_blocks
        ### END SOLUTION

    @property
    def num_free_blocks(self):
        """How many blocks are free."""
        ### BEGIN SOLUTION
        return len(self._free)
        ### END SOLUTION

    def _check_id(self, block_id):
        ### BEGIN SOLUTION
        return _check_int(block_id, "block_id", lo=0, hi=self.num_blocks - 1)
        ### END SOLUTION

    def allocate(self):
        """Take a free block (refcount 1); raise OutOfBlocksError when none is left."""
        ### BEGIN SOLUTION
        if not self._free:
            raise OutOfBlocksError(f"all {self.num_blocks} blocks are in use")
        block_id = self._free.pop()
        assert self._refcount[block_id] == 0
        self._refcount[block_id] = 1
        return block_id
        ### END SOLUTION

    def incref(self, block_id):
        """One more sharer of an allocated block."""
        ### BEGIN SOLUTION
        block_id = self._check_id(block_id)
        if self._refcount[block_id] == 0:
            raise ValueError(f"block_id {block_id} is free: allocate it before sharing it")
        self._refcount[block_id] += 1
        ### END SOLUTION

    def free(self, block_id):
        """Drop one reference; the block is free again when none is left."""
        ### BEGIN SOLUTION
        block_id = self._check_id(block_id)
        if self._refcount[block_id] == 0:
            raise ValueError(f"block_id {block_id} is already free (double free)")
        self._refcount[block_id] -= 1
        if self._refcount[block_id] == 0:
            self._free.append(block_id)
        ### END SOLUTION

    def refcount(self, block_id):
        """How many sequences hold `block_id` (0 = free)."""
        ### BEGIN SOLUTION
        return self._refcount[self._check_id(block_id)]
        ### END SOLUTION

# %% [test id=lab03_task1]
from inferlab.grading import check_here
check_here("lab03", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# The cost of `allocate` and `free` must not grow with the pool: the check times 2,000
# allocate/free pairs on pools of 1,000 and of 500,000 blocks, fresh and nearly full, in the same run.

# %% [test id=lab03_task1_perf]
from inferlab.grading import check_here
check_here("lab03", "task1_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task1_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · PagedKVCache: block table and slot mapping (lab03 · task 2)
#
# `k_cache` and `v_cache` are `(N, bs, H_kv, D)`: physical block `b`, slot `s` in it. A
# sequence's token at position `p` lives in block `table[p // bs]`, slot `p % bs`; flattened,
# that is **slot** `table[p // bs] * bs + p % bs` of the `(N * bs, H_kv, D)` view, the
# *slot mapping* that the engine hands the kernel that writes new KV.
#
# `append(seq_id, k, v)` adds `T` tokens: it allocates the blocks the new tokens need, and when
# the last block is shared (after a fork) and not full, copies it first (task 3). It is **all or
# nothing**: count the blocks needed first; if they are not free, raise `OutOfBlocksError` and
# change nothing (tables, lengths, refcounts, free count, cache contents).
# Bad arguments raise `ValueError` (`TypeError` for a wrong type) naming the argument, and change nothing.

# %% [solution id=lab03_cache]
class PagedKVCache:
    """A paged KV cache: `k_cache`, `v_cache` of (N, bs, H_kv, D), a BlockAllocator, block tables."""

    def __init__(self, num_blocks, block_size, num_kv_heads, head_dim, dtype=torch.float16, device="cpu"):
        ### BEGIN SOLUTION
        num_blocks = _check_int(num_blocks, "num_blocks", lo=1)
        block_size = _check_int(block_size, "block_size", lo=1)
        self.num_kv_heads = _check_int(num_kv_heads, "num_kv_heads", lo=1)
        self.head_dim = _check_int(head_dim, "head_dim", lo=1)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.block_size = block_size
        self.dtype = dtype
        self.device = torch.device(device)
        shape = (num_blocks, block_size, self.num_kv_heads, self.head_dim)  # (N, bs, H_kv, D)
        self.k_cache = torch.zeros(shape, dtype=dtype, device=self.device)
        self.v_cache = torch.zeros(shape, dtype=dtype, device=self.device)
        self.allocator = BlockAllocator(num_blocks, block_size)
        self._tables = {}  # seq_id -> list of physical block ids
        self._lens = {}  # seq_id -> tokens stored
        ### END SOLUTION

    def _known(self, seq_id, name="seq_id"):
        ### BEGIN SOLUTION
        if seq_id not in self._tables:
            raise ValueError(f"{name} {seq_id!r} is not a sequence of this cache")
        return seq_id
        ### END SOLUTION

    def _new_id(self, seq_id, name="seq_id"):
        ### BEGIN SOLUTION
        try:
            hash(seq_id)
        except TypeError:
            raise TypeError(f"{name} must be hashable (an int or a str), got {type(seq_id).__name__}") from None
        if seq_id in self._tables:
            raise ValueError(f"{name} {seq_id!r} already exists")
        return seq_id
        ### END SOLUTION

    def add_sequence(self, seq_id):
        """Start an empty sequence."""
        ### BEGIN SOLUTION
        self._new_id(seq_id)
        self._tables[seq_id] = []
        self._lens[seq_id] = 0
        ### END SOLUTION

    def seq_len(self, seq_id):
        """Tokens stored for `seq_id`."""
        ### BEGIN SOLUTION
        return self._lens[self._known(seq_id)]
        ### END SOLUTION

    def block_table(self, seq_id):
        """Physical block ids of `seq_id`, logical block order (a copy)."""
        ### BEGIN SOLUTION
        return list(self._tables[self._known(seq_id)])
        ### END SOLUTION

    def slot_mapping(self, seq_id):
        """LongTensor[seq_len]: slot of position p = table[p // bs] * bs + p % bs."""
        ### BEGIN SOLUTION
        self._known(seq_id)
        return self._slots(self._tables[seq_id], 0, self._lens[seq_id])
        ### END SOLUTION

    def _slots(self, table, start, stop):
        ### BEGIN SOLUTION
        bs = self.block_size
        pos = torch.arange(start, stop, dtype=torch.long)
        if len(pos) == 0:
            return pos.to(self.device)
        first = start // bs  # only the table entries of positions start..stop-1: O(stop - start)
        blocks = torch.tensor(table[first: -(-stop // bs)], dtype=torch.long)
        return (blocks[pos // bs - first] * bs + pos % bs).to(self.device)
        ### END SOLUTION

    def _flat(self, cache):
        return cache.view(-1, self.num_kv_heads, self.head_dim)  # (N * bs, H_kv, D)

    def gather(self, seq_id):
        """(k, v), each (seq_len, H_kv, D): the sequence's KV in position order."""
        ### BEGIN SOLUTION
        slots = self.slot_mapping(seq_id)
        return self._flat(self.k_cache)[slots].clone(), self._flat(self.v_cache)[slots].clone()
        ### END SOLUTION

    def _check_kv(self, k, name):
        ### BEGIN SOLUTION
        if not isinstance(k, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(k).__name__}")
        if k.dim() != 3 or tuple(k.shape[1:]) != (self.num_kv_heads, self.head_dim):
            raise ValueError(f"{name} must be (T, num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}), "
                             f"got {tuple(k.shape)}")
        if not k.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got {k.dtype}")
        ### END SOLUTION

    def append(self, seq_id, k, v):
        """Append T tokens' k, v (T, H_kv, D); allocate and copy on write as needed; all or nothing."""
        ### BEGIN SOLUTION
        self._known(seq_id)
        self._check_kv(k, "k")
        self._check_kv(v, "v")
        if k.shape[0] != v.shape[0]:
            raise ValueError(f"k and v must hold the same number of tokens, got {k.shape[0]} and {v.shape[0]}")
        table, n, t = self._tables[seq_id], self._lens[seq_id], k.shape[0]
        if t == 0:
            return
        bs, alloc = self.block_size, self.allocator
        # Check: blocks for new positions, plus one copy when the partly filled last block is shared.
        copy_last = n % bs != 0 and alloc.refcount(table[-1]) > 1
        need = -(-(n + t) // bs) - len(table) + int(copy_last)
        if need > alloc.num_free_blocks:
            raise OutOfBlocksError(f"append of {t} tokens to {seq_id!r} needs {need} free blocks, "
                                   f"{alloc.num_free_blocks} are free")
        # Act: nothing below can fail.
        if copy_last:
            new = alloc.allocate()
            self.k_cache[new].copy_(self.k_cache[table[-1]])
            self.v_cache[new].copy_(self.v_cache[table[-1]])
            alloc.free(table[-1])  # the other sharers keep it
            table[-1] = new
        while len(table) * bs < n + t:
            table.append(alloc.allocate())
        slots = self._slots(table, n, n + t)
        self._flat(self.k_cache)[slots] = k.to(self.k_cache.device, self.dtype)
        self._flat(self.v_cache)[slots] = v.to(self.v_cache.device, self.dtype)
        self._lens[seq_id] = n + t
        ### END SOLUTION

    def free_sequence(self, seq_id):
        """Drop the sequence: one reference less on each of its blocks."""
        ### BEGIN SOLUTION
        self._known(seq_id)
        for block_id in self._tables.pop(seq_id):
            self.allocator.free(block_id)
        del self._lens[seq_id]
        ### END SOLUTION

    # Task 3 --------------------------------------------------------------------
    def fork(self, parent_id, child_id):
        """The child shares every block of the parent (refcounts + 1); its appends copy on write."""
        ### BEGIN SOLUTION
        self._known(parent_id, "parent_id")
        self._new_id(child_id, "child_id")
        for block_id in self._tables[parent_id]:
            self.allocator.incref(block_id)
        self._tables[child_id] = list(self._tables[parent_id])
        self._lens[child_id] = self._lens[parent_id]
        ### END SOLUTION

    # Helpers for running the kernel over a batch (not graded) --------------------
    def batch(self, seq_ids):
        """(block_tables int32 (B, max_blocks) padded with -1, context_lens int32 (B,)) for `seq_ids`."""
        tables = [self.block_table(s) for s in seq_ids]
        width = max(1, max(len(t) for t in tables))
        bt = torch.full((len(tables), width), -1, dtype=torch.int32)
        for i, t in enumerate(tables):
            bt[i, : len(t)] = torch.tensor(t, dtype=torch.int32)
        lens = torch.tensor([self.seq_len(s) for s in seq_ids], dtype=torch.int32)
        return bt.to(self.device), lens.to(self.device)

# %% [test id=lab03_task2]
from inferlab.grading import check_here
check_here("lab03", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · fork and copy-on-write (lab03 · task 3)
#
# Parallel sampling (n completions of one prompt) and beam search start from one prompt's KV.
# `fork(parent_id, child_id)` copies only the block table and raises each block's refcount:
# no KV is copied. The first `append` of either sequence to a **shared, partly filled** last
# block copies that block first (copy-on-write), so a child's append never changes what the
# parent's `gather` returns. Full shared blocks stay shared forever (they are never written again).
# `free_sequence` of one sharer leaves the block to the others; it is returned to the free list
# when its last sharer is freed. `fork` is written above, inside `PagedKVCache`.

# %% [test id=lab03_task3]
from inferlab.grading import check_here
check_here("lab03", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · paged_attention in Triton, with grouped-query attention (lab03 · task 4)
#
# Decode: one new query per sequence, `q (B, H, D)`, attends to its `L_b` cached tokens, found
# through `block_tables[b]`. With grouped-query attention `H_kv` KV heads serve `H` query heads:
# query head `h` reads KV head `h // (H / H_kv)`.
#
# The kernel runs one program per (sequence, KV head) and loads the queries of **all** heads of
# that KV group at once, `(G, D)`, so each KV block is read once per group, not once per query head.
# It walks the context `BLOCK_N` tokens at a time: it loads the table entries of those tokens,
# turns them into cache offsets, loads a `(BLOCK_N, D)` tile of K and V (rows of D contiguous
# elements: vectorised loads), and keeps an online softmax. Positions past `L_b` are masked: the
# table entries past the context may hold anything (-1 included) and are never used to address the
# cache, and unused slots of the last block (NaN or garbage) are never read.
#
# **Bad values on a GPU.** Shapes, dtypes and devices are checked on the host on every call. The
# *values* of `context_lens` and of the table entries live on the device: looking at them from
# Python waits for the GPU (a synchronisation per call, 0.2-0.45 ms measured on an H200, more than
# the whole kernel at batch 64 x 1k). So the reference checks them on the host only for CPU tensors
# (the graded `ValueError`s), or on a GPU when `INFERLAB_CHECK_VALUES=1` is set (a debug switch, with
# the synchronisation). Otherwise the kernel guards itself: a context length outside
# `[1, max_blocks * block_size]` or a table entry inside the context that is not a block id makes
# that sequence's output **NaN** (never a silently wrong number), and no such value is ever used as
# an address.
#
# **Every batch size.** One program per (sequence, KV head) gives `B * H_kv` programs: at batch 1 with
# 8 KV heads, 8 programs for a GPU of 132 SMs. When that cannot fill the GPU, `paged_attention`
# splits each context into partitions by itself (task 6's split-KV, chosen from `B`, `H_kv` and the
# table's width, no synchronisation), in **one launch**: each program stores its partial result and
# bumps a counter of its (sequence, KV head); the last one to arrive merges the partials.
#
# Head dims: any multiple of 8 in [16, 256] (80, 96, 112 included): the kernel works on the next power
# of two and masks the padding columns.
#
# Notes for the Triton interpreter (CPU): `tl.dot` needs at least 16 rows on a GPU, so the group is
# padded to 16 rows; bf16 dots are computed in float32 when the tensors are on the CPU.

# %% [solution id=lab03_paged_attention]
import functools
import os


@triton.jit
def _paged_attention_kernel(
    q_ptr, k_ptr, v_ptr, bt_ptr, lens_ptr, o_ptr, lse_ptr,
    sm_scale,
    stride_qb, stride_qh, stride_qd,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_btb, stride_btn,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_lb, stride_lh, stride_ls,
    PARTITION,  # tokens per split; the whole table's width when not split
    NUM_BLOCKS, MAX_BLOCKS,  # the cache's blocks, the table's width: the guards' bounds
    out_ptr, sem_ptr, stride_fb, stride_fh, stride_fd,  # MERGE: final (B, H, D) output, one counter per (b, kvh)
    BLOCK_SIZE: tl.constexpr, GROUP: tl.constexpr, GROUP_P: tl.constexpr, D: tl.constexpr, D_P: tl.constexpr,
    BLOCK_N: tl.constexpr, FP32_DOT: tl.constexpr, SPLIT: tl.constexpr, MERGE: tl.constexpr,
    SPLITS_P: tl.constexpr = 2,
):
    ### BEGIN SOLUTION
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    cap = MAX_BLOCKS * BLOCK_SIZE
    ctx = tl.load(lens_ptr + b)
    bad = (ctx < 1) | (ctx > cap)  # reached only on a GPU: the host checks the values of CPU tensors
    ctx = tl.minimum(tl.maximum(ctx, 0), cap)
    lo = split * PARTITION
    hi = tl.minimum(lo + PARTITION, ctx)

    offs_g = tl.arange(0, GROUP_P)
    offs_d = tl.arange(0, D_P)  # D padded to a power of two; the padding columns are masked
    g_mask = offs_g < GROUP
    d_mask = offs_d < D
    heads = kvh * GROUP + offs_g  # query heads served by this KV head
    q = tl.load(q_ptr + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=g_mask[:, None] & d_mask[None, :], other=0.0)  # (G, D)
    if FP32_DOT:
        q = q.to(tl.float32)
    qk_scale = sm_scale * 1.4426950408889634  # softmax in base 2: exp(x) = exp2(x * log2(e))

    m_i = tl.full([GROUP_P], float("-inf"), tl.float32)
    l_i = tl.zeros([GROUP_P], tl.float32)
    acc = tl.zeros([GROUP_P, D_P], tl.float32)
    n_bad = tl.zeros([BLOCK_N], tl.int32)  # table entries inside the context that are not block ids
    bt_row = bt_ptr + b * stride_btb
    k_base = k_ptr + kvh * stride_kh
    v_base = v_ptr + kvh * stride_vh
    for start in range(lo, hi, BLOCK_N):
        tok = start + tl.arange(0, BLOCK_N)
        t_mask = tok < hi
        blk = tl.load(bt_row + (tok // BLOCK_SIZE) * stride_btn, mask=t_mask, other=0)
        blk_ok = (blk >= 0) & (blk < NUM_BLOCKS)
        n_bad += (t_mask & (blk_ok == 0)).to(tl.int32)
        blk = blk.to(tl.int64)
        slot = tok % BLOCK_SIZE
        kv_mask = (t_mask & blk_ok)[:, None] & d_mask[None, :]
        k = tl.load(k_base + blk[:, None] * stride_kb + slot[:, None] * stride_ks + offs_d[None, :] * stride_kd,
                    mask=kv_mask, other=0.0)  # (BLOCK_N, D)
        v = tl.load(v_base + blk[:, None] * stride_vb + slot[:, None] * stride_vs + offs_d[None, :] * stride_vd,
                    mask=kv_mask, other=0.0)  # (BLOCK_N, D)
        if FP32_DOT:
            s = tl.dot(q, tl.trans(k.to(tl.float32)), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))  # (G, BLOCK_N), fp32 accumulate
        s = tl.where(t_mask[None, :], s * qk_scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        if FP32_DOT:
            acc = acc * alpha[:, None] + tl.dot(p, v.to(tl.float32), input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    bad = bad | (tl.sum(n_bad, 0) > 0)
    has = l_i > 0  # an empty split (past the context) has no keys: o = 0, lse = -inf
    o = acc / tl.where(has, l_i, 1.0)[:, None]
    o = tl.where(bad, float("nan"), o)  # a bad context or table: NaN, never a plausible wrong answer
    o_mask = g_mask[:, None] & d_mask[None, :]
    o_ptrs = o_ptr + b * stride_ob + heads[:, None] * stride_oh + split * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(o_ptr.dtype.element_ty), mask=o_mask)
    if SPLIT:
        lse = tl.where(has, (m_i + tl.log2(tl.where(has, l_i, 1.0))) * 0.6931471805599453, float("-inf"))
        tl.store(lse_ptr + b * stride_lb + heads * stride_lh + split * stride_ls, lse, mask=g_mask)
    if MERGE:
        # One launch: the last program of this (sequence, KV head) to finish merges every partition.
        # The barrier puts all of this program's stores before its release; acq_rel makes the other
        # programs' stores visible to the last one.
        tl.debug_barrier()
        num_splits = tl.num_programs(2)
        sem = sem_ptr + b * tl.num_programs(1) + kvh
        arrived = tl.atomic_add(sem, 1, sem="acq_rel", scope="gpu")
        if arrived == num_splits - 1:
            offs_s = tl.arange(0, SPLITS_P)
            s_mask = offs_s < num_splits
            for g in tl.static_range(GROUP):  # each query head: all its partitions in one (S, D) load
                hh = kvh * GROUP + g
                lse_s = tl.load(lse_ptr + b * stride_lb + hh * stride_lh + offs_s * stride_ls, mask=s_mask,
                                other=float("-inf"), cache_modifier=".cg")  # (S,)
                m = tl.max(lse_s, 0)
                m_safe = tl.where(m == float("-inf"), 0.0, m)  # every partition empty: a bad context
                w = tl.where(s_mask, tl.exp(lse_s - m_safe), 0.0)  # (S,), 0 for an empty partition
                po = tl.load(o_ptr + b * stride_ob + hh * stride_oh + offs_s[:, None] * stride_os
                             + offs_d[None, :] * stride_od, mask=s_mask[:, None] & d_mask[None, :], other=0.0,
                             cache_modifier=".cg")  # (S, D)
                out = tl.sum(w[:, None] * po, 0) / tl.sum(w, 0)  # 0 * NaN = NaN: a bad partition shows
                tl.store(out_ptr + b * stride_fb + hh * stride_fh + offs_d * stride_fd,
                         out.to(out_ptr.dtype.element_ty), mask=d_mask)
            tl.atomic_xchg(sem, 0)  # ready for the next launch
    ### END SOLUTION


def _check_values_on_device():
    """Debug switch: INFERLAB_CHECK_VALUES=1 also checks the values of GPU tensors (a synchronisation)."""
    return os.environ.get("INFERLAB_CHECK_VALUES", "") not in ("", "0")


def _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale):
    """Validate the arguments of paged attention; return (B, H, D, H_kv, bs, sm_scale)."""
    ### BEGIN SOLUTION
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache), ("block_tables", block_tables),
                    ("context_lens", context_lens)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if q.dim() != 3:
        raise ValueError(f"q must be (B, H, D), got shape {tuple(q.shape)}")
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"q must be float16, bfloat16 or float32, got {q.dtype}")
    B, H, D = q.shape
    if D < 16 or D > 256 or D % 8:
        raise ValueError(f"q's head dim must be a multiple of 8 in [16, 256], got {D}")
    if k_cache.dim() != 4 or k_cache.shape[-1] != D:
        raise ValueError(f"k_cache must be (num_blocks, block_size, H_kv, D={D}), got {tuple(k_cache.shape)}")
    if v_cache.shape != k_cache.shape:
        raise ValueError(f"v_cache must have k_cache's shape {tuple(k_cache.shape)}, got {tuple(v_cache.shape)}")
    for name, t in (("k_cache", k_cache), ("v_cache", v_cache)):
        if t.dtype != q.dtype:
            raise ValueError(f"{name} must have q's dtype {q.dtype}, got {t.dtype}")
    num_blocks, bs, h_kv, _ = k_cache.shape
    if h_kv < 1 or H % h_kv:
        raise ValueError(f"k_cache's {h_kv} KV heads must divide q's {H} heads (grouped-query attention)")
    if block_tables.dim() != 2 or block_tables.shape[0] != B or block_tables.shape[1] < 1:
        raise ValueError(f"block_tables must be (B={B}, max_blocks), got {tuple(block_tables.shape)}")
    if block_tables.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"block_tables must be int32, got {block_tables.dtype}")
    if context_lens.shape != (B,) or context_lens.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"context_lens must be int32 of shape ({B},), got {context_lens.dtype} {tuple(context_lens.shape)}")
    dev = q.device
    for name, t in (("k_cache", k_cache), ("v_cache", v_cache), ("block_tables", block_tables),
                    ("context_lens", context_lens)):
        if t.device != dev:
            raise ValueError(f"{name} is on {t.device}, q on {dev}")
    if sm_scale is None:
        sm_scale = D ** -0.5
    if isinstance(sm_scale, bool) or not isinstance(sm_scale, (int, float)) or not math.isfinite(sm_scale):
        raise ValueError(f"sm_scale must be a finite number, got {sm_scale!r}")
    if dev.type == "cuda" and not _check_values_on_device():
        # No look at the values on a GPU (it would wait for the device on every call): the kernel
        # turns a bad context length or table entry into NaN output and never uses it as an address.
        return B, H, D, h_kv, bs, float(sm_scale)
    # Every context fits its table, every table entry inside a context names a real block.
    cap = block_tables.shape[1] * bs
    lens = context_lens.long()
    if bool(((lens < 1) | (lens > cap)).any()):
        raise ValueError(f"context_lens must lie in [1, max_blocks * block_size = {cap}], got {context_lens.tolist()}")
    inside = torch.arange(block_tables.shape[1], device=dev)[None, :] < (lens[:, None] + bs - 1) // bs
    bad = inside & ((block_tables < 0) | (block_tables >= num_blocks))
    if bool(bad.any()):
        i, j = (int(x) for x in bad.nonzero()[0])
        raise ValueError(f"block_tables[{i}, {j}] = {int(block_tables[i, j])} is inside the context "
                         f"but not a block id in [0, {num_blocks})")
    return B, H, D, h_kv, bs, float(sm_scale)
    ### END SOLUTION


@functools.lru_cache(maxsize=None)
def _sm_count(device_index):
    """Streaming multiprocessors of a CUDA device (cached: the query is not free)."""
    return torch.cuda.get_device_properties(device_index).multi_processor_count


SPLIT_PROGRAMS_PER_SM = 3  # split when B * H_kv programs are fewer than this many per SM
MIN_PARTITION = 128  # tokens: below this a partition's partial result costs more than it saves
PAGED_CONFIG = (64, 4, 2)  # BLOCK_N, num_warps, num_stages for D <= 128 (measured: NOTES.md)


def _choose_split(B, h_kv, max_tokens, device):
    """(num_splits, partition) for paged_attention: split each context only when B * H_kv programs cannot fill the GPU."""
    ### BEGIN SOLUTION
    if device.type != "cuda":
        return 1, max_tokens  # the interpreter runs programs one after another: nothing to fill
    target = SPLIT_PROGRAMS_PER_SM * _sm_count(device.index)
    programs = B * h_kv
    if programs >= target or max_tokens <= MIN_PARTITION:
        return 1, max_tokens
    splits = min(triton.cdiv(target, programs), triton.cdiv(max_tokens, MIN_PARTITION))
    partition = triton.cdiv(triton.cdiv(max_tokens, splits), 64) * 64  # whole BLOCK_N tiles
    return triton.cdiv(max_tokens, partition), partition
    ### END SOLUTION


_SEMAPHORES = {}


def _semaphores(device, n):
    """n int32 counters, zero, on `device`, one set per CUDA stream; the kernel leaves them at zero."""
    ### BEGIN SOLUTION
    stream = torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0
    key = (str(device), stream)
    sem = _SEMAPHORES.get(key)
    if sem is None or sem.numel() < n:
        sem = _SEMAPHORES[key] = torch.zeros(max(n, 1024), dtype=torch.int32, device=device)
    return sem
    ### END SOLUTION


def _launch(q, k_cache, v_cache, block_tables, context_lens, sm_scale, partition, o, lse, split, out=None):
    """Launch the kernel on grid (B, H_kv, num_splits) (no validation); with `out`, merge in the same launch."""
    ### BEGIN SOLUTION
    B, H, D = q.shape
    num_blocks, bs, h_kv = k_cache.shape[0], k_cache.shape[1], k_cache.shape[2]
    group = H // h_kv
    d_p = max(16, triton.next_power_of_2(D))
    if split:  # partials: o (B, H, S, D) float32, lse (B, H, S)
        num_splits, o_strides, lse_strides = o.shape[2], o.stride(), lse.stride()
    else:  # o (B, H, D) is the output itself: the split index gets stride 0 (no view made per call)
        num_splits, lse, lse_strides = 1, o, (0, 0, 0)
        o_strides = (o.stride(0), o.stride(1), 0, o.stride(2))
    merge = out is not None
    sem = _semaphores(q.device, B * h_kv) if merge else context_lens  # counters read only when merging
    fin, fin_strides = (out, out.stride()) if merge else (o, (0, 0, 0))
    fp32_dot = q.dtype == torch.float32 or not q.is_cuda  # CPU interpreter: bf16 dots are wrong
    block_n, warps, stages = PAGED_CONFIG if d_p <= 128 else (32, 4, 2)
    _paged_attention_kernel[(B, h_kv, num_splits)](
        q, k_cache, v_cache, block_tables, context_lens, o, lse,
        sm_scale,
        *q.stride(), *k_cache.stride(), *v_cache.stride(), *block_tables.stride(),
        *o_strides, *lse_strides,
        partition, num_blocks, block_tables.shape[1],
        fin, sem, *fin_strides,
        BLOCK_SIZE=bs, GROUP=group, GROUP_P=max(16, triton.next_power_of_2(group)), D=D, D_P=d_p,
        BLOCK_N=block_n, FP32_DOT=fp32_dot, SPLIT=split, MERGE=merge,
        SPLITS_P=max(2, triton.next_power_of_2(num_splits)),
        num_warps=warps, num_stages=stages,
    )
    ### END SOLUTION


def paged_attention(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    """Decode attention over a paged KV cache: q (B, H, D), caches (N, bs, H_kv, D) -> (B, H, D)."""
    ### BEGIN SOLUTION
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)
    o = torch.empty_like(q)  # (B, H, D)
    if B == 0:
        return o
    max_tokens = block_tables.shape[1] * bs
    num_splits, partition = _choose_split(B, h_kv, max_tokens, q.device)
    if num_splits == 1:
        _launch(q, k_cache, v_cache, block_tables, context_lens, sm_scale, max_tokens, o, None, split=False)
        return o
    part_o = torch.empty(B, H, num_splits, D, dtype=torch.float32, device=q.device)  # (B, H, S, D)
    part_lse = torch.empty(B, H, num_splits, dtype=torch.float32, device=q.device)  # (B, H, S)
    _launch(q, k_cache, v_cache, block_tables, context_lens, sm_scale, partition, part_o, part_lse, split=True, out=o)
    return o
    ### END SOLUTION

# %% [markdown]
# The plain answer key: gather each sequence's KV through its table, then attend in float64.

# %%
def paged_attention_reference(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    """Gather-then-attend in float64: the answer key of paged_attention. (B, H, D)."""
    B, H, D = q.shape
    bs, h_kv = k_cache.shape[1], k_cache.shape[2]
    sm_scale = D ** -0.5 if sm_scale is None else sm_scale
    out = torch.empty(B, H, D, dtype=torch.float64)
    for b in range(B):
        L = int(context_lens[b])
        blocks = block_tables[b, : -(-L // bs)].long().cpu()
        k = k_cache.cpu()[blocks].reshape(-1, h_kv, D)[:L].double()  # (L, H_kv, D)
        v = v_cache.cpu()[blocks].reshape(-1, h_kv, D)[:L].double()
        k = k.repeat_interleave(H // h_kv, dim=1)  # (L, H, D): query head h reads KV head h // G
        v = v.repeat_interleave(H // h_kv, dim=1)
        s = torch.einsum("hd,lhd->hl", q[b].cpu().double(), k) * sm_scale  # (H, L)
        out[b] = torch.einsum("hl,lhd->hd", torch.softmax(s, -1), v)
    return out

# %% [test id=lab03_task4]
from inferlab.grading import check_here
check_here("lab03", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### What the kernel moves (graded on any machine by counting)
# Under the instrumented interpreter the check counts the bytes your kernel loads from
# `k_cache` and `v_cache`: about the KV inside the contexts (at most the blocks the contexts touch,
# each read once per KV group), never the whole cache, never an out-of-bounds address.

# %% [test id=lab03_task4_perf]
from inferlab.grading import check_here
check_here("lab03", "task4_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task4_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · kv_memory_waste (lab03 · task 5)
#
# The fraction of reserved KV slots that hold no token: with contiguous reservation each
# sequence reserves `max_seq_len` slots; with paging it holds `ceil(len / block_size)` blocks.
# Paging leaves only the tail of each last block empty (internal fragmentation < one block per
# sequence) and has no external fragmentation. Wrong arguments (a length > `max_seq_len` or < 0,
# sizes < 1) raise `ValueError` naming the argument. With no reserved slot the waste is 0.0.

# %% [solution id=lab03_waste]
def kv_memory_waste(seq_lens, max_seq_len, block_size):
    """{"contiguous": f, "paged": f}: the fraction of reserved KV slots left unused."""
    ### BEGIN SOLUTION
    max_seq_len = _check_int(max_seq_len, "max_seq_len", lo=1)
    block_size = _check_int(block_size, "block_size", lo=1)
    try:
        lens = [_check_int(n, "seq_lens", lo=0, hi=max_seq_len) for n in seq_lens]
    except TypeError:
        raise TypeError("seq_lens must be a sequence of ints") from None
    used = sum(lens)
    contiguous = len(lens) * max_seq_len
    paged = sum(-(-n // block_size) * block_size for n in lens)
    return {"contiguous": 1.0 - used / contiguous if contiguous else 0.0,
            "paged": 1.0 - used / paged if paged else 0.0}
    ### END SOLUTION

# %% [test id=lab03_task5]
from inferlab.grading import check_here
check_here("lab03", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · Frontier: split-KV decoding for long contexts (lab03 · task 6)
#
# At batch 1 and a 32k context, one program per (sequence, KV head) gives 8 programs for a
# GPU with 132 SMs: the kernel runs at a few percent of the memory bandwidth. Split-KV
# (flash-decoding, vLLM's PagedAttention v2) cuts each context into partitions of
# `partition_size` tokens, runs one program per (sequence, KV head, partition), each writing a
# partial output and its log-sum-exp, then merges the partials exactly:
#
# `lse = logsumexp_i(lse_i)`, `o = sum_i exp(lse_i - lse) * o_i`; a partition past the
# context (lse = -inf) contributes nothing (and must not produce NaN).
#
# `paged_attention_split_kv(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None,
# partition_size=512) -> (B, H, D)`: same arguments and result as `paged_attention`;
# `partition_size` a positive multiple of the block size (`ValueError` otherwise). The number
# of partitions comes from the table's width, `ceil(max_blocks * bs / partition_size)`, so no
# device sync is needed to size the grid. Write the merge yourself (in a second small kernel).
# (`paged_attention` above uses the same partials but merges them inside its one launch, in the last
# program of each (sequence, KV head) to finish: one launch fewer, which counts at batch 1.)

# %% [solution id=lab03_split_kv]
@triton.jit
def _merge_partitions_kernel(
    po_ptr, plse_ptr, lens_ptr, o_ptr,
    stride_pb, stride_ph, stride_ps, stride_pd,
    stride_lb, stride_lh, stride_ls,
    stride_ob, stride_oh, stride_od,
    H, PARTITION,
    D: tl.constexpr, SPLITS_P: tl.constexpr,
):
    ### BEGIN SOLUTION
    bh = tl.program_id(0)
    b = bh // H
    h = bh % H
    ctx = tl.load(lens_ptr + b)
    n_parts = (ctx + PARTITION - 1) // PARTITION  # partitions past the context are never read
    offs_s = tl.arange(0, SPLITS_P)
    offs_d = tl.arange(0, D)
    s_mask = offs_s < n_parts
    lse = tl.load(plse_ptr + b * stride_lb + h * stride_lh + offs_s * stride_ls, mask=s_mask, other=float("-inf"))
    m = tl.max(lse, 0)
    w = tl.where(s_mask, tl.exp(lse - m), 0.0)  # (S,)
    po = tl.load(po_ptr + b * stride_pb + h * stride_ph + offs_s[:, None] * stride_ps + offs_d[None, :] * stride_pd,
                 mask=s_mask[:, None], other=0.0)  # (S, D)
    o = tl.sum(w[:, None] * po, 0) / tl.sum(w, 0)
    tl.store(o_ptr + b * stride_ob + h * stride_oh + offs_d * stride_od, o.to(o_ptr.dtype.element_ty))
    ### END SOLUTION


def paged_attention_split_kv(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None, partition_size=512):
    """paged_attention with each context split into partitions merged by log-sum-exp. (B, H, D)."""
    ### BEGIN SOLUTION
    B, H, D, h_kv, bs, sm_scale = _check_paged_args(q, k_cache, v_cache, block_tables, context_lens, sm_scale)
    partition_size = _check_int(partition_size, "partition_size", lo=1)
    if partition_size % bs:
        raise ValueError(f"partition_size must be a multiple of the block size {bs}, got {partition_size}")
    o = torch.empty_like(q)  # (B, H, D)
    if B == 0:
        return o
    num_splits = triton.cdiv(block_tables.shape[1] * bs, partition_size)
    splits_p = max(2, triton.next_power_of_2(num_splits))
    d_p = max(16, triton.next_power_of_2(D))  # head dims 80, 96, 112: the merge works on 128 columns
    # splits_p partitions allocated, num_splits computed: a bad context length on a GPU (never checked
    # there) can make the merge read past num_splits, never past the buffer.
    part_o = torch.empty(B, H, splits_p, d_p, dtype=torch.float32, device=q.device)  # (B, H, S, D_P)
    part_lse = torch.empty(B, H, splits_p, dtype=torch.float32, device=q.device)  # (B, H, S)
    _launch(q, k_cache, v_cache, block_tables, context_lens, sm_scale, partition_size,
            part_o[:, :, :num_splits], part_lse[:, :, :num_splits], split=True)
    o_p = o if d_p == D else torch.empty(B, H, d_p, dtype=q.dtype, device=q.device)  # (B, H, D_P)
    _merge_partitions_kernel[(B * H,)](
        part_o, part_lse, context_lens, o_p,
        *part_o.stride(), *part_lse.stride(), *o_p.stride(),
        H, partition_size,
        D=d_p, SPLITS_P=splits_p, num_warps=4,
    )
    if o_p is not o:
        o.copy_(o_p[:, :, :D])
    return o
    ### END SOLUTION

# %% [test id=lab03_task6]
from inferlab.grading import check_here
check_here("lab03", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab03", "task6", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Try it: a cache, two sampled continuations, one batched decode step

# %%
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
demo = PagedKVCache(num_blocks=16, block_size=4, num_kv_heads=2, head_dim=16, dtype=torch.float32, device=device)
demo.add_sequence("prompt")
demo.append("prompt", torch.randn(6, 2, 16), torch.randn(6, 2, 16))  # 6 tokens: 2 blocks, the last half full
demo.fork("prompt", "sample")  # shares both blocks
demo.append("sample", torch.randn(1, 2, 16), torch.randn(1, 2, 16))  # copies the shared half-full block
print("prompt", demo.block_table("prompt"), "sample", demo.block_table("sample"),
      "free", demo.allocator.num_free_blocks)
bt, lens = demo.batch(["prompt", "sample"])
q = torch.randn(2, 8, 16, device=device)  # 8 query heads share 2 KV heads (G = 4)
out = paged_attention(q, demo.k_cache, demo.v_cache, bt, lens)
print("max error vs the float64 reference:",
      (out.double().cpu() - paged_attention_reference(q, demo.k_cache, demo.v_cache, bt, lens)).abs().max().item())
