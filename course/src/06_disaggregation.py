# %% [markdown]
# # 06 · Prefill/decode disaggregation · PD 分离与系统架构优化 (syllabus §6)
#
# A request has two phases with opposite appetites. **Prefill** runs the whole prompt at once:
# big matmuls, compute-bound. **Decode** makes one token per step for each sequence: small
# matmuls that re-read every weight and the whole KV cache, bandwidth-bound. Serving both on the
# same GPU makes them fight: a long prefill stalls every decode of the batch. Disaggregation
# (DistServe, Splitwise, Mooncake, vLLM/SGLang/Dynamo's P/D mode) gives each phase its own
# workers and moves the KV cache between them. This notebook: why, what it costs, when it pays,
# and how to build it so that nothing is lost when the transfer goes wrong.
#
# Letters: `L` layers, `H_kv` KV heads, `D` head dim, `n` prompt tokens, `B` batch, `P`/`D`
# prefill/decode workers (in prose), `alpha` link latency, `B_link` bandwidth. Lab: `labs/lab06`.

# %%
import math
import time

import inferlab  # noqa: F401 - first, as in every notebook
import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.distributed as dist
from IPython.display import display

from inferlab import disagg_sim, models
from inferlab.launch import launch

torch.manual_seed(0)

# %% [markdown]
# ## 1 · Two phases on the roofline · Prefill 与 Decode 的计算特性
#
# Per token, a dense decoder does about `2 · params` FLOPs. Prefill of `n` tokens reads the
# weights once for all `n` tokens: arithmetic intensity ≈ `n` FLOPs per weight byte (fp16: `2n / 2`).
# Decode with batch `B` reads every weight (and each sequence's KV) per step for `B` tokens:
# intensity ≈ `B`. An H100 (989 TFLOP/s bf16, 3.35 TB/s) balances at ~295 FLOPs/byte: a prefill of
# a few hundred tokens is compute-bound, decode at any practical batch is bandwidth-bound.

# %%
H100 = {"flops": 989e12, "bw": 3.35e12}
cfg = models.load("target").config
course_params = sum(p.numel() for p in models.load("target").parameters())
MODELS = {  # name: (params, layers, kv heads, head dim, bytes per value)
    "course model (fp32)": (course_params, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, 4),
    "Llama-2-7B (fp16, MHA)": (6.7e9, 32, 32, 128, 2),
    "Llama-3-70B (fp16, GQA 8)": (70.6e9, 80, 8, 128, 2),
}


def phase_times(params, L, hkv, d, nbytes, n_prompt=2048, batch=32, ctx=2048, hw=H100):
    """Roofline time of one prefill of n_prompt tokens and one decode step of `batch` sequences."""
    w_bytes = params * nbytes
    kv_per_tok = 2 * L * hkv * d * nbytes
    pre_flops, pre_bytes = 2 * params * n_prompt, w_bytes + kv_per_tok * n_prompt
    dec_flops, dec_bytes = 2 * params * batch, w_bytes + kv_per_tok * ctx * batch
    t = lambda f, b: max(f / hw["flops"], b / hw["bw"])  # noqa: E731
    return {"kv/token": kv_per_tok, "prefill": t(pre_flops, pre_bytes), "prefill AI": pre_flops / pre_bytes,
            "decode": t(dec_flops, dec_bytes), "decode AI": dec_flops / dec_bytes}


for name, spec in MODELS.items():
    r = phase_times(*spec)
    print(f"{name:28} KV {r['kv/token'] / 1024:7.1f} KiB/token | prefill 2048 tok: {r['prefill'] * 1e3:8.3f} ms "
          f"(AI {r['prefill AI']:6.0f}) | decode step B=32 ctx 2048: {r['decode'] * 1e3:7.3f} ms (AI {r['decode AI']:5.1f})")
print(f"H100 ridge point: {H100['flops'] / H100['bw']:.0f} FLOPs/byte")

# %% [markdown]
# Read the table: the 70B prefill sits far right of the ridge (compute-bound, ~300 ms for 2048
# tokens on one GPU at peak), its decode step far left (bandwidth-bound: weights + KV). The
# course model is so small that everything is overhead-bound on a CPU — which is why the lab
# *counts* work and bytes rather than timing them.
#
# ## 2 · Interference: one prefill stalls the batch · 混合部署的相互干扰
#
# In a colocated engine with continuous batching, a step that admits a 2000-token prefill takes
# as long as that prefill; every running decode waits, so their TPOT spikes. Chunked prefill
# (Sarathi-Serve) cuts the prompt into chunks of `chunk_size` tokens mixed with decodes: smaller
# spikes, but every decode step still carries prefill work, and TTFT grows with the number of
# chunks. The simulator below (costs calibrated on the course model, `inferlab.disagg_sim`)
# shows the token gaps of one long decode while long prompts arrive.

# %%
costs = disagg_sim.COURSE_COSTS
probe = [disagg_sim.Request(0.0, 64, 60)] + [disagg_sim.Request(0.3 + 0.4 * i, 448, 2) for i in range(4)]
fig, ax = plt.subplots(figsize=(8, 3))
for label, plan in (("colocated, chunk 2048", {"mode": "colocated", "num_workers": 1, "chunk_size": 2048}),
                    ("colocated, chunk 128", {"mode": "colocated", "num_workers": 1, "chunk_size": 128}),
                    ("1 prefill + 1 decode", {"mode": "disaggregated", "num_prefill": 1, "num_decode": 1,
                                              "chunk_size": 2048})):
    t = disagg_sim.simulate(probe, plan)[0]["token_times"]
    ax.plot(t[1:], [1e3 * (b - a) for a, b in zip(t, t[1:])], marker=".", label=label)
ax.set_xlabel("time (s)")
ax.set_ylabel("gap between tokens (ms)")
ax.set_title("one decoding request while 448-token prompts arrive")
ax.legend()
plt.show()

# %% [markdown]
# ## 3 · Goodput under SLOs, and DistServe's argument · 有效吞吐与 SLO
#
# Users feel **TTFT** (time to first token) and **TPOT** (time per output token). A service
# promises SLOs on both (e.g. TTFT ≤ 0.4 s, TPOT ≤ 0.04 s at P90). **Goodput** = requests per
# second that meet both — throughput that violates the SLO is worth nothing.
#
# DistServe (OSDI '24) Fig. 1: a 13B model on A100s, one GPU colocated sustains **1.6 req/s**
# within the SLOs; a prefill-only GPU sustains 5.6 req/s of prefill and a decode-only GPU 10 req/s
# of decode. With **2 prefill + 1 decode GPUs** the system serves **10 req/s: 3.3 req/s per GPU,
# 2× the colocated 1.6** — because each phase gets its own parallelism and batch policy, and no
# prefill ever stalls a decode. The split (2:1 here) follows the workload: long prompts and short
# outputs want more prefill, chatty outputs more decode.
#
# ## 4 · The systems · Splitwise, Mooncake, vLLM
#
# - **Splitwise** (ISCA '24, Microsoft): prompt and token phases on different machine pools — even
#   different GPU generations (H100 for prompts, cheaper/older A100 for tokens: decode needs
#   bandwidth and memory, not FLOPs); KV moved layer by layer over InfiniBand, overlapped with the
#   prompt's compute; a mixed pool absorbs bursts.
# - **Mooncake** (Kimi, FAST '25 best paper): KV-cache-centric. Prefill and decode pools plus a
#   disaggregated **KV pool in CPU DRAM and SSD** across the cluster (RDMA transfer engine); the
#   scheduler (Conductor) places requests where their prefix KV already lives; under overload it
#   **rejects early** — before spending prefill on a request whose decode would miss its SLO.
# - **vLLM**'s disaggregated prefill: a `KVConnector` with a **scheduler-side** half (does this
#   request have external KV? how many tokens can be loaded? allocate blocks and mark it waiting
#   for the transfer) and a **worker-side** half (start loading/saving KV layer by layer, wait for
#   a layer before its attention runs). Implementations: NIXL (UCX/RDMA), LMCache, P2P NCCL,
#   Mooncake. vLLM's own documentation warns: **disaggregation does not improve throughput**; it
#   lets you tune TTFT and inter-token latency separately and controls tail ITL.
#
# ## 5 · What the KV handoff costs · KV Cache 传输代价
#
# Bytes = `2 · L · H_kv · D · n · bytes`. Sent whole after the prefill, the transfer adds
# `alpha + bytes / B_link` to the time before decoding can start. Sent layer by layer while the
# next layers compute, it adds only `max(t, L t − (L−1) c)` with `t` one layer's message and `c`
# one layer's compute (lab06 task 2): on a fast link, one layer's worth.

# %%
LINKS = {"NVLink 4 (per GPU)": (3e-6, 450e9), "InfiniBand NDR 400G": (5e-6, 50e9), "PCIe 5 x16": (5e-6, 64e9),
         "RoCE 100 GbE": (10e-6, 12.5e9), "Ethernet 10 GbE": (30e-6, 1.25e9)}


def transfer(kv_bytes, alpha, bw, L=1, prefill=0.0):
    t = alpha + kv_bytes / (L * bw)
    c = prefill / L
    return max(t, L * t - (L - 1) * c)


for name, spec in list(MODELS.items())[1:]:
    params, L, hkv, d, nb = spec
    n = 4096
    kv = 2 * L * hkv * d * nb * n
    pre = phase_times(*spec, n_prompt=n)["prefill"]
    print(f"{name}: {n}-token prompt, {kv / 2**20:.0f} MiB of KV, prefill ≈ {pre * 1e3:.0f} ms (one H100)")
    for link, (a, bw) in LINKS.items():
        print(f"   {link:22} whole {transfer(kv, a, bw) * 1e3:8.2f} ms   layer by layer "
              f"{transfer(kv, a, bw, L, pre) * 1e3:8.2f} ms")

# %% [markdown]
# GQA matters (70B: 8 KV heads → 320 KiB/token; an MHA 7B: 512 KiB/token). Over NVLink or
# InfiniBand the layer-wise handoff hides behind the prefill; over 10 GbE it dominates TTFT.
#
# **Measured on 2 × NVIDIA H200** (NVLink 4 ×18 between the pair, one process per GPU, torch 2.11 +
# NCCL 2.28.9, NVLS off; `benchmarks/lab06_bench.py`, solutions/lab06/NOTES.md). The gray curve is
# NCCL's own `send`/`recv`, timed on the GPU, messages back to back. The points are lab06's handoff
# code (`block_checksums` to CPU + `_send_layer` per layer, the decode side's staging receives and
# checksum verification), timed at the send. The KV is synthetic and 7B-like: 32 layers × 8 KV heads
# × 128, bf16, prompts of 128-8192 tokens. The star is the course model inside `run_disaggregated`:
# a median layer message of ~117 KiB.

# %%
P2P_H200X2 = {  # message bytes: GB/s, NCCL send/recv GPU 0 -> GPU 1, GPU-timed (median of 10)
    2**15: 0.59, 2**16: 1.46, 2**17: 2.28, 2**18: 5.73, 2**19: 10.7, 2**20: 22.9, 2**21: 46.2, 2**22: 89.0,
    2**23: 153, 2**24: 251, 2**25: 317, 2**26: 333, 2**27: 350, 2**28: 359, 2**29: 369, 2**30: 371}
HANDOFF_7B = {  # prompt tokens: (layer message bytes, handoff GB/s while sending, request bytes / request span GB/s)
    128: (2**19, 4.7, 1.9), 512: (2**21, 18.0, 7.3), 2048: (2**23, 71.9, 28.6), 8192: (2**25, 212, 93.7)}
COURSE_IN_RUN = (117 * 2**10, 0.63)  # course model in run_disaggregated: median message bytes, GB/s

fig, ax = plt.subplots(figsize=(8, 3.4))
ax.loglog(list(P2P_H200X2), list(P2P_H200X2.values()), "-", color="gray", label="NCCL send/recv (peak)")
xs = [v[0] for v in HANDOFF_7B.values()]
ax.loglog(xs, [v[1] for v in HANDOFF_7B.values()], "o-", label="lab06 handoff, per layer message (7B-like KV)")
ax.loglog(xs, [v[2] for v in HANDOFF_7B.values()], "s--",
          label="same, whole request: bytes / span (x-axis: layer size)")
ax.loglog(*COURSE_IN_RUN, "*", ms=12, label="course model inside run_disaggregated")
for n, (x, bw, _) in HANDOFF_7B.items():
    ax.annotate(f"{n} tok", (x, bw), textcoords="offset points", xytext=(4, -11), fontsize=7)
ax.set_xlabel("message bytes (one layer's KV)")
ax.set_ylabel("GB/s")
ax.set_title("KV handoff vs the link, 2 x H200 (measured)", fontsize=10)
ax.legend(fontsize=7)
plt.tight_layout()
plt.show()
for n, (x, bw, req) in HANDOFF_7B.items():
    print(f"{n:5} tokens: {x / 2**20:5.1f} MiB a layer, handoff {bw:6.1f} GB/s = {bw / P2P_H200X2[x]:4.0%} of NCCL "
          f"at that size; whole request {32 * x / 2**20:6.0f} MiB in {32 * x / req / 1e6:5.1f} ms")

# %% [markdown]
# Read the plot. The handoff reaches 40-67% of the link at its own message size, and a whole
# request moves in 9-11 ms whatever its size (1-25% of what one 16 MiB-1 GiB send would do). The
# sender is host-bound. Each layer costs ~280 µs of host time: ~160 µs for the checksums, whose
# `.cpu()` is a host sync, and ~125 µs for the NCCL `isend` plus the gloo `isend` of the checksums.
# The link idles between messages. In a real prefill this hides: an 8192-token layer of a 7B model
# is ~4.5 ms of compute on an H200, and the ~0.4 ms of handoff per layer fits under the next layer.
# What the handoff adds after the prefill is one layer's message (~0.15 ms here), not the 3 ms of
# the whole 1 GiB. The course model's messages are tiny (≤ 256 KiB): latency-bound at ~0.2 ms each.
# Inside `run_disaggregated` the handoff added a median 181 µs after the last layer was computed.
#
# ## 6 · A real handoff on two processes · 两个进程间的 KV 交接
#
# Rank 0 prefills a prompt with the course model and sends each layer's K and V as soon as it is
# computed (`isend`); rank 1 receives them into a paged KV store (`inferlab.engine`) and continues
# greedy decoding. Its tokens equal the model's own greedy generation. (lab06 adds the router,
# checksums per block, back-pressure, retries and dead workers.)

# %%
def handoff(prompt, max_new):
    from inferlab.engine.block_manager import BlockManager
    from inferlab.engine.kv_cache import KVCache
    from inferlab.engine.model_runner import ModelRunner
    from inferlab.engine.sequence import Sequence, SequenceStatus

    torch.set_grad_enabled(False)
    model = models.load("target")
    c, n = model.config, len(prompt)
    if dist.get_rank() == 0:  # prefill
        x, pos, works = model.embed(torch.tensor([prompt])), torch.arange(n), []
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, pos)
            x = layer.finish(x, models.causal_attention(q, k, v))
            kv = torch.stack([k[0].transpose(0, 1), v[0].transpose(0, 1)]).contiguous()  # (2, n, Hkv, D)
            works.append((dist.isend(kv, 1, tag=i), kv))
        first = torch.tensor([int(model.logits(x)[0, -1].argmax())])
        dist.send(first, 1, tag=99)
        for w, _ in works:
            w.wait()
        return model.tokens_processed
    kv_cache, bm = KVCache.for_model(c, 16, 16), BlockManager(16, 16)  # decode
    runner = ModelRunner(model, kv_cache)
    seq = Sequence(0, prompt, max_new)
    bm.allocate(seq, n + max_new - 1)
    slots = kv_cache[0].slot_mapping(seq.block_table, 0, n)
    for i in range(c.num_layers):
        kv = torch.empty(2, n, c.num_kv_heads, c.head_dim)
        dist.recv(kv, 0, tag=i)
        kv_cache[i].write(slots, kv[0], kv[1])
    first = torch.empty(1, dtype=torch.long)
    dist.recv(first, 0, tag=99)
    seq.num_cached_tokens, seq.status = n, SequenceStatus.RUNNING
    seq.append_token(int(first), 0.0)
    while not seq.is_finished:
        ids, pos, info = runner.prepare([(seq, 1)])
        seq.num_cached_tokens += 1
        seq.append_token(int(runner.forward(ids, pos, info)[0].argmax()), 0.0)
    return seq.output_ids, model.tokens_processed


prompt = models.encode("the little robot walked to the market and")
prefill_tokens, (tokens, decode_tokens) = launch(handoff, 2, prompt, 12)
print(models.decode(tokens))
print("equals greedy:", tokens == models.greedy_reference(models.load("target"), prompt, 12),
      f"| prefill ran {prefill_tokens} positions (prompt: {len(prompt)}), decode ran {decode_tokens} (= 12 - 1)")

# %% [markdown]
# ## 7 · Routing and load balancing · 请求路由与负载均衡
#
# - **Prefill side**: least outstanding *tokens* (not requests: one 8k prompt outweighs fifty
#   short ones); prefix-cache affinity (send a request where its prefix KV already is —
#   Mooncake, SGLang's router, llm-d); chunk very long prompts across workers (context parallelism).
# - **Decode side**: admit only when the worker has the KV blocks (back-pressure: the request
#   waits at the router, never an out-of-memory on the worker); balance by free KV memory and
#   running batch size; TPOT depends on batch and total context, so cap both per worker.
# - **Overload**: reject early (Mooncake) or degrade (shorter max tokens) rather than let every
#   request miss its SLO; scale pools independently (prefill by prompt tokens/s, decode by
#   concurrent sequences × context).
# - **Faults**: a transfer is a distributed operation: checksum per block, a deadline per
#   transfer, retries with a new transfer id (a late message must never land in reused blocks),
#   heartbeats to find dead decode workers, and requests that restart from their prompt elsewhere.
#
# ## 8 · Simulator: colocated vs disaggregated · 模拟器
#
# Arrival rate, lengths, worker counts and chunk size → TTFT/TPOT CDFs and goodput, side by
# side, on the same bursty workload (gamma inter-arrivals, CV² = 4). Costs: `disagg_sim.COURSE_COSTS`.

# %%
def goodput(records, ttft_slo, tpot_slo):
    met = sum((r["token_times"][0] - r["arrival"] <= ttft_slo) and
              (len(r["token_times"]) == 1 or (r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
               <= tpot_slo) for r in records)
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    return met / span


def compare(rate=10.0, prompt_max=448, output_max=48, num_prefill=1, num_decode=3, chunk_size=512,
            ttft_slo=2.0, tpot_slo=0.06):
    reqs = disagg_sim.bursty_workload(150, rate, prompt_len=(16, prompt_max), output_len=(2, output_max), seed=3)
    n = num_prefill + num_decode
    plans = {f"colocated x{n}": {"mode": "colocated", "num_workers": n, "chunk_size": chunk_size},
             f"{num_prefill}P + {num_decode}D": {"mode": "disaggregated", "num_prefill": num_prefill,
                                                 "num_decode": num_decode, "chunk_size": chunk_size}}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for label, plan in plans.items():
        recs = disagg_sim.simulate(reqs, plan)
        ttfts = sorted(r["token_times"][0] - r["arrival"] for r in recs)
        tpots = sorted((r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
                       for r in recs if len(r["token_times"]) > 1)
        g = goodput(recs, ttft_slo, tpot_slo)
        for ax, xs in zip(axes, (ttfts, tpots)):
            ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=f"{label}: goodput {g:.2f} req/s "
                    f"({g / n:.2f}/worker)")
    for ax, name, slo in zip(axes, ("TTFT (s)", "TPOT (s)"), (ttft_slo, tpot_slo)):
        ax.axvline(slo, color="gray", ls="--")
        ax.set_xlabel(name)
        ax.set_ylabel("CDF")
    axes[0].legend(fontsize=8)
    plt.tight_layout()
    plt.show()


compare()
widgets.interact(compare, rate=(2.0, 30.0, 1.0), prompt_max=(32, 448, 32), output_max=(2, 128, 2),
                 num_prefill=(1, 6), num_decode=(1, 6), chunk_size=[128, 256, 512, 1024, 2048],
                 ttft_slo=(0.5, 5.0, 0.25), tpot_slo=(0.02, 0.3, 0.01));

# %% [markdown]
# **Measured on 2 × NVIDIA H200**, the same bursty workload shape (80 requests at 8/s, CV² = 4,
# prompts 16-400 tokens, 16 new tokens), the course model. *Colocated* is two replicas of the
# course engine, one per GPU. *Disaggregated* is lab06's `run_disaggregated` with prefill on GPU 0,
# decode on GPU 1, and the KV over NCCL; its tokens equal greedy generation.

# %%
SERVING_H200X2 = {  # ms: TTFT p50, p90, p99, TPOT p50, p90, p99; goodput req/s at TTFT <= 0.2 s, TPOT <= 0.02 s
    "colocated (2 replicas)": ([9.5, 25.8, 324.3], [7.1, 10.2, 18.1], 8.22),
    "disaggregated (1P + 1D)": ([15.1, 83.8, 751.9], [11.3, 21.8, 36.9], 6.98)}
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for k, (label, (ttft_ms, tpot_ms, g)) in enumerate(SERVING_H200X2.items()):
    for ax, vals in zip(axes, (ttft_ms, tpot_ms)):
        ax.bar([i + 0.38 * k for i in range(3)], vals, width=0.38, label=f"{label}: goodput {g:.1f} req/s")
for ax, name in zip(axes, ("TTFT (ms)", "TPOT (ms)")):
    ax.set_xticks([i + 0.19 for i in range(3)], ["p50", "p90", "p99"])
    ax.set_yscale("log")
    ax.set_ylabel(name)
axes[0].legend(fontsize=8)
fig.suptitle("course model on 2 x H200, bursty load (measured)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# Colocated wins every percentile here. The simulator says why: the course model's longest
# prefill is about as cheap as a decode step, so there is no interference for disaggregation to
# remove. Disaggregation still pays its costs: each request hops through the router, takes a
# handoff, and has one prefill GPU for all prompts. Disaggregation pays when prefills are long
# enough to stall decodes (§2), and a sweep of the simulator above shows where.

# %% [markdown]
# ## 9 · Interview questions · 面试问题 (§6)
#
# **Q1 · 为什么要将 Prefill 和 Decode 阶段分离？各有什么优势？ Why separate prefill and decode?**
# Prefill is compute-bound (intensity ≈ prompt length), decode bandwidth-bound (intensity ≈ batch).
# Colocated, a prefill step stalls every decode (TPOT spikes) and decode batches dilute prefill
# (TTFT grows); one parallelism/batching policy must serve both. Separated, each pool gets its own
# parallelism (TP for decode latency, bigger batches; prefill sized by prompt tokens/s), its own
# hardware even (Splitwise), and TTFT and TPOT are tuned independently: DistServe's 13B example
# goes from 1.6 to 3.3 req/s per GPU within SLOs. Costs: the KV transfer, more moving parts, and
# no gain in raw throughput (vLLM's own caveat) — the gain is in SLO attainment and tail latency.
#
# **Q2 · PD 分离架构中，如何高效地传递 KV Cache？ How to move the KV cache efficiently?**
# Bytes = 2·L·H_kv·D·n·bytes (GQA and fp8 KV shrink it). Send layer by layer as each layer
# finishes, overlapping the prefill; RDMA/NVLink with zero-copy from the paged blocks (NIXL,
# Mooncake transfer engine), pull by the decode side once it has allocated blocks; keep one
# transfer id per attempt; checksum per block; stage or fence blocks so a late write never hits a
# reused block; prefer placing P and D on the same NVLink/IB island; a CPU/SSD KV pool (Mooncake)
# decouples the two sides in time.
#
# **Q3 · 分离架构相比统一架构在资源利用上有什么改进？ Resource utilisation?**
# Each pool runs at its natural operating point: prefill GPUs at high MFU, decode GPUs at large
# batch and high bandwidth use; pools scale independently with the workload mix (the P:D ratio);
# decode can run on cheaper/bandwidth-rich parts. But a fixed split can idle one pool when the mix
# shifts, and the transfer costs network and memory: capacity planning on goodput per GPU decides
# (lab06 task 4), and colocated with chunked prefill often wins at low load or loose TPOT SLOs.
#
# **Q4 · 如何设计高效的请求调度策略？ Scheduling in a P/D system?**
# Router: prefill by least outstanding tokens and prefix-cache affinity; decode by free KV blocks
# and batch size, admitting only with blocks reserved (back-pressure, never OOM); FCFS with
# priority classes; early rejection under overload; retries with new transfer ids on checksum
# failure or timeout; heartbeats to detect dead workers and requeue their requests.
#
# **Q5 · 如何监控和优化 PD 分离系统的整体性能？ Monitoring and tuning?**
# Per phase: TTFT split into queueing / prefill / transfer, TPOT and ITL percentiles, KV transfer
# bandwidth and failures, queue lengths at both pools, KV block usage, goodput per GPU against the
# SLOs. Tune the P:D ratio, chunk size and batch caps against a simulator calibrated on measured
# step times (lab06), then confirm with a load test (lab09).
#
# **Q6 · 面对突发流量，PD 分离架构如何保证服务稳定性？ Bursts?**
# Queue at the router, not on the GPUs (back-pressure by reserved blocks); reject or degrade early
# when predicted TTFT exceeds the SLO (Mooncake); keep a flexible pool that can serve either phase
# or fall back to colocated chunked prefill; autoscale the pool that saturates (prefill for long-
# prompt bursts, decode for long outputs); spill KV to CPU memory rather than drop requests.
