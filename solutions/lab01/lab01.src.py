# %% [markdown]
# # lab01 · Inference basics · 推理基础
#
# A language model generates text one token at a time: run the model, turn the last
# position's logits into one token, append it, repeat (自回归生成). This lab builds that
# loop from its parts and then measures what it costs:
#
# | task | graded names | what | category |
# | --- | --- | --- | --- |
# | 1 | `causal_mask` | who may attend to whom · 因果掩码 | knowledge |
# | 2 | `attention` | stable masked softmax attention · 注意力 | knowledge |
# | 3 | `top_k_top_p_filter` | truncating the distribution · top-k / top-p 截断 | practice |
# | 4 | `sample_next` | greedy and temperature sampling · 采样 | practice |
# | 5 | `generate` | the decoding loop with a KV cache · 带 KV Cache 的生成 | practice, systems |
# | 6 | `kv_cache_bytes`, `matmul_cost`, `roofline_time`, `is_memory_bound` | the numbers of serving · 显存与屋顶线 | systems |
#
# Dimension letters (the course glossary, `course/00_index.ipynb`): B batch, H heads,
# H_kv key/value heads, Nq query positions, Nk key positions, D head dim, T tokens in
# one call, C hidden size, V vocabulary.
#
# Each task: a short why, the function to write (replace `raise NotImplementedError()`),
# then a test cell that runs the task's visible checks. `inferlab grade lab01 lab01.ipynb`
# runs every check, hidden ones included, on fresh random inputs. Bad input must raise
# `ValueError` (or `TypeError` for a wrong type) whose message names the argument.

# %%
import math

import torch

import inferlab
from inferlab import models

_ = torch.manual_seed(0)  # (the returned Generator is not printed)

# %% [markdown]
# ## Task 1 · causal_mask · 因果掩码 (lab01 · task 1)
#
# Why: a token may only depend on the tokens before it, or training would let it copy
# the answer and decoding could not reproduce the same numbers. In decoding the queries
# are usually the *last* `n_q` of `n_k` positions (a prefill has `n_q == n_k`; a decode
# step has one query and all the cached keys), so query `i` sits at absolute position
# `i + (n_k - n_q)` and may see key `j` iff `j <= i + (n_k - n_q)`.
#
# ```
# n_q = 2, n_k = 5          keys 0 1 2 3 4
#   query 0 (position 3)         1 1 1 1 0
#   query 1 (position 4)         1 1 1 1 1
# ```
#
# Write `causal_mask(n_q, n_k, device=None) -> BoolTensor (n_q, n_k)`, True = may attend.
# `ValueError` naming the argument when `n_q > n_k` or either is < 1; `TypeError` when
# either is not an int.

# %% [solution id=lab01_causal_mask]
def causal_mask(n_q, n_k, device=None):
    """(n_q, n_k) bool mask, True = may attend; the queries are the last n_q of n_k positions."""
    ### BEGIN SOLUTION
    for name, value in (("n_q", n_q), ("n_k", n_k)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n_q > n_k:
        raise ValueError(f"n_q ({n_q}) must be <= n_k ({n_k}): the queries are the last n_q of n_k positions")
    i = torch.arange(n_q, device=device)[:, None]  # (Nq, 1)
    j = torch.arange(n_k, device=device)[None, :]  # (1, Nk)
    return j <= i + (n_k - n_q)  # (Nq, Nk)
    ### END SOLUTION


# %%
print(causal_mask(2, 5).int())

# %% [test id=lab01_task1]
from inferlab.grading import check_here
check_here("lab01", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · attention · 注意力 (lab01 · task 2)
#
# Why: `softmax(q kᵀ · sm_scale) v` is the one operation of a transformer that mixes
# positions. Two numerical traps matter in inference:
#
# * **overflow** — `exp(1e4)` is `inf` in every float format. Subtract each row's
#   maximum before `exp` (softmax is unchanged: the factor `exp(-max)` cancels).
# * **fully masked rows** — a padded query that may see no key has only `-inf` logits;
#   `softmax` of such a row is `0/0 = NaN`, and one NaN spreads through the next layer.
#   This course defines its output as zeros.
#
# Write `attention(q, k, v, mask=None, sm_scale=None)`: q `(B, H, Nq, D)`, k and v
# `(B, H, Nk, D)`; `mask` a bool tensor broadcastable to `(B, H, Nq, Nk)`, True = keep;
# `sm_scale` defaults to `D ** -0.5`. Return `(B, H, Nq, D)` in q's dtype. Compute in
# float32 (or better) internally for float16/bfloat16 inputs.

# %% [solution id=lab01_attention]
def attention(q, k, v, mask=None, sm_scale=None):
    """softmax(q kᵀ · sm_scale) v: q (B, H, Nq, D), k/v (B, H, Nk, D), mask -> (B, H, Nq, D)."""
    ### BEGIN SOLUTION
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must be 4-D (B, H, N, D), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if k.shape != v.shape:
        raise ValueError(f"k and v must have one shape (B, H, Nk, D), got k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q (B, H, Nq, D) and k (B, H, Nk, D) disagree: q {tuple(q.shape)}, k {tuple(k.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k and v must share one dtype, got q {q.dtype}, k {k.dtype}, v {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on one device, got q {q.device}, k {k.device}, v {v.device}")
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a bool torch.Tensor or None, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor (True = keep), got {mask.dtype}")
        if mask.device != q.device:
            raise ValueError(f"mask must be on q's device {q.device}, got {mask.device}")
        try:
            fits = torch.broadcast_shapes(mask.shape, (B, H, Nq, Nk)) == (B, H, Nq, Nk)
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to (B, H, Nq, Nk) = {(B, H, Nq, Nk)}")
    if sm_scale is None:
        sm_scale = D ** -0.5
    elif isinstance(sm_scale, bool) or not isinstance(sm_scale, (int, float)) or not math.isfinite(sm_scale):
        raise ValueError(f"sm_scale must be a finite number or None, got {sm_scale!r}")
    work = torch.float64 if q.dtype == torch.float64 else torch.float32
    s = (q.to(work) @ k.to(work).transpose(-1, -2)) * sm_scale  # (B, H, Nq, Nk)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))  # (B, H, Nq, Nk)
    m = s.amax(dim=-1, keepdim=True)  # (B, H, Nq, 1)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # a fully masked row has max -inf
    p = torch.exp(s - m)  # (B, H, Nq, Nk); exp(-inf) = 0
    l = p.sum(dim=-1, keepdim=True)  # (B, H, Nq, 1)
    p = p / torch.where(l > 0, l, torch.ones_like(l))  # a fully masked row stays all zeros
    return (p @ v.to(work)).to(q.dtype)  # (B, H, Nq, D)
    ### END SOLUTION


# %%
_q, _k, _v = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
print(attention(_q, _k, _v, mask=causal_mask(3, 5)).shape)  # torch.Size([1, 2, 3, 8])

# %% [test id=lab01_task2]
from inferlab.grading import check_here
check_here("lab01", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · top_k_top_p_filter · top-k / top-p 截断 (lab01 · task 3)
#
# Why: sampling from the full distribution now and then picks a token from the long
# tail of unlikely ones, and one bad token derails the rest of the text. Serving
# systems cut the tail first:
#
# * **top-k** keeps the `k` largest logits. Ties at the k-th value are all kept (the
#   threshold rule `logit >= k-th largest`, as Hugging Face and vLLM do), so a row may keep
#   more than `k` when values tie; `k >= V` keeps everything.
# * **top-p** (nucleus) keeps the smallest set of most probable tokens whose
#   probability sums to at least `p` — including the token whose probability *crosses*
#   `p` — and always at least one token. The probabilities are the softmax of the
#   logits given (after top-k when both are given).
#
# Write `top_k_top_p_filter(logits, top_k=None, top_p=None)`: same shape `(..., V)`,
# removed entries set to `-inf`, the others unchanged. `top_k` an int >= 1, `top_p` a
# number in `(0, 1]`; `None` turns a filter off.

# %% [solution id=lab01_top_k_top_p_filter]
def top_k_top_p_filter(logits, top_k=None, top_p=None):
    """Set to -inf every logit outside the top-k, then outside the top-p nucleus; (..., V) -> (..., V)."""
    ### BEGIN SOLUTION
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor, got {logits.dtype}")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise TypeError(f"top_k must be an int or None, got {type(top_k).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TypeError(f"top_p must be a number or None, got {type(top_p).__name__}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    out = logits
    V = logits.shape[-1]
    if top_k is not None and top_k < V:
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
        out = out.masked_fill(out < kth, float("-inf"))  # ties with the k-th are kept
    if top_p is not None and top_p < 1:
        probs = torch.softmax(out.float(), dim=-1)  # (..., V)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)  # (..., V)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass strictly before each token
        drop_sorted = before >= top_p  # the token crossing p has before < p: kept
        drop_sorted[..., 0] = False  # always keep the most probable token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocab order
        out = out.masked_fill(drop, float("-inf"))
    return out if out is not logits else logits.clone()
    ### END SOLUTION


# %%
print(top_k_top_p_filter(torch.tensor([2.0, 1.0, 0.5, -1.0]), top_k=3, top_p=0.8))

# %% [test id=lab01_task3]
from inferlab.grading import check_here
check_here("lab01", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · sample_next · 采样下一个 token (lab01 · task 4)
#
# Why: the decoding policy is the last step of every forward pass. Temperature `T`
# rescales logits (`softmax(logits / T)`): `T < 1` sharpens, `T > 1` flattens, and
# `T = 0` is the limit — greedy argmax (the lowest index on ties, like `torch.argmax`).
#
# Write `sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None)`:
# logits `(..., V)` → LongTensor `(...)`, one token per row. Order: divide by the
# temperature, filter (task 3), then draw from the softmax with `generator` (a
# `torch.Generator`; the same seed gives the same tokens). `ValueError` for a negative
# temperature. The checks test the *distribution* of thousands of draws, never single draws.

# %% [solution id=lab01_sample_next]
def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None):
    """One token per row of logits (..., V) -> LongTensor (...): argmax at temperature 0, else a draw."""
    ### BEGIN SOLUTION
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    if temperature == 0:
        top_k_top_p_filter(logits[..., :1], top_k, top_p)  # validates top_k and top_p
        return torch.argmax(logits, dim=-1)  # (...,) first maximal index on ties
    scaled = logits.float() / temperature  # (..., V)
    filtered = top_k_top_p_filter(scaled, top_k, top_p)  # (..., V)
    probs = torch.softmax(filtered, dim=-1)  # (..., V)
    flat = probs.reshape(-1, probs.shape[-1])  # (rows, V)
    tokens = torch.multinomial(flat, 1, generator=generator)  # (rows, 1)
    return tokens.reshape(logits.shape[:-1])  # (...,)
    ### END SOLUTION


# %%
print(sample_next(torch.tensor([[1.0, 3.0, 3.0], [0.0, 0.0, -1.0]])))  # tensor([1, 0])

# %% [test id=lab01_task4]
from inferlab.grading import check_here
check_here("lab01", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · generate · 带 KV Cache 的自回归生成 (lab01 · task 5)
#
# Why: without a cache every step re-runs the whole sequence — `n` steps over a prompt of
# `P` tokens process `nP + n(n-1)/2` positions. The keys and values of past positions
# never change (causal mask), so keep them (the KV cache): the **prefill** runs the
# prompt once, then each **decode** step feeds only the newest token and attends to the
# cached keys — `P + n - 1` positions in all.
#
# The course model (`models.load("target")`, a 4-layer Llama with RoPE and grouped-query
# attention) exposes its parts so that you own the cache:
#
# ```
# x = model.embed(ids)                         # (B, T, C)
# for layer in model.layers:
#     q, k, v = layer.qkv(x, positions)        # (B, H, T, D), (B, H_kv, T, D) x2, RoPE applied
#     ...your cache and attention...           # query head h reads kv head h // (H // H_kv)
#     x = layer.finish(x, attn)                # attn (B, H, T, D) -> x (B, T, C)
# logits = model.logits(x)                     # (B, T, V)
# ```
#
# `positions` are absolute: the decode token at sequence index `p` must be rotated at
# `p`, not at 0. `model.tokens_processed` counts the positions that went through layer
# 0's `qkv` — the grader's performance check reads it.
#
# Write `generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0,
# top_k=None, top_p=None, seed=None) -> list[int]` (the new tokens only). With
# `use_cache=False` recompute the whole sequence each step. `seed` seeds a
# `torch.Generator` for `sample_next`. `ValueError` naming the argument for an empty or
# out-of-vocabulary prompt, a negative `max_new_tokens`, or more than `max_seq_len` tokens
# in all — raised before the model runs.

# %% [solution id=lab01_generate]
@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens, *, use_cache=True, temperature=0.0,
             top_k=None, top_p=None, seed=None):
    """Autoregressive generation over the course model; returns the max_new_tokens new token ids."""
    ### BEGIN SOLUTION
    cfg = model.config
    if isinstance(prompt_ids, torch.Tensor):
        if prompt_ids.dim() != 1 or prompt_ids.is_floating_point():
            raise ValueError(f"prompt_ids must be a 1-D integer tensor or a list of ints, got {tuple(prompt_ids.shape)}")
        prompt = [int(t) for t in prompt_ids.tolist()]
    elif isinstance(prompt_ids, (list, tuple)):
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in prompt_ids):
            raise TypeError("prompt_ids must hold ints")
        prompt = [int(t) for t in prompt_ids]
    else:
        raise TypeError(f"prompt_ids must be a list of ints or a 1-D LongTensor, got {type(prompt_ids).__name__}")
    if len(prompt) < 1:
        raise ValueError("prompt_ids must hold at least one token")
    if min(prompt) < 0 or max(prompt) >= cfg.vocab_size:
        raise ValueError(f"prompt_ids must be in [0, {cfg.vocab_size}), got [{min(prompt)}, {max(prompt)}]")
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool):
        raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if len(prompt) + max_new_tokens > cfg.max_seq_len:
        raise ValueError(f"prompt_ids ({len(prompt)}) + max_new_tokens ({max_new_tokens}) exceeds "
                         f"max_seq_len={cfg.max_seq_len}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    sample_next(torch.zeros(1), temperature, top_k, top_p)  # validates the sampling arguments up front

    def forward(ids, start, cache):
        """Run ids (1, T) at positions start..start+T-1; extend `cache` when given; logits (1, T, V)."""
        T = ids.shape[1]
        positions = torch.arange(start, start + T, device=ids.device)  # (T,) absolute positions for RoPE
        x = model.embed(ids)  # (1, T, C)
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, positions)  # (1, H, T, D), (1, H_kv, T, D), (1, H_kv, T, D)
            if cache is not None:
                if cache[i] is not None:
                    k = torch.cat([cache[i][0], k], dim=2)  # (1, H_kv, start + T, D)
                    v = torch.cat([cache[i][1], v], dim=2)  # (1, H_kv, start + T, D)
                cache[i] = (k, v)
            group = q.shape[1] // k.shape[1]
            k = k.repeat_interleave(group, dim=1)  # (1, H, start + T, D): head h reads kv head h // group
            v = v.repeat_interleave(group, dim=1)  # (1, H, start + T, D)
            # The one newest query of a decode step sees every cached key: no mask needed.
            mask = causal_mask(T, k.shape[2], device=ids.device) if T > 1 else None  # (T, start + T)
            x = layer.finish(x, attention(q, k, v, mask=mask))  # (1, T, C)
        return model.logits(x)  # (1, T, V)

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    seq = list(prompt)
    new = []
    cache = [None] * cfg.num_layers if use_cache else None
    fed = 0  # positions already in the cache
    for _ in range(max_new_tokens):
        if use_cache:
            ids = torch.tensor([seq[fed:]], dtype=torch.long, device=device)  # (1, T): the prompt, then 1 token
            logits = forward(ids, fed, cache)  # (1, T, V)
            fed = len(seq)
        else:
            ids = torch.tensor([seq], dtype=torch.long, device=device)  # (1, len(seq)): everything again
            logits = forward(ids, 0, None)  # (1, len(seq), V)
        token = int(sample_next(logits[0, -1], temperature, top_k, top_p, generator=generator))
        new.append(token)
        seq.append(token)
    return new
    ### END SOLUTION


# %%
model = models.load("target")
prompt = models.encode("The KV cache")
out = generate(model, prompt, 16)
print(repr(models.decode(prompt + out)), "| positions processed:", model.tokens_processed)

# %% [test id=lab01_task5]
from inferlab.grading import check_here
check_here("lab01", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Task 5 · performance: each token processed once (lab01 · task 5 perf)
#
# The grader resets `model.tokens_processed = 0`, runs `generate` with the cache and
# requires exactly `P + max_new_tokens - 1` positions (the prompt once, then one per
# decode step; the last token is returned, never fed). Without the cache it must redo
# the prefix each step.

# %% [test id=lab01_task5_perf]
from inferlab.grading import check_here
check_here("lab01", "task5_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task5_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · the numbers of serving · KV Cache 显存与屋顶线模型 (lab01 · task 6)
#
# Why: before touching a GPU, two formulas predict most of what serving costs.
#
# * **KV cache size**: every layer stores one key and one value vector (the `2`) per
#   KV head per token: `2 · layers · H_kv · D · seq_len · batch · dtype_bytes`.
#   Llama-2-7B in fp16: `2·32·32·128·2 = 512 KiB` per token, 2 GiB for 4096 tokens.
# * **Matmul cost**: an `(m, k) @ (k, n)` product does `2mnk` FLOPs (a multiply and an add)
#   and moves at least `(mk + kn + mn) · dtype_bytes` bytes (read both inputs, write the output).
# * **Roofline**: a kernel takes at least `max(flops / peak_flops, bytes / peak_bandwidth)`;
#   it is **memory-bound** when the byte term is the larger one (arithmetic intensity
#   `flops / bytes` below the ridge `peak_flops / peak_bandwidth`, ~295 FLOP/byte on an H100).
#   A decode step (m = batch, often 1) is memory-bound; a long prefill is compute-bound.
#
# Write the four functions below; all arguments are numbers, counts must be ints >= 1
# (`seq_len` may be 0), peaks > 0; `ValueError`/`TypeError` naming the argument otherwise —
# the two helpers `_count` and `_positive` at the top of the cell do that checking for you.
# `kv_cache_bytes` returns an int (rounded up to whole bytes when `dtype_bytes` is
# fractional, e.g. 0.5 for int4). `is_memory_bound` is True iff the byte time is
# strictly larger than the FLOP time.

# %% [solution id=lab01_formulas]
def _count(name, value, minimum=1):
    """An int >= minimum, or a TypeError / ValueError naming the argument."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _positive(name, value, allow_zero=False):
    """A finite number > 0 (>= 0 with allow_zero), or a TypeError / ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, batch_size=1, dtype_bytes=2):
    """Bytes of the K and V caches: 2 * layers * kv_heads * head_dim * seq_len * batch * dtype_bytes."""
    ### BEGIN SOLUTION
    _count("num_layers", num_layers)
    _count("num_kv_heads", num_kv_heads)
    _count("head_dim", head_dim)
    _count("seq_len", seq_len, minimum=0)
    _count("batch_size", batch_size)
    _positive("dtype_bytes", dtype_bytes)
    elements = 2 * num_layers * num_kv_heads * head_dim * seq_len * batch_size  # K and V
    if isinstance(dtype_bytes, int):
        return elements * dtype_bytes
    return int(math.ceil(elements * dtype_bytes))
    ### END SOLUTION


def matmul_cost(m, n, k, dtype_bytes=2):
    """(flops, bytes) of an (m, k) @ (k, n) matmul: (2mnk, (mk + kn + mn) * dtype_bytes)."""
    ### BEGIN SOLUTION
    _count("m", m)
    _count("n", n)
    _count("k", k)
    _count("dtype_bytes", dtype_bytes)
    return 2 * m * n * k, (m * k + k * n + m * n) * dtype_bytes
    ### END SOLUTION


def roofline_time(flops, bytes, peak_flops, peak_bandwidth):  # noqa: A002 - the graded name
    """Lower bound on a kernel's time: max(flops / peak_flops, bytes / peak_bandwidth) seconds."""
    ### BEGIN SOLUTION
    _positive("flops", flops, allow_zero=True)
    _positive("bytes", bytes, allow_zero=True)
    _positive("peak_flops", peak_flops)
    _positive("peak_bandwidth", peak_bandwidth)
    return max(flops / peak_flops, bytes / peak_bandwidth)
    ### END SOLUTION


def is_memory_bound(flops, bytes, peak_flops, peak_bandwidth):  # noqa: A002 - the graded name
    """True when moving the bytes takes longer than doing the FLOPs at peak."""
    ### BEGIN SOLUTION
    _positive("flops", flops, allow_zero=True)
    _positive("bytes", bytes, allow_zero=True)
    _positive("peak_flops", peak_flops)
    _positive("peak_bandwidth", peak_bandwidth)
    return bytes / peak_bandwidth > flops / peak_flops
    ### END SOLUTION


# %%
H100 = dict(peak_flops=989e12, peak_bandwidth=3.35e12)  # dense bf16, HBM3 (spec sheet)
print(f"Llama-2-7B KV cache, 4096 tokens, fp16: {kv_cache_bytes(32, 32, 128, 4096) / 2**30:.2f} GiB")
for name, m in (("decode, batch 1", 1), ("prefill, 2048 tokens", 2048)):
    f, b = matmul_cost(m, 4096, 4096)
    print(f"{name:22s} {f / b:8.1f} FLOP/byte  {roofline_time(f, b, **H100) * 1e6:8.2f} us  "
          f"memory-bound: {is_memory_bound(f, b, **H100)}")

# %% [test id=lab01_task6]
from inferlab.grading import check_here
check_here("lab01", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab01", "task6", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## What you built · 小结
#
# * a causal mask for queries that are the last positions, the form every decode step uses;
# * attention that survives logits of 1e4 and fully masked rows;
# * the sampling policy of a serving engine: temperature, top-k, top-p;
# * a generation loop whose cost per decode step is one token, not the whole sequence;
# * the two formulas (KV bytes, roofline) that size a deployment.
#
# Next: lab02 (FlashAttention) computes the same attention without ever storing the
# `Nq × Nk` score matrix.
