# %% [markdown]
# # 05 · Collectives and model parallelism · 集合通信与模型并行 (syllabus §5)
#
# A 70B model in bf16 is 140 GB of weights: it does not fit one 80 GB GPU, and even when a
# model fits, one GPU's HBM bandwidth caps its decode speed. So inference shards the model
# across GPUs, and the GPUs must talk. This notebook covers *how the model is cut* (tensor and
# pipeline parallelism), *what the GPUs say to each other* (point-to-point messages and
# collectives), *how fast that can be* (the alpha-beta model, NVLink, InfiniBand, topologies),
# and *how to hide or shrink it* (overlap, bucketing, compression, QoS).
#
# Letters (all notebooks): `p` ranks (GPUs), `r` a rank, `N` bytes of a message, `m`
# micro-batches, `alpha` per-message latency (s), `beta` seconds per byte (1/bandwidth),
# `d` model width, `h` MLP hidden width. Lab: `labs/lab05` (tasks 1-7 follow sections 3-9).
#
# Everything below runs on CPU: `inferlab.launch.launch(fn, p, ...)` starts `p` real
# `torch.distributed` ranks (gloo) on this machine; on a multi-GPU node the same code runs on
# NCCL (section 13 holds the GPU measurements).

# %%
import math
import time

import inferlab  # noqa: F401 - first, as in every notebook
import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.distributed as dist
import torch.nn.functional as F
from IPython.display import display

from inferlab.launch import launch

torch.manual_seed(0)

# %% [markdown]
# ## 1 · Why split a model, and which way · 为什么切分模型
#
# | strategy | what is split | communication | where it fits |
# | --- | --- | --- | --- |
# | **tensor parallelism (TP)** | each weight matrix, across `p` GPUs | an all-reduce (or reduce-scatter + all-gather) **every layer**, on the critical path | inside one NVLink node (2-8 GPUs): latency-sensitive, needs the fastest links |
# | **pipeline parallelism (PP)** | the layers, into `p` stages | point-to-point activations between neighbouring stages, once per micro-batch | across nodes: little traffic, tolerates slower links, adds a bubble and latency |
# | data parallelism (replicas) | the requests | none at inference (weights are replicated) | throughput scaling once one replica fits |
# | expert parallelism (EP) | the experts of an MoE layer | all-to-all of tokens, twice per MoE layer | MoE models, across GPUs and nodes |
#
# TP cuts the latency of every token (each GPU does 1/p of every matmul and reads 1/p of the
# weights) at the price of communication on every layer; PP adds capacity and throughput but not
# single-request speed. Serving stacks combine them: TP=8 inside a node, PP across nodes.

# %% [markdown]
# ## 2 · Tensor parallelism: column and row sharding · 张量并行：列切分与行切分
#
# For `Y = X W` with `W` of shape `(d, h)`:
# - **column parallel**: rank r keeps `W[:, S_r]` and computes `Y[:, S_r]` — a slice of the output,
#   no communication. An elementwise op (gelu, SiLU·gate) can follow directly.
# - **row parallel**: rank r keeps `W[S_r, :]` and the matching input slice `X[:, S_r]`; it computes
#   a *partial sum* `X[:, S_r] W[S_r, :]` of the full output: an **all-reduce** sums the partials.
#
# Megatron's trick: put a column-parallel layer first and a row-parallel layer second, so the
# activation between them never moves. Per transformer layer in the forward pass:
# - **attention**: Q, K, V projections column-parallel *by heads* (each rank owns `H/p` heads,
#   and `H_kv/p` KV heads, so its KV cache is 1/p too); attention runs locally per head; the output
#   projection is row-parallel → **one all-reduce**;
# - **MLP**: up (and gate) projection column-parallel, down projection row-parallel → **one all-reduce**.
#
# Two all-reduces of a `(tokens, d)` activation per layer. Sequence parallelism replaces each
# all-reduce by a reduce-scatter (before the norm) plus an all-gather (after it): same bytes,
# but the norms and residuals then work on 1/p of the tokens.
#
# Below, on 4 real ranks: a column-parallel up projection and a row-parallel down projection
# (lab05 task 4), checked against the unsharded MLP.

# %%
def tp_mlp_demo(x, w_up, w_down):
    r, p = dist.get_rank(), dist.get_world_size()
    cols = torch.tensor_split(torch.arange(w_up.shape[1]), p)[r]    # this rank's hidden units
    partial = F.gelu(x @ w_up[:, cols]) @ w_down[cols, :]           # (T, d) partial sum
    dist.all_reduce(partial)                                         # the one all-reduce
    return {"out": partial, "w_up_shard": tuple(w_up[:, cols].shape), "w_down_shard": tuple(w_down[cols, :].shape)}


x, w_up, w_down = torch.randn(5, 16), torch.randn(16, 64) / 4, torch.randn(64, 16) / 8
res = launch(tp_mlp_demo, 4, x, w_up, w_down)
ref = F.gelu(x.double() @ w_up.double()) @ w_down.double()
for r, o in enumerate(res):
    print(f"rank {r}: keeps w_up {o['w_up_shard']}, w_down {o['w_down_shard']}; "
          f"max |out - unsharded| = {(o['out'].double() - ref).abs().max():.2e}")

# %% [markdown]
# ## 3 · Pipeline parallelism: micro-batches and the bubble · 流水线并行：微批次与气泡
#
# Stage `s` holds layers `[s L/p, (s+1) L/p)`. A batch is cut into `m` micro-batches so that the
# stages work on different micro-batches at once. With equal stage times, `m` micro-batches take
# `m + p - 1` slots and each stage is busy for `m` of them:
#
# $$\text{bubble} = \frac{p-1}{m+p-1}$$
#
# - **GPipe**: all forwards, then all backwards (training) — every stage holds the activations of
#   all `m` micro-batches.
# - **1F1B** (PipeDream-flush): after a warm-up of `p - s - 1` forwards, stage `s` alternates one
#   forward, one backward, so at most `p` micro-batches are in flight: same bubble, activation
#   memory `p` instead of `m`. Interleaved 1F1B (virtual stages) divides the bubble by the number
#   of chunks per GPU, at the price of more messages.
# - **Inference** has only forwards: the bubble is the fill and drain of the pipeline; a serving
#   engine keeps it full with many concurrent sequences (each decode step of a batch is a micro-batch).
#
# The Gantt chart below draws both schedules (forward = 1 slot, backward = 2 slots).

# %%
def gpipe_schedule(p, m, tb=2):
    """[(stage, start, length, label, kind)] for GPipe: every forward, then every backward."""
    ops = []
    for s in range(p):
        for i in range(m):
            ops.append((s, s + i, 1, f"F{i}", "F"))
    t0 = m + p - 1  # all forwards done at the last stage
    for s in reversed(range(p)):
        for i in range(m):
            ops.append((s, t0 + (p - 1 - s) * tb + i * tb, tb, f"B{i}", "B"))
    return ops


def one_f_one_b_schedule(p, m, tb=2):
    """1F1B: warm-up forwards, then alternate one forward and one backward; simulated with dependencies."""
    done_f, done_b = {}, {}
    free = [0] * p
    ops = []
    order = []
    for s in range(p):
        warm = min(p - s - 1, m)
        seq = [("F", i) for i in range(warm)]
        f, b = warm, 0
        while b < m:
            if f < m:
                seq.append(("F", f))
                f += 1
            seq.append(("B", b))
            b += 1
        order.append(seq)
    pos = [0] * p
    while any(pos[s] < len(order[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            if pos[s] >= len(order[s]):
                continue
            kind, i = order[s][pos[s]]
            if kind == "F":
                dep = done_f.get((s - 1, i), 0) if s > 0 else 0
                if s > 0 and (s - 1, i) not in done_f:
                    continue
                start = max(free[s], dep)
                done_f[(s, i)] = start + 1
                ops.append((s, start, 1, f"F{i}", "F"))
                free[s] = start + 1
            else:
                if s < p - 1 and (s + 1, i) not in done_b:
                    continue
                if (s, i) not in done_f:
                    continue
                dep = done_b.get((s + 1, i), done_f[(s, i)]) if s < p - 1 else done_f[(s, i)]
                start = max(free[s], dep)
                done_b[(s, i)] = start + tb
                ops.append((s, start, tb, f"B{i}", "B"))
                free[s] = start + tb
            pos[s] += 1
            progressed = True
        assert progressed, "schedule deadlocked"
    return ops


def gantt(ax, ops, p, title):
    colors = {"F": "#4C72B0", "B": "#DD8452"}
    for s, start, length, label, kind in ops:
        ax.barh(s, length, left=start, color=colors[kind], edgecolor="white")
        ax.text(start + length / 2, s, label, ha="center", va="center", color="white", fontsize=7)
    end = max(start + length for _, start, length, _, _ in ops)
    busy = sum(length for *_, length, _, _ in [(o[0], o[1], o[2], o[3], o[4]) for o in ops])
    ax.set_yticks(range(p), [f"stage {s}" for s in range(p)])
    ax.invert_yaxis()
    ax.set_title(f"{title}: {end} slots, idle {1 - busy / (p * end):.0%}")
    ax.set_xlabel("time (slots)")


P_STAGES, M_MICRO = 4, 6
fig, axes = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
gantt(axes[0], gpipe_schedule(P_STAGES, M_MICRO), P_STAGES, "GPipe")
gantt(axes[1], one_f_one_b_schedule(P_STAGES, M_MICRO), P_STAGES, "1F1B")
plt.tight_layout()
plt.show()
print(f"bubble (p-1)/(m+p-1) = {(P_STAGES - 1) / (M_MICRO + P_STAGES - 1):.0%}; "
      f"in flight per stage: GPipe {M_MICRO} micro-batches, 1F1B at most {P_STAGES}")

# %%
ms = list(range(1, 65))
for p in (2, 4, 8, 16):
    plt.plot(ms, [(p - 1) / (m + p - 1) for m in ms], label=f"p = {p}")
plt.xlabel("micro-batches m")
plt.ylabel("bubble fraction")
plt.title("The bubble shrinks as 1/m: m >= 4p keeps it under ~20%")
plt.legend()
plt.show()

# %% [markdown]
# ## 4 · Point-to-point and collectives · 点对点通信与集合通信
#
# **Point-to-point**: `send/recv` (blocking) and `isend/irecv` (a work handle to `wait()`). Used for
# pipeline activations, KV-cache transfer from a prefill node to a decode node (lab06), and as
# the building block of every collective. Latency-sensitive small messages want few of them;
# large ones want to be split so transfers pipeline (and, on GPUs, GPUDirect RDMA so no copy
# goes through host memory).
#
# Measured on 2 × NVIDIA H200 (NVLink 4 ×18, NCCL 2.28.9, NVLS off; `benchmarks/lab06_bench.py`,
# solutions/lab06/NOTES.md): NCCL `send`/`recv` GPU 0 -> GPU 1, timed on the GPU, moves 0.6 GB/s
# at 32 KiB, 23 GB/s at 1 MiB, 153 GB/s at 8 MiB, 251 GB/s at 16 MiB, 359 GB/s at 256 MiB and
# 371 GB/s at 1 GiB. So alpha is ~45-50 µs of fixed cost per message through torch.distributed,
# and beta is ~370 GB/s one way. Half the peak needs messages of ~8 MiB. lab06's layer-by-layer KV handoff sends 0.5-32
# MiB per message for a 7B-like model and reaches 40-67% of this curve: the sender's host work per
# layer, not the link, sets its pace (course 06 §5).
#
# **Collectives** (every rank of a group takes part):
#
# | collective | before (rank r holds) | after | bytes sent per rank (ring, large N) | use |
# | --- | --- | --- | --- | --- |
# | all-reduce | `x_r` | `sum_r x_r` everywhere | `2 (p-1)/p N` | TP row-parallel output, gradients |
# | reduce-scatter | `x_r` | chunk r of the sum | `(p-1)/p N` | sequence parallelism, ZeRO |
# | all-gather | chunk `c_r` | all chunks in rank order | `(p-1)/p N` (N = gathered size) | sequence parallelism, gathering logits |
# | broadcast | root's `x` | `x` everywhere | `N` (pipelined) | weights, a request's tokens |
# | all-to-all | `p` pieces | piece r of every rank | `(p-1)/p N` | MoE token routing, Ulysses attention |
#
# all-reduce = reduce-scatter + all-gather. Run all four on 4 gloo ranks:

# %%
def collectives_tour():
    r, p = dist.get_rank(), dist.get_world_size()
    x = torch.arange(4.0) + 10 * r
    ar = x.clone()
    dist.all_reduce(ar)
    ag = [torch.empty(4) for _ in range(p)]
    dist.all_gather(ag, x)
    rs = torch.empty(1)
    dist.reduce_scatter_tensor(rs, x.clone()) if hasattr(dist, "reduce_scatter_tensor") else None
    b = x.clone()
    dist.broadcast(b, src=0)
    return {"x": x.tolist(), "all_reduce": ar.tolist(), "reduce_scatter": rs.tolist(),
            "broadcast": b.tolist(), "all_gather[rank 3]": ag[3].tolist()}


import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
for r, o in enumerate(launch(collectives_tour, 4)):
    print(r, o)

# %% [markdown]
# ## 5 · Algorithms and the alpha-beta cost model · 算法与 α-β 代价模型
#
# A message of `n` bytes costs `alpha + n beta` (`alpha`: software + wire latency, µs;
# `beta = 1 / bandwidth`). For an all-reduce of `N` bytes on `p` ranks:
#
# | algorithm | steps | time | good for |
# | --- | --- | --- | --- |
# | **ring** | `2 (p-1)` | `2 (p-1) alpha + 2 (p-1)/p N beta` | large messages: bandwidth-optimal |
# | **recursive doubling** (p = 2^k) | `log2 p` | `log2 p (alpha + N beta)` | tiny messages: fewest steps |
# | **recursive halving-doubling** (Rabenseifner) | `2 log2 p` | `2 log2 p alpha + 2 (p-1)/p N beta` | both (power of two) |
# | **tree** (NCCL double binary tree, pipelined) | `~2 log2 p` + pipeline | `~2 log2 p alpha + 2 N beta` (two trees, each half the data) | many nodes: latency grows as log p |
#
# The ring's bandwidth term `2 (p-1)/p N beta` is the lower bound for any all-reduce: each rank must
# send and receive almost all of N (as partial sums, then as results). Its latency term grows
# linearly in p, which is why NCCL switches to trees across many nodes. NCCL reports **bus
# bandwidth** `busbw = algbw · 2 (p-1)/p` with `algbw = N / time`: busbw is comparable to the link's
# speed whatever p is.

# %%
def t_ring(n, p, a, b):
    return 0.0 if p == 1 else 2 * (p - 1) * a + 2 * (p - 1) / p * n * b


def t_rd(n, p, a, b):
    return math.log2(p) * (a + n * b)


def t_tree(n, p, a, b):
    return 2 * math.log2(p) * a + 2 * n * b  # pipelined double binary tree, first-order


def t_rhd(n, p, a, b):
    return 2 * math.log2(p) * a + 2 * (p - 1) / p * n * b


sizes = [2**k for k in range(8, 31)]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, (name, p, a, bw) in zip(axes, (("8 GPUs on NVLink (alpha 3 µs, 360 GB/s)", 8, 3e-6, 360e9),
                                       ("64 nodes on InfiniBand NDR (alpha 8 µs, 50 GB/s)", 64, 8e-6, 50e9))):
    for label, fn in (("ring", t_ring), ("recursive doubling", t_rd), ("tree", t_tree), ("halving-doubling", t_rhd)):
        ax.loglog(sizes, [fn(n, p, a, 1 / bw) * 1e6 for n in sizes], label=label)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("all-reduce time (µs)")
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The model's bus bandwidth beside a measurement: 2 × NVIDIA H200 (18 NVLink 4 links between them),
# float32 all-reduce, median of back-to-back calls, slowest rank (`benchmarks/lab05_bench.py`,
# section 13 has the table). "ring" is the lab's reference `ring_all_reduce` (isend/irecv from
# Python), "NCCL" is `dist.all_reduce`, timed in the same run.

# %%
# Measured on 2 x NVIDIA H200, torch 2.11 + NCCL 2.28.9 (solutions/lab05/NOTES.md):
# size (MiB) -> busbw GB/s of the Python ring (as called), the ring's GPU work alone, and NCCL.
H200X2_BUSBW = {
    1: (4.9, 26.7, 27.3), 2: (13.7, 58.4, 57.2), 4: (25.2, 92.7, 106.8), 8: (48.5, 131.5, 168.9),
    16: (96.5, 156.5, 215.9), 32: (161.0, 173.4, 240.9), 64: (218.1, 219.6, 267.2),
    128: (245.2, 236.9, 285.1), 256: (263.0, 258.5, 300.4), 512: (276.3, 274.9, 316.0),
    1024: (314.5, 315.6, 329.4),
}
measured = [m * 2**20 for m in H200X2_BUSBW]
fig, ax = plt.subplots(figsize=(7, 4.5))
for p in (2, 4, 8):
    busbw = [2 * (p - 1) / p * n / t_ring(n, p, 3e-6, 1 / 360e9) / 1e9 for n in sizes]
    ax.semilogx(sizes, busbw, lw=1, alpha=0.6, label=f"model ring, p = {p} (alpha 3 µs, 360 GB/s)")
# the Python ring pays ~70 µs of host work per step: the same model with that alpha, p = 2
ax.semilogx(sizes, [n / t_ring(n, 2, 70e-6, 1 / 360e9) / 1e9 for n in sizes], "k:", lw=1,
            label="model ring, p = 2, alpha 70 µs")
for i, (label, style) in enumerate((("measured: ring (lab05 reference)", "o-"),
                                    ("measured: ring, GPU work alone", "s--"),
                                    ("measured: NCCL all_reduce", "^-"))):
    ax.semilogx(measured, [v[i] for v in H200X2_BUSBW.values()], style, ms=4, label=label)
ax.axhline(360, ls="--", c="gray", label="link bandwidth (model)")
ax.set_xlabel("message size (bytes)")
ax.set_ylabel("bus bandwidth (GB/s)")
ax.set_title("busbw approaches the link speed only for large messages (2 x H200 measured)", fontsize=10)
ax.legend(fontsize=7)
plt.show()
for mib, (ring, gpu, nccl) in H200X2_BUSBW.items():
    if mib in (1, 16, 256, 1024):
        print(f"{mib:5d} MiB: ring {ring:6.1f} GB/s = {ring / nccl:4.0%} of NCCL ({nccl:.1f}); GPU work alone {gpu / nccl:4.0%}")

# %% [markdown]
# ## 6 · A ring all-reduce, step by step · 环形 All-Reduce 逐步演示
#
# Each rank's tensor is cut into `p` chunks. Reduce-scatter: at step s, rank r sends chunk
# `r - s - 1` to rank `r + 1`, which adds it to its own copy. After `p - 1` steps rank r owns the
# full sum of chunk r. All-gather: `p - 1` more steps pass the finished chunks around. A cell shows
# how many ranks' contributions that copy of the chunk holds (p = complete); arrows are the
# messages of that step. Move the slider (a static rendering of every step follows).

# %%
def ring_allreduce_steps(p):
    """[(title, counts[p ranks][p chunks], [(src, dst, chunk)])] for every step of a ring all-reduce."""
    have = [[{r} for _ in range(p)] for r in range(p)]  # have[r][c]: ranks summed into rank r's chunk c
    steps = [("start: every rank holds its own tensor", [[len(c) for c in row] for row in have], [])]
    for s in range(p - 1):
        msgs = [(r, (r + 1) % p, (r - s - 1) % p) for r in range(p)]
        new = [[set(c) for c in row] for row in have]
        for src, dst, c in msgs:
            new[dst][c] |= have[src][c]
        have = new
        steps.append((f"reduce-scatter step {s + 1}", [[len(c) for c in row] for row in have], msgs))
    for s in range(p - 1):
        msgs = [(r, (r + 1) % p, (r - s) % p) for r in range(p)]
        new = [[set(c) for c in row] for row in have]
        for src, dst, c in msgs:
            new[dst][c] = set(have[src][c])
        have = new
        steps.append((f"all-gather step {s + 1}", [[len(c) for c in row] for row in have], msgs))
    return steps


def draw_ring_step(ax, step, p):
    title, counts, msgs = step
    ax.imshow(torch.tensor(counts), cmap="Blues", vmin=0, vmax=p)
    for r in range(p):
        for c in range(p):
            ax.text(c, r, counts[r][c], ha="center", va="center", color="black" if counts[r][c] < p else "white")
    for src, dst, c in msgs:
        ax.annotate("", xy=(c + 0.3, dst), xytext=(c + 0.3, src),
                    arrowprops=dict(arrowstyle="->", color="crimson", lw=1.5,
                                    connectionstyle="arc3,rad=0.3" if dst < src else "arc3,rad=-0.3"))
    ax.set_xticks(range(p), [f"chunk {c}" for c in range(p)], fontsize=7)
    ax.set_yticks(range(p), [f"rank {r}" for r in range(p)], fontsize=7)
    ax.set_title(title, fontsize=9)


P_RING = 4
RING_STEPS = ring_allreduce_steps(P_RING)


def show_ring_step(step=0):
    fig, ax = plt.subplots(figsize=(4, 4))
    draw_ring_step(ax, RING_STEPS[step], P_RING)
    plt.show()


widgets.interact(show_ring_step, step=widgets.IntSlider(min=0, max=len(RING_STEPS) - 1, value=0,
                                                        description="step"));

# %%
fig, axes = plt.subplots(1, len(RING_STEPS), figsize=(3 * len(RING_STEPS), 3.4))
for ax, step in zip(axes, RING_STEPS):
    draw_ring_step(ax, step, P_RING)
plt.tight_layout()
plt.show()
print(f"{2 * (P_RING - 1)} steps; each rank sent {2 * (P_RING - 1)} chunks of N/{P_RING}: "
      f"{2 * (P_RING - 1) / P_RING:.2f} N bytes")

# %% [markdown]
# ## 7 · The links: NVLink, InfiniBand, Ethernet · 互连：NVLink、InfiniBand、以太网
#
# | link | bandwidth | latency (order) | notes |
# | --- | --- | --- | --- |
# | NVLink 4 (H100 SXM) | 18 links × 50 GB/s = **900 GB/s bidirectional per GPU** (450 GB/s each way) | ~2-3 µs through NCCL | all 8 GPUs of an HGX node meet at NVSwitch: any pair at full speed |
# | NVLink 5 (B200) | 1.8 TB/s bidirectional per GPU | | NVL72: 72 GPUs in one NVLink domain |
# | PCIe Gen5 x16 | ~64 GB/s each way | ~1 µs + copies | GPUs without NVLink talk through the CPU's root complex |
# | InfiniBand NDR | **400 Gb/s = 50 GB/s per port** (XDR: 800 Gb/s) | ~1 µs wire, ~5-10 µs through NCCL | one NIC per GPU ("rail"), GPUDirect RDMA; lossless, credit-based flow control, in-network reduction (SHARP) |
# | Ethernet RoCEv2 | 100/200/400 GbE per port | a few µs, more under congestion | RDMA over Ethernet; needs PFC/ECN tuning to be lossless; cheaper, common in clouds |
# | TCP Ethernet | 10-100 Gb/s | tens of µs | gloo here; good for control messages, not for TP |
#
# A node's 8 GPUs share ~7.2 TB/s of NVLink bandwidth; its 8 NDR NICs give 400 GB/s to the
# rest of the cluster: **~18x less**. That ratio decides the layout of a model.

# %%
LINKS = {"NVLink4 (per direction)": (450e9, 3e-6), "PCIe Gen5 x16": (64e9, 5e-6),
         "InfiniBand NDR": (50e9, 8e-6), "RoCE 200 GbE": (25e9, 10e-6), "TCP 25 GbE": (3.1e9, 30e-6)}
N_LAYER = 2 * 4096 * 2 * 8  # one decode step: 8 tokens x d 4096 x bf16, per all-reduce
print(f"TP=8 all-reduce of {N_LAYER} B (8 decode tokens, d = 4096, bf16), 2 per layer x 80 layers:")
for name, (bw, a) in LINKS.items():
    t = t_ring(N_LAYER, 8, a, 1 / bw)
    print(f"  {name:24} {t * 1e6:8.1f} µs per all-reduce -> {160 * t * 1e3:7.2f} ms per token")

# %% [markdown]
# Decode all-reduces are tiny: latency (`2 (p-1) alpha`), not bandwidth, dominates — which is why
# TP stays inside an NVLink domain, NCCL uses low-latency protocols (LL, LL128) for small
# messages, and engines fuse the all-reduce with the following RMSNorm (custom one-shot
# all-reduce kernels that read peers' buffers directly over NVLink).
#
# ## 8 · Topologies and topology-aware placement · 网络拓扑与拓扑感知
#
# - **ring**: every rank talks to two neighbours; bandwidth-optimal, latency `O(p)`; NCCL builds
#   rings over NVLink inside a node and over the NICs across nodes.
# - **tree**: `O(log p)` latency; NCCL's double binary tree uses every link in both directions.
# - **fat-tree (Clos)** switch fabric: leaf and spine switches with as much bandwidth up as down
#   (non-blocking): any permutation at full speed. **Rail-optimised**: GPU i of every node hangs off
#   leaf switch i, so the same-index GPUs (which talk in a ring all-reduce) are one hop apart.
# - **torus / dragonfly** (TPU pods, some HPC): neighbours cheap, far ranks expensive.
#
# **Placement**: put the chattiest group on the fastest links: TP within a node (NVLink), PP or
# data replicas across nodes; experts of an MoE layer spread so the all-to-all stays balanced;
# keep a job's nodes under the same leaf switches. **Hierarchical all-reduce** on `n` nodes of `g`
# GPUs: reduce-scatter inside each node (NVLink), all-reduce `1/g` of the data across nodes (IB),
# all-gather inside the node. Across the slow links only `N/g` bytes move per GPU:

# %%
def t_hierarchical(n, nodes, g, a_in, b_in, a_out, b_out):
    rs = (g - 1) * a_in + (g - 1) / g * n * b_in                 # intra-node reduce-scatter
    ar = t_ring(n / g, nodes, a_out, b_out)                       # inter-node all-reduce of 1/g
    return 2 * rs + ar                                            # + intra-node all-gather (same cost)


nodes, g = 8, 8
for n in (2**20, 2**26, 2**30):
    flat = t_ring(n, nodes * g, 8e-6, 1 / 50e9)  # one flat ring over all 64 GPUs: slowest link sets the pace
    hier = t_hierarchical(n, nodes, g, 3e-6, 1 / 450e9, 8e-6, 1 / 50e9)
    print(f"{n:>11} B: flat ring {flat * 1e3:8.3f} ms, hierarchical {hier * 1e3:8.3f} ms")

# %% [markdown]
# ## 9 · Overlapping communication with compute · 计算与通信重叠
#
# `dist.all_reduce(t, async_op=True)` returns a work handle at once; the transfer proceeds (on
# GPUs on NCCL's own stream) while the next computation runs; `handle.wait()` makes later work
# depend on it. Patterns: split a TP matmul into row chunks and all-reduce chunk i while chunk
# i+1 is computed (lab05 task 7); prefetch the next layer's all-gather (FSDP); send pipeline
# activations with `isend` while the stage starts its next micro-batch; overlap the KV-cache
# transfer of layer l with the prefill of layer l+1 (lab06). What must be managed: dependencies
# (wait before use), buffer lifetimes (do not overwrite a tensor that is still being sent), and
# contention (communication kernels take SMs and memory bandwidth from the compute). Ideal time
# = `max(compute, comm)` instead of `compute + comm`:

# %%
chunks = 4
comp, comm = 1.0, 0.6   # per chunk (arbitrary units)
fig, axes = plt.subplots(2, 1, figsize=(9, 2.8), sharex=True)
for i in range(chunks):
    axes[0].barh(1, comp, left=i * comp, color="#4C72B0")
    axes[0].barh(0, comm, left=chunks * comp + i * comm, color="#55A868")
    axes[1].barh(1, comp, left=i * comp, color="#4C72B0")
    axes[1].barh(0, comm, left=(i + 1) * comp, color="#55A868")
for ax, t in zip(axes, ("serial: compute, then all-reduce", "overlapped: all-reduce of chunk i during chunk i+1")):
    ax.set_yticks([0, 1], ["comm", "compute"])
    ax.set_title(t, fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# The measured version (2 gloo ranks on this CPU). Gloo's threads and the matmul share the same
# two cores here, so the gain is small or nothing; on GPUs the copy engines and NVLink work in
# parallel with the SMs.

# %%
def overlap_measure(M=256, K=512, N=512, chunks=4, repeats=3):
    r, p = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(r)
    x, w = torch.randn(M, K // p, generator=g), torch.randn(K // p, N, generator=g)

    def serial():
        out = x @ w
        dist.all_reduce(out)
        return out

    def overlapped():
        out = torch.empty(M, N)
        hs = []
        for rows in torch.tensor_split(torch.arange(M), chunks):
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            torch.matmul(x[lo:hi], w, out=out[lo:hi])
            hs.append(dist.all_reduce(out[lo:hi], async_op=True))
        for h in hs:
            h.wait()
        return out

    best = {}
    for name, fn in (("serial", serial), ("overlapped", overlapped)):
        ts = []
        for _ in range(repeats):
            dist.barrier()
            t0 = time.perf_counter()
            y = fn()
            ts.append(time.perf_counter() - t0)
        best[name] = (min(ts), y)
    return {k: v[0] for k, v in best.items()} | {"same": torch.allclose(best["serial"][1], best["overlapped"][1], atol=1e-3)}


for r, o in enumerate(launch(overlap_measure, 2)):
    print(f"rank {r}: serial {o['serial'] * 1e3:.2f} ms, overlapped {o['overlapped'] * 1e3:.2f} ms, same result {o['same']}")

# %% [markdown]
# ## 10 · Fusing small messages into buckets · 小消息融合
#
# Each message pays `alpha`; 100 messages of 4 KB cost `100 alpha + 400 KB · beta`, one fused
# 400 KB message `alpha + 400 KB · beta`. Bucketing (DDP's 25 MB buckets, NCCL's grouped calls,
# `all_reduce_coalesced`) copies small tensors into one flat buffer, communicates once, and
# copies back; the price is the copies and waiting for the bucket to fill. Measured on 2 gloo ranks:

# %%
def bucket_measure(n_tensors=64, numel=256):
    tensors = [torch.randn(numel) for _ in range(n_tensors)]
    dist.barrier()
    t0 = time.perf_counter()
    for t in tensors:
        dist.all_reduce(t)
    separate = time.perf_counter() - t0
    dist.barrier()
    t0 = time.perf_counter()
    flat = torch.cat(tensors)                    # one bucket
    dist.all_reduce(flat)
    for t, part in zip(tensors, flat.split(numel)):
        t.copy_(part)
    fused = time.perf_counter() - t0
    return separate, fused


sep, fused = launch(bucket_measure, 2)[0]
print(f"64 all-reduces of 1 KiB: {sep * 1e3:.2f} ms; one fused 64 KiB all-reduce: {fused * 1e3:.2f} ms "
      f"({sep / fused:.1f}x): the per-message latency alpha ~ {(sep - fused) / 63 * 1e6:.0f} µs here")

# %% [markdown]
# ## 11 · Compressing what is sent · 通信压缩
#
# Activations (TP, PP, KV transfer) and gradients can be sent in fewer bits. **int8 with a
# per-row scale** halves bf16 traffic; the error is about `scale / 2 = max|x| / 254` per element.
# For gradients (training), **error feedback** adds the quantisation error of step t to the
# tensor of step t+1, so errors do not accumulate: the *sum* over steps stays accurate.
# Activation compression at inference has no next step to carry the error to: it is judged by
# the model's output quality (perplexity, accuracy) and by whether quantise + dequantise kernels
# cost less than the bytes they save (they must be fused into the communication kernel to pay
# off; FP8 on Hopper has hardware support).

# %%
def quantize_int8(x):
    """Per-row absmax int8: (q int8, scale (rows, 1))."""
    scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12) / 127
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale


def dequantize_int8(q, scale):
    return q.float() * scale


x = torch.randn(64, 4096)
q, s = quantize_int8(x)
err = dequantize_int8(q, s) - x
print(f"int8 activations: {x.numel() * 2} B (bf16) -> {q.numel() + s.numel() * 2} B; "
      f"relative RMS error {err.pow(2).mean().sqrt() / x.pow(2).mean().sqrt():.2%}")

steps = 200
g_true = [torch.randn(4096) * 0.01 + 0.001 for _ in range(steps)]
plain, fb, residual = torch.zeros(4096), torch.zeros(4096), torch.zeros(4096)
err_plain, err_fb = [], []
exact = torch.zeros(4096)
for g in g_true:
    exact += g
    qp, sp = quantize_int8(g[None])
    plain += dequantize_int8(qp, sp)[0]
    corrected = g + residual                        # error feedback: add what was lost last time
    qf, sf = quantize_int8(corrected[None])
    sent = dequantize_int8(qf, sf)[0]
    residual = corrected - sent
    fb += sent
    err_plain.append((plain - exact).norm().item() / exact.norm().item())
    err_fb.append((fb - exact).norm().item() / exact.norm().item())
plt.figure(figsize=(6, 3.5))
plt.semilogy(err_plain, label="int8, no feedback")
plt.semilogy(err_fb, label="int8 + error feedback")
plt.xlabel("step")
plt.ylabel("relative error of the running sum")
plt.legend()
plt.title("Error feedback keeps the accumulated error from growing")
plt.show()

# %% [markdown]
# ## 12 · Sharing the network: QoS and bandwidth between jobs · QoS 与带宽共享
#
# Several jobs share NICs and switch ports. Without control, a bulk transfer (a checkpoint,
# KV-cache migration) halves the bandwidth of a latency-critical TP or PD-transfer flow.
# Tools: **priority queues / traffic classes** (InfiniBand service levels mapped to virtual
# lanes, DSCP classes on RoCE with ECN-based congestion control), **bandwidth reservation**
# (weighted fair sharing per class), **traffic shaping** (rate-limit bulk flows, token buckets),
# **placement** (do not put two communication-heavy jobs under the same leaf switch) and
# **admission control** (serve fewer requests rather than miss every SLO). Under weighted
# max-min fairness each flow gets its weight's share, and what one flow does not use is
# redistributed:

# %%
def weighted_max_min(capacity, demands, weights):
    """Rates of flows sharing one link: weighted max-min fair (water filling)."""
    rate = {f: 0.0 for f in demands}
    active = set(demands)
    left = capacity
    while active and left > 1e-12:
        share = left / sum(weights[f] for f in active)
        done = {f for f in active if demands[f] - rate[f] <= share * weights[f]}
        if not done:
            for f in active:
                rate[f] += share * weights[f]
            break
        for f in done:
            left -= demands[f] - rate[f]
            rate[f] = demands[f]
        active -= done
    return rate


cap = 50.0  # GB/s, one NDR port
demands = {"TP all-reduce (job A)": 30.0, "KV transfer (job B)": 40.0, "checkpoint (job C)": 50.0}
for w in ({"TP all-reduce (job A)": 1, "KV transfer (job B)": 1, "checkpoint (job C)": 1},
          {"TP all-reduce (job A)": 4, "KV transfer (job B)": 2, "checkpoint (job C)": 1}):
    rates = weighted_max_min(cap, demands, w)
    print("weights", list(w.values()), "->", {k: round(v, 1) for k, v in rates.items()})
    for k, v in rates.items():
        if k.startswith("TP"):
            print(f"   job A's 64 MiB all-reduce on 8 ranks: {t_ring(2**26, 8, 8e-6, 1 / (v * 1e9)) * 1e3:.2f} ms")

# %% [markdown]
# ## 13 · Measured on GPUs: NCCL bus bandwidth · GPU 实测：NCCL 总线带宽
#
# 2 × NVIDIA H200 (NV18), one process per GPU, torch 2.11.0 + NCCL 2.28.9, NVLS off
# (`PYTHONPATH=. python benchmarks/lab05_bench.py --variants`). busbw = 2(p-1)/p × bytes / time =
# bytes / time at p = 2. Both columns come from the same run: back-to-back calls timed with CUDA
# events, median, slowest rank. The ring is the lab's reference `ring_all_reduce`, called as
# you call it; NCCL is `dist.all_reduce`. The reference matched `torch.distributed` on every
# check: fp32 and bf16, odd sizes, `tp_mlp`.
#
# | GPUs (card) | size | ring (isend/irecv) busbw | NCCL all_reduce busbw | ring / NCCL | ring, GPU work alone / NCCL |
# | --- | --- | --- | --- | --- | --- |
# | 2 × H200 | 1 MiB | 4.9 GB/s | 27.3 GB/s | 18% | 56% |
# | 2 × H200 | 16 MiB | 96.5 GB/s | 215.9 GB/s | 45% | 72% |
# | 2 × H200 | 256 MiB | 263.0 GB/s | 300.4 GB/s | 88% | 88% |
# | 2 × H200 | 1 GiB | 314.5 GB/s | 329.4 GB/s | 95% | 95% |
#
# What the numbers say, in the alpha-beta model's terms:
# - **Large messages (bandwidth term)**: the Python ring gets within 5-13% of NCCL. Both move the
#   same `2 (p-1)/p N` bytes. NCCL adds inside its copy loop, while the ring runs a separate add
#   kernel that reads and writes HBM once more.
# - **Small messages (latency term)**: each ring step is a grouped `isend/irecv` that costs ~70 µs
#   of host work in torch.distributed (checks, bookkeeping, launch). NCCL's whole all-reduce is
#   one call of ~25 µs and one kernel. At 16 MiB the GPU work of the ring would take 0.107 ms
#   (72% of NCCL), but the call takes 0.17 ms, because the GPU waits for Python.
# - **Fixes tried** (NOTES.md of lab05): pipelining the chunks on two streams made it *worse*
#   (4× the host calls for a ~10% overlap); skipping the Python layer reached 67% at 16 MiB;
#   one step instead of two at p = 2 (recursive doubling: same bytes, half the latency term)
#   reached 81%. Production engines put the all-reduce into a CUDA graph or one fused kernel:
#   the latency term is where small-message collectives are won.
# - Not measured here: 8 GPUs. With NVSwitch and NVLS off, NCCL's busbw on 8 H100/H200 is
#   typically ~360-480 GB/s for large messages. The ring's latency term `2 (p-1) alpha` grows
#   with p, so the small-message gap widens.

# %% [markdown]
# ## 14 · Interview questions · 面试问题 (with model answers · 参考答案)
#
# **Q1. When do you use tensor parallelism and when pipeline parallelism in distributed LLM inference? · 在分布式大模型推理中，张量并行和流水线并行各自适用什么场景？**
# TP splits every weight matrix, so every GPU works on every token: it cuts per-token latency and
# spreads the weights and KV cache, but needs two all-reduces per layer on the critical path — use
# it inside an NVLink node (TP ≤ 8) and when latency matters. PP splits the layers: only activations
# of a micro-batch cross stage boundaries (point-to-point, small), so it scales across nodes on
# slower links and raises capacity and throughput, but does not speed up one token (it adds the
# stage hops) and needs many micro-batches (concurrent requests) to keep the bubble `(p-1)/(m+p-1)`
# small. Typical: TP within the node × PP across nodes; data-parallel replicas once a replica fits;
# EP for MoE.
# 张量并行切分每个权重矩阵，每张卡处理每个 token：降低单 token 延迟、分摊权重和 KV cache，但每层有两次处于关键路径上的
# all-reduce，适合放在 NVLink 节点内（TP≤8）、延迟敏感的场景。流水线并行按层切分，阶段间只点对点传激活，通信量小，适合跨节点、
# 带宽较低的链路，提升容量和吞吐，但不降低单 token 延迟，且需要足够多的微批次（并发请求）来缩小气泡 (p−1)/(m+p−1)。
# 常见组合：节点内 TP × 节点间 PP，能放下后用数据并行副本扩展，MoE 用专家并行。
#
# **Q2. How do you choose communication patterns to minimise the latency of distributed inference? · 如何选择合适的通信模式来最小化分布式推理的延迟？**
# Start from the alpha-beta model: small messages (decode activations, a few KB) are latency-bound —
# use few steps (tree, recursive doubling, one-shot all-reduce reading peers over NVLink, NCCL LL
# protocols), fuse the all-reduce with the next norm, and keep the group on NVLink. Large messages
# (prefill, KV transfer) are bandwidth-bound — ring or reduce-scatter + all-gather, hierarchical across
# nodes, pipelined in chunks. Prefer point-to-point where the data has one consumer (pipeline stages,
# prefill→decode KV). Avoid communication where the math allows (column then row parallel: one
# all-reduce per block), and overlap what remains with compute.
# 用 α-β 模型判断：小消息（decode 阶段几 KB）受延迟限制，选步数少的算法（树、递归倍增、通过 NVLink 直接读对端的 one-shot
# all-reduce、NCCL LL 协议），与后续 norm 融合，通信组放在 NVLink 域内；大消息（prefill、KV 传输）受带宽限制，用环或
# reduce-scatter+all-gather，跨节点分层，分块流水。单一接收方时用点对点；利用列并行+行并行减少通信次数，剩余通信与计算重叠。
#
# **Q3. What are the key factors when designing a distributed inference architecture? · 分布式推理架构设计时需要考虑哪些关键因素？**
# Memory (weights + KV cache per GPU at the target batch and context), the latency SLOs (TTFT, TPOT)
# versus throughput, the interconnect hierarchy (NVLink domain size, NICs per GPU, fabric), the model's
# shape (heads divisible by TP, KV heads for GQA, MoE experts), the communication volume and whether it
# can be overlapped, load balance (equal pipeline stages, expert routing), prefill/decode
# disaggregation, fault tolerance (a failed GPU takes down its TP group), and cost per token.
# 显存（目标 batch 与上下文下每卡的权重+KV cache）、延迟 SLO（TTFT、TPOT）与吞吐的权衡、互连层级（NVLink 域大小、每卡网卡数、
# 网络拓扑）、模型结构（头数能否被 TP 整除、GQA 的 KV 头、MoE 专家）、通信量及能否重叠、负载均衡（流水线阶段均衡、专家路由）、
# PD 分离、容错（一张卡故障会拖垮整个 TP 组）以及每 token 成本。
#
# **Q4. How do you overlap computation and communication to speed up distributed inference? · 如何实现计算与通信的重叠来提升分布式推理效率？**
# Issue communication asynchronously (NCCL on its own CUDA stream, `async_op=True` handles, events
# for dependencies) and give the GPU independent work meanwhile: split a matmul into chunks and
# all-reduce chunk i during chunk i+1 (or fuse GEMM + reduce-scatter in one kernel), overlap
# micro-batches (two batches ping-pong: one computes while the other communicates, as in
# DeepSeek's EP), send KV layer by layer during prefill, prefetch weights or all-gathers a layer
# ahead. Manage buffers (double buffering, never overwrite in-flight data) and SM contention
# (communication kernels occupy SMs; copy engines or NVLink SHARP reduce it).
# 通信异步发起（NCCL 独立 CUDA 流、async_op 句柄、事件管理依赖），同时安排独立的计算：矩阵乘分块，第 i 块的 all-reduce 与第
# i+1 块的计算重叠（或 GEMM 与 reduce-scatter 融合成一个 kernel）；两个微批次交替计算与通信（如 DeepSeek 的 EP）；prefill 时逐层
# 发送 KV；提前一层预取权重或 all-gather。注意缓冲区管理（双缓冲，不覆盖传输中的数据）和 SM 争用。
#
# **Q5. Where is communication compression used in LLM inference, and how well does it work? · 通信压缩技术在大模型推理中有哪些应用？效果如何？**
# TP all-reduce activations in FP8/int8 (halves bytes; useful on PCIe or cross-node TP where bandwidth
# binds, little gain on NVLink for small decode messages where latency binds), KV-cache transfer in
# PD disaggregation in FP8/int8 (the cache is often stored quantised anyway), MoE all-to-all dispatch
# in FP8 (DeepSeek-V3). Quality: per-channel or per-block scales keep the error near 0.5-1% relative;
# check perplexity and task accuracy. Costs: quantise/dequantise kernels must be fused or they eat the
# saving; error feedback applies to training gradients, not to one-shot activations.
# TP 的激活 all-reduce 用 FP8/int8（字节减半，在 PCIe 或跨节点带宽受限时有效，NVLink 上小消息受延迟限制收益小）；PD 分离中 KV
# cache 传输用 FP8/int8；MoE all-to-all 分发用 FP8（DeepSeek-V3）。按通道/分块缩放，相对误差约 0.5–1%，需用困惑度和任务精度验证；
# 量化/反量化需与通信融合才划算；误差反馈用于训练梯度，不适用于一次性的激活。
#
# **Q6. What do you consider when designing a communication scheduling algorithm? · 设计通信调度算法时需要考虑哪些因素？**
# Dependencies (what the next compute needs first: schedule in consumption order), message sizes
# (bucket small ones, split large ones to pipeline), priorities (critical-path TP/PP traffic before
# bulk transfers), overlap opportunities and SM/stream contention, topology (which links each message
# crosses, avoid hot spots), fairness and deadlock freedom (consistent ordering of collectives on every
# rank), and memory for buffers.
# 依赖关系（按计算消费顺序调度）、消息大小（小消息合并、大消息切分流水）、优先级（关键路径的 TP/PP 通信先于批量传输）、
# 重叠机会与 SM/流争用、拓扑（消息经过哪些链路、避免热点）、公平性与无死锁（各 rank 集合通信顺序一致）、缓冲区内存。
#
# **Q7. How do network topologies affect distributed LLM inference performance? · 不同网络拓扑对分布式大模型推理性能有什么影响？**
# A fully connected NVSwitch node gives every pair full bandwidth: TP and all-to-all are cheap there.
# Across nodes, a non-blocking fat-tree (rail-optimised) lets rings and trees run at NIC speed;
# oversubscribed fabrics make all-to-all (MoE) and simultaneous jobs contend. Rings suffer linear
# latency in p; trees and hierarchical algorithms suit many nodes. The NVLink/IB bandwidth gap (~18x)
# decides placement: TP inside the NVLink domain, PP/DP/EP across, ranks mapped to minimise hops.
# NVSwitch 节点内全互联，任意两卡满带宽，TP 和 all-to-all 代价低；跨节点时非阻塞胖树（rail 优化）让环和树以网卡速度运行，
# 超订的网络会让 MoE 的 all-to-all 和多作业互相争用。环的延迟随 p 线性增长，节点多时用树或分层算法。NVLink 与 IB 约 18 倍的
# 带宽差决定放置：TP 在 NVLink 域内，PP/DP/EP 跨节点，按拓扑映射 rank 以减少跳数。
#
# **Q8. How do you manage bandwidth when several inference services share the network? · 如何设计带宽管理策略来优化多任务并发的推理服务？**
# Classify traffic (latency-critical TP/PP and KV transfers vs bulk checkpoints and model loading),
# map classes to priority queues (IB service levels / virtual lanes, RoCE DSCP + ECN), reserve
# weighted shares so critical flows keep a guaranteed rate (weighted max-min fairness), shape and
# rate-limit bulk flows, monitor per-job traffic and adapt weights, place jobs to avoid sharing hot
# links, and admit load only up to what keeps the SLOs.
# 流量分类（关键路径的 TP/PP、KV 传输 vs 检查点、模型加载等批量流量），映射到优先级队列（IB SL/VL、RoCE DSCP+ECN），为关键流
# 预留加权份额（加权最大最小公平），对批量流量整形限速，实时监控并自适应调整权重，作业放置时避开共享热点链路，按 SLO 做准入控制。
#
# **Q9. How do you keep inference fast when network resources are limited? · 在网络资源受限的环境下，如何保证推理服务的性能？**
# Communicate less: fit the model in fewer GPUs (quantised weights, smaller TP), prefer PP or
# replicas over cross-node TP, keep TP on NVLink; send fewer bytes (FP8/int8 activations and KV,
# GQA/MLA shrink the KV cache); hide what remains (overlap, bucketing, micro-batch ping-pong);
# route requests to where their KV cache already is (prefix-aware scheduling) instead of moving it;
# and protect the critical flows with QoS.
# 减少通信：用更少的卡放下模型（权重量化、减小 TP），跨节点优先 PP 或副本而不是 TP，TP 留在 NVLink 内；减少字节（FP8/int8
# 激活与 KV，GQA/MLA 缩小 KV cache）；把剩余通信隐藏起来（重叠、合并、微批次交替）；把请求路由到已有其 KV cache 的节点而不是迁移；
# 用 QoS 保护关键流量。
