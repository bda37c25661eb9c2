# %% [markdown]
# # 01 · Inference basics · 大模型推理基础 (syllabus §1)
#
# Serving a language model is a loop: run the model over the tokens so far, turn the last
# position's logits into one new token, append it, repeat. This notebook takes that loop
# apart — the causal mask that makes it possible, the KV cache that makes it cheap, the
# two phases (prefill and decode) whose costs differ by two orders of magnitude, and the
# roofline model that predicts both. Real numbers throughout: Llama-2 shapes and an H100.
#
# Dimension letters: see the glossary in `00_index.ipynb` (B, H, H_kv, N, Nq, Nk, T, D, C, V).
# Lab: `labs/lab01/lab01.ipynb` (tasks 1-6 follow the sections below).

# %%
import math
import time

import inferlab  # first: sets TRITON_INTERPRET=1 without a GPU
import matplotlib.pyplot as plt
import torch
from inferlab import models

torch.manual_seed(0)
print("device:", "cuda" if torch.cuda.is_available() else "cpu", "| Triton interpreter:", inferlab.INTERPRETER)

# %% [markdown]
# ## 1 · Autoregressive decoding · 自回归生成
#
# A decoder-only model maps `T` token ids to `T` rows of logits (one distribution over
# the `V` vocabulary entries per position). Generation uses only the **last** row: pick a
# token from it (greedy argmax, or a sample), append, run again. Each new token depends on
# every previous one, so the steps cannot run in parallel — the defining constraint of
# inference, and the reason why latency per token (TPOT) is a metric of its own.
#
# The course model is a 4-layer Llama (RoPE, RMSNorm, SwiGLU, grouped-query attention:
# 4 query heads share 2 KV heads) trained on the course's own text.

# %%
model = models.load("target")
cfg = model.config
print(cfg)
print(f"{model.num_parameters() / 1e6:.2f} M parameters")

prompt = models.encode("Attention is")
new = models.greedy_reference(model, prompt, 30)  # full recomputation each step: the answer key
print(repr(models.decode(prompt + new)))

# %% [markdown]
# ## 2 · The causal mask · 因果掩码
#
# Training computes all positions at once; the **causal mask** stops position `i` from
# reading positions after it, so the model learns to predict the next token from the past
# only. Inference relies on the same property: because position `i`'s output never depends
# on later tokens, its keys and values never change once computed.
#
# In decoding, the queries are the *last* `Nq` of `Nk` positions — a prefill has `Nq = Nk`,
# a decode step `Nq = 1`, a chunked prefill something between — so query `i` may see key `j`
# iff `j <= i + (Nk - Nq)`.

# %%
def causal_mask(n_q, n_k):
    """(Nq, Nk) bool, True = may attend; the queries are the last Nq of Nk positions."""
    i = torch.arange(n_q)[:, None]  # (Nq, 1)
    j = torch.arange(n_k)[None, :]  # (1, Nk)
    return j <= i + (n_k - n_q)  # (Nq, Nk)


fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), gridspec_kw={"width_ratios": [8, 8, 8]})
for ax, (nq, nk, title) in zip(axes, [(8, 8, "prefill: Nq = Nk = 8"), (3, 8, "chunk: Nq = 3, Nk = 8"),
                                      (1, 8, "decode: Nq = 1, Nk = 8")]):
    ax.imshow(causal_mask(nq, nk), cmap="Blues", vmin=0, vmax=1.4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key position j")
    ax.set_ylabel("query i")
    ax.set_xticks(range(nk))
    ax.set_yticks(range(nq))
fig.suptitle("causal masks (blue = may attend)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · The KV cache · KV Cache 原理
#
# Without a cache, step `t` reruns all `P + t` positions, and generating `n` tokens after a
# `P`-token prompt processes `nP + n(n-1)/2` positions: quadratic in the output length.
# Since the keys and values of old positions never change (section 2), keep them. Then
#
# * **prefill**: run the whole prompt once, store every layer's K and V;
# * **decode**: feed only the newest token, compute its q, k, v, append k and v to the cache,
#   attend over the cache; `P + n - 1` positions in all.
#
# The course model counts the positions that pass through its first layer
# (`model.tokens_processed`), so the saving is visible without a clock:

# %%
def generate_counts(n, P=8, use_cache=True):
    """Positions processed to generate n tokens after a P-token prompt."""
    return P + n - 1 if use_cache else n * P + n * (n - 1) // 2


@torch.no_grad()
def cached_greedy(model, prompt, n):
    """Greedy decoding with a KV cache, from the model's parts (lab01 task 5 builds this properly)."""
    cache = [None] * model.config.num_layers
    seq, fed = list(prompt), 0
    for _ in range(n):
        ids = torch.tensor([seq[fed:]])  # (1, T)
        T = ids.shape[1]
        pos = torch.arange(fed, fed + T)  # absolute positions for RoPE
        x = model.embed(ids)  # (1, T, C)
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, pos)  # (1, H, T, D), (1, H_kv, T, D) x2
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)  # (1, H_kv, fed + T, D)
            cache[i] = (k, v)
            g = q.shape[1] // k.shape[1]
            mask = causal_mask(T, fed + T)  # (T, fed + T)
            attn = torch.nn.functional.scaled_dot_product_attention(
                q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), attn_mask=mask)  # (1, H, T, D)
            x = layer.finish(x, attn)
        fed = len(seq)
        seq.append(int(model.logits(x)[0, -1].argmax()))
    return seq[len(prompt):]


prompt = models.encode("The KV cache")
model.tokens_processed = 0
with_cache = cached_greedy(model, prompt, 40)
count_cache = model.tokens_processed
model.tokens_processed = 0
without = models.greedy_reference(model, prompt, 40)
count_full = model.tokens_processed
print("same tokens:", with_cache == without)
print(f"positions processed for 40 tokens after a {len(prompt)}-token prompt: "
      f"with cache {count_cache}, without {count_full} ({count_full / count_cache:.1f}x)")

ns = list(range(1, 257))
plt.figure(figsize=(5.5, 3.4))
plt.plot(ns, [generate_counts(n, 32, False) for n in ns], label="no cache: nP + n(n-1)/2")
plt.plot(ns, [generate_counts(n, 32, True) for n in ns], label="KV cache: P + n - 1")
plt.xlabel("new tokens n (prompt P = 32)")
plt.ylabel("positions processed")
plt.yscale("log")
plt.legend()
plt.title("work of generation")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4 · How big is the KV cache? · KV Cache 显存估算
#
# Every layer keeps one key and one value vector (the factor 2) per KV head per token:
#
# `kv_bytes = 2 · layers · H_kv · D · seq_len · batch · dtype_bytes`
#
# | model | layers | heads | H_kv | D | KV per token (fp16) |
# | --- | --- | --- | --- | --- | --- |
# | Llama-2-7B | 32 | 32 | 32 (MHA) | 128 | 512 KiB |
# | OPT-13B | 40 | 40 | 40 (MHA) | 128 | 800 KiB |
# | Llama-2-70B | 80 | 64 | 8 (GQA) | 128 | 320 KiB |
#
# Grouped-query attention is why the 70B model needs *less* cache per token than the 7B:
# eight KV heads instead of 64 cut it by 8x. The cache grows **linearly** with sequence
# length and batch, and at long contexts it outgrows the weights: Llama-2-7B with batch 16 at
# 4096 tokens needs 32 GiB of KV next to 13.5 GB of fp16 weights.

# %%
MODELS = {  # name: (layers, KV heads, head_dim, parameters)
    "Llama-2-7B": (32, 32, 128, 6.74e9),
    "OPT-13B": (40, 40, 128, 12.9e9),
    "Llama-2-70B": (80, 8, 128, 69.0e9),
}
DTYPE_BYTES = {"fp32": 4, "fp16/bf16": 2, "fp8/int8": 1, "int4": 0.5}
GPU_BYTES = 80e9  # one H100 SXM


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, batch_size=1, dtype_bytes=2):
    """2 * layers * H_kv * D * seq_len * batch * dtype_bytes."""
    return int(math.ceil(2 * num_layers * num_kv_heads * head_dim * seq_len * batch_size * dtype_bytes))


def kv_report(model_name="Llama-2-7B", batch=8, seq_len=4096, dtype="fp16/bf16"):
    """Print the KV size of one configuration next to the weights and one 80 GB GPU."""
    L, Hkv, D, params = MODELS[model_name]
    b = DTYPE_BYTES[dtype]
    kv = kv_cache_bytes(L, Hkv, D, seq_len, batch, b)
    weights = params * 2  # fp16 weights
    per_token = kv_cache_bytes(L, Hkv, D, 1, 1, b)
    print(f"{model_name}: {per_token / 1024:.0f} KiB per token ({dtype}), "
          f"KV for batch {batch} x {seq_len} tokens = {kv / 2**30:.2f} GiB; "
          f"fp16 weights {weights / 1e9:.1f} GB; "
          f"weights + KV = {(weights + kv) / GPU_BYTES:.2f} x one 80 GB H100")
    return kv


for name in MODELS:
    kv_report(name, batch=8, seq_len=4096)

# %% [markdown]
# The calculator below recomputes that line for any model, batch, length and cache dtype
# (run the notebook in JupyterLab to move the sliders; the figure after it is the static
# version: KV bytes against sequence length at batch 8, with the H100's 80 GB for scale).

# %%
import ipywidgets as widgets


def kv_calculator():
    """An ipywidgets KV-cache calculator (sliders for batch and length, dropdowns for model and dtype)."""
    return widgets.interactive(
        kv_report,
        model_name=widgets.Dropdown(options=list(MODELS), value="Llama-2-7B", description="model"),
        # powers of two: a short drag moves one doubling, not from 8 to 256
        batch=widgets.SelectionSlider(options=[2**i for i in range(9)], value=8, description="batch"),
        seq_len=widgets.SelectionSlider(options=[2**i for i in range(7, 16)], value=4096, description="seq_len"),
        dtype=widgets.Dropdown(options=list(DTYPE_BYTES), value="fp16/bf16", description="KV dtype"),
    )


calculator = kv_calculator()
calculator

# %%
lens = [2**i for i in range(7, 16)]
plt.figure(figsize=(6, 3.6))
for name, (L, Hkv, D, params) in MODELS.items():
    plt.plot(lens, [kv_cache_bytes(L, Hkv, D, n, 8) / 1e9 for n in lens], marker="o", label=name)
plt.axhline(80, color="k", ls="--", lw=1)
plt.text(lens[0], 85, "one H100: 80 GB", fontsize=9)
plt.xscale("log", base=2)
plt.yscale("log")
plt.xlabel("sequence length (tokens)")
plt.ylabel("KV cache, batch 8, fp16 (GB)")
plt.title("KV cache grows linearly with length")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · Prefill vs decode · 预填充与解码
#
# A linear layer with weight `(k, n)` applied to `m` tokens is an `(m, k) @ (k, n)` matmul:
# `2mnk` FLOPs, at least `(mk + kn + mn) · dtype_bytes` bytes. Its **arithmetic intensity**
# (FLOPs per byte) is about `m` when `m << k, n`: every weight byte loaded serves `m` tokens.
#
# * **Prefill** processes the whole prompt at once: `m` = prompt length (thousands), high
#   intensity, **compute-bound**. Its latency is the time to first token (TTFT).
# * **Decode** processes one token per sequence: `m` = batch size, often 1-64; every
#   step streams all the weights and the whole KV cache from HBM for a handful of FLOPs:
#   **memory-bound**. Its latency is the time per output token (TPOT).
#
# For Llama-2-7B at batch 1 on an H100: a decode step must read ~13.5 GB of weights,
# `13.5e9 / 3.35e12 ≈ 4 ms`, so at most ~250 tokens/s, however fast the Tensor Cores are.
# Batching decode steps of many sequences reuses each weight byte: the main lever of serving
# throughput (continuous batching, lab07) — until the KV cache (section 4) fills the memory.

# %%
def matmul_cost(m, n, k, dtype_bytes=2):
    """(flops, bytes) of (m, k) @ (k, n): read both inputs, write the output once."""
    return 2 * m * n * k, (m * k + k * n + m * n) * dtype_bytes


for m in (1, 8, 64, 512, 4096):
    f, b = matmul_cost(m, 4096, 4096)
    print(f"m = {m:5d} tokens through a 4096x4096 fp16 layer: {f / 1e9:8.2f} GFLOP, {b / 1e6:7.1f} MB, "
          f"intensity {f / b:7.1f} FLOP/byte")

# %% [markdown]
# ## 6 · The roofline · 屋顶线模型
#
# A kernel cannot finish faster than its FLOPs at peak compute, nor faster than its bytes at
# peak bandwidth: `time >= max(flops / peak_flops, bytes / peak_bandwidth)`. Plotted as
# attainable FLOP/s against intensity, that is a slanted roof (bandwidth-limited) meeting a
# flat one (compute-limited) at the **ridge point** `peak_flops / peak_bandwidth`.
#
# H100 SXM: 989 TFLOP/s dense bf16 and 3.35 TB/s HBM3 on the spec sheet — ridge ≈ 295
# FLOP/byte. Measured on the course's card: ~3.0 TB/s for a copy and 713-746 TFLOP/s for a
# large bf16 GEMM, so the practical roof sits ~10-25% lower. Below, the layers of Llama-2-7B
# (`4096 x 4096` projections) and its attention, in prefill and decode:

# %%
SPEC = dict(flops=989e12, bw=3.35e12)
MEASURED = dict(flops=730e12, bw=3.0e12)


def roofline_time(flops, nbytes, peak_flops, peak_bandwidth):
    """Lower bound on time: max(flops / peak_flops, bytes / peak_bandwidth)."""
    return max(flops / peak_flops, nbytes / peak_bandwidth)


def attention_cost(n_q, n_k, heads=32, d=128, dtype_bytes=2):
    """FLOPs and minimum HBM bytes of one layer's attention (q read, K/V read, o written)."""
    flops = 4 * heads * n_q * n_k * d  # q k^T and p v
    nbytes = heads * d * dtype_bytes * (2 * n_q + 2 * n_k)
    return flops, nbytes


points = {
    "decode GEMV (batch 1)": matmul_cost(1, 4096, 4096),
    "decode GEMM (batch 64)": matmul_cost(64, 4096, 4096),
    "prefill GEMM (2048 tokens)": matmul_cost(2048, 4096, 4096),
    "decode attention (4k context)": attention_cost(1, 4096),
    "prefill attention (4k, flash)": attention_cost(4096, 4096),
}

LABEL_AT = {  # label offsets in points, so that points at one intensity do not overwrite each other
    "decode GEMV (batch 1)": (8, 6, "left"),
    "decode GEMM (batch 64)": (8, -12, "left"),
    "prefill GEMM (2048 tokens)": (0, -24, "center"),
    "decode attention (4k context)": (8, -14, "left"),
    "prefill attention (4k, flash)": (20, -38, "right"),
}
I = torch.logspace(-1, 4, 200).tolist()
plt.figure(figsize=(7, 4.4))
for roof, style, label in ((SPEC, "-", "H100 spec: 989 TFLOP/s, 3.35 TB/s"),
                           (MEASURED, "--", "measured: ~730 TFLOP/s, ~3.0 TB/s")):
    plt.plot(I, [min(roof["flops"], roof["bw"] * i) / 1e12 for i in I], "k" + style, lw=1.2, label=label)
for name, (f, b) in points.items():
    intensity = f / b
    attainable = f / roofline_time(f, b, SPEC["flops"], SPEC["bw"])
    size = 90 if name.startswith("decode attention") else 40  # the GEMV sits on top of it
    plt.scatter([intensity], [attainable / 1e12], s=size, zorder=3 if size == 40 else 2)
    dx, dy, ha = LABEL_AT[name]
    plt.annotate(name, (intensity, attainable / 1e12), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8)
ridge = SPEC["flops"] / SPEC["bw"]
plt.axvline(ridge, color="grey", lw=0.8, ls=":")
plt.text(ridge * 1.1, 2, f"ridge {ridge:.0f} FLOP/B", fontsize=8, color="grey")
plt.xscale("log")
plt.yscale("log")
plt.xlabel("arithmetic intensity (FLOP / byte of HBM)")
plt.ylabel("attainable TFLOP/s")
plt.title("H100 roofline: decode is memory-bound, prefill compute-bound")
plt.legend(loc="lower right", fontsize=8)
plt.tight_layout()
plt.show()

for name, (f, b) in points.items():
    t = roofline_time(f, b, SPEC["flops"], SPEC["bw"])
    bound = "memory" if b / SPEC["bw"] > f / SPEC["flops"] else "compute"
    print(f"{name:32s} intensity {f / b:8.1f}  >= {t * 1e6:8.2f} us  {bound}-bound")

# %% [markdown]
# Decode attention has intensity ~1 FLOP/byte whatever the batch (every sequence reads its own
# cache), which is why the KV cache's *bytes* — not FLOPs — set decode speed at long
# contexts, and why labs 03 (paged KV) and 04 (KV tiers, int8 KV) work on the cache's memory.
#
# ## 7 · Interview questions · 面试问题 (syllabus §1)
#
# **Q1. 为什么大模型推理的内存需求会随序列长度二次增长？ Why does inference memory grow
# quadratically with sequence length?**
# Only naive attention does: it materialises the `Nq x Nk` score matrix per head (`N²`
# elements; 2 GiB per head at N = 32k in fp16). The KV cache grows *linearly*
# (`2 · layers · H_kv · D · N` per sequence), and FlashAttention (lab02) never stores the
# scores, so modern inference memory is linear in N; what remains quadratic is attention
# *compute* over a whole generation (`Σ t ≈ N²/2` key reads).
#
# **Q2. 推理阶段相比训练阶段，主要的性能瓶颈发生了什么变化？ How do the bottlenecks of
# inference differ from training?**
# Training processes large batches of full sequences: big matmuls, compute-bound, with
# activation and optimizer memory. Inference decode processes one token per sequence per step:
# tiny matmuls whose intensity is about the batch size, so it is bound by HBM bandwidth
# (reading weights and KV cache), by the sequential dependency between tokens, and by the
# KV cache's memory capacity, which caps the batch. Prefill still behaves like training's forward.
#
# **Q3. 如何分析一个Transformer模型在推理时的计算和内存瓶颈？ How do you analyse a
# transformer's compute and memory bottlenecks in inference?**
# Count per operator: FLOPs (`2mnk` per matmul, `4 N_q N_k D` per attention head) and minimum
# bytes (weights + activations + KV read and written); their ratio against the ridge point
# (~295 FLOP/B on an H100) says which roof applies. Then measure: achieved TB/s and TFLOP/s per
# kernel against the measured ceilings (~3.0 TB/s, ~730 TFLOP/s), a profiler (Nsight Systems /
# torch.profiler) for the time split, and the phase split (TTFT for prefill, TPOT for decode).
#
# **Q4. KV Cache为什么能够加速推理？其原理是什么？ Why does the KV cache speed up
# inference?**
# With a causal mask a position's keys and values depend only on earlier tokens, so they never
# change once computed. Caching them turns each decode step from recomputing all `P + t`
# positions (quadratic total work) into computing one new position and attending over the
# stored K/V (linear total work): `P + n - 1` positions instead of `nP + n(n-1)/2`. The price is
# memory (section 4) and reading the whole cache every step.
#
# **Q5. 在处理不同长度序列的批处理时，KV Cache应该如何管理？ How should the KV cache be
# managed when a batch holds sequences of different lengths?**
# Padding every sequence to the longest (or to `max_seq_len`) wastes most of the memory and
# compute; attention masks must then hide the pads. Better: allocate the cache in fixed-size
# blocks on demand with a per-sequence block table (PagedAttention, lab03), free a sequence's
# blocks when it finishes, let new requests join mid-flight (continuous batching, lab07), share
# prefix blocks copy-on-write, and preempt or swap to host memory (lab04) when blocks run out.
#
# **Q6. 如何估算一个模型在特定序列长度下的KV Cache内存需求？ How do you estimate a model's
# KV-cache memory at a given sequence length?**
# `2 (K and V) · layers · H_kv · head_dim · seq_len · batch · bytes per element`. Llama-2-7B,
# fp16: `2·32·32·128·2 = 512 KiB` per token, 2 GiB per 4096-token sequence; Llama-2-70B with
# GQA (8 KV heads): 320 KiB per token. Budget = GPU memory − weights − activations/workspace,
# divided by bytes per token, gives the number of tokens (and so sequences) that fit (lab08's
# `max_concurrent_sequences`).
