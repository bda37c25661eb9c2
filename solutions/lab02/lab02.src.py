# %% [markdown]
# # lab02 · FlashAttention · 闪电注意力
#
# Standard attention writes an `N x N` score matrix to HBM and reads it back; at long
# sequence lengths that traffic, not the FLOPs, sets the time. FlashAttention never
# materialises the scores: it streams K/V tiles through on-chip SRAM and keeps, per
# query row, a running maximum `m`, a running sum `l` and an unnormalised output `acc`.
#
# The lab climbs in five steps (course notebook 02 has the derivations):
#
# | task | graded name | what |
# | --- | --- | --- |
# | 1 | `softmax_stats` | the two numbers that summarise a softmax row: `(m, l)` |
# | 2 | `merge_softmax_stats` | combine the stats of two parts of a row, exactly |
# | 3 | `online_softmax` | softmax streamed block by block |
# | 4 | `merge_attention` | combine attention over two disjoint key sets (split-KV, ring attention) |
# | 5 | `flash_attention` | the Triton kernel: non-causal, causal with tile skipping, `lse` output |
#
# Shapes: `B` batch, `H` heads, `N` (`Nq`, `Nk`) sequence length, `D` head dim.
# Attention tensors are `(B, H, N, D)`; `lse` is the natural-log log-sum-exp, float32 `(B, H, Nq)`.
#
# On a machine without a GPU every kernel runs in the Triton interpreter (slow: keep
# your own experiments small). `inferlab.memtrace` counts the bytes a kernel moves;
# the performance checks grade those counts, never wall-clock time.

# %%
import functools
import math

import inferlab  # first: sets TRITON_INTERPRET=1 without a GPU, before Triton defines its own jit functions
import inferlab.memtrace  # noqa: F401 - also fixes the Triton interpreter's bfloat16 tl.dot on CPU
import torch
import triton
import triton.language as tl

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"device {DEVICE}, Triton interpreter: {inferlab.INTERPRETER}")

# %% [markdown]
# ## Task 1 · softmax_stats (lab02 · task 1)
#
# `softmax(x)_i = exp(x_i - m) / l` with `m = max_j x_j` and `l = sum_j exp(x_j - m)`.
# Subtracting `m` keeps every exponent `<= 0`, so nothing overflows even for `x` of
# magnitude `1e4`. `(m, l)` is all a later step needs to know about a row.
#
# Write `softmax_stats(x) -> (m, l)` over the last dim. A row of only `-inf` (every key
# masked) has `m = -inf, l = 0` — and no NaN (`-inf - (-inf)` is NaN: guard it).
# Return float32 stats for half-precision input (float64 for float64 input).

# %% [solution id=lab02_softmax_stats]
def _stats_dtype(dtype):
    """The dtype softmax statistics are kept in: float64 stays, everything else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def softmax_stats(x):
    """(..., n) -> (m, l), each (...): row max and sum of exp(x - m); an all -inf row gives (-inf, 0)."""
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    x = x.to(_stats_dtype(x.dtype))
    m = x.amax(dim=-1)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)  # an all -inf row: exp(-inf - 0) = 0
    l = torch.exp(x - m_safe[..., None]).sum(dim=-1)
    return m, l
    ### END SOLUTION


# %% [test id=lab02_task1]
from inferlab.grading import check_here
check_here("lab02", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · merge_softmax_stats (lab02 · task 2)
#
# Split a row into parts `a` and `b`. With `m = max(m_a, m_b)`:
#
# `l = l_a * exp(m_a - m) + l_b * exp(m_b - m)`
#
# is exactly the `l` of the whole row (each part's sum is rescaled to the common maximum).
# Write `merge_softmax_stats(m_a, l_a, m_b, l_b) -> (m, l)`. It must be exact for any
# split, including an empty part (`m = -inf, l = 0`) and two empty parts.

# %% [solution id=lab02_merge_softmax_stats]
def merge_softmax_stats(m_a, l_a, m_b, l_b):
    """Stats (m, l) of the concatenation of two row parts with stats (m_a, l_a) and (m_b, l_b)."""
    ### BEGIN SOLUTION
    m = torch.maximum(m_a, m_b)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)  # both parts empty: keep l = 0, no NaN
    l = l_a * torch.exp(m_a - m_safe) + l_b * torch.exp(m_b - m_safe)
    return m, l
    ### END SOLUTION


# %% [test id=lab02_task2]
from inferlab.grading import check_here
check_here("lab02", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · online_softmax (lab02 · task 3)
#
# Stream the row in blocks of `block_size`: keep the running `(m, l)` and fold each
# block's stats into it with `merge_softmax_stats`. One more pass writes
# `exp(x - m) / l`. The result equals `torch.softmax` (checked against float64), for
# inputs of magnitude `1e4`, `-inf` entries, and all `-inf` rows (which give zeros).
# It has `x`'s shape and dtype; `block_size < 1` raises `ValueError`.

# %% [solution id=lab02_online_softmax]
def online_softmax(x, block_size=128):
    """(..., n) -> (..., n): softmax over the last dim from running (max, sum) over blocks of block_size."""
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise TypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    xs = x.to(_stats_dtype(x.dtype))
    m = torch.full(xs.shape[:-1], -math.inf, dtype=xs.dtype, device=x.device)  # (...)
    l = torch.zeros_like(m)
    for start in range(0, xs.shape[-1], block_size):  # pass 1: running stats
        m_blk, l_blk = softmax_stats(xs[..., start:start + block_size])
        m, l = merge_softmax_stats(m, l, m_blk, l_blk)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)
    l_safe = torch.where(l == 0, torch.ones_like(l), l)  # an all -inf row: exp(...) = 0 everywhere
    out = torch.exp(xs - m_safe[..., None]) / l_safe[..., None]  # pass 2: normalise
    return out.to(x.dtype)
    ### END SOLUTION


# %% [test id=lab02_task3]
from inferlab.grading import check_here
check_here("lab02", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · merge_attention (lab02 · task 4)
#
# Attention over keys `A ∪ B` (disjoint) from the attention over each part: with
# `lse = log(exp(lse_a) + exp(lse_b))`,
#
# `o = exp(lse_a - lse) * o_a + exp(lse_b - lse) * o_b`.
#
# This is how split-KV decoding (flash-decoding) and ring attention combine partial
# results computed on different programs or GPUs. `o` is `(..., D)`, `lse` is `(...)`.
# A part with `lse = -inf` (no visible key) contributes nothing, whatever its `o` holds;
# two such parts give `o = 0, lse = -inf`. `o` keeps `o_a`'s dtype, `lse` is float32.
# Mismatched shapes raise `ValueError` naming the argument.

# %% [solution id=lab02_merge_attention]
def merge_attention(o_a, lse_a, o_b, lse_b):
    """Merge attention over two disjoint key sets: o (..., D), lse (...) -> (o, lse)."""
    ### BEGIN SOLUTION
    for name, t in (("o_a", o_a), ("lse_a", lse_a), ("o_b", o_b), ("lse_b", lse_b)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if o_a.dim() < 1:
        raise ValueError(f"o_a must be (..., D), got shape {tuple(o_a.shape)}")
    if o_b.shape != o_a.shape:
        raise ValueError(f"o_b has shape {tuple(o_b.shape)}, o_a has {tuple(o_a.shape)}")
    if o_b.dtype != o_a.dtype:
        raise ValueError(f"o_b has dtype {o_b.dtype}, o_a has {o_a.dtype}")
    for name, t in (("lse_a", lse_a), ("lse_b", lse_b)):
        if t.shape != o_a.shape[:-1]:
            raise ValueError(f"{name} must have shape {tuple(o_a.shape[:-1])} (o's without D), got {tuple(t.shape)}")
    acc = _stats_dtype(o_a.dtype)
    lse_a, lse_b = lse_a.to(acc), lse_b.to(acc)
    m = torch.maximum(lse_a, lse_b)
    m_safe = torch.where(m == -math.inf, torch.zeros_like(m), m)
    w_a, w_b = torch.exp(lse_a - m_safe), torch.exp(lse_b - m_safe)  # (...), 0 for an empty part
    total = w_a + w_b
    lse = m_safe + torch.log(total)  # -inf when both parts are empty
    denom = torch.where(total > 0, total, torch.ones_like(total))
    w_a, w_b = (w_a / denom)[..., None], (w_b / denom)[..., None]  # (..., 1)
    zero = torch.zeros((), dtype=acc, device=o_a.device)
    o = torch.where(w_a > 0, w_a * o_a.to(acc), zero) + torch.where(w_b > 0, w_b * o_b.to(acc), zero)
    return o.to(o_a.dtype), lse.to(torch.float32)
    ### END SOLUTION


# %% [test id=lab02_task4]
from inferlab.grading import check_here
check_here("lab02", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · flash_attention (lab02 · task 5)
#
# One Triton program owns `BLOCK_M` query rows of one `(batch, head)` (FlashAttention-2's
# loop order: the outer loop over query blocks is the grid, so long sequences fill the
# GPU even at batch 1). It loads its Q tile once, then streams K/V tiles of `BLOCK_N`
# keys, keeping `m`, `l` and `acc` (`BLOCK_M x D`, float32) on chip:
#
# ```
# s     = q @ k^T * scale                      (BLOCK_M, BLOCK_N), never written to HBM
# m_new = max(m, rowmax(s));  alpha = exp(m - m_new)
# p     = exp(s - m_new);     l = l * alpha + rowsum(p)
# acc   = acc * alpha + p @ v                  rescale, then accumulate
# ```
# and at the end stores `o = acc / l` and `lse = m + log(l)` — its only stores.
#
# Requirements (SPEC): q `(B,H,Nq,D)`, k/v `(B,H,Nk,D)`, `D` in {16, 32, 64, 128} (the reference
# also takes 80, 96 and 112, head sizes real models use, by padding to 128 columns), any
# `N >= 1` (mask the last partial tile: no out-of-bounds access); `o` in q's dtype, `lse`
# float32 `(B,H,Nq)` in natural-log units. `causal=True` needs `Nq == Nk`; a program then
# skips the key tiles entirely above the diagonal, and only the diagonal tiles need a mask.
# K and V are read about `Nq / BLOCK_M` times, with `BLOCK_M >= 32`. Bad input raises
# `ValueError` naming the argument (`TypeError` for a non-tensor).
#
# Tips. `exp(x) = exp2(x * log2(e))`: fold `log2(e)` into the scale and use `tl.math.exp2`
# (one multiply fewer per score on the GPU; convert `lse` back to natural log at the end).
# Keep `acc` in float32 and cast `p` to V's dtype before `p @ v` (Tensor Cores take fp16/bf16).
# In the interpreter, a kernel's cost is programs × operations: large blocks run faster.
#
# Step by step: make it right non-causal first (visible check), then awkward sizes
# (N = 1, 17, 129; Nq != Nk), then causal, then `lse`; `sub.traced` counts your bytes.
#
# The helpers below (`_attn_tiles`, `_flash_attn_fwd`, `_flash_configs`, `_tuned_flash_kernel`,
# `_validate`) are a suggested structure: only `flash_attention`'s signature and behaviour are
# graded, so change them freely. Autotuning matters on a GPU only; on CPU you may launch
# `_flash_attn_fwd[grid](..., BLOCK_M=64, BLOCK_N=64)` directly.

# %% [solution id=lab02_flash_kernel]
LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x * LOG2E)
LN2 = 0.6931471805599453  # ln(2): log(x) = log2(x) * LN2


@triton.jit
def _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn, stride_vd,
                offs_m, offs_n, offs_d, lo, hi, n_k, qk_scale,
                MASK_KEYS: tl.constexpr, MASK_CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr,
                INPUT_PRECISION: tl.constexpr):
    """Fold the key tiles [lo, hi) into (acc, l_i, m_i); scores in log2 units (scale already holds log2 e)."""
    ### BEGIN SOLUTION
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n  # (BLOCK_N,) key indices of this tile
        kt_ptrs = k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kd  # (D, BLOCK_N): K^T tile
        v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd  # (BLOCK_N, D)
        if MASK_KEYS:  # the last, partial tile: no load past Nk, and its padding must not count
            kt = tl.load(kt_ptrs, mask=cols[None, :] < n_k, other=0.0)
            v = tl.load(v_ptrs, mask=cols[:, None] < n_k, other=0.0)
        else:
            kt = tl.load(kt_ptrs)
            v = tl.load(v_ptrs)
        s = tl.dot(q, kt, input_precision=INPUT_PRECISION) * qk_scale  # (BLOCK_M, BLOCK_N)
        if MASK_KEYS:
            s = tl.where(cols[None, :] < n_k, s, float("-inf"))
        if MASK_CAUSAL:  # query i sees keys j <= i
            s = tl.where(offs_m[:, None] >= cols[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))  # finite: every row sees at least one key of its first tile
        alpha = tl.math.exp2(m_i - m_new)  # rescale what was accumulated under the old max
        p = tl.math.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=INPUT_PRECISION)
        m_i = m_new
    return acc, l_i, m_i
    ### END SOLUTION


@triton.jit
def _flash_attn_fwd(Q, K, V, O, LSE,
                    stride_qb, stride_qh, stride_qm, stride_qd,
                    stride_kb, stride_kh, stride_kn, stride_kd,
                    stride_vb, stride_vh, stride_vn, stride_vd,
                    stride_ob, stride_oh, stride_om, stride_od,
                    H, n_q, n_k, qk_scale,
                    N_KEY, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
                    INPUT_PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One program: BLOCK_M query rows of one (batch, head); grid (cdiv(Nq, BLOCK_M), B * H)."""
    ### BEGIN SOLUTION
    start_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) query rows
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < n_q

    q_ptrs = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=row_ok[:, None], other=0.0)  # (BLOCK_M, D), read once
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh

    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    if CAUSAL:
        # Nq == Nk. Tiles left of the diagonal block need no mask (BLOCK_N divides BLOCK_M);
        # tiles right of it are skipped; the diagonal block gets the causal and bounds masks.
        diag = start_m * BLOCK_M
        acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, 0, diag, n_k, qk_scale,
                                    False, False, BLOCK_N, INPUT_PRECISION)
        acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, diag, tl.minimum(diag + BLOCK_M, n_k), n_k, qk_scale,
                                    True, True, BLOCK_N, INPUT_PRECISION)
    else:
        n_full = (n_k // BLOCK_N) * BLOCK_N  # full tiles without masks, then the partial one
        acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn, stride_vd,
                                    offs_m, offs_n, offs_d, 0, n_full, n_k, qk_scale,
                                    False, False, BLOCK_N, INPUT_PRECISION)
        if n_full < n_k:
            acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_kd, stride_vn,
                                        stride_vd, offs_m, offs_n, offs_d, n_full, n_k, n_k, qk_scale,
                                        True, False, BLOCK_N, INPUT_PRECISION)

    o = acc / l_i[:, None]
    o_ptrs = O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(O.dtype.element_ty), mask=row_ok[:, None])
    lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453  # back to natural log
    tl.store(LSE + pid_bh.to(tl.int64) * n_q + offs_m, lse, mask=row_ok)
    ### END SOLUTION


# %% [markdown]
# ### The fast path on Hopper (H100, H200): what changes and why
#
# The kernel above is the teaching version, and it runs everywhere (the interpreter included). On a
# Hopper GPU `flash_attention` takes a second kernel, `_flash_attn_fwd_hopper`, for fp16/bf16 inputs
# whose rows are 16-byte aligned. The algorithm is the same; what changes is how tiles move:
#
# - **Tensor descriptors (TMA).** `desc.load([b, h, row, 0])` asks the copy engine for a whole
#   `(BLOCK, D)` tile. No address arithmetic in registers, and the tile lands in shared memory in the
#   swizzled layout the tensor cores (`wgmma`) read. Rows past `N` come back as zeros (the descriptor
#   knows each head's bounds), so only the score mask of the last key tile is left to write.
# - **Pipelining.** The loop over key tiles is software-pipelined `num_stages` deep: the copies of
#   the next tiles are in flight while the current one is multiplied.
# - **Fewer instructions per score.** `max(s) * scale` instead of scaling every score before the max,
#   then one fused multiply-add `s * scale - m`, then `exp2`: on Hopper the softmax, not the matrix
#   products, is what the tensor cores wait for.
# - **Causal: longest rows first.** Query block `i` does `i + 1` key tiles; launching the last
#   (longest) blocks first leaves short ones to fill the tail of the grid.
# - **Padded head dims.** D of 80, 96 or 112 is loaded as 128 columns; the descriptor fills the
#   padding with zeros and drops it on the store.
# - **A fixed configuration per shape class** (`HOPPER_CONFIGS`), measured once and written in the
#   lab's NOTES, instead of an autotuner whose choice can change from run to run.

# %% [solution id=lab02_flash_hopper]
try:
    from triton.tools.tensor_descriptor import TensorDescriptor
except ImportError:  # an older Triton: the portable kernel only
    TensorDescriptor = None


@triton.jit
def _hopper_tiles(acc, l_i, m_i, q, desc_k, desc_v, b, h, offs_m, offs_n, lo, hi, n_k, qk_scale,
                  MASK_KEYS: tl.constexpr, MASK_CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr,
                  HEAD_DIM_P: tl.constexpr):
    """Fold key tiles [lo, hi) into (acc, l_i, m_i): tiles by descriptor, scale folded into one FMA."""
    ### BEGIN SOLUTION
    for start_n in tl.range(lo, hi, BLOCK_N):
        k = desc_k.load([b, h, start_n, 0]).reshape(BLOCK_N, HEAD_DIM_P)
        s = tl.dot(q, k.T)  # (BLOCK_M, BLOCK_N), raw scores
        if MASK_KEYS or MASK_CAUSAL:
            keep = (start_n + offs_n)[None, :] < n_k
            if MASK_CAUSAL:
                keep = keep & (offs_m[:, None] >= (start_n + offs_n)[None, :])
            s = tl.where(keep, s * qk_scale, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            s = s - m_new[:, None]
        else:
            m_new = tl.maximum(m_i, tl.max(s, 1) * qk_scale)  # scale > 0: max commutes with it
            s = s * qk_scale - m_new[:, None]  # one FMA per score
        p = tl.math.exp2(s)
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = desc_v.load([b, h, start_n, 0]).reshape(BLOCK_N, HEAD_DIM_P)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_new
    return acc, l_i, m_i
    ### END SOLUTION


@triton.jit
def _flash_attn_fwd_hopper(desc_q, desc_k, desc_v, desc_o, LSE, H, n_q, n_k, qk_scale,
                           HEAD_DIM_P: tl.constexpr, CAUSAL: tl.constexpr,
                           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Grid (cdiv(Nq, BLOCK_M), B * H); descriptors of q, k, v, o with blocks (1, 1, BLOCK, HEAD_DIM_P)."""
    ### BEGIN SOLUTION
    tl.static_assert(not CAUSAL or BLOCK_M % BLOCK_N == 0)  # whole key tiles left of the diagonal block
    if CAUSAL:
        start_m = tl.num_programs(0) - 1 - tl.program_id(0)  # the longest rows first
    else:
        start_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    q = desc_q.load([b, h, start_m * BLOCK_M, 0]).reshape(BLOCK_M, HEAD_DIM_P)  # rows past Nq: zeros

    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM_P), dtype=tl.float32)
    if CAUSAL:
        diag = start_m * BLOCK_M
        acc, l_i, m_i = _hopper_tiles(acc, l_i, m_i, q, desc_k, desc_v, b, h, offs_m, offs_n, 0, diag, n_k,
                                      qk_scale, False, False, BLOCK_N, HEAD_DIM_P)
        acc, l_i, m_i = _hopper_tiles(acc, l_i, m_i, q, desc_k, desc_v, b, h, offs_m, offs_n, diag,
                                      tl.minimum(diag + BLOCK_M, n_k), n_k, qk_scale, True, True, BLOCK_N, HEAD_DIM_P)
    else:
        n_full = (n_k // BLOCK_N) * BLOCK_N
        acc, l_i, m_i = _hopper_tiles(acc, l_i, m_i, q, desc_k, desc_v, b, h, offs_m, offs_n, 0, n_full, n_k,
                                      qk_scale, False, False, BLOCK_N, HEAD_DIM_P)
        if n_full < n_k:
            acc, l_i, m_i = _hopper_tiles(acc, l_i, m_i, q, desc_k, desc_v, b, h, offs_m, offs_n, n_full, n_k, n_k,
                                          qk_scale, True, False, BLOCK_N, HEAD_DIM_P)
    l_safe = tl.where(l_i > 0, l_i, 1.0)  # rows past Nq only
    o = acc / l_safe[:, None]
    desc_o.store([b, h, start_m * BLOCK_M, 0], o.to(desc_o.dtype).reshape(1, 1, BLOCK_M, HEAD_DIM_P))
    lse = (m_i + tl.math.log2(l_safe)) * 0.6931471805599453
    tl.store(LSE + pid_bh.to(tl.int64) * n_q + offs_m, lse, mask=offs_m < n_q)
    ### END SOLUTION


# (head dim padded, causal) -> (BLOCK_M, BLOCK_N, num_warps, num_stages): measured, see NOTES.md.
HOPPER_CONFIGS = {
    (16, False): (128, 64, 4, 3), (16, True): (128, 64, 4, 3),
    (32, False): (128, 64, 4, 3), (32, True): (128, 64, 4, 3),
    (64, False): (128, 64, 4, 3), (64, True): (128, 64, 4, 3),
    (128, False): (128, 128, 8, 3), (128, True): (128, 128, 8, 3),
}


@functools.lru_cache(maxsize=None)
def _is_hopper(device_index):
    return torch.cuda.get_device_capability(device_index)[0] == 9


def _hopper_ok(q, k, v):
    """Can the descriptor kernel take these tensors? (Hopper, fp16/bf16, 16-byte aligned rows.)"""
    ### BEGIN SOLUTION
    if TensorDescriptor is None or not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
        return False
    if not _is_hopper(q.device.index):
        return False
    for t in (q, k, v):
        if t.stride(3) != 1 or t.data_ptr() % 16 or any(s * t.element_size() % 16 for s in t.stride()[:3]):
            return False
    return True
    ### END SOLUTION


def _flash_attention_hopper(q, k, v, causal, scale, config=None):
    """flash_attention through `_flash_attn_fwd_hopper` (no validation): (o, lse)."""
    ### BEGIN SOLUTION
    B, H, n_q, d = q.shape
    n_k = k.shape[2]
    d_p = max(16, triton.next_power_of_2(d))
    block_m, block_n, warps, stages = config or HOPPER_CONFIGS[(d_p, causal)]
    o = torch.empty((B, H, n_q, d), dtype=q.dtype, device=q.device)  # (B, H, Nq, D)
    lse = torch.empty((B, H, n_q), dtype=torch.float32, device=q.device)  # (B, H, Nq)
    desc = lambda t, rows: TensorDescriptor(t, list(t.shape), list(t.stride()), [1, 1, rows, d_p])  # noqa: E731
    _flash_attn_fwd_hopper[(triton.cdiv(n_q, block_m), B * H)](
        desc(q, block_m), desc(k, block_n), desc(v, block_n), desc(o, block_m), lse,
        H, n_q, n_k, scale * LOG2E,
        HEAD_DIM_P=d_p, CAUSAL=causal, BLOCK_M=block_m, BLOCK_N=block_n,
        num_warps=warps, num_stages=stages,
    )
    return o, lse
    ### END SOLUTION


# %% [solution id=lab02_flash_attention]
HEAD_DIMS = (16, 32, 64, 80, 96, 112, 128)  # 80, 96, 112: padded to 128 columns


def _flash_configs():
    """Tile sizes: one in the interpreter (cost = programs x ops), an autotuned set on a GPU."""
    ### BEGIN SOLUTION
    if inferlab.INTERPRETER:
        return [triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}, num_warps=4, num_stages=1)]
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
            for bm, bn, w, s in ((128, 128, 8, 3), (128, 128, 8, 2), (128, 64, 8, 3), (128, 64, 4, 3),
                                 (128, 64, 4, 4), (128, 32, 4, 4), (64, 64, 4, 3), (64, 32, 4, 4))]
    ### END SOLUTION


@functools.lru_cache(maxsize=None)
def _tuned_flash_kernel():
    """_flash_attn_fwd wrapped in triton.autotune (built on first use)."""
    ### BEGIN SOLUTION
    return triton.autotune(configs=_flash_configs(), key=["N_KEY", "HEAD_DIM", "CAUSAL"])(_flash_attn_fwd)
    ### END SOLUTION


def _validate(q, k, v, causal, sm_scale):
    """Raise ValueError/TypeError naming the argument for any input flash_attention cannot take."""
    ### BEGIN SOLUTION
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must be 4-D (B, H, N, D), got shape {tuple(t.shape)}")
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"q has dtype {q.dtype}; use float16, bfloat16 or float32")
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            raise ValueError(f"{name} has dtype {t.dtype}, but q has {q.dtype}")
        if t.device != q.device:
            raise ValueError(f"{name} is on {t.device}, but q is on {q.device}")
    B, H, n_q, d = q.shape
    if d not in HEAD_DIMS:
        raise ValueError(f"q has head dim D={d}; supported: {HEAD_DIMS}")
    if n_q < 1:
        raise ValueError(f"q has Nq={n_q} queries; need >= 1")
    if k.shape[:2] != (B, H) or k.shape[3] != d:
        raise ValueError(f"k has shape {tuple(k.shape)}; need (B={B}, H={H}, Nk, D={d}) to match q")
    if v.shape != k.shape:
        raise ValueError(f"v has shape {tuple(v.shape)}; need k's shape {tuple(k.shape)}")
    if k.shape[2] < 1:
        raise ValueError(f"k has Nk={k.shape[2]} keys; need >= 1")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if causal and n_q != k.shape[2]:
        raise ValueError(f"causal=True needs Nq == Nk, got Nq={n_q}, Nk={k.shape[2]}")
    if sm_scale is not None:
        if isinstance(sm_scale, bool) or not isinstance(sm_scale, (int, float)):
            raise TypeError(f"sm_scale must be a number or None, got {type(sm_scale).__name__}")
        if not math.isfinite(sm_scale) or sm_scale <= 0:
            raise ValueError(f"sm_scale must be finite and > 0, got {sm_scale}")
    ### END SOLUTION


def flash_attention(q, k, v, causal=False, sm_scale=None):
    """FlashAttention forward: q (B,H,Nq,D), k/v (B,H,Nk,D) -> (o (B,H,Nq,D) in q's dtype, lse float32 (B,H,Nq))."""
    ### BEGIN SOLUTION
    _validate(q, k, v, causal, sm_scale)
    B, H, n_q, d = q.shape
    n_k = k.shape[2]
    scale = d ** -0.5 if sm_scale is None else float(sm_scale)
    if _hopper_ok(q, k, v):  # the fast path on H100/H200 (below the teaching kernel)
        return _flash_attention_hopper(q, k, v, causal, scale)
    if d & (d - 1):  # 80, 96, 112: zero columns up to a power of two change neither q.k nor o's first d columns
        pad = lambda t: torch.nn.functional.pad(t, (0, triton.next_power_of_2(d) - d))  # noqa: E731
        o, lse = flash_attention(pad(q), pad(k), pad(v), causal=causal, sm_scale=scale)
        return o[..., :d].contiguous(), lse
    return _flash_attention_portable(q, k, v, causal, scale)
    ### END SOLUTION


def _flash_attention_portable(q, k, v, causal, scale):
    """flash_attention through the teaching kernel `_flash_attn_fwd` (no validation): (o, lse)."""
    ### BEGIN SOLUTION
    B, H, n_q, d = q.shape
    n_k = k.shape[2]
    o = torch.empty((B, H, n_q, d), dtype=q.dtype, device=q.device)  # (B, H, Nq, D)
    lse = torch.empty((B, H, n_q), dtype=torch.float32, device=q.device)  # (B, H, Nq)
    grid = lambda meta: (triton.cdiv(n_q, meta["BLOCK_M"]), B * H)  # noqa: E731
    _tuned_flash_kernel()[grid](
        q, k, v, o, lse,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        H, n_q, n_k, scale * LOG2E,
        N_KEY=triton.next_power_of_2(n_k),  # autotune once per power-of-two bucket of Nk
        HEAD_DIM=d, CAUSAL=causal,
        INPUT_PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
    )
    return o, lse
    ### END SOLUTION


# %% [markdown]
# Try it: compare with a float64 reference and look at the bytes your kernel moves.

# %%
def attention_reference(q, k, v, causal=False, sm_scale=None):
    """Plain float64 attention: the answer key. Returns (o, lse) like flash_attention."""
    q64, k64, v64 = q.double(), k.double(), v.double()
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = q64 @ k64.transpose(-1, -2) * scale  # (B, H, Nq, Nk)
    if causal:
        n_q, n_k = s.shape[-2:]
        keep = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q)
        s = s.masked_fill(~keep, -math.inf)
    lse = torch.logsumexp(s, dim=-1)
    return torch.softmax(s, dim=-1) @ v64, lse


try:
    q, k, v = (torch.randn(1, 2, 70, 32, device=DEVICE) for _ in range(3))
    o, lse = flash_attention(q, k, v, causal=True)
    o_ref, lse_ref = attention_reference(q, k, v, causal=True)
    print("max |o - ref| =", (o.double() - o_ref).abs().max().item(), " max |lse - ref| =",
          (lse.double() - lse_ref).abs().max().item())
    if inferlab.INTERPRETER:
        with inferlab.memtrace.trace() as t:
            flash_attention(q, k, v)
        print(t.summary())
except NotImplementedError:
    print("flash_attention is not written yet")

# %% [test id=lab02_task5]
from inferlab.grading import check_here
check_here("lab02", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Task 5 · performance (lab02 · task 5_perf)
#
# Graded by counts on any machine (`sub.traced` runs your kernel in the instrumented
# interpreter): the only stores are `o` and `lse`; K and V are each read at most
# `ceil(Nq / 32)` times their size (and at least once); Q about once; causal reads
# clearly fewer K/V bytes than non-causal (skipped tiles); no out-of-bounds access; and
# the returned tensors hold exactly what a Triton kernel stored (no torch fallback).

# %% [test id=lab02_task5_perf]
from inferlab.grading import check_here
check_here("lab02", "task5_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab02", "task5_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Frontier (optional, ungraded) · backward by recomputation
#
# FlashAttention's backward pass does not store `P` either: it saves only `o` and `lse`,
# and recomputes `P = exp(q k^T * scale - lse)` tile by tile. With `dP = dO V^T` and
# `delta_i = rowsum(dO_i * O_i)`, `dS = P * (dP - delta)`, then `dQ = dS K * scale`,
# `dK = dS^T Q * scale`, `dV = P^T dO`. Wrap `flash_attention` in a
# `torch.autograd.Function` whose backward recomputes `P` from `lse` (in torch, tile by
# tile over keys) and compare its gradients with `torch.autograd` through
# `attention_reference` in float64.
