# %% [markdown]
# # lab08 · Capstone: a serving engine, an OpenAI endpoint, real incidents · 综合项目:推理引擎、OpenAI 接口与故障排查
#
# Everything so far, in one engine. Labs 01 (generation with a KV cache), 03 (paged KV and
# paged attention), 04 (chained block hashes for prefix caching) and 07 (the continuous-batching
# scheduler) become `LLMEngine`: requests come and go, the KV cache is a pool of blocks, every
# step runs one packed batch through the course model, and the tokens equal the model's own
# one-by-one greedy generation. Then the engine goes behind an OpenAI-compatible HTTP endpoint
# (`inferlab serve`), and you troubleshoot seven kinds of latency incidents from their evidence.
#
# | task | graded names | what | category |
# | --- | --- | --- | --- |
# | 1 | `max_concurrent_sequences`, `kv_blocks_for_memory` | sizing a deployment · 资源受限部署 | knowledge |
# | 2 | `LLMEngine` | paged KV, scheduler, preemption by recomputation: greedy tokens · 引擎正确性 | systems |
# | 3 | `LLMEngine.stats()` | counted: steps, tokens processed, peak blocks, no leak · 计数 | systems |
# | 4 | `LLMEngine(enable_prefix_caching=True)` | shared prefixes reuse blocks, counted · 前缀缓存 | systems |
# | 5 | `add_request(temperature, seed, stop_token_ids)` | seeded sampling, stop tokens · 采样与停止 | practice |
# | 6 | `step`, `abort` behind `inferlab serve` | streaming, concurrent clients, disconnects · 服务化 | practice |
# | 7 | `diagnose` | root cause + one change, replayed against the SLO · 故障排查 | practice |
#
# Lecture: `course/08_capstone.ipynb` (a request's path end to end, deployment under a memory
# limit, the troubleshooting method, designing a service). Each task: why, what to write
# (replace `raise NotImplementedError()`), a test cell. `inferlab grade lab08 lab08.ipynb` runs
# every check, hidden ones included. Bad input raises `ValueError` (or `TypeError`) naming the
# argument and changes nothing.
#
# **What the lab gives you** (the parts this lab is not about): the course model, and
# `inferlab.engine.KVCache` / `ModelRunner`, which run one packed batch through the model's
# public interface with the KV in a paged store. You write the block manager, the scheduler's
# use of it, the paged attention the runner calls, sampling, and the engine around them.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 without a GPU

import collections
import hashlib
import math
import struct

import torch
import torch.nn.functional as F

from inferlab import models
from inferlab.engine import KVCache, ModelRunner

torch.manual_seed(0)

# %% [markdown]
# ## Task 1 · Sizing a deployment · 资源受限部署 (lab08 · task 1)
#
# A GPU holds the weights, the KV cache and everything else (activations, the CUDA context,
# fragmentation: keep `reserve_fraction` of the memory for those). What is left after the
# weights is the KV budget. Two questions an engineer answers before the first request:
#
# - `max_concurrent_sequences(gpu_bytes, weight_bytes, kv_bytes_per_token, seq_len, reserve_fraction=0.1) -> int`
#   = `floor((gpu_bytes * (1 - reserve_fraction) - weight_bytes) / (kv_bytes_per_token * seq_len))`,
#   0 when that is negative: how many sequences of `seq_len` tokens fit at once.
# - `kv_blocks_for_memory(gpu_bytes, weight_bytes, num_layers, num_kv_heads, head_dim, block_size,
#   dtype_bytes=2, reserve_fraction=0.1) -> int`: the engine's `num_blocks`, the same budget cut
#   into blocks of `block_size` tokens, one block holding K and V of every layer:
#   `2 * num_layers * num_kv_heads * head_dim * block_size * dtype_bytes` bytes. 0 when negative.
#
# `ValueError` naming the argument for sizes `< 1` (`seq_len`, `kv_bytes_per_token`, the model
# sizes, `block_size`, `dtype_bytes`), negative byte counts, and `reserve_fraction` outside `[0, 1)`.

# %% [solution id=lab08_sizing]
def _check_num(name, value, lo, integer=True, lo_open=False, hi=None):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__}")
    if (value <= lo if lo_open else value < lo) or (hi is not None and value >= hi) or value != value:
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}" + (f" and < {hi}" if hi else "")
                         + f", got {value!r}")
    return value


def max_concurrent_sequences(gpu_bytes, weight_bytes, kv_bytes_per_token, seq_len, reserve_fraction=0.1):
    """How many sequences of `seq_len` tokens fit in the KV budget left after weights and the reserve."""
    ### BEGIN SOLUTION
    _check_num("gpu_bytes", gpu_bytes, 0, integer=False)
    _check_num("weight_bytes", weight_bytes, 0, integer=False)
    _check_num("kv_bytes_per_token", kv_bytes_per_token, 0, integer=False, lo_open=True)
    _check_num("seq_len", seq_len, 1)
    _check_num("reserve_fraction", reserve_fraction, 0, integer=False, hi=1)
    free = gpu_bytes * (1 - reserve_fraction) - weight_bytes
    return max(0, math.floor(free / (kv_bytes_per_token * seq_len)))
    ### END SOLUTION


def kv_blocks_for_memory(gpu_bytes, weight_bytes, num_layers, num_kv_heads, head_dim, block_size,
                         dtype_bytes=2, reserve_fraction=0.1):
    """The engine's num_blocks: the KV budget in blocks of `block_size` tokens (K and V, every layer)."""
    ### BEGIN SOLUTION
    _check_num("gpu_bytes", gpu_bytes, 0, integer=False)
    _check_num("weight_bytes", weight_bytes, 0, integer=False)
    for name, v in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads), ("head_dim", head_dim),
                    ("block_size", block_size)):
        _check_num(name, v, 1)
    _check_num("dtype_bytes", dtype_bytes, 0, integer=False, lo_open=True)
    _check_num("reserve_fraction", reserve_fraction, 0, integer=False, hi=1)
    block_bytes = 2 * num_layers * num_kv_heads * head_dim * block_size * dtype_bytes
    return max(0, math.floor((gpu_bytes * (1 - reserve_fraction) - weight_bytes) / block_bytes))
    ### END SOLUTION

# %% [test id=lab08_task1]
from inferlab.grading import check_here
check_here("lab08", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# **Written (ungraded) · 部署题.** A 7B model in bf16 (14 GB of weights, 32 layers, 8 KV heads of
# 128) on a 24 GB card, 10 % reserve, 4k-token conversations: how many run at once? With an
# int8 KV cache? With blocks of 16 versus 256 tokens, what is lost to the last, partly filled
# block of each sequence? Answer with `max_concurrent_sequences` and `kv_blocks_for_memory`.

# %% [markdown]
# ## Task 2 · LLMEngine · 引擎 (lab08 · task 2)
#
# The engine owns a pool of `num_blocks` KV blocks of `block_size` tokens, and a scheduler with
# lab07's rules (`max_num_seqs` running at most, `max_num_batched_tokens` prefill tokens +
# decodes per step, FCFS admission, chunked prefill, preemption of the newest running request by
# recomputation when blocks run out). One `step()`:
#
# 1. **schedule**: running requests first (a decode takes 1 token, a prompt still running takes
#    its next chunk), preempting the newest while the blocks do not fit; then admit waiting
#    requests while a slot, some budget and the blocks for the first chunk are free;
# 2. **run**: `ModelRunner.prepare(batch)` packs `(request, n)` pairs into `ids`, `positions` and a
#    `CacheInfo` (slot of every new token, block tables, query and context lengths); `forward`
#    writes the new K/V into the paged store and calls **your** attention function;
# 3. **post-process**: a request whose prompt is complete gets a token (greedy: argmax, lowest
#    index on ties); a finished one gives its blocks back.
#
# The runner duck-types its requests: each needs `token_ids` (prompt + outputs), `num_tokens`,
# `num_cached_tokens` (leading tokens whose K/V are in its blocks) and `block_table`.
#
# Your attention function `paged_attention(q, kv, info) -> out`: q and out `(T, H, D)` pack the
# batch's query tokens request after request (`info.query_lens`); request `i`'s queries are its
# last `query_lens[i]` positions of `context_lens[i]`, and see every position up to their own
# (causal), K/V read **through the block table** from `kv.k_cache`, `kv.v_cache`
# `(num_blocks, block_size, H_kv, D)`: position `p` lives in block `table[p // bs]`, row `p % bs`.
# Grouped-query attention: query head `h` reads KV head `h // (H // H_kv)`.
#
# `LLMEngine(model, num_blocks, block_size, max_num_seqs, max_num_batched_tokens, enable_prefix_caching=False)`:
# - `add_request(prompt_ids, max_new_tokens, *, temperature=0.0, seed=None, stop_token_ids=()) -> request_id`
#   queues a request; `ValueError` naming the argument for an empty prompt, token ids outside the
#   vocabulary, `max_new_tokens < 1`, more than `max_seq_len` tokens, or a request that could
#   never fit in the pool (`ceil((len(prompt) + max_new_tokens) / block_size) > num_blocks`).
# - `step() -> list[(request_id, token_id, finished)]`: one entry per token produced this step.
# - `abort(request_id)`: drop a waiting or running request now; its blocks return to the pool.
# - `has_unfinished() -> bool`.
# - `generate(prompts, max_new_tokens) -> list[list[int]]` (SPEC): greedy, `max_new_tokens` an int
#   or one per prompt; all requests checked before any is queued; returns when all are done.
# - `stats() -> dict` (task 3).

# %% [solution id=lab08_engine]
def paged_attention(q, kv, info):
    """Causal attention of packed queries q (T, H, D) over each request's paged K/V -> (T, H, D)."""
    ### BEGIN SOLUTION
    out = torch.empty_like(q)
    bs = kv.k_cache.shape[1]
    H, H_kv = q.shape[1], kv.k_cache.shape[2]
    start = 0
    for table, n_q, n_ctx in zip(info.block_tables, info.query_lens, info.context_lens):
        pos = torch.arange(n_ctx, device=q.device)
        blocks = torch.as_tensor(table, dtype=torch.long, device=q.device)[pos // bs]
        k = kv.k_cache[blocks, pos % bs].transpose(0, 1)  # (H_kv, n_ctx, D)
        v = kv.v_cache[blocks, pos % bs].transpose(0, 1)
        k = k.repeat_interleave(H // H_kv, dim=0).to(q.dtype)  # (H, n_ctx, D)
        v = v.repeat_interleave(H // H_kv, dim=0).to(q.dtype)
        qi = q[start:start + n_q].transpose(0, 1)  # (H, n_q, D)
        mask = torch.ones(n_q, n_ctx, dtype=torch.bool, device=q.device).tril(n_ctx - n_q)
        out[start:start + n_q] = F.scaled_dot_product_attention(qi, k, v, attn_mask=mask).transpose(0, 1)
        start += n_q
    return out
    ### END SOLUTION


def prefix_hashes(token_ids, block_size):
    """lab04's chained hashes: one per full block, block i's depending on every token of blocks 0..i."""
    ### BEGIN SOLUTION
    out, prev = [], b"lab08"
    for i in range(len(token_ids) // block_size):
        chunk = token_ids[i * block_size:(i + 1) * block_size]
        prev = hashlib.sha256(prev + struct.pack(f"<{block_size}q", *chunk)).digest()
        out.append(prev.hex())
    return out
    ### END SOLUTION


class Request:
    """One request: tokens (prompt + outputs), KV progress, block table, sampling state."""

    def __init__(self, request_id, prompt, max_new_tokens, temperature=0.0, seed=None, stop_token_ids=()):
        ### BEGIN SOLUTION
        self.id = request_id
        self.token_ids = list(prompt)
        self.prompt_len = len(prompt)
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.generator = None if seed is None else torch.Generator().manual_seed(int(seed))
        self.stop_token_ids = set(stop_token_ids)
        self.num_cached_tokens = 0  # leading tokens whose K/V are in block_table
        self.num_prefill = self.prompt_len  # tokens to run before the next output
        self.block_table = []
        self.done = False
        ### END SOLUTION

    @property
    def num_tokens(self):
        return len(self.token_ids)

    @property
    def outputs(self):
        return self.token_ids[self.prompt_len:]

    @property
    def prefilling(self):
        return self.num_cached_tokens < self.num_prefill


class BlockManager:
    """The KV block pool: free list, reference counts, prefix cache by chained block hash."""

    def __init__(self, num_blocks, block_size, enable_prefix_caching=False):
        ### BEGIN SOLUTION
        self.num_blocks, self.block_size = num_blocks, block_size
        self.caching = enable_prefix_caching
        self.refs = [0] * num_blocks
        self.free = collections.OrderedDict.fromkeys(range(num_blocks))  # least recently freed first
        self.by_hash, self.hash_of = {}, {}  # prefix cache: hash -> block, block -> hash
        self.used = 0
        ### END SOLUTION

    def need(self, req, n):
        """Free blocks that growing `req`'s cache by n tokens takes."""
        ### BEGIN SOLUTION
        return -(-(req.num_cached_tokens + n) // self.block_size) - len(req.block_table)
        ### END SOLUTION

    def hits(self, req):
        """Cached blocks holding the leading full blocks of req's tokens (at least one token left to run)."""
        ### BEGIN SOLUTION
        if not self.caching:
            return []
        usable = (req.num_prefill - 1) // self.block_size * self.block_size
        out = []
        for h in prefix_hashes(req.token_ids[:usable], self.block_size):
            if h not in self.by_hash:
                break
            out.append(self.by_hash[h])
        return out
        ### END SOLUTION

    def admit_cost(self, req, n):
        """Free blocks that admitting `req` with n new tokens after its hits takes."""
        ### BEGIN SOLUTION
        hits = self.hits(req)
        revived = sum(1 for b in hits if self.refs[b] == 0)
        return revived + -(-(len(hits) * self.block_size + n) // self.block_size) - len(hits)
        ### END SOLUTION

    def admit(self, req):
        """Take req's prefix hits; returns the number of tokens they hold."""
        ### BEGIN SOLUTION
        for b in self.hits(req):
            if self.refs[b] == 0:
                del self.free[b]
                self.used += 1
            self.refs[b] += 1
            req.block_table.append(b)
        req.num_cached_tokens = len(req.block_table) * self.block_size
        return req.num_cached_tokens
        ### END SOLUTION

    def grow(self, req, n):
        """Blocks for n more tokens of req (the caller checked `need`)."""
        ### BEGIN SOLUTION
        for _ in range(self.need(req, n)):
            b, _ = self.free.popitem(last=False)
            h = self.hash_of.pop(b, None)
            if h is not None:  # its cached K/V is about to be overwritten
                del self.by_hash[h]
            self.refs[b] = 1
            self.used += 1
            req.block_table.append(b)
        ### END SOLUTION

    def release(self, req):
        """Drop req's reference to each of its blocks; a block nobody holds goes back to the free list."""
        ### BEGIN SOLUTION
        for b in reversed(req.block_table):
            self.refs[b] -= 1
            if self.refs[b] == 0:
                self.free[b] = None
                self.used -= 1
        req.block_table = []
        req.num_cached_tokens = 0
        ### END SOLUTION

    def remember(self, req):
        """Name req's full, computed blocks in the prefix cache."""
        ### BEGIN SOLUTION
        if not self.caching:
            return
        full = req.num_cached_tokens // self.block_size
        for b, h in zip(req.block_table[:full], prefix_hashes(req.token_ids[:full * self.block_size], self.block_size)):
            if b not in self.hash_of and h not in self.by_hash:
                self.hash_of[b], self.by_hash[h] = h, b
        ### END SOLUTION


class LLMEngine:
    """A continuous-batching engine on the course model: paged KV, chunked prefill, preemption, prefix caching."""

    def __init__(self, model, num_blocks, block_size, max_num_seqs, max_num_batched_tokens,
                 enable_prefix_caching=False):
        ### BEGIN SOLUTION
        for name, v in (("num_blocks", num_blocks), ("block_size", block_size), ("max_num_seqs", max_num_seqs),
                        ("max_num_batched_tokens", max_num_batched_tokens)):
            _check_num(name, v, 1)
        if not isinstance(enable_prefix_caching, bool):
            raise TypeError(f"enable_prefix_caching must be a bool, got {type(enable_prefix_caching).__name__}")
        self.model = model
        self.num_blocks, self.block_size = num_blocks, block_size
        self.max_num_seqs, self.max_num_batched_tokens = max_num_seqs, max_num_batched_tokens
        device = next(model.parameters()).device
        kv = KVCache.for_model(model.config, num_blocks, block_size, torch.float32, device)
        self.runner = ModelRunner(model, kv, paged_attention)
        self.blocks = BlockManager(num_blocks, block_size, enable_prefix_caching)
        self.waiting = collections.deque()  # oldest first
        self.running = []  # oldest first
        self.requests = {}
        self._next_id = 0
        self._stats = dict(steps=0, tokens_processed=0, prefix_hit_tokens=0, recomputed_tokens=0, preemptions=0,
                           peak_blocks_used=0)
        ### END SOLUTION

    # -- requests in
    def _check(self, prompt_ids, max_new_tokens, pname="prompt_ids", mname="max_new_tokens"):
        ### BEGIN SOLUTION
        if isinstance(prompt_ids, torch.Tensor):
            prompt_ids = prompt_ids.tolist()
        prompt = list(prompt_ids)
        vocab, max_len = self.model.config.vocab_size, self.model.config.max_seq_len
        if not prompt:
            raise ValueError(f"{pname} is empty")
        if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab for t in prompt):
            raise ValueError(f"{pname} holds a value that is not a token id in [0, {vocab})")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"{mname} must be an int >= 1, got {max_new_tokens!r}")
        if len(prompt) + max_new_tokens > max_len:
            raise ValueError(f"{pname} ({len(prompt)} tokens) + {mname} ({max_new_tokens}) exceed max_seq_len={max_len}")
        if -(-(len(prompt) + max_new_tokens) // self.block_size) > self.num_blocks:
            raise ValueError(f"{pname} + {mname}: {len(prompt) + max_new_tokens} tokens can never fit in "
                             f"num_blocks={self.num_blocks} blocks of {self.block_size}")
        return prompt
        ### END SOLUTION

    def add_request(self, prompt_ids, max_new_tokens, *, temperature=0.0, seed=None, stop_token_ids=()):
        """Queue one request; returns its id."""
        ### BEGIN SOLUTION
        prompt = self._check(prompt_ids, max_new_tokens)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
        rid = self._next_id
        self._next_id += 1
        req = Request(rid, prompt, max_new_tokens, temperature, seed, stop_token_ids)
        self.requests[rid] = req
        self.waiting.append(req)
        return rid
        ### END SOLUTION

    def has_unfinished(self):
        ### BEGIN SOLUTION
        return bool(self.waiting or self.running)
        ### END SOLUTION

    def abort(self, request_id):
        """Drop a waiting or running request; its blocks return to the pool."""
        ### BEGIN SOLUTION
        req = self.requests.get(request_id)
        if req is None or req.done:
            return
        if req in self.running:
            self.running.remove(req)
        else:
            self.waiting.remove(req)
        self.blocks.release(req)
        req.done = True
        ### END SOLUTION

    # -- one step
    def _preempt(self, req):
        ### BEGIN SOLUTION
        self._stats["preemptions"] += 1
        self._stats["recomputed_tokens"] += req.num_cached_tokens
        self.blocks.release(req)
        req.num_prefill = len(req.token_ids)  # recomputation: prompt + outputs become the prompt
        self.waiting.appendleft(req)
        ### END SOLUTION

    def _schedule(self):
        """[(request, new tokens)] for this step (lab07's rules)."""
        ### BEGIN SOLUTION
        batch, budget, preempted = [], self.max_num_batched_tokens, False
        i = 0
        while i < len(self.running) and budget > 0:
            req = self.running[i]
            n = min(req.num_prefill - req.num_cached_tokens, budget) if req.prefilling else 1
            while self.blocks.need(req, n) > len(self.blocks.free) and self.running[-1] is not req:
                self._preempt(self.running.pop())
                preempted = True
            if self.blocks.need(req, n) > len(self.blocks.free):
                self._preempt(self.running.pop())
                preempted = True
                break
            self.blocks.grow(req, n)
            batch.append((req, n))
            budget -= n
            i += 1
        while not preempted and self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            req = self.waiting[0]
            hit = len(self.blocks.hits(req)) * self.block_size
            n = min(req.num_prefill - hit, budget)
            if self.blocks.admit_cost(req, n) > len(self.blocks.free):
                break
            self.waiting.popleft()
            self._stats["prefix_hit_tokens"] += self.blocks.admit(req)
            self.blocks.grow(req, n)
            self.running.append(req)
            batch.append((req, n))
            budget -= n
        return batch
        ### END SOLUTION

    def _sample(self, req, logits):
        ### BEGIN SOLUTION
        if req.temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.double().cpu() / req.temperature, dim=-1)
        return int(torch.multinomial(probs, 1, generator=req.generator))
        ### END SOLUTION

    def step(self):
        """Schedule, run one packed batch, sample; returns [(request_id, token_id, finished)]."""
        ### BEGIN SOLUTION
        batch = self._schedule()
        if not batch:
            return []
        ids, positions, info = self.runner.prepare(batch)
        logits = self.runner.forward(ids, positions, info)  # (T, V)
        st = self._stats
        st["steps"] += 1
        st["tokens_processed"] += len(ids)
        st["peak_blocks_used"] = max(st["peak_blocks_used"], self.blocks.used)
        out, row = [], -1
        for req, n in batch:
            row += n
            req.num_cached_tokens += n
            self.blocks.remember(req)
            if req.prefilling:
                continue
            token = self._sample(req, logits[row])
            req.token_ids.append(token)
            finished = len(req.outputs) >= req.max_new_tokens or token in req.stop_token_ids
            if finished:
                self.running.remove(req)
                self.blocks.release(req)
                req.done = True
            out.append((req.id, token, finished))
        return out
        ### END SOLUTION

    def generate(self, prompts, max_new_tokens):
        """Greedy new tokens of every prompt (max_new_tokens: an int or one per prompt)."""
        ### BEGIN SOLUTION
        prompts = list(prompts)
        counts = list(max_new_tokens) if isinstance(max_new_tokens, (list, tuple)) else [max_new_tokens] * len(prompts)
        if len(counts) != len(prompts):
            raise ValueError(f"max_new_tokens has {len(counts)} entries for {len(prompts)} prompts")
        checked = [self._check(p, m, f"prompts[{i}]", "max_new_tokens") for i, (p, m) in enumerate(zip(prompts, counts))]
        ids = [self.add_request(p, m) for p, m in zip(checked, counts)]
        while self.has_unfinished():
            self.step()
        return [self.requests[i].outputs for i in ids]
        ### END SOLUTION

    def stats(self):
        """steps, tokens_processed, prefix_hit_tokens, recomputed_tokens, preemptions, peak_blocks_used, blocks_used."""
        ### BEGIN SOLUTION
        return dict(self._stats, blocks_used=self.blocks.used)
        ### END SOLUTION

# %% [test id=lab08_task2]
from inferlab.grading import check_here
check_here("lab08", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · Counted, never timed · 计数 (lab08 · task 3)
#
# `stats()` returns at least:
#
# | key | meaning |
# | --- | --- |
# | `steps` | model forward passes (one per `step()` that ran a batch) |
# | `tokens_processed` | token positions sent through the model |
# | `prefix_hit_tokens` | prompt tokens whose K/V came from the prefix cache at admissions |
# | `recomputed_tokens` | tokens whose K/V a preemption threw away (summed over preemptions) |
# | `preemptions` | how many times a running request was preempted |
# | `peak_blocks_used` | the most blocks held at once, `<= num_blocks` |
# | `blocks_used` | blocks held now (0 once every request is done or aborted) |
#
# The checks count, with a wrapper on the model you cannot reach, the positions and forward
# passes your engine runs, and hold them to:
#
# - `tokens_processed = Σ len(prompt) + Σ (len(outputs) − 1) + recomputed_tokens − prefix_hit_tokens`
#   (each prompt token once, each output but the last fed back once, plus exactly the recomputation);
# - steps within 1.25× (+2) of what the lab07 rules take on the same requests (continuous
#   batching: one-request-at-a-time or static batches take far more);
# - no block held after `generate` returns: a request that needs the whole pool runs right after.

# %% [test id=lab08_task3]
from inferlab.grading import check_here
check_here("lab08", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · Prefix caching · 前缀缓存 (lab08 · task 4)
#
# With `enable_prefix_caching=True`, a full block whose chained hash (every token from the start
# of the sequence to the block's end: `prefix_hashes`) is known holds exactly the K/V a new
# prompt with the same leading tokens needs. Admission takes those blocks (one more reference
# each) and starts the prompt's run after them; a block stays findable after its request is done,
# until the free list hands it out again. At least one prompt token always runs (its logits give
# the first output). The checks: a second round of prompts sharing a prefix with the first hits
# every full block of it (counted), blocks with equal tokens after different prefixes are never
# shared, and the tokens stay the greedy ones.

# %% [test id=lab08_task4]
from inferlab.grading import check_here
check_here("lab08", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · Sampling and stop tokens · 采样与停止 (lab08 · task 5)
#
# `add_request(..., temperature=T, seed=s)`: `T = 0` is greedy; `T > 0` draws from
# `softmax(logits / T)` with the request's own `torch.Generator` seeded with `s`, so a request's
# tokens depend on its seed only, never on which other requests share its batches.
# `stop_token_ids`: the request finishes right after producing one of them (it is the last output).
# Checked as distributions (a seeded total-variation test) and by reproducibility.

# %% [test id=lab08_task5]
from inferlab.grading import check_here
check_here("lab08", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · Behind an OpenAI endpoint · 服务化 (lab08 · task 6)
#
# `inferlab serve --engine lab08.py:LLMEngine` puts your engine behind `/v1/completions` and
# `/v1/chat/completions` (streaming with server-sent events) on uvicorn. The server gives the
# engine to one background thread (`inferlab.serve.EngineLoop`) that, between steps, takes every
# request that arrived (`add_request`: they join the running batch) and every client that left
# (`abort`), then runs `step()` and sends each token to its client as it is made. Nothing to
# write here beyond `add_request`, `step` and `abort` being right. The checks serve your engine
# on a loopback port and talk HTTP to it: streamed tokens equal `generate`; six concurrent
# clients are all answered and share batches; a client that disconnects mid-stream frees its
# blocks at once (a request needing the whole pool runs next); requests your engine must refuse
# get a 400 JSON error and the server keeps serving.
#
# Try it (in a terminal): `inferlab serve --engine lab08.py:LLMEngine --port 8000`, then
#
#     from openai import OpenAI
#     client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none")
#     for chunk in client.completions.create(model="inferlab-target", prompt="The KV cache",
#                                             max_tokens=24, temperature=0, stream=True):
#         print(chunk.choices[0].text if chunk.choices else "", end="", flush=True)

# %% [test id=lab08_task6]
from inferlab.grading import check_here
check_here("lab08", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task6", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 7 · Troubleshooting incidents · 故障排查 (lab08 · task 7)
#
# "Latency suddenly went up — how do you find why?" (§8). `inferlab.incidents` replays serving
# days on a simulated device (a fixed cost per step, per token, per context token read; the
# clock is simulated, so runs are exact and reproducible). Each incident has one root cause:
#
# | cause | the one change that fixes it (knobs: `inferlab.incidents.KNOBS`) |
# | --- | --- |
# | `kv_blocks_too_few` | `num_blocks` (up to `limits["num_blocks"]`: what the memory holds) |
# | `max_num_seqs_too_low` | `max_num_seqs` |
# | `prefill_starves_decode` | `max_num_batched_tokens` (chunked prefill's chunk) |
# | `prefix_caching_off` | `enable_prefix_caching` |
# | `draft_low_acceptance` | `num_speculative_tokens` |
# | `block_leak` | `free_path` (`"immediate"` or the batched `"deferred"` path) |
# | `sampler_sync` | `sampler` (`"batched"` or `"per_token_sync"`) |
#
# The report (`incident.report()`, plain data) is what you would see on call: `config` (the
# tunable knobs), `limits`, `slo` (p99 targets in seconds), `metrics` (lab09's TTFT/TPOT/ITL
# percentiles, throughput, preemptions, recomputed and prefix-hit tokens, prompt tokens that
# repeat an earlier prompt's blocks, speculation proposed/accepted, busy / host-sync / draft
# seconds, unfinished requests), `trace` (one row per step: time, duration, prefill tokens,
# decodes, running, waiting, preempted, blocks used, blocks held by requests, host-sync and
# draft seconds) and `workload` (prompt and output lengths).
#
# Write `diagnose(report) -> {"cause": str, "change": {knob: value}}`. Follow the method:
# measure (which SLO, which stage: queueing before the first token, prefill, decode steps, the
# host), locate, hypothesise, make **one** change, measure again (`incident.replay(change)` on the
# practice incidents below). The checks draw incidents with a fresh seed (kinds and parameters),
# hand you only the report, check the cause, and replay your change: p99s must meet the SLOs.

# %% [solution id=lab08_diagnose]
def diagnose(report):
    """Root cause (from inferlab.incidents.CAUSES) and the one config change that meets the SLOs."""
    ### BEGIN SOLUTION
    m, cfg, lim, trace = report["metrics"], report["config"], report["limits"], report["trace"]
    busy = max(m["busy_s"], 1e-12)
    leaked = [s["blocks_used"] - s["blocks_held_by_requests"] for s in trace]
    if m["out_of_memory"] or (leaked and leaked[-1] > 0.1 * cfg["num_blocks"]):
        return {"cause": "block_leak", "change": {"free_path": "immediate"}}
    if m["host_sync_s"] > 0.2 * busy:
        return {"cause": "sampler_sync", "change": {"sampler": "batched"}}
    if m["spec_proposed"] and m["spec_accepted"] < 0.3 * m["spec_proposed"]:
        return {"cause": "draft_low_acceptance", "change": {"num_speculative_tokens": 0}}
    if m["preemptions"] > 0 and max(s["blocks_used"] for s in trace) >= 0.9 * cfg["num_blocks"]:
        return {"cause": "kv_blocks_too_few", "change": {"num_blocks": lim["num_blocks"][1]}}
    if not cfg["enable_prefix_caching"] and m["repeated_prefix_tokens"] > 0.3 * m["prompt_tokens"]:
        return {"cause": "prefix_caching_off", "change": {"enable_prefix_caching": True}}
    if max(s["prefill_tokens"] for s in trace) > 1024:
        return {"cause": "prefill_starves_decode", "change": {"max_num_batched_tokens": 512}}
    return {"cause": "max_num_seqs_too_low", "change": {"max_num_seqs": lim["max_num_seqs"][1]}}
    ### END SOLUTION

# %% [test id=lab08_task7]
from inferlab.grading import check_here
check_here("lab08", "task7", globals())
### BEGIN HIDDEN TESTS
check_here("lab08", "task7", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Try it: practice incidents, and your engine against one-at-a-time generation

# %%
if __name__ == "__main__":
    from inferlab import incidents

    for inc in incidents.incident_set(seed=2024, n=3):
        answer = diagnose(inc.report())
        print(f"{answer['cause']:<24} change {answer['change']}: {inc.replay(answer['change'])['violations'] or 'meets the SLOs'}")
    model = models.load("target")
    prompts = [models.encode(t) for t in ("The scheduler", "A block table maps", "Prefix caching reuses")]
    engine = LLMEngine(model, num_blocks=12, block_size=8, max_num_seqs=3, max_num_batched_tokens=32)
    print(engine.generate(prompts, 24) == [models.greedy_reference(model, p, 24) for p in prompts], engine.stats())
