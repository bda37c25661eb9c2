# %% [markdown]
# # 08 · Capstone: a serving engine end to end, deployment and troubleshooting · 实践案例与问题解决
#
# Syllabus §8 (八、实践案例与问题解决: project experience, deploying under limited GPU memory,
# "latency suddenly went up — how do you find why?", designing an inference service) with §7.1
# (技术集成与协同: FlashAttention + PagedAttention, one KV-cache manager across tiers, end-to-end
# optimisation). Lab: `labs/lab08` (your own `LLMEngine`, served over an OpenAI-compatible API,
# and seven kinds of incidents to diagnose).
#
# 1. One request's path, drawn: tokenizer → scheduler → paged KV → attention → sampler → stream.
# 2. The same path traced live on the course engine, step by step.
# 3. FlashAttention + paged KV + tiers: how the pieces fit (§7.1).
# 4. Deploying under a memory limit: weights versus KV, `max_concurrent_sequences`, int8 KV, block size.
# 5. Serving: `inferlab serve` and the official `openai` client.
# 6. A troubleshooting method for latency regressions, with worked incidents.
# 7. Model answer: an inference service for an e-commerce site.
# 8. Interview questions with model answers (中文 / English).
#
# Letters: P prompt tokens, O output tokens, B running requests, bs block size, L layers,
# H_kv KV heads, D head dim.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU

import time

import matplotlib.pyplot as plt
import torch

from inferlab import incidents, models
from inferlab.serve.reference import ReferenceEngine

torch.manual_seed(0)
torch.set_num_threads(1)
model = models.load("target")
print(model.config)

# %% [markdown]
# ## 1 · One request's path · 一个请求的完整路径
#
# ```
#  client ──HTTP POST /v1/completions──▶ API server (uvicorn + Starlette)
#                                           │ tokenizer: text → prompt ids (P,)
#                                           ▼
#                                   engine loop thread ◀── new requests, aborts (between steps)
#                                           │
#            ┌──────────────── step() ──────┴──────────────────────────────┐
#            │ 1 scheduler: who runs, how many tokens each (budget, slots,  │
#            │   free blocks); admit, chunk prompts, preempt the newest     │
#            │ 2 block manager: block tables, prefix-cache hits, free list  │
#            │ 3 model runner: pack ids/positions (T,), slot_mapping (T,);  │
#            │   per layer: qkv → write K/V to slots → attention over the   │
#            │   block tables → finish; logits of each request's last token │
#            │ 4 sampler: argmax / softmax(logits/T) with the request's seed│
#            │ 5 post-process: append tokens, stop?, free finished blocks   │
#            └──────────────────────────────────────────────────────────────┘
#                                           │ (request id, token, finished)
#                                           ▼
#                    detokenizer (incremental, holds back broken UTF-8) ──SSE──▶ client
# ```
#
# Where the time of one request goes: **queueing** (waiting for a slot or for blocks),
# **prefill** (its prompt's steps; TTFT = queueing + prefill + the first sample), **decode** (one
# step per token, shared with everyone else in the batch: TPOT), and the host work around each
# step (scheduling, packing, sampling, detokenising, the HTTP write). The next cell draws one
# request's life as the course engine lives it.

# %%
def traced_run(engine, prompts, max_new):
    """Run the engine step by step, timing its stages (schedule, model, sample + post-process) per step."""
    ids = [engine.add_request(p, m) for p, m in zip(prompts, max_new)]
    rows = []
    while engine.has_unfinished():
        t0 = time.perf_counter()
        plan = engine.scheduler.schedule()
        t1 = time.perf_counter()
        engine.runner.copy_blocks(plan.copies)
        tok_ids, positions, info = engine.runner.prepare(plan.scheduled)
        logits = engine.runner.forward(tok_ids, positions, info)  # (T, V)
        t2 = time.perf_counter()
        last = torch.tensor(info.query_lens).cumsum(0) - 1
        tokens = [int(torch.argmax(logits[i])) for i in last.tolist()]
        engine.scheduler.postprocess(plan, tokens, now=t2)
        t3 = time.perf_counter()
        rows.append(dict(prefill=dict(plan.prefill), decode=list(plan.decode), preempted=list(plan.preempted),
                         T=len(tok_ids), blocks=engine.scheduler.block_manager.num_used_blocks,
                         schedule=t1 - t0, model=t2 - t1, sample=t3 - t2))
    return ids, rows


engine = ReferenceEngine(model, num_blocks=14, block_size=8, max_num_seqs=4, max_num_batched_tokens=24)
texts = ["The scheduler decides", "A block table maps each logical block", "Prefix caching reuses the KV cache of",
         "Speculative decoding uses a small draft model"]
prompts = [models.encode(t) for t in texts]
ids, rows = traced_run(engine, prompts, [20, 14, 18, 10])
print("step  prefill{req: tokens}      decode        preempted  T  blocks  schedule/model/sample (ms)")
for s, r in enumerate(rows[:14]):
    print(f"{s:>4}  {str(r['prefill']):<24} {str(r['decode']):<13} {str(r['preempted']):<9} {r['T']:>2} {r['blocks']:>6}  "
          f"{r['schedule'] * 1e3:5.2f} / {r['model'] * 1e3:5.2f} / {r['sample'] * 1e3:5.2f}")
print("...", len(rows), "steps;", engine.scheduler.num_preemptions, "preemption(s),",
      engine.scheduler.num_prefix_hit_tokens, "prefix-hit tokens")
for i in ids:
    print(i, repr(models.decode(engine.sequence(i).output_ids)))

# %%
fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 3.6))
for rid in ids:
    for s, r in enumerate(rows):
        if rid in r["prefill"]:
            ax.barh(rid, 1, left=s, color="tab:orange")
        elif rid in r["decode"]:
            ax.barh(rid, 1, left=s, color="tab:blue")
        elif rid in r["preempted"]:
            ax.barh(rid, 1, left=s, color="tab:red")
ax.set_xlabel("step")
ax.set_ylabel("request")
ax.set_title("orange prefill chunk · blue decode · red preempted")
steps = range(len(rows))
bottom = [0.0] * len(rows)
for part, color in (("schedule", "tab:gray"), ("model", "tab:green"), ("sample", "tab:purple")):
    vals = [r[part] * 1e3 for r in rows]
    bx.bar(steps, vals, bottom=bottom, color=color, label=part)
    bottom = [b + v for b, v in zip(bottom, vals)]
bx.set_xlabel("step")
bx.set_ylabel("ms")
bx.legend()
bx.set_title("where a step's time goes (CPU, tiny model)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the trace: with 14 blocks of 8 tokens the four requests cannot all keep their KV, so the
# newest running request is **preempted** (red) and later recomputes its prompt + outputs; the
# budget of 24 tokens **chunks** the longer prompts over two steps; and a decode step's time is
# mostly the model (green). On a GPU with a 7B model the host parts (grey, purple) become the
# visible overhead that CUDA graphs, asynchronous scheduling and batched sampling remove.

# %% [markdown]
# ## 2 · FlashAttention + paged KV + tiers · 技术集成与协同 (§7.1)
#
# | piece | where in the engine | what it must agree on |
# | --- | --- | --- |
# | FlashAttention (lab02) | prefill and mixed batches: tiles of queries against tiles of keys, online softmax, no `N×N` matrix | it reads K/V **through the block table**: a key tile is one (or part of one) KV block, so the block size is a multiple of the kernel's key tile (FlashAttention-2 with paged KV wants 256-token blocks; FlashInfer and vLLM's kernels take 16) |
# | PagedAttention (lab03) | decode: one query per request, loop over its blocks | the same block layout `(num_blocks, bs, H_kv, D)` as the prefill kernel writes |
# | split-KV / flash-decoding | long contexts at small batch | partitions are whole blocks; partial results merged by log-sum-exp (lab02's `merge_attention`) |
# | prefix cache (lab04 hashes) | the block manager | blocks are immutable once full and named by a chained hash; shared by reference count |
# | tiers (lab04) | evicted prefix blocks go to CPU memory, then disk | a tier moves whole blocks (one DMA each), keyed by the same hash; a hit is promoted before the step that needs it |
# | int8 / fp8 KV (lab04) | the cache's dtype | the kernels dequantise per block or per head on load; scales live beside the block |
#
# Why they compose: every piece agrees on **one unit, the block**. The kernels read blocks, the
# scheduler counts blocks, the prefix cache names blocks, the tiers move blocks. The costs of the
# integration: kernels must support block tables and varied lengths in one launch (a *varlen*
# layout: `cu_seqlens`, as `CacheInfo.query_lens` here), prefix hits must start a prompt's prefill
# at an offset (the positions, and the causal mask's diagonal, shift by the cached length), and
# every tier transfer must finish before the step that reads the block (an event per block, or
# the step waits). The speed-ups do not simply add: FlashAttention speeds up long prefills;
# paging raises the batch (and so throughput) by cutting KV waste from ~60-80 % to under one
# block per sequence; prefix caching removes prefill work; tiers raise the prefix-hit rate at the
# cost of PCIe traffic. Measure each alone, then together (course 09).

# %% [markdown]
# ## 3 · Deploying under a memory limit · 资源受限部署
#
# Memory = weights + KV + activations/workspace (keep a reserve, 10 % here). The KV of one
# token, every layer: `2 · L · H_kv · D · bytes`. Llama-2-7B (L 32, H_kv 32, D 128, fp16):
# 512 KiB per token, **2 GiB for one 4k-token sequence**. The lab's `max_concurrent_sequences`
# answers "how many at once"; below, the same for a few cards, with grouped-query attention
# (H_kv 8) and an int8 KV cache.

# %%
def max_concurrent_sequences(gpu_bytes, weight_bytes, kv_bytes_per_token, seq_len, reserve_fraction=0.1):
    return max(0, int((gpu_bytes * (1 - reserve_fraction) - weight_bytes) // (kv_bytes_per_token * seq_len)))


GiB = 1 << 30
configs = [("Llama-2-7B fp16 KV, MHA", 13.5 * GiB, 2 * 32 * 32 * 128 * 2),
           ("Llama-3-8B fp16 KV, GQA 8", 16 * GiB, 2 * 32 * 8 * 128 * 2),
           ("Llama-3-8B int8 KV, GQA 8", 16 * GiB, 2 * 32 * 8 * 128 * 1),
           ("Llama-3-8B int4 weights + int8 KV", 5 * GiB, 2 * 32 * 8 * 128 * 1)]
cards = [("24 GB (L4/4090)", 24 * GiB), ("40 GB (A100)", 40 * GiB), ("80 GB (H100)", 80 * GiB)]
print(f"{'4k-token sequences at once':<36}" + "".join(f"{c:>18}" for c, _ in cards))
for name, w, kv in configs:
    print(f"{name:<36}" + "".join(f"{max_concurrent_sequences(g, w, kv, 4096):>18}" for _, g in cards))

# %% [markdown]
# The levers, in the order one usually pulls them:
#
# 1. **Page the KV** (lab03): reserve `ceil(len / bs)` blocks, not `max_seq_len` slots. The waste
#    left is under one block per sequence: smaller blocks waste less but make block tables
#    longer and kernels less efficient (16 is the usual compromise).
# 2. **Quantise the KV** (int8/fp8: ×2 sequences) and, if quality allows, the weights (int4 AWQ/GPTQ
#    frees weight memory for KV).
# 3. **Cap the concurrency** at what fits: `max_num_seqs` and the engine's `num_blocks`
#    (`kv_blocks_for_memory`) from the memory left; too many running requests for the blocks
#    gives a **preemption storm** (incident 1 below).
# 4. **Share** prompt prefixes (prefix caching) and **offload** cold blocks to CPU memory.
# 5. **Split the model** (tensor parallelism, course 05) or the phases (PD disaggregation, course 06)
#    when one card is not enough.

# %% [markdown]
# ## 4 · Serving: `inferlab serve` and the official client · 服务化
#
# `inferlab serve [--engine module:attr] [--host 127.0.0.1] [--port 8000]` puts an engine (the
# course's by default, or your lab08 `LLMEngine`: `--engine lab08.py:LLMEngine`) behind an
# OpenAI-compatible API on uvicorn. One thread owns the engine; between two steps it admits every
# request that arrived (they **join the running batch**) and aborts every client that left (its
# blocks are freed at once). Below, the server in a background thread, and the official `openai`
# client streaming from it.

# %%
from openai import OpenAI

from inferlab.serve import ServerThread
from inferlab.serve.app import build_app

served = ReferenceEngine(model, num_blocks=64, block_size=16, max_num_seqs=8, max_num_batched_tokens=256)
with ServerThread(build_app(served)) as srv:
    client = OpenAI(base_url=srv.url + "/v1", api_key="none")
    print("models:", [m.id for m in client.models.list()])
    t0 = time.perf_counter()
    stream = client.completions.create(model="inferlab-target", prompt="The KV cache", max_tokens=24,
                                       temperature=0, stream=True)
    times, text = [], ""
    for chunk in stream:
        if chunk.choices:
            times.append(time.perf_counter() - t0)
            text += chunk.choices[0].text
    print(repr(text))
    print(f"TTFT {times[0] * 1e3:.1f} ms, mean ITL {(times[-1] - times[0]) / (len(times) - 1) * 1e3:.1f} ms "
          f"over {len(times)} tokens (CPU, tiny model, through HTTP)")
    chat = client.chat.completions.create(model="inferlab-target", temperature=0, max_tokens=30,
                                          messages=[{"role": "user", "content": "Tell me a bedtime story."}])
    print(repr(chat.choices[0].message.content))

# %% [markdown]
# ## 5 · "Latency suddenly went up" — a method · 推理延迟排查思路
#
# 1. **Measure, and say which number moved.** TTFT or TPOT/ITL? p50 or only p99? All requests
#    or one class (long prompts, one tenant)? Throughput too? When did it start, and what changed
#    then (a deploy, a config, the traffic)?
# 2. **Locate the stage.** TTFT = queueing + prefill: look at the waiting queue and the admitted
#    tokens per step. TPOT/ITL = decode steps: look at step duration and what each step carries
#    (a huge prefill chunk? many sequences? host time?). Memory: blocks used versus held,
#    preemptions, recomputed tokens.
# 3. **One hypothesis that explains every symptom** (and predicts one you have not looked at yet).
# 4. **One change**, the smallest that tests it.
# 5. **Measure again**, the same way, and keep the change only if the SLOs are met without
#    breaking another number.
#
# The lab's incidents are days replayed on a simulated device: a cost per step, per token and
# per context token read, so every run is exact. Two worked examples:

# %%
def show(inc, title):
    rep = inc.report()
    m, trace = rep["metrics"], rep["trace"]
    print(f"--- {title}\nconfig {rep['config']}\nSLO {rep['slo']}")
    print(f"p99 TTFT {m['ttft']['p99'] * 1e3:.0f} ms, TPOT {m['tpot']['p99'] * 1e3:.1f} ms, ITL {m['itl']['p99'] * 1e3:.1f} ms;"
          f" preemptions {m['preemptions']}, recomputed {m['recomputed_tokens']}, prefix hits {m['prefix_hit_tokens']},"
          f" repeated-prefix tokens {m['repeated_prefix_tokens']} of {m['prompt_tokens']}")
    fig, axs = plt.subplots(1, 3, figsize=(13, 2.8))
    t = [s["t"] for s in trace]
    axs[0].plot(t, [s["waiting"] for s in trace], label="waiting")
    axs[0].plot(t, [s["running"] for s in trace], label="running")
    axs[0].legend()
    axs[1].plot(t, [s["blocks_used"] for s in trace], label="blocks used")
    axs[1].plot(t, [s["preempted"] for s in trace], ".", label="preempted")
    axs[1].legend()
    axs[2].plot(t, [s["dt"] * 1e3 for s in trace], ".", ms=2)
    axs[2].set_ylabel("step ms")
    for a in axs:
        a.set_xlabel("simulated s")
    plt.suptitle(title)
    plt.tight_layout()
    plt.show()
    return rep


rep = show(incidents.draw(11, "kv_blocks_too_few"), "incident A")

# %% [markdown]
# **Incident A.** TTFT p99 is seconds while TPOT is nearly fine; preemptions and recomputed
# tokens are large; blocks used sit at the pool's size the whole time while the queue grows.
# Hypothesis: the KV pool is too small for the concurrency (someone set the memory fraction low):
# requests are admitted, run out of blocks, are preempted, and recompute their prompts again and
# again (a **preemption storm**). Prediction: recomputed tokens ≈ a multiple of the prompt tokens.
# One change: `num_blocks` up to what the memory allows. Measure again:

# %%
inc = incidents.draw(11, "kv_blocks_too_few")
print(inc.replay({"num_blocks": inc.limits["num_blocks"][1]})["violations"] or "meets the SLOs")
print("a change that tests another hypothesis:", inc.replay({"max_num_batched_tokens": 128})["violations"])

# %%
rep = show(incidents.draw(5, "prefill_starves_decode"), "incident B")

# %% [markdown]
# **Incident B.** TTFT is fine but TPOT p99 blew up; step durations are mostly short with a few
# steps ten to twenty times longer (too rare to move ITL's p99, but every request decoding
# across one of them pays it in its TPOT); no preemptions, blocks plentiful. The long steps
# are the ones that carry thousands of prefill tokens: with `max_num_batched_tokens` at 8192, a
# long prompt runs in one step and every running request's next token waits for it. One change:
# a chunk of a few hundred tokens (chunked prefill: the long prompt is spread over steps that
# still carry everyone's decode). Measure again:

# %%
inc = incidents.draw(5, "prefill_starves_decode")
for chunk in (128, 512, 2048):
    print(chunk, inc.replay({"max_num_batched_tokens": chunk})["violations"] or "meets the SLOs")

# %% [markdown]
# The other five kinds in the lab, and the evidence that gives each away: too few request slots
# (`max_num_seqs`: a long queue while blocks sit free and no preemption); prefix caching off
# (prompts that repeat earlier prompts' blocks, zero hits, prefill-bound TTFT); a draft with low
# acceptance (speculation proposed ≫ accepted, TPOT worse than without it); a block leak (blocks
# used minus blocks held by requests grows until the pool is gone and requests never finish);
# a sampler that synchronises per token (host time per step grows with the batch while the model
# time does not).

# %% [markdown]
# ## 6 · Model answer: an inference service for an e-commerce site · 电商平台推理服务设计
#
# **Workloads.** (a) shopping assistant chat: interactive, long shared system prompt + catalogue
# context, streamed; (b) search query rewriting: short in, short out, tight latency, huge QPS;
# (c) product description / review summarisation: offline batch, throughput only.
#
# **Traffic shape.** Diurnal (evening peak ≈ 3× the trough) and promotions (Singles' Day, Black
# Friday: 10-20× for hours, announced in advance); bursts at the minute a sale opens.
#
# **SLOs** (per workload, p99): chat TTFT ≤ 1 s, TPOT ≤ 50 ms; rewrite end-to-end ≤ 300 ms;
# batch: finish by morning. Goodput (requests meeting both SLOs per second, course 06) is the
# capacity metric, not raw tokens/s.
#
# **Capacity.** Measure one replica's goodput on a replay of real traffic (course 09's load test,
# Poisson and bursty arrivals); replicas = peak QPS / per-replica goodput × headroom (1.3). E.g.
# 400 chat requests/s at peak, 12 req/s per 8B replica on one H100 within SLO → 34 replicas ×
# 1.3 ≈ 45 GPUs at peak, 15 at the trough: autoscale on queue length and KV usage, not CPU.
#
# **Architecture.** API gateway (auth, rate limits per tenant, priorities) → router
# (prefix-aware: send a conversation to the replica holding its prefix; least-KV-used otherwise)
# → engine replicas (continuous batching, paged + prefix-cached KV, int8 KV, chunked prefill;
# speculative decoding for chat if acceptance is high on real traffic) with CPU-memory KV tiers.
# Prefill/decode disaggregation when long catalogue contexts hurt TPOT. A small model (or a
# distilled one) for query rewriting on its own pool. Batch jobs fill idle GPUs at low priority,
# preempted first.
#
# **Fallbacks.** Over capacity: shed the batch tier, then shorten max_tokens, then route chat to a
# smaller model, then serve cached answers for the top questions; never let the queue grow
# without bound (admission control with a timeout). A replica failure: the router retries
# elsewhere (requests are idempotent until the first token is streamed). Observability: TTFT,
# TPOT, ITL percentiles per workload, queue length, KV usage, preemptions, prefix-hit rate,
# speculative acceptance — the evidence section 5 reads.

# %% [markdown]
# ## 7 · Interview questions with model answers · 面试问题与参考答案 (§8)
#
# **Q1 · 如何在有限GPU内存下部署大模型? / How do you deploy a large model on limited GPU memory?**
# Budget the memory: weights + KV + workspace. Shrink weights (int8/int4 quantisation, a
# smaller or distilled model), shrink KV per token (GQA/MQA models, int8/fp8 KV, a shorter
# context), stop wasting KV (paging: waste under one block per sequence; prefix sharing), cap
# concurrency to what fits (`max_num_seqs`, `num_blocks` from the memory left) so you never
# preempt in a storm, offload cold KV to CPU, and split across GPUs (TP) only when one is not
# enough. Then verify with a load test that the SLOs hold at the concurrency you allowed.
#
# **Q2 · 面对推理延迟突然增加的问题,你的排查思路是什么? / Latency suddenly went up: how do you find why?**
# Say which metric moved (TTFT vs TPOT/ITL, p50 vs p99, which requests) and what changed at that
# time. Split TTFT into queueing and prefill, TPOT into step time and what the step carries.
# Check memory (KV used, preemptions, recomputation), the batch composition (long prefills,
# batch size), the host (sampling, detokenisation, Python GC), and hit rates (prefix cache,
# speculative acceptance). Form one hypothesis that explains all symptoms, change one thing,
# measure again the same way. (Section 5 and lab08's incidents.)
#
# **Q3 · 多用户并发访问的优化策略 / How do you serve many concurrent users?**
# Continuous batching (requests join and leave every step), paged KV so the batch is limited by
# tokens, not by reservations, chunked prefill so new prompts do not stall running decodes,
# prefix caching for shared system prompts, fair admission (FCFS or per-tenant priorities) and
# admission control with timeouts, horizontal replicas behind a KV-aware router.
#
# **Q4 · 如何在保证服务质量的前提下最大化GPU资源利用率? / Maximise GPU use without breaking the SLOs?**
# Optimise goodput, not throughput: raise the batch (more KV, quantised KV) until the TPOT SLO
# binds; chunk prefills to the size that keeps ITL under the SLO; mix offline batch work at low
# priority into the gaps; separate prefill and decode when their optima differ (course 06);
# autoscale on queue and KV signals.
#
# **Q5 · 如何设计一个集成多种优化技术的大模型推理系统? (§7.1) / Design a system integrating the optimisations.**
# Everything meets at the KV block: the scheduler counts blocks, the block manager shares and
# names them (prefix hashes), the kernels (FlashAttention for prefill, paged decode, split-KV)
# read them through block tables, tiers move them. Build the engine loop (schedule → run →
# post-process) first with plain kernels and exact tests (greedy equality, counted tokens), then
# swap in each optimisation behind the same interface and measure each alone and together.
#
# **Q6 · 电商平台推理服务架构 / Architect an inference service for an e-commerce platform.** Section 6.
#
# **Q7 · 你在项目中遇到的技术难点? / A hard problem from your project?** (Use the lab.) Example:
# "my engine's tokens differed from greedy generation only under memory pressure. The cause: on
# preemption I dropped the block table but not the references, so the pool shrank until decodes
# read blocks that had been handed to another request. I found it by checking invariants after
# every step (blocks held = blocks referenced by tables) on random workloads with a tiny pool, and
# fixed it by releasing through the same path as a finished request. Lesson: test the engine
# against a plain reference with memory tight enough to force the rare paths."
