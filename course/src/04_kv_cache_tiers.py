# %% [markdown]
# # 04 · Multi-tier KV cache · KV Cache 多级管理与优化 (syllabus §4)
#
# A KV block costs memory for as long as it is kept and compute if it is thrown away and
# needed again. Serving systems therefore keep KV in a **hierarchy** — GPU HBM, host DRAM,
# NVMe — and spend their cleverness on three questions: *what to keep where* (placement and
# eviction), *how to find it again* (prefix hashing), and *how to make it smaller* (quantisation,
# sparsification). This notebook works through each with real numbers, a simulator you can
# play with, and the course model's real attention. Lab: `labs/lab04` (tasks 1-6 follow this
# notebook).
#
# Glossary (all notebooks): `B` batch, `H` heads, `N` sequence length, `D` head dim; a KV
# *block* holds `block_size` tokens' keys and values for every layer.

# %%
import heapq
import math
import random
import time

import inferlab  # first: sets TRITON_INTERPRET=1 without a GPU
import matplotlib.pyplot as plt
import torch
from inferlab import workload

torch.manual_seed(0)
t_start = time.time()

# %% [markdown]
# ## 1 · The hierarchy, in numbers · 存储层次与数字
#
# | tier | capacity (one H100 node) | bandwidth to the GPU | latency | $ per GB (order) |
# | --- | --- | --- | --- | --- |
# | HBM3 (H100 SXM) | 80 GB per GPU | 3.35 TB/s | ~µs (kernel) | ~$30-50 (part of the GPU) |
# | host DRAM (pinned) | 1-2 TB per node | PCIe Gen5 x16: ~64 GB/s per direction (~50-55 measured) | ~10 µs | ~$3-5 |
# | NVMe SSD (Gen4/Gen5) | 4-30 TB per drive | ~7 GB/s read per drive (Gen4), ~12-14 (Gen5) | ~100 µs | ~$0.1 |
# | remote (RDMA, another node's DRAM) | cluster | 25-50 GB/s per NIC (200-400 Gb/s) | ~5-10 µs | shared |
#
# It is the same trade as CPU caches (L1/L2/L3): each step down is ~10x bigger, ~10x cheaper
# per byte and ~10-50x slower. The question for KV: **is reloading a block faster than
# recomputing it?** Recomputing a prefix of `n` tokens is a prefill: `~2 · params · n` FLOPs.
# Reloading moves `kv_bytes_per_token · n` bytes.

# %%
def kv_bytes_per_token(layers, kv_heads, head_dim, dtype_bytes=2):
    return 2 * layers * kv_heads * head_dim * dtype_bytes  # K and V, every layer


MODELS = {  # name: (params, layers, kv heads, head dim)
    "Llama-3-8B": (8.0e9, 32, 8, 128),
    "Llama-3-70B": (70.6e9, 80, 8, 128),
    "Qwen2-7B": (7.6e9, 28, 4, 128),
}
TIERS = {"HBM": 3.35e12, "DRAM (PCIe5)": 55e9, "NVMe (1 drive)": 7e9, "NVMe (4 drives)": 28e9}
PEAK = 989e12 * 0.5  # dense bf16 at ~50% MFU for prefill
n = 4096
print(f"reload vs recompute of a {n}-token prefix (prefill at {PEAK / 1e12:.0f} TFLOP/s):")
for name, (params, layers, kvh, d) in MODELS.items():
    b = kv_bytes_per_token(layers, kvh, d) * n
    recompute = 2 * params * n / PEAK
    row = "  ".join(f"{t} {b / bw * 1e3:7.2f} ms" for t, bw in TIERS.items())
    print(f"{name:12} KV {b / 2**30:5.2f} GiB | recompute {recompute * 1e3:7.1f} ms | {row}")

# %% [markdown]
# With grouped-query attention (8 KV heads) a token of Llama-3-70B is 320 KB of KV and costs
# 141 GFLOP to recompute: ~440 KFLOP per byte. Even one NVMe drive (7 GB/s) moves the KV
# faster than an H100 can recompute it (~0.5 PFLOP/s -> 1.1 GB/s "recompute bandwidth"),
# which is why LMCache, Mooncake and SGLang's HiCache keep prefixes on SSD. With
# multi-head attention (no GQA) KV is 8x larger and the break-even moves up the hierarchy.
#
# ## 2 · Replacement policies · 缓存替换策略
#
# The classics, as plain specs (the lab makes each O(1)):
# - **LRU** evicts the least recently used block — recency predicts reuse in chats.
# - **LFU** evicts the least frequently used (ties: least recent) — protects hot system prompts
#   from a burst of one-off queries ("scan resistance"), but remembers stale popularity.
# - **FIFO** evicts the oldest insert — cheap, no bookkeeping on a hit; CLOCK/S3-FIFO variants
#   come close to LRU.
# - **Random** — no state at all; a surprisingly fair baseline.
#
# We replay a seeded serving trace from `inferlab.workload`: multi-turn chats over three
# shared system prompts (each turn re-sends the conversation), few-shot templates and one-off
# queries. Each request looks up its blocks (chained hashes, section 3) and inserts the misses.

# %%
class SpecPolicy:
    """A policy as a plain spec: timestamps and min() (O(n) evict) — the answer key style."""

    def __init__(self, kind, seed=0):
        self.kind, self.meta, self.t, self.rng = kind, {}, 0, random.Random(seed)

    def insert(self, k):
        self.t += 1
        self.meta[k] = [1, self.t, self.t]  # uses, last use, inserted

    def access(self, k):
        self.t += 1
        self.meta[k][0] += 1
        self.meta[k][1] = self.t

    def remove(self, k):
        del self.meta[k]

    def evict(self):
        m = self.meta
        if self.kind == "lru":
            k = min(m, key=lambda k: m[k][1])
        elif self.kind == "lfu":
            k = min(m, key=lambda k: (m[k][0], m[k][1]))
        elif self.kind == "fifo":
            k = min(m, key=lambda k: m[k][2])
        else:
            k = self.rng.choice(list(m))
        del m[k]
        return k

    def __len__(self):
        return len(self.meta)


class TierSim:
    """Tiers of given capacities (blocks); put into tier 0, victims demoted, hits promoted to tier 0."""

    def __init__(self, caps, kind):
        self.caps, self.pols = caps, [SpecPolicy(kind, seed=i) for i in range(len(caps))]
        self.where, self.hits, self.misses, self.moved = {}, [0] * len(caps), 0, [0] * len(caps)

    def _enter(self, i, k):
        if i == len(self.caps):
            return
        if len(self.pols[i]) >= self.caps[i]:
            v = self.pols[i].evict()
            del self.where[v]
            self._enter(i + 1, v)
        self.pols[i].insert(k)
        self.where[k] = i
        self.moved[i] += 1  # blocks written into tier i

    def lookup(self, k):
        i = self.where.pop(k, None)
        if i is None:
            self.misses += 1
            self._enter(0, k)
            return None
        self.hits[i] += 1
        if i == 0:
            self.pols[0].access(k)
            self.where[k] = 0
        else:
            self.pols[i].remove(k)
            self._enter(0, k)
        return i


trace = workload.chat_trace(seed=1, num_requests=160)
keys = workload.lookups(trace, block_size=16)
print(f"{len(trace)} requests ({sum(r.kind == 'chat' for r in trace)} chat turns), {len(keys)} block lookups, "
      f"{len(set(keys))} distinct blocks")

caps = [16, 32, 64, 128, 256]
fig, ax = plt.subplots(figsize=(6, 3.5))
for kind in ("lru", "lfu", "fifo", "random"):
    rates = []
    for c in caps:
        sim = TierSim([c], kind)
        for k in keys:
            sim.lookup(k)
        rates.append(sum(sim.hits) / len(keys))
    ax.plot(caps, rates, marker="o", label=kind)
    print(f"{kind:6} hit rate at capacity {caps}: " + "  ".join(f"{r:.3f}" for r in rates))
ax.set_xscale("log", base=2)
ax.set_xlabel("cache capacity (blocks of 16 tokens)")
ax.set_ylabel("hit rate")
ax.set_title("one tier, multi-turn chat trace")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The ceiling is set by the trace (a block seen for the first time always misses). On chat
# traffic LRU and LFU lead: recent turns come back; FIFO forgets a busy system prompt just
# because it is old, and random sits in between. Play with a two/three-tier version below:
# the sliders set each tier's capacity, the dropdown the policy; the bars show where hits
# were served and how many blocks were written into each tier (the bytes moved: multiply by
# the block's bytes).

# %%
import ipywidgets as widgets


def tier_simulator(hbm=24, dram=64, ssd=0, policy="lru"):
    tiers = [c for c in (hbm, dram, ssd) if c > 0]
    sim = TierSim(tiers, policy)
    for k in keys:
        sim.lookup(k)
    names = ["HBM", "DRAM", "SSD"][: len(tiers)]
    block_bytes = 16 * kv_bytes_per_token(32, 8, 128)  # Llama-3-8B, 16-token blocks
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.bar(names + ["miss"], [h / len(keys) for h in sim.hits] + [sim.misses / len(keys)], color="C0")
    a.set_title(f"hit rate {sum(sim.hits) / len(keys):.3f}")
    b.bar(names, [m * block_bytes / 2**30 for m in sim.moved], color="C1")
    b.set_title("GiB written into each tier")
    plt.tight_layout()
    plt.show()


widgets.interact(tier_simulator,
                 hbm=widgets.IntSlider(value=24, min=4, max=256, step=4, description="HBM blocks"),
                 dram=widgets.IntSlider(value=64, min=0, max=512, step=8, description="DRAM blocks"),
                 ssd=widgets.IntSlider(value=0, min=0, max=1024, step=32, description="SSD blocks"),
                 policy=widgets.Dropdown(options=["lru", "lfu", "fifo", "random"], value="lru"));

# %% [markdown]
# ### LLM-aware eviction · 针对大模型的替换策略
# Block-level policies treat KV as opaque. Inside one long sequence we can do better, because
# attention tells us which tokens matter:
# - **StreamingLLM** (Xiao et al. 2023): keep a few **attention sinks** (the first tokens, which
#   soak up attention mass) plus a sliding **window** of recent tokens.
# - **H2O** (Zhang et al. 2023): keep the recent window plus the **heavy hitters**, the tokens with
#   the largest accumulated attention so far (lab task 6). SnapKV, PyramidKV and Scissorhands refine
#   the score (observation windows, per-layer budgets).
# - **Turn-aware** (chat): a finished turn's blocks are likely needed again when the user replies
#   — keep or prefetch the whole conversation of an active session, evict idle sessions first
#   (what SGLang's radix-tree LRU over conversation prefixes does implicitly).
#
# On the course model's real attention: we take layer 1's q, k of a 256-token passage, let
# the last 32 queries attend to a budget of keys, and measure the attention-output error
# against full attention for four selection rules.

# %%
from inferlab import models

model = models.load("target")
text = (models.DATA_DIR / "val.txt").read_text(encoding="utf-8")
ids = torch.tensor([models.encode(text)[:256]])                     # (1, T)
T = ids.shape[1]
with torch.no_grad():
    x = model.embed(ids)
    x = model.layers[0].finish(x, models.causal_attention(*model.layers[0].qkv(x, torch.arange(T))))
    q, k, v = model.layers[1].qkv(x, torch.arange(T))                 # q (1, H, T, D), k/v (1, H_kv, T, D)
rep = q.shape[1] // k.shape[1]
k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)      # (1, H, T, D)
scale = q.shape[-1] ** -0.5
logits = (q @ k.transpose(-1, -2)) * scale
logits = logits.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
probs = logits.softmax(-1)                                           # (1, H, T, T)
n_obs = 32
past = T - n_obs                                                     # queries 0..past-1 give H2O's scores
acc = probs[0, :, :past, :].sum(1)                                   # (H, T) accumulated attention


def kept_output(keep):                                               # keep: (H, budget) key positions
    out = []
    for h in range(q.shape[1]):
        kk, vv = k[0, h, keep[h]], v[0, h, keep[h]]
        s = (q[0, h, past:] @ kk.T) * scale                          # all kept keys precede the queries
        out.append(s.softmax(-1) @ vv)
    return torch.stack(out)                                          # (H, n_obs, D)


def select(rule, budget, gen):
    rows = []
    for h in range(q.shape[1]):
        recent = torch.arange(past - budget // 2, past)
        if rule == "recent":
            rows.append(torch.arange(past - budget, past))
        elif rule == "random":
            rows.append(torch.randperm(past, generator=gen)[:budget])
        elif rule == "sink+window":
            rows.append(torch.cat([torch.arange(4), torch.arange(past - budget + 4, past)]))
        else:  # h2o: half the budget recent, half heavy hitters among the rest
            older = acc[h, : past - budget // 2]
            heavy = torch.sort(older, descending=True, stable=True).indices[: budget - budget // 2]
            rows.append(torch.cat([heavy, recent]))
    return torch.stack(rows)


# the reference: the last 32 queries over the full cache of the `past` earlier tokens
ref = kept_output(torch.arange(past).expand(q.shape[1], past))
budgets = [8, 16, 32, 64, 128]
fig, ax = plt.subplots(figsize=(6, 3.5))
for rule in ("h2o", "sink+window", "recent", "random"):
    gen = torch.Generator().manual_seed(0)
    errs = [((kept_output(select(rule, b, gen)) - ref).norm() / ref.norm()).item() for b in budgets]
    ax.plot(budgets, errs, marker="o", label=rule)
    print(f"{rule:11} relative error at budget {budgets}: " + "  ".join(f"{e:.3f}" for e in errs))
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel(f"KV budget (of {past} past tokens)")
ax.set_ylabel("relative attention-output error")
ax.set_title("course model, layer 1, last 32 queries")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# (The 32 queries play decode steps over a cache of the 224 earlier tokens; H2O's scores are
# the attention those earlier tokens received from the queries before them.)
# What the figure shows (measured here, CPU): random eviction is far worse at every budget
# — it spends the budget on tokens nobody attends to. On this tiny 4-layer model the attention
# of layer 1 is mostly **local**, so the recent window (with or without sinks) is as good as
# H2O, and H2O only catches up at larger budgets; in 7B+ models the heavy hitters and sinks
# are much more pronounced (the H2O and StreamingLLM papers), which is where H2O pulls ahead.
# Measure on your own model before choosing. Caveats for interviews: accumulated scores favour
# early tokens, evicted tokens are gone for good (a later question may need them), and scores
# need the attention matrix, which FlashAttention never materialises — production systems
# approximate them (SnapKV's observation window) or evict whole blocks instead.
#
# ## 3 · Prefix caching by chained block hashes · 前缀缓存与块哈希链
#
# To reuse KV across requests we need a name for "the KV of these tokens *in this context*".
# A block's keys and values depend on every earlier token, so its name must too:
# `h_i = H(h_{i-1} || tokens of block i)`. Two requests share key `h_i` exactly when they
# share the first `i+1` blocks; lookup walks the chain until the first miss
# (`longest_prefix_hit`, lab task 4). vLLM's automatic prefix caching hashes this way;
# SGLang keeps a radix tree over token ids (same sharing, finer granularity). Use a stable
# hash (hashlib): Python's `hash()` of a `str` is salted per process, so another worker or a
# restarted server would never find the blocks.

# %%
chat = [r for r in trace if r.kind == "chat"]
s0 = max({r.session for r in chat}, key=lambda s: sum(r.session == s for r in chat))  # the longest chat
turns = [r for r in chat if r.session == s0]
prev = []
for r in turns[:4]:
    ks = workload.block_keys(r.token_ids, 16)
    shared = next((i for i, (a, b) in enumerate(zip(ks, prev)) if a != b), min(len(ks), len(prev)))
    print(f"session {s0} turn {r.turn}: {len(r.token_ids)} tokens, {len(ks)} full blocks, "
          f"{shared} shared with the previous turn -> prefill only {len(r.token_ids) - 16 * shared} tokens")
    prev = ks

# %% [markdown]
# ## 4 · Compression: int8 KV, per token vs per channel · 量化压缩
#
# Symmetric int8 stores `q = round(x / s)`, `s = absmax / 127` per group, halving fp16 KV
# (plus one fp32 scale per group). The error of each element is at most `s / 2`, so the
# **grouping** decides the error: one outlier inflates the scale of its whole group.
# Keys have outlier **channels** (a few dimensions, fixed across tokens, large — partly RoPE's
# doing); values do not. So KIVI (Liu et al. 2024) quantises **keys per channel** (a scale per
# dimension, grouped over tokens) and **values per token**. Below, the course model's real keys
# and values at layer 1. The course model is tiny and has not grown outlier channels (its
# channels' absmax are within ~1.5x of each other), so per token is as good or better there;
# give its keys two outlier channels like a 7B model's and the ranking flips (per channel ~2x lower error).

# %%
def int8_error(x, dim):
    s = x.abs().amax(dim=dim, keepdim=True).clamp_min(1e-12) / 127
    return ((torch.round(x / s).clamp(-127, 127) * s - x).norm() / x.norm()).item()


kk = k[0, 0]                                                         # (T, D) one head's keys
vv = v[0, 0]
print("channel absmax of keys (top 4 / median):",
      [round(t, 2) for t in kk.abs().amax(0).topk(4).values.tolist()], round(kk.abs().amax(0).median().item(), 2))
for name, t in (("keys", kk), ("values", vv)):
    print(f"{name:6}: int8 per-token error {int8_error(t, -1):.4f}   per-channel error {int8_error(t, 0):.4f}")
outlier = kk.clone()
outlier[:, :2] *= 20  # two outlier channels, ~20x the rest, as KIVI measured in Llama keys
print(f"keys with 2 outlier channels: per-token error {int8_error(outlier, -1):.4f}   "
      f"per-channel error {int8_error(outlier, 0):.4f}")

# %% [markdown]
# Hardware: H100 Tensor Cores take fp8 (e4m3) natively, so fp8 KV (vLLM `kv_cache_dtype=fp8`)
# needs no dequantisation kernel; int4/2-bit KV (KIVI, KVQuant) need custom kernels that
# dequantise in registers inside attention. **Dynamic** quantisation computes scales online
# per block as tokens arrive (lab task 5's kernel: one pass, absmax in registers).
# Sparsification (section 2's H2O) and quantisation compose: fewer tokens, fewer bits each.
#
# ## 5 · Adaptive sizing and prefetching · 自适应大小与预取
#
# - **Memory pressure**: the engine watches free blocks; below a watermark it stops admitting
#   requests, demotes idle sessions' blocks to DRAM, and as a last resort preempts (lab07).
#   Tier sizes adapt: HBM for KV = total - weights - activations - reserve (lab08's
#   `max_concurrent_sequences`).
# - **Prefetching**: a chat's next turn needs its whole conversation; while the user types
#   (seconds) the server copies the session's blocks DRAM -> HBM (a 4k-token Llama-3-8B
#   conversation is 512 MiB: ~10 ms over PCIe Gen5) on a separate CUDA stream, overlapping
#   compute. Layer-wise pipelining starts layer 0's attention while later layers still load.
# - **Warm-up**: popular system prompts are pre-filled at start-up and pinned (never evicted).
# - **Learning the pattern**: per-session inter-arrival times (a user replying in 30 s vs
#   never) feed the eviction priority — TTL-style eviction of idle sessions.

# %%
conv_tokens = 4096
b = kv_bytes_per_token(32, 8, 128) * conv_tokens
for tier, bw in TIERS.items():
    print(f"prefetch a {conv_tokens}-token Llama-3-8B conversation ({b / 2**20:.0f} MiB) from {tier:14}: "
          f"{b / bw * 1e3:6.2f} ms")

# %% [markdown]
# ## 6 · Consistency and recovery for a shared cache · 一致性与故障恢复
#
# KV blocks are **immutable** once written (a block's name is the hash of its whole prefix, and
# the same prefix under the same model always gives the same KV), which removes most of the
# hard consistency problems: there are no updates to propagate, only inserts and deletes.
# What remains:
# - **Versioning**: the key must include the model (weights version, dtype, tokenizer, RoPE
#   settings, LoRA adapter). A weights roll-out changes the namespace; old blocks age out.
# - **Invalidation**: by namespace (drop a model version), not per block. A metadata service
#   (Mooncake's master, Redis/etcd) maps key -> node; eventual consistency is fine because a
#   stale entry costs only a miss (fetch fails -> recompute), never a wrong answer — *if* every
#   fetched block is verified (checksum + key in the block header).
# - **What survives a crash**: HBM and DRAM tiers are lost; a disk tier survives if every block
#   was written atomically (temp file + fsync + rename) and carries a checksum — on restart,
#   scan the folder, keep what verifies, ignore the rest (lab task 3). Torn writes, bit rot and
#   misdirected writes become misses.
# - **Failure detection and degradation**: heartbeats detect a dead cache node; its keys
#   become misses, requests recompute (a latency spike, not an outage); re-replicate hot
#   prefixes (system prompts) on more than one node; under a network partition prefer
#   availability (recompute) over waiting.

# %% [markdown]
# ## 7 · Interview questions · 面试问题
#
# **Q1. How would you design a multi-tier KV cache? · 如何设计一个多级KV Cache管理系统？**
# Tiers HBM -> pinned DRAM -> local NVMe (-> remote pool over RDMA), blocks of 16-64 tokens named
# by chained prefix hashes (include the model version). Put into HBM; on pressure demote victims
# one tier down asynchronously (separate CUDA stream, pinned buffers); a lookup walks the prefix
# chain and promotes hits, prefetching the rest layer by layer; the disk tier writes atomically
# with checksums and is rebuilt by a scan on restart. Decide per block whether reload beats
# recompute from bandwidth and FLOP numbers (section 1); measure hit rate per tier and bytes moved.
# 分层：HBM → 锁页内存 → 本地 NVMe（→ RDMA 远端池）；以前缀哈希链命名块（含模型版本）；写入 HBM，内存紧张时
# 异步逐级下沉；查找沿哈希链进行，命中则提升并逐层预取；磁盘层原子写入、带校验和，重启时扫描重建；按带宽与算力
# 判断"重新加载"是否优于"重算"，并监控各层命中率与搬运字节数。
#
# **Q2. Which replacement policy works best for LLM serving? · 哪种缓存替换策略最有效？**
# At block level, LRU over prefix-tree leaves (evict leaves first, so shared prefixes stay) is
# the robust default: chats come back to recent turns. Add frequency (LFU/ARC-like) or pinning
# for hot system prompts so a burst of one-off queries cannot flush them; evict idle sessions
# first (turn-aware). Within a sequence, attention-aware policies (StreamingLLM sinks + window,
# H2O heavy hitters, SnapKV) keep accuracy at a fraction of the KV. Validate on a real trace.
# 块级：基于前缀树叶子的 LRU 是稳健默认（先淘汰叶子，共享前缀保留）；对热门系统提示加入频率或固定，防止一次性
# 查询冲刷；优先淘汰空闲会话（考虑对话轮次）。序列内：注意力感知策略（StreamingLLM、H2O、SnapKV）以少量 KV 保持
# 精度。用真实流量验证。
#
# **Q3. How do you balance cost and performance across media? · 如何平衡不同存储介质的成本和性能？**
# Price per GB falls ~10x per tier, bandwidth too. Size HBM for the working set of active
# decodes, DRAM for recently idle sessions (a PCIe reload is ~10 ms for a 4k-token 8B
# conversation), NVMe for long-tail prefixes (still faster than recompute for GQA models).
# Use the hit-rate-vs-capacity curve (section 2) to find the knee; the TTFT saved per hit times
# the hit rate is the value of each GB.
# 每下一层价格约降 10 倍、带宽也降；HBM 容纳活跃解码的工作集，DRAM 存近期空闲会话，NVMe 存长尾前缀；用"命中率-容量"
# 曲线找拐点，用"每次命中节省的 TTFT × 命中率"衡量每 GB 的价值。
#
# **Q4. What KV compression techniques exist, with pros and cons? · KV Cache压缩技术有哪些？各自优缺点？**
# Quantisation (fp8/int8: 2x, near lossless; int4/2-bit with KIVI per-channel keys: 4-8x, needs
# custom kernels and outlier care); sparsification/eviction (H2O, StreamingLLM, SnapKV: large
# savings, irreversible, can drop what a later question needs); architectural (GQA/MQA, MLA's
# latent KV: large savings, needs retraining); sharing (prefix caching: free when prompts repeat).
# 量化（fp8/int8 约 2 倍近无损；int4/2bit 需按通道量化 key、需定制内核）；稀疏/淘汰（H2O 等，节省大但不可逆）；
# 结构性（GQA/MQA、MLA，需重新训练）；共享（前缀缓存，提示重复时零代价）。
#
# **Q5. How do you manage KV dynamically and adaptively? · 如何实现KV Cache的动态管理和自适应调整？**
# Monitor free blocks and per-tier hit rates; admission control and watermarks; demote idle
# sessions, preempt (recompute or swap) under pressure; prefetch the next turn while the user
# types; pin hot prefixes; resize tiers from measured curves; quantise older tokens more
# aggressively than recent ones.
# 监控空闲块与各层命中率；准入控制与水位线；下沉空闲会话，压力下抢占（重算或换出）；用户输入时预取下一轮；
# 固定热门前缀；依据实测曲线调整各层大小；对较早的 token 用更激进的量化。
#
# **Q6. How do you keep a distributed KV cache consistent? · 分布式推理中如何保证KV Cache一致性？**
# Make blocks immutable and content-addressed (hash of prefix + model version), so replicas
# never disagree about a key's content; keep the key -> location index eventually consistent;
# verify every fetched block (checksum, key in header) so a stale or corrupt entry is a miss;
# invalidate by namespace on model changes.
# 块不可变、按内容寻址（前缀哈希 + 模型版本），副本间不会对内容有分歧；位置索引最终一致即可；每次取回都校验
# （校验和、头部 key），过期或损坏即视为未命中；模型变更时按命名空间整体失效。
#
# **Q7. A cache node fails: what is the recovery strategy? · 某个节点缓存失效时应采取什么恢复策略？**
# Detect by heartbeat; mark its keys missing (requests fall back to recompute, a TTFT spike
# not errors); rebuild by priority — hot system prompts first, re-replicated from peers or
# recomputed by prefill on idle capacity; a restarted node rescans its disk tier and
# re-registers verified blocks; rate-limit rebuild traffic to protect live decode.
# 心跳检测；将其 key 标记缺失（请求回退重算，只是 TTFT 抖动）；按优先级重建——先热门系统提示，从副本复制或空闲时
# 预填充重算；重启节点扫描磁盘层、重新登记校验通过的块；限制重建流量以保护在线解码。
#
# **Q8. Design a highly available distributed KV cache. · 如何设计高可用的分布式KV Cache系统？**
# Stateless inference workers + a cache layer (DRAM/SSD pools on many nodes, RDMA transfer)
# + a replicated metadata service; consistent hashing to place blocks, 2+ replicas for hot
# prefixes; every block verified on read; graceful degradation to recompute; observability
# (hit rate, bytes moved, p99 fetch latency).
# 无状态推理节点 + 缓存层（多节点 DRAM/SSD 池、RDMA 传输）+ 多副本元数据服务；一致性哈希放置，热门前缀多副本；
# 读取必校验；故障时优雅降级为重算；可观测性（命中率、搬运字节、p99 取数延迟）。

# %%
print(f"notebook ran in {time.time() - t_start:.1f} s")
