# %% [markdown]
# # 03 · PagedAttention and KV memory management · 分页注意力与显存管理
#
# Syllabus §3 (三、PagedAttention与内存管理). Lab: `labs/lab03`.
#
# 1. Virtual memory, then the same ideas for the KV cache (page table → block table, address
#    translation → slot mapping, page size → block size).
# 2. Fragmentation: contiguous reservation versus paging, on a realistic output-length distribution.
# 3. Sharing: reference counts, fork and copy-on-write for parallel sampling and beam search.
# 4. Allocation strategies: why a free list beats first-fit / best-fit once blocks have one size.
# 5. The system: vLLM's scheduler, block manager and workers; FlashAttention over paged KV; pages
#    across tensor-parallel ranks.
# 6. A block-table visualiser (widget, and a static replay).
# 7. Interview questions with model answers (中文 / English).
#
# Letters used throughout: B batch, H query heads, H_kv KV heads, D head dim, L context length,
# bs block size (tokens per block), N physical blocks.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU

import math
import random

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## 1 · Virtual memory, and the KV cache as virtual memory · 虚拟内存思想的借鉴
#
# **The OS version.** A process sees a contiguous *virtual* address space. The MMU cuts it into
# fixed-size pages (4 KiB); a per-process **page table** maps virtual page number → physical frame.
# Address translation: `physical = table[vaddr // PAGE] * PAGE + vaddr % PAGE`. Frames are handed
# out on demand (a page fault on first touch), so a process uses only what it touches; frames need
# not be contiguous, so there is no external fragmentation; the waste is at most the unused tail
# of the last page (internal fragmentation). `fork()` shares all frames read-only and copies a
# frame only when one side writes it (copy-on-write). When memory runs out, a replacement policy
# (LRU, clock) evicts pages to disk.
#
# **The KV cache version** (vLLM, Kwon et al., SOSP 2023):
#
# | OS | KV cache |
# | --- | --- |
# | virtual page | logical block `i` of a sequence: tokens `i*bs .. i*bs+bs-1` |
# | physical frame | physical block: `bs` slots of `k_cache[N, bs, H_kv, D]` (and `v_cache`) |
# | page table | block table `list[int]` per sequence; on the GPU an int32 `(B, max_blocks)` tensor |
# | address translation | slot mapping `slot(p) = table[p // bs] * bs + p % bs` |
# | page fault | an append crosses a block boundary → allocate one block |
# | fork + CoW | parallel sampling / beam search share the prompt's blocks |
# | swap / replacement | preemption: swap a sequence's blocks to CPU, or drop them and recompute |
#
# Differences worth saying in an interview: the "MMU" is the attention kernel itself (it reads the
# table and gathers), so translation costs loads, not TLB misses; the "pages" hold tensors that are
# read in full every decode step, so a block must be big enough for efficient loads (16 tokens ×
# H_kv × D × 2 B = 4 KiB per head for D = 128, like a small page); replacement is per sequence
# (evicting one block of a running sequence makes its next step impossible), so the scheduler
# preempts whole sequences (lab07).
#
# **Block-size trade-off.** Small blocks: less internal waste (< bs slots per sequence), finer
# sharing of common prefixes; but longer tables, more indirection per token, shorter contiguous
# runs for the kernel's loads. Large blocks: the reverse. vLLM uses 16 by default (32 on some
# backends); the kernel's loads are rows of `D` contiguous elements either way.

# %%
def slot_mapping(table, seq_len, bs):
    """Slot of every position: the address translation of the KV cache."""
    return [table[p // bs] * bs + p % bs for p in range(seq_len)]


table = [7, 2, 9]  # logical blocks 0, 1, 2 live in physical blocks 7, 2, 9
print("positions 0..10 with bs = 4 ->", slot_mapping(table, 11, 4))

# %% [markdown]
# ## 2 · Fragmentation: contiguous reservation versus paging · 内存碎片
#
# A static engine reserves `max_seq_len` slots per request, because it cannot know the output
# length in advance. Output lengths are heavy-tailed (most answers are short, a few run long),
# so most of the reservation is never written: **internal fragmentation** of the reservation.
# Freed reservations of different sizes leave holes: **external fragmentation**. Paging allocates
# `ceil(len / bs)` blocks on demand: the only waste is the unused tail of each last block.
#
# Below: prompts and outputs drawn from log-normal distributions (medians of about 200 and 150
# tokens, capped at 2,048 in total), the heavy-tailed shape seen in chat traces such as ShareGPT.

# %%
rng = np.random.default_rng(0)
n_req, max_seq_len = 2000, 2048
prompt = np.clip(rng.lognormal(math.log(200), 0.9, n_req), 4, 1500).astype(int)
output = np.clip(rng.lognormal(math.log(150), 1.0, n_req), 1, None).astype(int)
lens = np.minimum(prompt + output, max_seq_len)


def waste(lens, max_seq_len, bs):
    """Fraction of reserved slots left empty: contiguous reservation vs paging (the lab's kv_memory_waste)."""
    used = lens.sum()
    contiguous = 1 - used / (len(lens) * max_seq_len)
    paged = 1 - used / (np.ceil(lens / bs) * bs).sum()
    return contiguous, paged


block_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
rows = [waste(lens, max_seq_len, bs) for bs in block_sizes]
print(f"median length {int(np.median(lens))}, mean {lens.mean():.0f}, p99 {int(np.percentile(lens, 99))}")
for bs, (c, p) in zip(block_sizes, rows):
    print(f"bs {bs:4d}: contiguous waste {c:6.1%}   paged waste {p:6.1%}")

fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
ax[0].hist(lens, bins=60, color="tab:blue")
ax[0].set(title="sequence length (prompt + output)", xlabel="tokens", ylabel="requests")
ax[1].plot(block_sizes, [r[1] * 100 for r in rows], "o-", label="paged (ceil(len / bs) blocks)")
ax[1].axhline(rows[0][0] * 100, color="tab:red", ls="--", label=f"contiguous, max_seq_len {max_seq_len}")
ax[1].set(xscale="log", xlabel="block size (tokens)", ylabel="% of reserved KV slots wasted",
          title="wasted KV memory", ylim=(0, 100))
ax[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# With contiguous reservation about three quarters of the KV memory is never written; paging at
# block size 16 wastes under 2% (at most `bs - 1` slots per sequence). That ratio is, to first order, the batch size gain: the same
# memory holds several times more running sequences, and decode throughput grows with the batch.
#
# **External fragmentation**, simulated: even an engine that knew each request's final length and
# reserved exactly that, contiguously, with first-fit, would leave holes as requests finish in a
# different order than they started. Below, a 64k-slot arena serves a stream of requests; we
# record how often a request is refused although the total free memory would have held it.

# %%
def first_fit_arena(sizes, capacity, rng, steps=6000):
    """Contiguous exact-size reservations with first-fit: refusals caused only by holes."""
    holes = [(0, capacity)]  # (start, size), sorted by start
    live, refused_frag, refused_full, served = [], 0, 0, 0
    for _ in range(steps):
        if live and rng.random() < 0.5:  # a random request finishes
            start, size = live.pop(rng.integers(len(live)))
            holes.append((start, size))
            holes.sort()
            merged = [holes[0]]
            for s, z in holes[1:]:  # coalesce neighbours
                ps, pz = merged[-1]
                merged[-1:] = [(ps, pz + z)] if ps + pz == s else [(ps, pz), (s, z)]
            holes = merged
            continue
        size = int(rng.choice(sizes))
        i = next((i for i, (_, z) in enumerate(holes) if z >= size), None)
        if i is None:
            if sum(z for _, z in holes) >= size:
                refused_frag += 1
            else:
                refused_full += 1
            continue
        s, z = holes[i]
        holes[i:i + 1] = [(s + size, z - size)] if z > size else []
        live.append((s, size))
        served += 1
    return served, refused_frag, refused_full


served, frag, full = first_fit_arena(lens, 64 * 1024, np.random.default_rng(1))
print(f"served {served}, refused for lack of memory {full}, refused although enough memory was free "
      f"(holes too small) {frag}")
print("with paging every free block is usable: the second number is always 0")

# %% [markdown]
# ## 3 · Sharing: reference counts, fork and copy-on-write · 共享与写时复制
#
# Parallel sampling (`n = 4` completions of one prompt) and beam search start many sequences from
# one prompt. With paging, `fork(parent, child)` copies only the block table and increments each
# block's **reference count**; no KV is copied. The blocks are immutable once full; only the last,
# partly filled block is ever written. So the rule is:
#
# * append to a sequence whose last block has refcount > 1 and is not full → allocate a new block,
#   copy the filled slots, drop one reference on the old block, write into the copy
#   (**copy-on-write**);
# * full shared blocks stay shared forever;
# * `free_sequence` drops one reference per block; a block returns to the free list at zero.
#
# Beam search makes this pay twice: beams that survive share ever-longer common prefixes, and a
# pruned beam's blocks are freed by refcount without touching the others. Prefix caching (lab04)
# goes further: blocks are found by a hash of their tokens, across unrelated requests.
#
# Memory for `n` samples of a prompt of `P` tokens and outputs of `O` tokens:
# `n (P + O)` slots without sharing, `P + n (O + bs)` at most with it.

# %%
P, O, bs = 1500, 200, 16
for n in (1, 2, 4, 8):
    unshared = n * (P + O)
    shared = math.ceil(P / bs) * bs + n * (math.ceil(O / bs) + 1) * bs
    print(f"n = {n}: {unshared:6d} slots without sharing, <= {shared:6d} with fork + CoW ({shared / unshared:.0%})")

# %% [markdown]
# ## 4 · Allocation strategies · 内存分配算法
#
# For variable-size requests an allocator must choose a hole: **first-fit** (the first hole big
# enough: fast, fragments the low addresses), **best-fit** (the smallest hole that fits: leaves tiny
# useless slivers, needs a search or a size-ordered tree), **worst-fit**, buddy systems (powers of
# two: fast coalescing, up to 50% internal waste), slab allocators (pools of one size).
#
# PagedAttention removes the question: every request is for **one block of one size**, and every
# free block is as good as every other (the kernel does not care where a block lives). The
# allocator is a stack of free block ids: `allocate = free_ids.pop()`, `free = free_ids.append(b)`,
# O(1) each, no search, no coalescing, no compaction ("碎片整理" is never needed). The remaining
# design questions move elsewhere:
#
# * **when** to allocate: on demand, one block per `bs` tokens (vLLM), or reserve a request's
#   expected need up front to avoid preemptions later (a watermark of free blocks is kept so that
#   running sequences can always grow a little);
# * **when** to reclaim: at sequence end (refcount → 0), at preemption (swap or recompute), and for
#   prefix caching, lazily: freed blocks keep their content and hash in an evictable LRU list until
#   the block is actually reused;
# * **pool layout**: one big tensor per layer allocated at start-up, sized by profiling the peak
#   activation memory (`gpu_memory_utilization`), so no allocation ever happens in the decode loop.
#
# Below, timing the stack against a search that `list.pop(0)` or `min()` implies.

# %%
import time


def time_pairs(alloc, free, n=20000):
    t0 = time.perf_counter()
    for _ in range(n):
        free(alloc())
    return (time.perf_counter() - t0) / n * 1e6


for N in (1_000, 100_000):
    stack = list(range(N))
    ordered = list(range(N))
    pool = set(range(N))

    def pop_min():
        b = min(pool)
        pool.discard(b)
        return b

    print(f"N = {N:7d}: stack {time_pairs(stack.pop, stack.append):6.2f} us/pair, "
          f"list.pop(0) {time_pairs(lambda: ordered.pop(0), ordered.append, 2000):6.2f} us/pair, "
          f"min(set) {time_pairs(pop_min, pool.add, 200):8.2f} us/pair")

# %% [markdown]
# ## 5 · The system: scheduler, block manager, workers · 系统级集成
#
# ```
#            requests                     ┌──────────────── engine step ─────────────────┐
#   API ──► waiting queue ──► Scheduler ──┤ 1. pick sequences (budget: tokens, seqs,     │
#                                ▲        │    free blocks); preempt if blocks run out   │
#                                │        │ 2. BlockManager: allocate / fork / CoW /     │
#                     finished,  │        │    free; build block tables + slot mapping   │
#                     preempted  │        │ 3. Workers (one per GPU): write new K/V at   │
#                                │        │    the slots, run paged attention reading    │
#                                └────────┤    the tables; sample                        │
#                                         └──────────────────────────────────────────────┘
# ```
#
# * The **scheduler** (CPU) decides who runs each step under a token budget and a block budget;
#   `can_allocate` / `can_append` ask the block manager before committing; when a running
#   sequence cannot get a block, the newest running sequence is preempted (its blocks swapped to
#   CPU or simply freed and recomputed later). Lab07 builds this.
# * The **block manager** owns the allocator, the block tables and the refcounts. It is pure CPU
#   bookkeeping: the GPU never allocates.
# * The **workers** hold the KV tensors (`num_layers × 2 × (N, bs, H_kv, D)`, allocated once after
#   profiling) and run the model. Per step they receive the block tables (int32 `(B, max_blocks)`),
#   the context lengths, and the slot mapping of the new tokens: a small "reshape_and_cache" kernel
#   scatters the new K/V into their slots, then attention reads through the tables.
# * Monitoring: block usage (`gpu_cache_usage`), preemption counts, and prefix-cache hit rate are
#   the numbers to watch; a rising preemption count means the block budget or `max_num_seqs` is
#   too high.
#
# ### FlashAttention with paged KV · 与FlashAttention结合
# FlashAttention streams K/V tiles through on-chip memory with an online softmax; it never cares
# whether a tile came from a contiguous tensor. A paged kernel changes only the address
# computation: tile `j` covers tokens `j*BLOCK_N ...`, whose rows live at
# `table[t // bs] * bs + t % bs`. Choosing `BLOCK_N` as a multiple of `bs` keeps every block's
# rows contiguous (vectorised loads); the table entries are tiny and cached. For **decode**
# (one query per sequence), the kernel puts all `G = H / H_kv` query heads of a KV head in one
# program, so each KV byte is read once: decode attention is memory-bound, and the KV read is the
# whole cost. For long contexts at small batch, **split-KV** (flash-decoding; vLLM's
# PagedAttention v2) splits the context into partitions processed in parallel and merges the
# partial outputs with their log-sum-exp. FlashAttention-2/3 and FlashInfer ship paged variants
# (`block_table` arguments); prefill with a cached prefix uses the same tables.
#
# ### Pages across tensor-parallel ranks · 分布式部署
# With tensor parallelism over `p` GPUs, each rank holds `H_kv / p` KV heads of **every** token,
# so every rank has the same block tables: the scheduler and block manager run once, and broadcast
# the tables each step; a block id means "this slot range" on every rank (each rank's block is
# 1/p of the bytes). When `H_kv < p` (e.g. 8 KV heads on 16 GPUs), KV heads are replicated, and
# memory per token does not shrink further. With **pipeline** parallelism each stage holds its own
# layers' KV under the same tables. Across nodes, KV moves as whole blocks (prefill → decode
# disaggregation, lab06; offload tiers, lab04), which is where block size meets network
# efficiency: many small blocks mean many small transfers, so engines batch them or use larger
# blocks for transfer. Fault tolerance: a lost rank loses a slice of every sequence's KV, so the
# engine recomputes (the tables themselves live on the CPU and survive).

# %% [markdown]
# The course engine `inferlab.engine` is this picture in a dozen short files (`scheduler.py`,
# `block_manager.py`, `kv_cache.py`, `model_runner.py`, `engine.py`; `step()` = schedule → run →
# post-process). Below it serves three prompts with the course model, first with room to spare,
# then with KV so tight that it must preempt and recompute; the tokens equal one-by-one greedy
# generation either way, and the cost of too few blocks shows up as steps and recomputed tokens.

# %%
from inferlab.engine import Engine
from inferlab.models import encode, greedy_reference, load

model = load("target")
prompts = [encode("The KV cache grows with every token"), encode("Paged attention"), encode("A block table maps")]
expected = [greedy_reference(model, p, 8) for p in prompts]
print(f"{'blocks':>6} {'steps':>5} {'tokens run':>10} {'preemptions':>11} {'peak blocks':>11}")
for num_blocks in (24, 7):
    engine = Engine(model, num_blocks=num_blocks, block_size=4, max_num_seqs=3, max_num_batched_tokens=16)
    assert engine.generate(prompts, 8) == expected
    st = engine.stats()
    print(f"{num_blocks:>6} {st['steps']:>5} {st['tokens_processed']:>10} {st['preemptions']:>11} "
          f"{st['peak_blocks_used']:>11}")

# %% [markdown]
# ## 6 · A block-table visualiser · 块表可视化
#
# The course engine's block manager (`inferlab.engine.BlockManager`: the bookkeeping the lab asks
# for, without the argument checks and the tensors), drawn as the physical blocks (colour = owners,
# number = refcount, dots = filled slots) and each sequence's block table. Use the buttons, or read
# the static replay below.

# %%
from IPython.display import HTML, display

from inferlab.engine import BlockManager, Sequence

COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]


class BlockTableView:
    """The course engine's BlockManager (refcounts, fork, copy-on-write) with a log and a drawing; no KV tensors."""

    def __init__(self, num_blocks=12, block_size=4):
        self.n, self.bs = num_blocks, block_size
        self.blocks = BlockManager(num_blocks, block_size)
        self.seqs = {}  # name -> engine Sequence (block_table, num_cached_tokens)
        self.log = []

    @property
    def tables(self):
        return {s: seq.block_table for s, seq in self.seqs.items()}

    def add(self, s):
        self.seqs[s] = Sequence(s, [], 0)
        self.log.append(f"add {s}")

    def append(self, s, t=1):
        seq = self.seqs[s]
        if not self.blocks.can_append(seq, t):  # check, then act: a refused append changes nothing
            self.log.append(f"append {t} to {s}: OutOfBlocks (needs {self.blocks.blocks_needed(seq, t)}, "
                            f"{self.blocks.num_free_blocks} free)")
            return
        for src, dst in self.blocks.append(seq, t):  # the KV copies the workers would make
            self.log.append(f"copy-on-write: {s} copies block {src} -> {dst}")
        seq.num_cached_tokens += t
        self.log.append(f"append {t} to {s}")

    def fork(self, p, c):
        self.seqs[c] = Sequence(c, [], 0)
        self.blocks.fork(self.seqs[p], self.seqs[c])
        self.log.append(f"fork {p} -> {c}")

    def free(self, s):
        self.blocks.deallocate(self.seqs.pop(s))
        self.log.append(f"free {s}")

    def render(self, title=""):
        """HTML: physical blocks with owners and refcounts, then every block table."""
        owners = {b: [] for b in range(self.n)}
        fill = [0] * self.n
        for s, table in self.tables.items():
            for i, b in enumerate(table):
                owners[b].append(s)
                fill[b] = max(fill[b], min(self.bs, self.seqs[s].num_cached_tokens - i * self.bs))
        names = sorted(self.tables, key=str)
        color = {s: COLORS[i % len(COLORS)] for i, s in enumerate(names)}
        cells = []
        for b in range(self.n):
            own = owners[b]
            if not own:
                bg = "#eeeeee"
            elif len(own) == 1:
                bg = color[own[0]]
            else:
                stops = ", ".join(f"{color[s]} {i * 100 // len(own)}% {(i + 1) * 100 // len(own)}%"
                                  for i, s in enumerate(own))
                bg = f"linear-gradient(90deg, {stops})"
            dots = "●" * fill[b] + "○" * (self.bs - fill[b]) if own else ""
            cells.append(f"<td style='background:{bg};color:white;text-align:center;padding:4px;"
                         f"min-width:46px;border:1px solid #999'><b>#{b}</b><br>ref {self.blocks.ref_counts[b]}<br>"
                         f"<span style='font-size:9px'>{dots}</span></td>")
        tables = "".join(f"<div><span style='color:{color[s]};font-weight:bold'>{s}</span> "
                         f"(len {self.seqs[s].num_cached_tokens}): {self.tables[s]}</div>" for s in names)
        head = f"<div style='font-weight:bold'>{title}</div>" if title else ""
        return (f"{head}<table style='border-collapse:collapse'><tr>{''.join(cells)}</tr></table>"
                f"<div style='font-family:monospace;font-size:12px'>{tables}"
                f"<div>free blocks: {self.blocks.num_free_blocks} · last: {self.log[-1] if self.log else '-'}</div></div>")


# %% [markdown]
# **Static replay** (renders anywhere, also in the exported HTML): a prompt of 6 tokens, two sampled
# continuations forked from it, a copy-on-write, an append that needs more blocks than are free, frees.

# %%
m = BlockTableView(num_blocks=10, block_size=4)
script = [
    ("add prompt, append 6 tokens", lambda: (m.add("prompt"), m.append("prompt", 6))),
    ("fork prompt -> s1 and s2: no copy, refcounts 3", lambda: (m.fork("prompt", "s1"), m.fork("prompt", "s2"))),
    ("s1 appends 1: its shared, half-full last block is copied", lambda: m.append("s1", 1)),
    ("s2 appends 3: copies too, fills its copy", lambda: m.append("s2", 3)),
    ("prompt appends 9: the last block is now its own (ref 1)", lambda: m.append("prompt", 9)),
    ("s1 appends 40: refused, nothing changes", lambda: m.append("s1", 40)),
    ("free prompt: shared block 0 stays (ref 2)", lambda: m.free("prompt")),
    ("free s1 and s2: every block back", lambda: (m.free("s1"), m.free("s2"))),
]
frames = []
for title, step in script:
    step()
    frames.append(m.render(title))
display(HTML("<hr>".join(frames)))

# %% [markdown]
# **Interactive**: pick a sequence, then add / append / fork / free and watch refcounts change.

# %%
import ipywidgets as widgets

vm = BlockTableView(num_blocks=12, block_size=4)
vm.add("seq0")
vm.append("seq0", 5)
out = widgets.HTML(vm.render("start"))
pick = widgets.Dropdown(options=list(vm.tables), description="sequence")
n_tok = widgets.BoundedIntText(value=1, min=1, max=32, description="tokens")
counter = {"next": 1}


def refresh(title):
    pick.options = sorted(vm.tables) or ["-"]
    out.value = vm.render(title)


def on_add(_):
    s = f"seq{counter['next']}"
    counter["next"] += 1
    vm.add(s)
    refresh(f"added {s}")


def on_append(_):
    if pick.value in vm.tables:
        vm.append(pick.value, n_tok.value)
        refresh(vm.log[-1])


def on_fork(_):
    if pick.value in vm.tables:
        s = f"seq{counter['next']}"
        counter["next"] += 1
        vm.fork(pick.value, s)
        refresh(f"forked {pick.value} -> {s}")


def on_free(_):
    if pick.value in vm.tables:
        vm.free(pick.value)
        refresh(vm.log[-1])


buttons = []
for label, fn in (("add sequence", on_add), ("append", on_append), ("fork", on_fork), ("free", on_free)):
    b = widgets.Button(description=label)
    b.on_click(fn)
    buttons.append(b)
display(widgets.VBox([widgets.HBox([pick, n_tok]), widgets.HBox(buttons), out]))

# %% [markdown]
# ## 7 · Interview questions · 面试问题 (§3)
#
# **Q1. How does PagedAttention borrow from OS virtual memory? · PagedAttention是如何借鉴操作系统虚拟内存思想的？**
#
# EN: It treats the KV cache as virtual memory. Each sequence sees a contiguous logical KV
# sequence, cut into fixed-size blocks (pages); a per-sequence block table (page table) maps logical
# block → physical block in a preallocated pool; translation is `table[p // bs] * bs + p % bs`,
# done by the attention kernel. Blocks are allocated on demand (like page faults), need not be
# contiguous (no external fragmentation), waste at most one partly filled block per sequence
# (internal fragmentation), can be shared with reference counts and copy-on-write (like `fork`),
# and can be swapped out under memory pressure (preemption).
#
# 中文：把KV Cache当作虚拟内存。每个序列看到的是连续的逻辑KV，被切成固定大小的块（页）；每个序列有
# 一张块表（页表），把逻辑块号映射到预分配显存池中的物理块；地址转换 `table[p // bs] * bs + p % bs`
# 由注意力内核完成。按需分配（类似缺页），物理上不必连续（无外部碎片），每个序列最多浪费最后一个
# 未填满的块（内部碎片）；通过引用计数和写时复制共享（类似fork）；显存紧张时可以换出（抢占）。
#
# **Q2. Advantages of paged over contiguous KV storage? · KV Cache分页存储相比连续存储有什么优势？**
#
# EN: (1) Memory efficiency: contiguous reservation must reserve `max_seq_len` per request; with
# heavy-tailed lengths 60–80% is never written, paging wastes < 4% at bs = 16, so several times more
# sequences fit, and decode throughput grows with the batch. (2) No external fragmentation: any free
# block serves any sequence, no compaction. (3) Sharing: prefixes, parallel samples and beams share
# blocks. (4) Flexible scheduling: sequences grow and leave independently; preemption and swapping
# work at block granularity. Cost: an indirection in the kernel (a table load per block, small) and
# bookkeeping on the CPU.
#
# 中文：(1) 显存利用率：连续存储需按 `max_seq_len` 预留，长度分布长尾时60–80%从未写入；分页在bs=16
# 时浪费不到4%，可容纳数倍的并发序列，解码吞吐随批大小提升。(2) 无外部碎片：任何空闲块可给任何
# 序列，无需整理。(3) 共享：公共前缀、并行采样、beam search共享块。(4) 调度灵活：序列独立增长和
# 退出，抢占与换出以块为粒度。代价：内核中多一次间接寻址（每块读一次表项，开销很小）和CPU侧簿记。
#
# **Q3. How to design efficient block allocation and reclamation? · 如何设计高效的页面分配和回收机制？**
#
# EN: Preallocate the whole pool once (size from profiling peak activation memory). Keep free block
# ids in a stack or deque: O(1) allocate/free, no search, since all blocks are equal. Keep a
# refcount per block; free at zero. Check before acting (`can_allocate`), so a failed allocation
# changes nothing, and keep a watermark of free blocks so running sequences can grow. Reclaim at
# sequence end, at preemption (swap to CPU or drop and recompute), and for prefix caching lazily:
# freed blocks keep their hash in an LRU list and are evicted only when reused.
#
# 中文：启动时一次性预分配整个显存池（通过profiling峰值激活确定大小）。空闲块号放在栈或双端队列里：
# 分配/释放O(1)，因为所有块等价无需搜索。每块维护引用计数，归零才回收。先检查再执行（can_allocate），
# 失败不改变任何状态；保留一定水位的空闲块保证运行中的序列能继续增长。回收时机：序列结束、抢占
# （换出到CPU或丢弃后重算）；前缀缓存下惰性回收：释放的块保留哈希放进LRU，真正复用时才驱逐。
#
# **Q4. How does PagedAttention fix memory waste in variable-length batching? · PagedAttention如何解决变长序列批处理的内存浪费问题？**
#
# EN: Each sequence gets exactly `ceil(len / bs)` blocks, growing one block at a time as it decodes,
# so padding to the longest sequence and reserving for the maximum output both disappear. Memory is
# released the moment a sequence finishes, and the freed blocks serve new sequences immediately
# (continuous batching). The kernel takes per-sequence context lengths and block tables, so the
# batch needs no padding of the KV either.
#
# 中文：每个序列只占 `ceil(len / bs)` 个块，解码时逐块增长，不再按最长序列补齐，也不再按最大输出
# 长度预留。序列一结束立即释放，空闲块马上服务新序列（连续批处理）。内核接收每个序列的长度和块表，
# KV本身也不需要padding。
#
# **Q5. Several sequences share a prefix: how is memory saved? · 多个序列共享相同前缀时如何优化内存？**
#
# EN: Fork the block table and increment refcounts: the prefix's blocks are stored once. Full blocks
# are immutable and stay shared; the first write to a shared, partly filled last block copies it
# (copy-on-write). Across unrelated requests, prefix caching identifies full blocks by a hash of
# their tokens (and the prefix before them) and reuses them; evict by LRU among unreferenced blocks.
# Savings: for n samples of a P-token prompt, memory goes from `n(P+O)` to about `P + n·O`.
#
# 中文：复制块表并增加引用计数，前缀块只存一份。满块不可变、一直共享；对共享且未满的最后一块第一次
# 写入时才复制（写时复制）。跨请求时，前缀缓存用"本块token + 之前前缀"的哈希识别满块并复用，在无
# 引用的块中按LRU驱逐。n个采样、前缀长P时显存从 `n(P+O)` 降到约 `P + n·O`。
#
# **Q6. Efficient allocation algorithms for PagedAttention? · 如何设计高效的内存分配算法来支持PagedAttention？**
#
# EN: Fixed-size blocks make first-fit / best-fit unnecessary: every free block fits. A LIFO free
# list (stack) gives O(1) and good locality; no coalescing or compaction. The real algorithmic
# choices are the block size (waste vs. indirection and transfer size), admission (reserve enough
# blocks for the prompt plus a watermark), preemption policy (newest first; swap vs. recompute by
# cost), and for prefix caching, hashing and eviction (LRU on refcount-zero blocks).
#
# 中文：固定大小的块让首次适应/最佳适应失去意义：任何空闲块都合适。用LIFO空闲链表（栈）即可O(1)且
# 局部性好，无需合并和整理。真正需要设计的是：块大小（浪费与间接寻址、传输粒度的权衡）、准入
# （为prompt预留足够块并保留水位）、抢占策略（先抢占最新的；按代价选择换出或重算）、前缀缓存的
# 哈希与驱逐（对引用计数为零的块做LRU）。
#
# **Q7. PagedAttention's role in vLLM? · PagedAttention在vLLM等推理系统中扮演什么角色？**
#
# EN: It is the memory layer that makes continuous batching pay: the scheduler admits requests by
# free blocks, the block manager keeps tables and refcounts on the CPU, the workers hold the KV
# pool and run paged kernels (write new K/V by slot mapping, attend through block tables). Prefix
# caching, swapping, preemption by recomputation and disaggregated KV transfer are all built on
# blocks.
#
# 中文：它是让连续批处理真正发挥作用的显存层：调度器按空闲块数准入请求，块管理器在CPU上维护块表与
# 引用计数，worker持有KV池并运行分页内核（按slot mapping写入新K/V，按块表做注意力）。前缀缓存、
# 换出、重算式抢占、PD分离中的KV传输都建立在块之上。
#
# **Q8. Combining PagedAttention with FlashAttention? · 如何将PagedAttention与FlashAttention结合使用？**
#
# EN: Keep FlashAttention's tiling and online softmax; change only how a K/V tile is addressed:
# token t is at `table[t // bs] * bs + t % bs`. Tiles that cover whole blocks keep loads contiguous.
# For decode, group all query heads of a KV head in one program (GQA) and split long contexts
# across programs (flash-decoding), merging partials by log-sum-exp. Prefill with cached prefixes
# uses the same tables for the cached part. Trade-offs: table loads and less regular access, block
# size constrained by the kernel's tile size.
#
# 中文：保留FlashAttention的分块与在线softmax，只改变K/V tile的寻址：token t 位于
# `table[t // bs] * bs + t % bs`。tile覆盖整块可保持连续加载。解码时把同一KV头的所有查询头放在一个
# program里（GQA），长上下文再切分到多个program（flash-decoding），用log-sum-exp合并部分结果。带缓存
# 前缀的prefill同样通过块表读取缓存部分。代价：额外的表项读取、访存不那么规则，块大小受内核tile约束。
#
# **Q9. New challenges of PagedAttention in distributed deployment? · 在分布式部署中，PagedAttention面临哪些新的挑战？**
#
# EN: With tensor parallelism every rank holds a head-slice of every block, so block tables must be
# identical on all ranks (one scheduler broadcasts them each step); replicated KV heads when
# `H_kv < TP`. Pipeline stages hold their own layers' blocks under the same tables. Moving KV
# across nodes (PD disaggregation, offloading, migration) moves many small blocks: batch them,
# use RDMA with registered pools, or larger transfer units. Global prefix caching needs a consistent
# hash-to-block index across nodes. Fault tolerance: losing a rank loses part of every sequence's
# KV; recompute from the tokens (tables live on the CPU).
#
# 中文：张量并行下每个rank持有每个块的一部分头，因此所有rank的块表必须一致（由单一调度器每步广播）；
# `H_kv < TP` 时KV头需要复制。流水线并行各stage用同一块表保存自己层的块。跨节点移动KV（PD分离、
# 卸载、迁移）意味着大量小块传输：需要批量化、用注册内存的RDMA或更大的传输单元。全局前缀缓存需要
# 跨节点一致的哈希到块的索引。容错：某rank故障会丢失所有序列的一部分KV，需要根据token重算（块表在
# CPU上可保留）。
