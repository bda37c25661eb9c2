# %% [markdown]
# # 02 · FlashAttention · 闪电注意力 (syllabus §2)
#
# Attention is a few matrix products and a softmax. Done naively it writes an `N x N`
# matrix to GPU memory and reads it back, and at long sequence lengths that traffic, not
# the arithmetic, sets the time. FlashAttention computes *exactly* the same result while
# never writing the scores: it tiles the computation so each tile lives in on-chip SRAM,
# and it uses an **online softmax** to normalise across tiles it has never seen together.
#
# Glossary (all notebooks): `B` batch, `H` heads, `N` sequence length (`Nq` queries,
# `Nk` keys), `D` head dim; attention tensors are `(B, H, N, D)`. `lse` is the natural-log
# log-sum-exp of a query's scores. Lab: `labs/lab02` (tasks 1-5 follow this notebook).

# %%
import math

import inferlab  # first: sets TRITON_INTERPRET=1 without a GPU
import inferlab.memtrace as memtrace
import matplotlib.pyplot as plt
import torch
import triton
import triton.language as tl

torch.manual_seed(0)
print("Triton interpreter:", inferlab.INTERPRETER)

# %% [markdown]
# ## 1 · The GPU memory hierarchy · GPU 内存层次
#
# | level (H100 SXM) | size | bandwidth | who manages it |
# | --- | --- | --- | --- |
# | registers | 256 KB per SM | ~ one operand per lane per cycle | compiler |
# | shared memory / L1 ("SRAM") | up to 228 KB per SM × 132 SMs ≈ 30 MB | ~33 TB/s aggregate (order of magnitude) | the kernel (Triton: implicitly) |
# | L2 cache | 50 MB | ~10 TB/s order | hardware |
# | HBM3 | 80 GB | 3.35 TB/s | the kernel's loads and stores |
#
# Tensor Cores deliver ~989 TFLOP/s dense fp16/bf16 (H100 SXM spec; the course's card
# measured 713-746 TFLOP/s on a bf16 GEMM). The **ridge point** of the roofline is
# `989e12 / 3.35e12 ≈ 295 FLOP per byte`: a kernel doing fewer FLOPs per HBM byte than
# that is memory-bound. SRAM is ~10x faster than HBM but ~2,700x smaller: the art is to
# keep the working set there and touch HBM once.

# %%
H100 = {"hbm_bytes": 80e9, "hbm_bw": 3.35e12, "sram_per_sm": 228 * 1024, "sms": 132, "peak_flops": 989e12}
ridge = H100["peak_flops"] / H100["hbm_bw"]
print(f"ridge point: {ridge:.0f} FLOP/byte; total SRAM {H100['sram_per_sm'] * H100['sms'] / 2**20:.1f} MiB")

# %% [markdown]
# ## 2 · Why standard attention is memory-bound · 为什么标准注意力受限于内存
#
# Standard attention runs three kernels: `S = Q K^T` (write `N x N`), `P = softmax(S)`
# (read and write `N x N`), `O = P V` (read `N x N`). Per head, in fp16 (2 bytes):
#
# - FLOPs: `2 N^2 D` (QK^T) + `2 N^2 D` (PV) = `4 N^2 D`; the softmax adds ~`5 N^2` non-matmul FLOPs.
# - HBM bytes for the scores alone: `S` written, read, `P` written, read: `4 · 2 N^2` bytes.
#
# The softmax kernel does ~5 FLOPs per 4 bytes — ~1 FLOP/byte, 300x below the ridge —
# and the matmuls' intensity is capped by the `N x N` traffic at about `D/2` FLOP/byte.
# Worse, `S` needs `2 N^2` bytes per head: at N = 32k, 2 GiB per head.

# %%
def standard_attention_cost(n, d, dtype_bytes=2):
    """(FLOPs, HBM bytes) of one head of three-kernel attention; bytes count Q, K, V, O and S, P twice each."""
    flops = 4 * n * n * d + 5 * n * n
    qkvo = 4 * n * d * dtype_bytes
    scores = 4 * n * n * dtype_bytes  # S write + read, P write + read
    return flops, qkvo + scores


def flash_attention_cost(n, d, block_m=128, dtype_bytes=2):
    """(FLOPs, HBM bytes) of one head of FlashAttention: Q and O once, K and V once per query block."""
    flops = 4 * n * n * d + 5 * n * n
    return flops, 2 * n * d * dtype_bytes + 2 * n * d * dtype_bytes * math.ceil(n / block_m)


print(f"{'N':>6} {'std GB':>8} {'std FLOP/B':>10} {'std us':>8} | {'flash GB':>8} {'flash FLOP/B':>12} {'flash us':>8}")
for n in (1024, 4096, 16384, 32768):
    f, b = standard_attention_cost(n, 128)
    f2, b2 = flash_attention_cost(n, 128)
    t = max(f / H100["peak_flops"], b / H100["hbm_bw"]) * 1e6
    t2 = max(f2 / H100["peak_flops"], b2 / H100["hbm_bw"]) * 1e6
    print(f"{n:>6} {b / 1e9:>8.3f} {f / b:>10.0f} {t:>8.1f} | {b2 / 1e9:>8.4f} {f2 / b2:>12.0f} {t2:>8.1f}")

# %% [markdown]
# Roofline times per head (D = 128): standard attention is bound by its `N^2` bytes;
# FlashAttention's intensity grows with `BLOCK_M` and it becomes compute-bound.
#
# ## 3 · Tiling · 分块
#
# Split Q into row blocks of `BLOCK_M` and K/V into blocks of `BLOCK_N`. One program owns
# a Q block (kept in SRAM/registers for its whole life) and streams every K/V block past
# it. The `BLOCK_M x BLOCK_N` score tile is born and dies on chip. What is missing is the
# softmax: its denominator needs the whole row, which the program sees only piece by piece.
#
# ## 4 · Online softmax · 在线 Softmax
#
# For a row `x`, keep `m = max x` and `l = sum exp(x - m)`. Given the stats of two parts,
# `(m_a, l_a)` and `(m_b, l_b)`, with `m = max(m_a, m_b)`:
#
# `l = l_a · exp(m_a - m) + l_b · exp(m_b - m)`.
#
# **Proof of exactness.** `l_a · exp(m_a - m) = sum_{i in a} exp(x_i - m_a) · exp(m_a - m) = sum_{i in a} exp(x_i - m)`,
# likewise for `b`; the sum over both parts is `sum_i exp(x_i - m)` with `m` the max of
# the whole row. No approximation: only the order of floating-point additions changes.
# The same argument carries the unnormalised output `acc = sum_i exp(x_i - m) v_i`: when
# the running max grows from `m_old` to `m_new`, multiply `acc` and `l` by `alpha = exp(m_old - m_new)`,
# then add the new block. At the end `o = acc / l` and `lse = m + log l`.
#
# **Stability.** Every exponent is `x_i - m <= 0`, so nothing overflows even for scores of
# 1e4 (`exp(1e4)` is `inf` in any float format); `alpha <= 1`. A fully masked row has `m = -inf`:
# guard `-inf - (-inf)` (NaN) by using 0 in place of `m` there, which leaves `l = 0`.

# %%
def online_stats(x, block):
    """Running (m, l) after each block of a 1-D row, as a list of (m, l)."""
    m, l, steps = -math.inf, 0.0, []
    for s in range(0, len(x), block):
        blk = x[s:s + block]
        m_new = max(m, float(blk.max()))
        l = l * math.exp(m - m_new) + float(torch.exp(blk - m_new).sum())
        m = m_new
        steps.append((m, l))
    return steps


row = torch.randn(24, dtype=torch.float64) * 3
steps = online_stats(row, 6)
m_true, l_true = float(row.max()), float(torch.exp(row - row.max()).sum())
print(f"online after {len(steps)} blocks: m={steps[-1][0]:.6f} l={steps[-1][1]:.12f}")
print(f"whole row at once:        m={m_true:.6f} l={l_true:.12f}")

# %% [markdown]
# Step through it: each block updates the running max (the red line) and the running
# sum (rescaled by `alpha` whenever the max moves).

# %%
import ipywidgets as widgets


def show_step(step=1):
    """Plot the row, the blocks seen so far, the running max and the running sum after `step` blocks."""
    block = 6
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
    seen = step * block
    ax1.bar(range(len(row)), row.numpy(), color=["tab:blue" if i < seen else "lightgray" for i in range(len(row))])
    m, l = steps[step - 1]
    ax1.axhline(m, color="red", label=f"running max m = {m:.2f}")
    ax1.set_title(f"after block {step}: elements 0..{seen - 1} seen")
    ax1.legend(loc="lower right")
    ax2.plot(range(1, step + 1), [s[1] for s in steps[:step]], "o-", label="running sum l")
    ax2.axhline(l_true, color="gray", ls="--", label="l of the whole row")
    ax2.set_xlim(0.5, len(steps) + 0.5)
    ax2.set_xlabel("block")
    ax2.legend()
    plt.tight_layout()
    plt.show()
    alpha = math.exp(steps[step - 2][0] - m) if step > 1 else 0.0
    print(f"block {step}: m = {m:.4f}, l = {l:.6f}, alpha applied to the old l = {alpha:.4f}")


widgets.interact(show_step, step=widgets.IntSlider(min=1, max=len(steps), value=1, description="block"));

# %% [markdown]
# ## 5 · FlashAttention-1 vs FlashAttention-2 · FA1 与 FA2
#
# | | FlashAttention-1 (2022) | FlashAttention-2 (2023) |
# | --- | --- | --- |
# | loop order | outer over K/V blocks, inner over Q blocks: `O`, `m`, `l` are re-read and re-written in HBM for every K/V block | outer over Q blocks (one program each), inner over K/V blocks: `O` accumulates on chip and is written once |
# | parallelism | over batch × heads only | also over the sequence (Q blocks): long sequences at batch 1 fill all 132 SMs |
# | non-matmul FLOPs | rescale `O` by `diag(l)^-1` at every step | keep `acc` unnormalised, divide by `l` once at the end; store only `lse` for backward |
# | work split in a block | split K across warps ("split-K"): warps must exchange partial results through shared memory | split Q across warps: no inter-warp communication |
# | causal | masks all tiles | skips tiles above the diagonal entirely (~2x less work), masks only diagonal tiles |
#
# Non-matmul FLOPs matter because Tensor Cores run matmuls ~16x faster than the FP32 units
# run `exp`, `max`, scaling: FA2 reaches 50-73% of peak on A100 vs 25-40% for FA1.
# FlashAttention-3 (Hopper) adds warp specialisation, TMA asynchronous copies, and
# ping-pong scheduling so softmax of one tile overlaps the matmul of the next; FP8 too.
#
# ### Which tiles a program visits · 程序访问哪些块
# Each row below is one program (a Q block); each column a K/V block. Causal attention
# needs only keys `j <= i`: the blocks above the diagonal are skipped, the diagonal blocks
# are masked, the rest run without any mask.

# %%
def tile_map(n_blocks, causal):
    """0 = skipped, 1 = full tile (no mask), 2 = diagonal tile (masked)."""
    grid = torch.ones(n_blocks, n_blocks)
    if causal:
        grid = torch.where(torch.arange(n_blocks)[None, :] > torch.arange(n_blocks)[:, None], 0.0, 1.0)
        grid.fill_diagonal_(2.0)
    return grid


fig, axes = plt.subplots(1, 2, figsize=(9, 4))
cmap = plt.matplotlib.colors.ListedColormap(["white", "tab:blue", "tab:orange"])
for ax, causal in zip(axes, (False, True)):
    g = tile_map(8, causal)
    ax.imshow(g, cmap=cmap, vmin=0, vmax=2)
    ax.set_title(f"{'causal, with skipping' if causal else 'non-causal'}: {int((g > 0).sum())} of 64 tiles")
    ax.set_xlabel("K/V block")
    ax.set_ylabel("Q block (one program)")
    ax.set_xticks(range(8))
    ax.set_yticks(range(8))
plt.tight_layout()
plt.show()
print("blue: full tile without masks; orange: diagonal tile with the causal mask; white: skipped")

# %% [markdown]
# ## 6 · Bytes moved: naive vs tiled, measured · 实测数据搬运量
#
# Two small Triton programs computing each query row's `lse` (the softmax denominator —
# the part of attention that needs the whole row), run in the instrumented interpreter
# (`inferlab.memtrace` counts every byte each kernel loads and stores):
#
# - **naive**: one kernel writes `S = Q K^T` (float32) to memory, a second reads it back row by row;
# - **tiled**: one kernel streams K tiles and keeps `(m, l)` on chip (the online softmax).
#
# Full attention adds V (read exactly like K: once per Q block) and O (written once) to
# the tiled kernel, and `P` written and read again (plus V) to the naive one.

# %%
@triton.jit
def _scores_kernel(Q, K, S, n, D: tl.constexpr, BLOCK: tl.constexpr):
    """S[i, j] = q_i . k_j for one (BLOCK x BLOCK) tile: grid (n/BLOCK, n/BLOCK)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    j = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    d = tl.arange(0, D)
    q = tl.load(Q + i[:, None] * D + d[None, :])
    kt = tl.load(K + j[None, :] * D + d[:, None])
    tl.store(S + i[:, None] * n + j[None, :], tl.dot(q, kt))


@triton.jit
def _rowlse_kernel(S, LSE, n, BLOCK: tl.constexpr):
    """lse of BLOCK rows of S, reading S back from memory: grid (n/BLOCK,)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = tl.full((BLOCK,), float("-inf"), tl.float32)
    l = tl.zeros((BLOCK,), tl.float32)
    for s in range(0, n, BLOCK):
        x = tl.load(S + i[:, None] * n + (s + tl.arange(0, BLOCK))[None, :])
        m_new = tl.maximum(m, tl.max(x, 1))
        l = l * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new[:, None]), 1)
        m = m_new
    tl.store(LSE + i, m + tl.log(l))


@triton.jit
def _tiled_lse_kernel(Q, K, LSE, n, D: tl.constexpr, BLOCK: tl.constexpr):
    """lse of BLOCK query rows, streaming K tiles; the scores never leave the chip: grid (n/BLOCK,)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    d = tl.arange(0, D)
    q = tl.load(Q + i[:, None] * D + d[None, :])
    m = tl.full((BLOCK,), float("-inf"), tl.float32)
    l = tl.zeros((BLOCK,), tl.float32)
    for s in range(0, n, BLOCK):
        kt = tl.load(K + (s + tl.arange(0, BLOCK))[None, :] * D + d[:, None])
        x = tl.dot(q, kt)
        m_new = tl.maximum(m, tl.max(x, 1))
        l = l * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new[:, None]), 1)
        m = m_new
    tl.store(LSE + i, m + tl.log(l))


def measure(n, d=32, block=32):
    """Bytes (loaded + stored) of the naive and the tiled lse, and the tiled K read factor."""
    q, k = torch.randn(n, d) / d ** 0.25, torch.randn(n, d) / d ** 0.25
    s, lse_a, lse_b = torch.empty(n, n), torch.empty(n), torch.empty(n)
    with memtrace.trace() as naive:
        _scores_kernel[(n // block, n // block)](q, k, s, n, D=d, BLOCK=block)
        _rowlse_kernel[(n // block,)](s, lse_a, n, BLOCK=block)
    with memtrace.trace() as tiled:
        _tiled_lse_kernel[(n // block,)](q, k, lse_b, n, D=d, BLOCK=block)
    ref = torch.logsumexp(q.double() @ k.double().T, dim=-1)
    assert torch.allclose(lse_a.double(), ref, atol=1e-4) and torch.allclose(lse_b.double(), ref, atol=1e-4)
    return (naive.bytes_loaded + naive.bytes_stored, tiled.bytes_loaded + tiled.bytes_stored,
            tiled.loaded_from(k) / (k.numel() * 4))


ns_, naive_b, tiled_b = [64, 128, 192, 256], [], []
for n in ns_:
    a, b, kf = measure(n)
    naive_b.append(a)
    tiled_b.append(b)
    print(f"N={n:4d}: naive {a / 1024:8.1f} KiB   tiled {b / 1024:7.1f} KiB   (tiled reads K {kf:.0f}x = N/BLOCK)")

plt.figure(figsize=(5, 3.5))
plt.plot(ns_, [x / 1024 for x in naive_b], "o-", label="naive: S written + read (N^2)")
plt.plot(ns_, [x / 1024 for x in tiled_b], "s-", label="tiled: Q once, K once per Q block")
plt.xlabel("N")
plt.ylabel("KiB moved (memtrace)")
plt.title("lse of QK^T, D=32, float32, BLOCK=32")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Both grow as `N^2` at fixed block size (the tiled kernel re-reads K `N / BLOCK` times),
# but the tiled constant is `D / BLOCK_M`-ish of the naive one, and it needs **no `N x N`
# buffer** — memory is `O(N)`. On a GPU, `BLOCK_M = 128` makes K/V re-reads cheap enough
# that the kernel is compute-bound (section 2's table).
#
# ## 7 · Tensor Cores, mixed precision, exp2 · Tensor Core、混合精度与 exp2
#
# - The two matmuls (`q k^T`, `p v`) run on Tensor Cores in fp16/bf16 with **fp32
#   accumulation**; `m`, `l`, `acc` stay fp32; `p` is cast to V's dtype just before `p v`.
#   bf16 has fp32's exponent range (no overflow of scores) but 8 bits of mantissa; fp16 has
#   more precision and a max of 65504. FP8 (FA3) needs per-block scaling.
# - `exp(x) = exp2(x · log2 e)`: fold `log2 e` into the softmax scale once
#   (`qk_scale = sm_scale · 1.4427`), then every score costs one FMA and one `ex2` instruction
#   (the hardware's native exponential). Convert `lse` back: `lse = (m + log2 l) · ln 2`.
# - In the interpreter on CPU, bf16 `tl.dot` is broken in Triton 3.9; `import inferlab.memtrace` fixes it.
#
# ## 8 · Block sizes · 块大小的权衡
#
# Larger `BLOCK_M` means fewer K/V re-reads (`N / BLOCK_M`) and more reuse per loaded tile, but
# more registers for `acc` (`BLOCK_M x D` fp32) and fewer programs (less parallelism for short
# sequences). Larger `BLOCK_N` means fewer loop iterations but more shared memory per pipeline stage.

# %%
def smem_bytes(block_m, block_n, d, stages, dtype_bytes=2):
    """Shared memory of a pipelined forward: the Q tile plus `stages` K and V tiles."""
    return block_m * d * dtype_bytes + stages * 2 * block_n * d * dtype_bytes


print(f"{'BM':>4} {'BN':>4} {'D':>4} {'stages':>6} {'SMEM KiB':>9} {'acc regs KiB':>12}  fits 228 KiB")
for bm, bn, d, st in ((64, 64, 64, 3), (128, 64, 128, 3), (128, 128, 128, 3), (128, 128, 128, 2), (256, 128, 128, 3)):
    sm = smem_bytes(bm, bn, d, st)
    print(f"{bm:>4} {bn:>4} {d:>4} {st:>6} {sm / 1024:>9.0f} {bm * d * 4 / 1024:>12.0f}  {'yes' if sm <= 228 * 1024 else 'no'}")

# %% [markdown]
# The lab's teaching kernel autotunes over `BLOCK_M ∈ {64, 128}`, `BLOCK_N ∈ {32, 64, 128}`,
# `num_warps ∈ {4, 8}`, `num_stages ∈ {2, 3, 4}` on a GPU (triton.autotune), and uses one
# configuration in the interpreter. Its fast path on Hopper uses a **fixed table** of
# configurations, measured once, so the choice never changes between runs.
#
# ## 8b · The ladder: from the teaching kernel to the fast one, measured · 从教学版到快速版
#
# One shape (fp16, `B = 4, H = 16, N = 4096, D = 128`), one card (NVIDIA H200, torch 2.11,
# Triton 3.6), every step timed in the same session against the same SDPA. For each step: the
# FLOPs it must do, the HBM bytes it moves, and what changed.
#
# | step | what changes | bytes read or written (approx.) |
# | --- | --- | --- |
# | naive torch | `S = QK^T`, softmax, `PV`: the `N x N` scores written and read | `~8 B H N^2` (scores, fp16 + fp32 softmax) |
# | teaching kernel, 64 x 64 tiles | scores stay on chip; online softmax | Q, O once; K, V `N / 64` times |
# | teaching kernel, 128 x 128, 8 warps, 3 stages | bigger tiles: half the K/V re-reads, more work per load; pipelined loads | K, V `N / 128` times |
# | Hopper path | tiles by tensor descriptor (TMA) into swizzled shared memory, scale folded into one FMA, causal: longest rows first, fixed config | same as above |
# | (FlashAttention-3) | warp specialisation: softmax of one tile overlaps the matrix products of the next | same |

# %%
B_, H_, N_, D_ = 4, 16, 4096, 128
flops = 4 * B_ * H_ * N_ * N_ * D_  # two matmuls of 2·N²·D per (batch, head); causal: half
qkvo = 4 * B_ * H_ * N_ * D_ * 2  # Q, K, V read and O written once, fp16
ladder = [  # (step, BLOCK_M or None, non-causal ms, causal ms): measured on an NVIDIA H200, 2026-11-30
    ("naive torch (scores in HBM)", None, 9.958, 14.533),
    ("SDPA flash backend (FA2)", 128, 1.561, 0.894),
    ("teaching kernel 64x64, 4 warps", 64, 1.259, 0.698),
    ("teaching kernel 128x128, 8 warps", 128, 1.065, 0.661),
    ("Hopper path (TMA, fixed config)", 128, 1.115, 0.638),
]
print(f"FLOPs {flops / 1e12:.2f} TFLOP (non-causal), ideal HBM traffic (Q, K, V, O once) {qkvo / 2**20:.0f} MiB")
print(f"{'step':34} {'scores MiB':>10} {'K/V reads MiB':>13} | {'ms':>7} {'TFLOP/s':>8} | {'causal ms':>9} {'TFLOP/s':>8}")
for name, bm, t, tc in ladder:
    # naive: S written (fp16), read by softmax, P written and read by PV: 4 passes of B·H·N² fp16 values
    scores = 4 * B_ * H_ * N_ * N_ * 2 if bm is None else 0
    kv = 2 * B_ * H_ * N_ * D_ * 2 * (1 if bm is None else N_ // bm)  # K and V, once per query block
    print(f"{name:34} {scores / 2**20:10.0f} {kv / 2**20:13.0f} | {t:7.3f} {flops / t / 1e9:8.0f} | "
          f"{tc:9.3f} {flops / 2 / tc / 1e9:8.0f}")

# %% [markdown]
# The tiled kernels write no scores (the naive one moves 8 GiB of them). They read K and V once
# per query block (`N / BLOCK_M` times: 4 GiB at 128 x 128), but the query blocks of one head run
# at the same time, so most re-reads should come from the 50 MiB L2, not HBM (not measured here).
# Where does the time go, then? The same session timed the Hopper kernel with parts removed (fp16, D 128,
# N 16k): the full kernel ran at 518 TFLOP/s, without `exp2` at 611, with no softmax at all (only
# the two matrix products) at 707, against 802 for a plain bf16 GEMM. The softmax runs *after* each
# matrix product instead of beside it: its `exp2` (on the special-function units) costs ~15 % of
# the time and the rest of it (row max, row sum, rescaling `acc`) another ~15 %. FlashAttention-3
# hides both by warp specialisation (a producer warp issues the TMA copies; two consumer warpgroups
# alternate, one in softmax while the other's `wgmma` runs) and reaches 620-740 TFLOP/s; Triton 3.6
# could not express that on Hopper here (its `warp_specialize` option gave the same time or failed
# to compile). The lab's NOTES.md has the full tables.
#
# ## 9 · Attention across GPUs: merging partial results · 跨 GPU 的注意力
#
# `(o, lse)` of attention over a key set is all that is needed to combine it with another,
# disjoint key set: `lse = log(e^lse_a + e^lse_b)`, `o = e^(lse_a - lse) o_a + e^(lse_b - lse) o_b`.
# - **Split-KV decoding (flash-decoding):** one query, a long KV cache: split the keys over many
#   programs so all SMs work, then merge.
# - **Ring attention / context parallelism:** each GPU holds a slice of the sequence; K/V blocks
#   travel around a ring (send to the next GPU while computing on the current block) and each GPU
#   merges the partial results into its queries' `(o, lse)`. Challenges: overlapping communication
#   with compute, load balance under a causal mask (zig-zag sharding gives each GPU early and late
#   chunks), and memory for in-flight K/V.

# %%
def partial_attention(q, k, v):
    s = q @ k.T / q.shape[-1] ** 0.5
    return torch.softmax(s, -1) @ v, torch.logsumexp(s, -1)


q, k, v = torch.randn(4, 32, dtype=torch.float64), torch.randn(100, 32, dtype=torch.float64), torch.randn(100, 32, dtype=torch.float64)
o, lse = partial_attention(q, k[:30], v[:30])  # "GPU 0"'s keys
for lo, hi in ((30, 55), (55, 100)):  # the blocks arriving around the ring
    o_b, lse_b = partial_attention(q, k[lo:hi], v[lo:hi])
    new = torch.logaddexp(lse, lse_b)
    o = torch.exp(lse - new)[:, None] * o + torch.exp(lse_b - new)[:, None] * o_b
    lse = new
o_full, lse_full = partial_attention(q, k, v)
print("max |merged - full| =", (o - o_full).abs().max().item(), (lse - lse_full).abs().max().item())

# %% [markdown]
# ## 10 · Interview questions · 面试问题 (with model answers · 参考答案)
#
# **Q1. How does FlashAttention remove the memory bottleneck of standard attention? · FlashAttention 如何解决标准注意力的内存瓶颈？**
# Standard attention writes the `N x N` scores and probabilities to HBM and reads them back:
# `O(N^2)` memory and traffic, and a softmax at ~1 FLOP/byte. FlashAttention tiles Q, K, V so a
# `BLOCK_M x BLOCK_N` score tile is computed, exponentiated and multiplied by V in SRAM and
# never written; an online softmax makes the per-tile results exact. HBM traffic drops to
# `Q + O + (K + V) · N / BLOCK_M`, the kernel becomes compute-bound, and the FLOPs are unchanged.
# 标准注意力把 N×N 的分数矩阵写回 HBM 再读出，显存和带宽都是 O(N²)。FlashAttention 分块计算，分数块只存在于片上 SRAM，
# 用在线 softmax 保证结果精确；HBM 访问降为 Q、O 各一次、K/V 各 N/BLOCK_M 次，算子从访存受限变为计算受限，FLOPs 不变。
#
# **Q2. What is the key idea of online softmax, and how does it stay numerically stable? · 在线 Softmax 的核心创新是什么？如何保证数值稳定？**
# Keep a running max `m` and a running sum `l = sum exp(x - m)` (and, in attention, an
# unnormalised `acc`). When a new block raises the max, rescale `l` and `acc` by `exp(m_old - m_new)`.
# The merge is exact (proof in section 4). Stability: every exponent is `<= 0`; accumulate in fp32;
# guard fully-masked rows (`m = -inf`) against `-inf - (-inf)`.
# 维护运行最大值 m 和运行和 l（注意力中还有未归一化的 acc），最大值变大时用 exp(m_old − m_new) 重新缩放；合并是精确的。
# 所有指数都 ≤ 0 不会溢出，累加用 fp32，全被 mask 的行要防止 −inf − (−inf) 产生 NaN。
#
# **Q3. Why is FlashAttention's memory O(N) ("O(1) extra")? · 为什么说 FlashAttention 的额外显存是 O(1)/O(N)？**
# Beyond the inputs and output (`O(N D)`), it stores only `lse` (`O(N)`) for the backward pass;
# per program the working set is a fixed `BLOCK_M x D` accumulator plus K/V tiles, independent
# of `N` — "O(1) extra SRAM per program", no `N x N` buffer. The backward recomputes `P` tile by
# tile from `lse` instead of storing it (more FLOPs, far fewer bytes).
# 除输入输出外只保存 O(N) 的 lse；每个程序的片上工作集是固定大小的块，与 N 无关，不需要 N×N 缓冲。反向传播用 lse 重算 P。
#
# **Q4. What does FlashAttention-2 improve over FlashAttention-1? · FlashAttention-2 相比 FA1 的关键改进？**
# (1) Loop order: Q blocks outside (one program each), K/V inside, so `O` is accumulated on chip and
# written once; (2) parallelism over the sequence dimension, not only batch × heads; (3) fewer
# non-matmul FLOPs (rescale once at the end, store `lse` only); (4) warps split Q instead of K, so no
# shared-memory reduction between warps; (5) causal tile skipping. ~2x faster than FA1.
# 外层循环改为 Q 块、O 在片上累加只写一次；在序列维度并行；减少非矩阵乘 FLOPs；warp 间按 Q 划分避免共享内存归约；causal 跳过上三角块。
#
# **Q5. How do you optimise FlashAttention for a given GPU? · 如何针对不同 GPU 优化？**
# Tune block sizes and pipeline stages to the SM's shared memory and registers (H100: 228 KB/SM);
# use the native Tensor Core path (mma on Ampere, wgmma + TMA + warp specialisation on Hopper = FA3;
# FP8 with block scaling); exp2 with a folded scale; enough programs for all SMs (split-KV for decode);
# measure TFLOP/s against the card's matmul ceiling, and bytes against its HBM bandwidth.
# 按 SRAM/寄存器容量调块大小和流水级数；用对应架构的 Tensor Core 指令（Hopper 上 wgmma、TMA、warp 特化即 FA3，FP8）；exp2；保证并行度；用 roofline 评估。
#
# **Q6. What new challenges appear across several GPUs? · 多 GPU 下面临哪些新挑战？**
# The sequence no longer fits one GPU: shard it (ring attention / context parallelism) and merge
# partial `(o, lse)` exactly; overlap K/V transfers with compute; balance causal work (zig-zag
# sharding); tensor parallelism splits heads instead (no merge needed, but all-reduces after the
# projection); communication bandwidth (NVLink vs PCIe/IB) bounds the ring step.
# 序列切分到多卡（ring attention），用 lse 精确合并部分结果；通信与计算重叠；causal 下负载均衡；张量并行按 head 切分。
#
# **Q7. How is FlashAttention integrated into a framework? · 如何集成到现有框架？**
# PyTorch: `F.scaled_dot_product_attention` dispatches to a FlashAttention backend; custom kernels
# are wrapped in a `torch.autograd.Function` (forward saves `o`, `lse`; backward recomputes) or
# registered as a custom op (`torch.library`) so `torch.compile` can trace them; serving engines
# (vLLM, SGLang) call varlen / paged variants directly from the attention backend.
# PyTorch 中通过 SDPA 分派；自定义 kernel 用 autograd.Function 封装（前向存 o 与 lse，反向重算），或注册 custom op；推理引擎直接调用 varlen/paged 版本。
#
# **Q8. Which configuration parameters matter when deploying it? · 部署时需考虑哪些关键配置参数？**
# Data type (fp16/bf16/fp8) and accumulation precision; head dim support; block sizes, warps and
# stages (autotuned per shape and GPU); causal vs not, sliding windows, GQA head ratio; variable
# lengths (varlen / paged KV layout); split-KV count for decode; deterministic backward if needed.
# 数据类型与累加精度、head dim、块大小/warp/流水级数、causal/滑窗/GQA、变长与分页 KV、解码时 split-KV 数量。
#
# **Q9. How do you evaluate the gain in a given application? · 如何评估性能提升？**
# Check correctness first against a high-precision reference (max error per dtype); then sweep
# sequence length, batch, heads and head dim; report TFLOP/s (`4 N^2 D B H`, half for causal)
# against the matmul ceiling and a baseline timed in the same run (e.g. SDPA); measure peak
# memory; end to end, measure TTFT / throughput of the serving system, since attention is only part of a step.
# 先对照高精度参考验证误差，再扫描序列长度、batch、head、head dim；用 TFLOP/s 与同次运行的基线比较；测峰值显存；端到端看 TTFT 和吞吐。
