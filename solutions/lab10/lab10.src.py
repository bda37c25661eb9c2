# %% [markdown]
# # lab10 · Mock interview · 模拟面试
#
# Candidate · 候选人 **sample** · track · 岗位 **R&D (研发岗位)**: technical implementation and system design · level · 级别 **new graduate (应届生)**
#
# **90 minutes** · 90分钟, released 2026-01-01T09:00:00+00:00, due 2026-01-01T10:30:00+00:00 (UTC). Late work loses 10% of its score per started hour.
#
# How it works · 说明
# - Sections follow the interview outline §1-§8. When you start a section, run its clock cell (`start_section(N)`): the report shows the time you spent on each.
# - **Quantitative questions** (2 points each): assign a number to the named variable (`q04 = ...`); compute it in
#   the cell if you like. The unit and the tolerance are stated with each question.
# - **Coding task** (10 points): the course lab's own checks grade it, 3 points for the example check you can run,
#   7 for hidden checks on fresh inputs.
# - **Written questions** (5 points each): answer in the markdown cell, graded by the interviewer on the syllabus §9
#   bands. Structure, numbers and trade-offs count; "I don't know, but here is how I'd find out" beats a guess.
# - Do not edit or delete the check cells; they are restored before grading. 50 points in all.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU, before triton is imported

import math

import torch
import triton
import triton.language as tl

from inferlab.grading import check_here
from inferlab.interview.clock import start_section

CANDIDATE = "sample"
CODING_TASK = "block_allocator"

# %% [markdown]
# ## §1 · Inference basics · 大模型推理基础理论 (about 8 minutes · 约8分钟)

# %%
start_section(1)

# %% [markdown]
# ### Q01 · KV cache size · KV Cache大小 (2 points · knowledge)
#
# A decoder has 30 layers, 48 query heads (48 KV heads), head dim 64, KV stored in fp16 (2 bytes). How many bytes does the KV cache of a batch of 32 sequences of 6_999 tokens take? Answer in bytes.
#
# 一个解码器：30层，48个查询头（48个KV头），head dim 64，KV以2字节存储。批大小32、每条序列6999个token时，KV Cache占多少字节？
#
# Answer: `q01 = ...` (bytes; graded exactly (an integer)).

# %% [solution id=lab10_a01]
### BEGIN SOLUTION
q01 = 82563563520  # 2 (K and V) x 30 layers x 48 KV heads x 64 x 6999 tokens x 32 sequences x 2 bytes
### END SOLUTION

# %% [test id=lab10_q01 points=2 category=knowledge]
check_here("lab10", "q01", globals())

# %% [markdown]
# ### Q02 · Roofline time of a matmul · 矩阵乘的Roofline时间 (2 points · knowledge)
#
# On a GPU with 495 TFLOP/s (fp16) and 2.0 TB/s of HBM bandwidth, an fp16 product of activations (8 x 2048) by weights (2048 x 11008) reads both operands and writes the output once. How long does it take on the roofline model? Answer in microseconds.
#
# GPU算力495 TFLOP/s（fp16），HBM带宽2.0 TB/s。fp16激活（8 x 2048）乘以权重（2048 x 11008），两个操作数各读一次、输出写一次。按Roofline模型需要多少微秒？
#
# Answer: `q02 = ...` (microseconds; graded within 1% (relative)).

# %% [solution id=lab10_a02]
### BEGIN SOLUTION
q02 = 22.648832  # FLOPs 2mnk = 360710144, bytes (mk+kn+mn) x 2 = 45297664; max(FLOPs / 495e12, bytes / 2.0e12) in µs
### END SOLUTION

# %% [test id=lab10_q02 points=2 category=knowledge]
check_here("lab10", "q02", globals())

# %% [markdown]
# ### W1 · Why a KV cache works · KV Cache为什么能加速 (5 points · knowledge, graded by the interviewer)
#
# Why does a KV cache speed up autoregressive decoding? What does it cost, and how does that cost grow?
#
# KV Cache为什么能加速自回归解码？它的代价是什么，随什么增长？

# %% [written id=lab10_w1 points=5 category=knowledge]
# Each new token's attention needs the keys and values of every earlier position. Without a cache they are recomputed for the whole prefix at every step (quadratic total work); with it, a decode step computes K and V only for the new token and reads the cached ones, so per-step compute is linear in context and the prompt is processed once (prefill). The cost is memory: 2·L·H_kv·D·bytes per token, growing linearly with sequence length and batch; decoding becomes bound by reading that cache and the weights (memory-bound). Remedies: GQA/MQA, paging to avoid reservation waste, quantised KV, offloading cold blocks, prefix sharing.

# %% [markdown]
# ## §2 · FlashAttention · FlashAttention核心技术 (about 14 minutes · 约14分钟)

# %%
start_section(2)

# %% [markdown]
# ### Q03 · FlashAttention tiles · FlashAttention分块数 (2 points · knowledge)
#
# FlashAttention runs one (batch, head) of self-attention over N = 375 positions with query blocks of 128 rows and key blocks of 64 columns. How many (query block, key block) tiles does it compute?
#
# FlashAttention计算一个(batch, head)的自注意力，N = 375，query块128行，key块64列。共计算多少个(query块, key块)？
#
# Answer: `q03 = ...` (tiles; graded exactly (an integer)).

# %% [solution id=lab10_a03]
### BEGIN SOLUTION
q03 = 18  # ceil(N/BM) query blocks; times ceil(N/BN) key blocks
### END SOLUTION

# %% [test id=lab10_q03 points=2 category=knowledge]
check_here("lab10", "q03", globals())

# %% [markdown]
# ## §3 · PagedAttention and memory management · PagedAttention与内存管理 (about 18 minutes · 约18分钟)

# %%
start_section(3)

# %% [markdown]
# ### Q04 · Blocks of a paged cache · 分页缓存的块数 (2 points · systems)
#
# A paged KV cache with blocks of 32 tokens holds sequences of lengths [1630, 971, 370, 102, 1786]. How many blocks are in use?
#
# 分页KV Cache每块32个token，序列长度为[1630, 971, 370, 102, 1786]。一共占用多少个块？
#
# Answer: `q04 = ...` (blocks; graded exactly (an integer)).

# %% [solution id=lab10_a04]
### BEGIN SOLUTION
q04 = 154  # sum of ceil(len / 32) over the sequences
### END SOLUTION

# %% [test id=lab10_q04 points=2 category=systems]
check_here("lab10", "q04", globals())

# %% [markdown]
# ### Coding task · A block allocator with reference counts · 带引用计数的块分配器 (10 points · practice; from lab03, graded by its checks)
#
# Implement the names below as the course lab asks (its text follows). Run the check cell for the example check; hidden checks grade it after you submit.
#
# #### Task 1 · BlockAllocator (lab03 · task 1)
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

# %%
# Given (set-up of lab03):
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU, before triton is imported

import math

import torch
import triton
import triton.language as tl

# %% [solution id=lab10_task]
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

# %% [test id=lab10_code points=10 category=practice]
check_here("lab10", "code", globals())

# %% [markdown]
# ## §4 · Multi-tier KV cache · KV Cache多级管理与优化 (about 13 minutes · 约13分钟)

# %%
start_section(4)

# %% [markdown]
# ### Q05 · Hits of an eviction policy · 淘汰策略的命中数 (2 points · systems)
#
# A KV block cache holds 4 blocks and evicts by FIFO (first in, first out). Starting empty, it sees the block accesses F B C E E E E D C C F C B C A (a miss inserts the block, evicting a victim when full; a hit counts as a use). How many accesses hit?
#
# KV块缓存容量4块，按FIFO（先进先出）淘汰。初始为空，依次访问 F B C E E E E D C C F C B C A（未命中则插入，满时先淘汰；命中算一次使用）。命中多少次？
#
# Answer: `q05 = ...` (hits; graded exactly (an integer)).

# %% [solution id=lab10_a05]
### BEGIN SOLUTION
q05 = 6  # simulate FIFO with capacity 4 and count hits
### END SOLUTION

# %% [test id=lab10_q05 points=2 category=systems]
check_here("lab10", "q05", globals())

# %% [markdown]
# ## §5 · Cross-node communication · 跨节点传输与通信优化 (about 11 minutes · 约11分钟)

# %%
start_section(5)

# %% [markdown]
# ### Q06 · All-reduce time · All-Reduce耗时 (2 points · systems)
#
# 8 GPUs all-reduce 8 MiB (2^20 bytes each) with the ring algorithm. Each message costs α = 5 µs plus its bytes at 100 GB/s (10^9 bytes/s). On the α-β model, how long does it take? Answer in microseconds.
#
# 8张GPU用环形算法对8 MiB（2^20字节）做All-Reduce。每条消息开销α = 5微秒，带宽100 GB/s（10^9字节/秒）。按α-β模型需要多少微秒？
#
# Answer: `q06 = ...` (microseconds; graded within 1% (relative)).

# %% [solution id=lab10_a06]
### BEGIN SOLUTION
q06 = 216.80064  # ring: 2(p-1)α + 2(p-1)/p · n · β with p=8, n=8 MiB, β=1/(100e9)
### END SOLUTION

# %% [test id=lab10_q06 points=2 category=systems]
check_here("lab10", "q06", globals())

# %% [markdown]
# ### Q07 · Pipeline bubble · 流水线气泡 (2 points · systems)
#
# A model is split into 11 pipeline stages and a batch into 63 micro-batches (GPipe-style schedule, equal stage times). What fraction of the time is each stage idle? Answer between 0 and 1.
#
# 模型切成11个流水线阶段，一个batch切成63个微批次（GPipe式调度，各阶段耗时相同）。每个阶段空闲时间占比是多少（0到1）？
#
# Answer: `q07 = ...` (fraction 0..1; graded within 1% (relative)).

# %% [solution id=lab10_a07]
### BEGIN SOLUTION
q07 = 0.13698630137  # (p-1)/(m+p-1) = 10/73
### END SOLUTION

# %% [test id=lab10_q07 points=2 category=systems]
check_here("lab10", "q07", globals())

# %% [markdown]
# ## §6 · Prefill/decode disaggregation · PD分离与系统架构优化 (about 8 minutes · 约8分钟)

# %%
start_section(6)

# %% [markdown]
# ### Q08 · TTFT, TPOT and goodput · TTFT、TPOT与goodput (2 points · practice)
#
# Four requests were served: #0: arrival 0.079 s, tokens at [0.614, 0.69, 0.712, 0.781, 0.802, 0.88] s; #1: arrival 0.248 s, tokens at [0.552, 0.594, 0.656, 0.703, 0.759] s; #2: arrival 0.623 s, tokens at [0.99, 1.068, 1.138, 1.217, 1.279, 1.355] s; #3: arrival 0.875 s, tokens at [1.373, 1.4, 1.429, 1.496] s. For these records, what is the time per output token (TPOT, after the first token) of request #1, in milliseconds?
#
# 四个请求的记录：#0: arrival 0.079 s, tokens at [0.614, 0.69, 0.712, 0.781, 0.802, 0.88] s; #1: arrival 0.248 s, tokens at [0.552, 0.594, 0.656, 0.703, 0.759] s; #2: arrival 0.623 s, tokens at [0.99, 1.068, 1.138, 1.217, 1.279, 1.355] s; #3: arrival 0.875 s, tokens at [1.373, 1.4, 1.429, 1.496] s。请求#1的每输出token时间（TPOT，首token之后）是多少毫秒？
#
# Answer: `q08 = ...` (ms or requests/s; graded within 1% (relative)).

# %% [solution id=lab10_a08]
### BEGIN SOLUTION
q08 = 51.75  # (last - first) / (n - 1)
### END SOLUTION

# %% [test id=lab10_q08 points=2 category=practice]
check_here("lab10", "q08", globals())

# %% [markdown]
# ### W2 · Prefill/decode disaggregation · PD分离 (5 points · systems, graded by the interviewer)
#
# Why separate prefill and decode onto different workers? How does the KV cache get from one to the other, and when is it not worth it?
#
# 为什么要把Prefill和Decode分到不同的worker上？KV Cache如何从一端传到另一端？什么时候不值得这样做？

# %% [written id=lab10_w2 points=5 category=systems]
# Prefill is compute-bound (many tokens at once), decode memory-bound (one token per sequence per step). Mixed on one GPU, a long prefill stalls every running decode (TPOT spikes) and each phase runs on hardware sized for the other. Separated, each pool is sized and batched for its phase and TTFT/TPOT SLOs are tuned independently. After prefill, the KV blocks move to a decode worker over NVLink/RDMA (layer by layer to overlap with compute), costing 2·L·H_kv·D·bytes per prompt token of bandwidth. Not worth it for short prompts, small models, or slow links, where chunked prefill on one pool is simpler. Ratio from measured prefill and decode throughput against the traffic mix.

# %% [markdown]
# ## §7 · Integration and frontier techniques · 综合应用与前沿技术 (about 8 minutes · 约8分钟)

# %%
start_section(7)

# %% [markdown]
# ### Q09 · Tokens per target call · 每次目标模型调用产出的token (2 points · frontier)
#
# Speculative decoding drafts k = 3 tokens; each is accepted independently with probability α = 0.85 until the first rejection, and the target always adds one token of its own. How many tokens does one target forward pass produce on average?
#
# 推测解码每次草拟k = 3个token，每个以概率α = 0.85独立接受直到第一次拒绝，目标模型总会再补一个token。一次目标模型前向平均产出多少个token？
#
# Answer: `q09 = ...` (tokens; graded within 1% (relative)).

# %% [solution id=lab10_a09]
### BEGIN SOLUTION
q09 = 3.186625  # (1 - α^(k+1)) / (1 - α) with α=0.85, k=3
### END SOLUTION

# %% [test id=lab10_q09 points=2 category=frontier]
check_here("lab10", "q09", globals())

# %% [markdown]
# ### W4 · Speculative decoding · 推测解码 (5 points · frontier, graded by the interviewer)
#
# Explain speculative decoding: why it is faster, why its output distribution is the target model's, and when it does not help.
#
# 解释推测解码：为什么更快，为什么输出分布与目标模型一致，什么时候没有帮助。

# %% [written id=lab10_w4 points=5 category=frontier]
# Decoding is memory-bound: one target forward pass over k+1 positions costs about as much as over one. A cheap draft proposes k tokens; the target scores them all in one pass; each is accepted with probability min(1, p(x)/q(x)), and at the first rejection a token is sampled from normalize(max(0, p - q)), which makes the output exactly target-distributed. Expected tokens per target pass (1-α^(k+1))/(1-α). It helps when α is high and the draft is cheap; it helps little at large batch (the target is no longer memory-bound) or when α is low.

# %% [markdown]
# ## §8 · Practice and problem solving · 实践案例与问题解决 (about 10 minutes · 约10分钟)

# %%
start_section(8)

# %% [markdown]
# ### Q10 · Concurrent sequences under a memory limit · 显存限制下的并发序列数 (2 points · practice)
#
# A 3-billion-parameter model (fp16 weights, 2 bytes each, 1 billion = 10^9) with 36 layers, 64 query heads (64 KV heads), head dim 64, KV stored in fp16 (2 bytes) is served on one GPU of 141 GiB (2^30 bytes), keeping 10% of the memory in reserve. How many sequences of 2048 tokens can hold their full KV cache at once?
#
# 3B参数的模型（fp16权重每个2字节，1B = 10^9），36层，64个查询头（64个KV头），head dim 64，KV以2字节存储，部署在一张141 GiB（2^30字节）的GPU上，预留10%显存。最多能同时容纳多少条2048个token的序列的完整KV Cache？
#
# Answer: `q10 = ...` (sequences; graded exactly (an integer)).

# %% [solution id=lab10_a10]
### BEGIN SOLUTION
q10 = 107  # floor((gpu x (1 - reserve) - weights) / (kv bytes per token x seq_len)); kv per token = 2 x 36 x 64 x 64 x 2 = 589824
### END SOLUTION

# %% [test id=lab10_q10 points=2 category=practice]
check_here("lab10", "q10", globals())

# %% [markdown]
# ### W3 · Latency suddenly rose · 推理延迟突然升高 (5 points · practice, graded by the interviewer)
#
# TTFT of your service jumped from 200 ms to 2 s this afternoon while TPOT stayed flat. How do you find the cause?
#
# 下午服务的TTFT从200毫秒涨到2秒，而TPOT基本没变。你如何排查原因？

# %% [written id=lab10_w3 points=5 category=practice]
# TTFT = queueing + prefill, TPOT flat says decoding is healthy, so look at the front of the pipeline. Check request rate and prompt-length distribution (a client sending long prompts; a prefix-cache hit rate drop after a deploy or a change in system prompt), queue length and admission (KV cache full, so requests wait; preemptions), scheduler config (chunked prefill budget, max batched tokens), and hardware (a GPU throttling, a node out of the pool). Compare per-replica metrics, bisect by time against deploys and traffic. Fix by cause: scale out, restore cache hits, cap prompt length, tune the prefill budget.

# %% [markdown]
# ## Done · 完成
#
# Save the notebook and submit it. Nothing in it is graded before you submit, whatever the check cells print.
