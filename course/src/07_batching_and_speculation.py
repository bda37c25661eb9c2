# %% [markdown]
# # 07 · Continuous batching and speculative decoding · 连续批处理与推测解码
#
# Syllabus §7 (七、综合应用与前沿技术: Continuous Batching, Speculative Decoding) with §3.2's
# dynamic batching (动态批处理). Lab: `labs/lab07` (the scheduler and the speculative sampler).
#
# 1. Static (request-level) versus iteration-level batching (Orca): an animated Gantt chart.
# 2. Chunked prefill and stall-free batching (Sarathi-Serve): why a long prompt must not stop decodes.
# 3. Admission, preemption by recomputation versus swapping, and starvation.
# 4. How vLLM's and nano-vllm's schedulers differ.
# 5. Speculative decoding: the acceptance rule, why it is exact, tokens per target call, speed-up, best k.
# 6. EAGLE, Medusa, lookahead decoding in brief.
# 7. Predict, then measure: α on the course's target/draft pair.
# 8. Interview questions with model answers (中文 / English).
#
# A **step** (iteration) is one forward pass of the model over a batch; its cost grows with the
# tokens it runs (prefill tokens + one per decoding request). Letters: P prompt length, O output
# length, B requests per batch, k draft tokens per round, α acceptance rate, c draft/target cost ratio.

# %%
import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU

import math
import random
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from inferlab import models
from inferlab.engine.scheduler import Scheduler  # the course engine's reference scheduler (lab07's rules)

torch.manual_seed(0)
torch.set_num_threads(1)  # the course models are tiny: one thread is fastest, and kind to a shared machine
random.seed(0)

# %% [markdown]
# ## 1 · Static versus iteration-level batching · 静态批处理与迭代级调度 (Orca)
#
# **Static (request-level) batching** — what a plain `model.generate(batch)` does: gather `B`
# requests, run them together until the *longest* one is done, then take the next `B`. Two losses:
#
# * **idle slots**: a request that finishes early keeps its slot (and, with a contiguous cache, its
#   memory) until the longest one ends — with output lengths spread from 10 to 500 tokens most
#   slot-steps are padding;
# * **head-of-line waiting**: a request that arrives just after a batch starts waits for the whole
#   batch, even when slots sit idle.
#
# **Iteration-level scheduling** (Orca, OSDI 2022; "continuous batching" in vLLM, TGI, SGLang):
# the scheduler decides *every step* which requests run. A finished request leaves at once and
# a waiting one takes its place in the next step. What makes this possible: attention is the only
# operation that mixes positions, so requests of different lengths can share every matmul as one
# flattened `(tokens, C)` batch (Orca's *selective batching*), and a paged KV cache (lab03) lets
# each request grow on its own.
#
# Below: the same requests under both policies, as a Gantt chart (one row per request; grey =
# waiting, orange = prefill step, blue = decoding, red = finished but its slot still held).

# %%
def make_trace(n=24, pattern="bursty", spread=1.0, seed=0):
    """Requests (arrival step, prompt_len, output_len): arrivals all at 0, steady, or in bursts."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if pattern == "all at once":
            t = 0
        elif pattern == "steady":
            t = 2 * i
        else:  # bursty: groups of 6 arrive together every 25 steps
            t = 25 * (i // 6) + rng.randint(0, 2)
        mean = 20
        o = max(1, int(round(mean * math.exp(spread * rng.gauss(0, 0.8)))))  # log-normal output lengths
        out.append((t, rng.randint(8, 48), min(o, 120)))
    return out


def static_batching(trace, B):
    """Per request (start, finish, released): run B arrived requests until the longest is done."""
    order = sorted(range(len(trace)), key=lambda i: trace[i][0])
    spans, t, i = {}, 0, 0
    while i < len(order):
        t = max(t, trace[order[i]][0])  # wait for the next request to arrive
        batch = [r for r in order[i:i + B] if trace[r][0] <= t]
        i += len(batch)
        end = t + max(trace[r][2] for r in batch)  # the longest output sets the batch's length
        for r in batch:
            spans[r] = (t, t + trace[r][2], end)  # its last token at t + O - 1; slot held until end
        t = end
    return spans


def continuous_batching(trace, B):
    """Per request (start, finish, finish) from the engine's scheduler with B request slots."""
    sched = Scheduler(max_num_seqs=B, max_num_batched_tokens=10_000, num_blocks=10_000, block_size=16)
    pending = sorted(range(len(trace)), key=lambda i: trace[i][0])
    start, done, step = {}, {}, 0
    while pending or sched.has_unfinished():
        while pending and trace[pending[0]][0] <= step:
            r = pending.pop(0)
            sched.add(r, trace[r][1], trace[r][2])
        plan = sched.step()
        for r in plan.prefill:
            start.setdefault(r, step)
        for r in sched.finished():
            done.setdefault(r, step + 1)
        step += 1
    return {r: (start[r], done[r], done[r]) for r in start}


def metrics(trace, spans):
    """Steps, output tokens per step, mean latency, and the share of slot-steps held idle."""
    steps = max(e for _, _, e in spans.values())
    tokens = sum(o for _, _, o in trace)
    lat = [spans[r][1] - trace[r][0] for r in spans]
    held = sum(e - s for s, _, e in spans.values())
    idle = sum(e - f for _, f, e in spans.values())
    return {"steps": steps, "tokens/step": tokens / steps, "mean latency": float(np.mean(lat)),
            "p99 latency": float(np.percentile(lat, 99)), "idle slot share": idle / held}


def gantt(ax, trace, spans, now, title):
    """Draw each request's row up to step `now`."""
    for r, (t, _, o) in enumerate(trace):
        s, f, e = spans[r]
        segs = [(t, s, "0.85"), (s, s + 1, "tab:orange"), (s + 1, f, "tab:blue"), (f, e, "tab:red")]
        for a, b, color in segs:
            b = min(b, now)
            if b > a:
                ax.broken_barh([(a, b - a)], (r - 0.4, 0.8), color=color)
    ax.axvline(now, color="k", lw=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("request")
    ax.set_ylim(-1, len(trace))


trace = make_trace()
B = 6
policies = {"static": static_batching(trace, B), "continuous": continuous_batching(trace, B)}
for name, spans in policies.items():
    m = metrics(trace, spans)
    print(f"{name:10s} " + "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()))

# %% [markdown]
# The widget replays both schedules step by step (press ▶, or drag the step slider) and lets you
# change the arrival pattern and the spread of output lengths. Watch the red (held, idle) bars of
# static batching grow with the spread, and the grey (waiting) bars of late arrivals. The static
# figure after it is the last frame of the default setting.

# %%
import ipywidgets as widgets


def show(pattern="bursty", spread=1.0, step=200):
    trace = make_trace(pattern=pattern, spread=spread)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, (name, fn) in zip(axes, (("static", static_batching), ("continuous", continuous_batching))):
        spans = fn(trace, B)
        m = metrics(trace, spans)
        gantt(ax, trace, spans, step, f"{name}: {m['steps']} steps, {m['tokens/step']:.2f} tok/step, "
                                      f"mean latency {m['mean latency']:.0f}, idle {m['idle slot share']:.0%}")
    plt.tight_layout()
    plt.show()


play = widgets.Play(value=0, min=0, max=200, step=4, interval=150, description="play")
step_slider = widgets.IntSlider(value=200, min=0, max=200, step=1, description="step")
widgets.jslink((play, "value"), (step_slider, "value"))
ui = widgets.VBox([widgets.HBox([play, step_slider]),
                   widgets.interactive(show, pattern=["bursty", "steady", "all at once"],
                                       spread=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.25),
                                       step=step_slider)])
ui

# %%
show("bursty", 1.0, 200)
rows = []
for spread in (0.0, 0.5, 1.0, 1.5, 2.0):
    tr = make_trace(spread=spread)
    s, c = metrics(tr, static_batching(tr, B)), metrics(tr, continuous_batching(tr, B))
    rows.append((spread, s["tokens/step"], c["tokens/step"], s["mean latency"], c["mean latency"]))
    print(f"spread {spread:.1f}: tokens/step static {s['tokens/step']:.2f} vs continuous {c['tokens/step']:.2f}; "
          f"mean latency {s['mean latency']:.0f} vs {c['mean latency']:.0f} steps")

# %% [markdown]
# With equal output lengths (spread 0) the two policies are close: nobody finishes early. The
# wider the spread, the more static batching loses — exactly the situation of real chat traffic,
# whose output lengths span two orders of magnitude. In a real engine the gain is larger still,
# because a step's cost is almost flat in the batch size while decoding is memory-bound (lab01's
# roofline), so filling idle slots is nearly free throughput.
#
# ## 2 · Chunked prefill and stall-free batching · 分块预填充 (Sarathi-Serve)
#
# Continuous batching alone has a new problem. A request's **prefill** runs all `P` prompt tokens
# in one step: a 4,000-token prompt makes that step ~100× longer than a decode step, and every
# running request waits for it — a **generation stall** that shows up as a spike in inter-token
# latency (ITL/TPOT). Engines that run prefill-only steps first (vLLM before v1, nano-vllm) trade
# throughput for these stalls.
#
# **Chunked prefill** (Sarathi-Serve, OSDI 2024) caps the tokens of one step
# (`max_num_batched_tokens`, e.g. 512–8192) and splits a long prompt across steps. **Stall-free
# batching** fills each step with the running decodes *first* (one token each) and gives only the
# remaining budget to prefill chunks, so decodes never wait for a prompt. The chunk size is a
# knob: small chunks keep ITL flat but re-read the growing KV prefix once per chunk and run
# smaller matmuls; large chunks approach the one-shot prefill.
#
# A step-time model `t = a + b · tokens` (a fixed cost for reading the weights, plus a per-token
# cost once the batch is compute-bound) and a 2,000-token prompt arriving among 8 decoding
# requests:

# %%
def step_time(tokens, a=10.0, b=0.02):
    """Milliseconds for one step over `tokens` tokens (weights read once; compute per token)."""
    return a + b * tokens


def itl_trace(chunk, n_decoding=8, prompt=2000, steps=30, arrive=5):
    """Per step: the time a decoding request waits for its next token; one long prompt arrives at `arrive`."""
    left, out = 0, []
    for s in range(steps):
        if s == arrive:
            left = prompt
        run = min(left, chunk) if chunk else left  # chunk None: the whole prompt in one step
        left -= run
        out.append(step_time(n_decoding + run))
    return out


plt.figure(figsize=(7, 3.2))
for chunk, label in ((None, "whole prompt in one step"), (512, "chunks of 512"), (128, "chunks of 128")):
    plt.plot(itl_trace(chunk), marker=".", label=label)
plt.xlabel("step")
plt.ylabel("inter-token latency (ms, model)")
plt.title("a 2,000-token prompt arrives at step 5 among 8 decoding requests")
plt.legend()
plt.tight_layout()
plt.show()
for chunk in (None, 512, 128):
    t = itl_trace(chunk)
    print(f"chunk {chunk!s:>5}: worst ITL {max(t):5.1f} ms, total time of the 30 steps {sum(t):6.1f} ms")

# %% [markdown]
# The total work is about the same (each chunk pays the fixed cost `a` again, so small chunks cost
# a little throughput); the worst ITL drops from ~50 ms to ~20 ms. Real engines pick the token
# budget so that one step stays within the ITL target.
#
# ## 3 · Admission, preemption and starvation · 准入、抢占与饥饿
#
# **Admission** (准入): a waiting request joins when a request slot (`max_num_seqs`), some token
# budget and the KV blocks for its first chunk are free — in arrival order (first-come
# first-served, FCFS), never skipping the head of the queue (skipping lets a long request starve
# behind a stream of short ones).
#
# **Preemption** (抢占): admission reserves blocks for the prompt only, because output lengths are
# unknown. As running requests grow, the blocks can run out in the middle of a decode step. Then
# the scheduler takes blocks back from a running request — the **newest** one (it has done the
# least work, and the oldest are closest to finishing) — in one of two ways:
#
# | | recomputation (重计算) | swapping (换出) |
# | --- | --- | --- |
# | what happens | drop its KV blocks; later re-run prompt + outputs so far as one prefill | copy its KV blocks to CPU memory; copy them back later |
# | cost | prefill FLOPs of `P + O` tokens (compute-bound, fast on a GPU) | `2 ×` KV bytes over PCIe (~25 GB/s per direction) |
# | memory | none while waiting | host memory for the swapped blocks |
#
# For Llama-2-7B in fp16 (512 KiB of KV per token) a 2,000-token request holds 1 GiB of KV:
# swapping it out and back moves 2 GiB, ~80 ms over PCIe 4; recomputing 2,000 tokens costs
# `2 · 7e9 · 2000 = 28 TFLOP`, ~40 ms at ~700 TFLOP/s. Recomputation usually wins for short and
# medium sequences, which is why vLLM defaults to it (and lab07's Scheduler uses it).
#
# **Starvation** (饥饿): preempt-the-newest plus FCFS re-admission can make one request loop —
# admitted, prefilled, preempted when the older ones grow, re-admitted, prefilled again — doing
# work that is thrown away. The engine's reference scheduler on a pool that is too small:

# %%
def preemption_story(num_blocks):
    """Three short requests that grow, then one long prompt; how often is each preempted?"""
    sched = Scheduler(max_num_seqs=4, max_num_batched_tokens=64, num_blocks=num_blocks, block_size=4)
    for rid, (p, o) in enumerate([(8, 40), (8, 40), (8, 40), (24, 8)]):
        sched.add(rid, p, o)
    steps, prefill_tokens = 0, 0
    while sched.has_unfinished():
        plan = sched.step()
        steps += 1
        prefill_tokens += sum(plan.prefill.values())
    preemptions = {rid: sched.seqs[rid].num_preemptions for rid in range(4)}
    return steps, prefill_tokens, preemptions


for nb in (48, 36, 30, 24):
    steps, pre, counts = preemption_story(nb)
    print(f"num_blocks {nb:2d}: {steps:3d} steps, {pre:4d} prompt tokens run (64 without preemption), "
          f"preemptions per request {counts}")

# %% [markdown]
# With fewer blocks, the long request 3 (the newest) is preempted again and again and its
# prompt is recomputed each time: wasted work, and a latency that grows with the pressure. The
# cures real engines use: a **watermark** (admit only while some blocks stay free, so running
# requests can grow), reserving blocks for a request's expected output, priorities or aging
# (a request preempted many times becomes un-preemptable), swapping instead of recomputing for
# long requests, and admission control (reject or queue when the system is full).
#
# The lab's starvation bound is the other half: *while nothing is preempted*, a running request
# is left out of a step only when older requests used the step's whole token budget, so its wait
# between two tokens is bounded.
#
# ## 4 · vLLM's and nano-vllm's schedulers · 两种调度器的差异
#
# | | nano-vllm | vLLM v0 (default until 2024) | vLLM v1 |
# | --- | --- | --- | --- |
# | step kinds | a prefill-only step when any waiting prompt fits, otherwise a decode-only step | prefill-only or decode-only steps (chunked prefill optional) | one kind: every request has `num_computed_tokens` catching up with `num_tokens`; prefill and decode mix in one step |
# | priority | waiting first (prefill-first) | waiting first, unless chunked prefill | running first (decodes, then partial prefills), then waiting |
# | chunked prefill | no (a prompt runs whole) | optional | always (token budget) |
# | preemption | recompute the newest running request | recompute or swap (queues: waiting, running, swapped) | recompute the lowest-priority / newest |
# | watermark | no | yes (1 % of blocks) | prefix-cache aware admission |
#
# nano-vllm fits in ~70 lines because it never mixes phases; vLLM v1 is simpler than v0 because
# the unified "tokens to catch up" view makes prefill, chunked prefill, decode, preemption-resume
# and speculative tokens one case. Lab07's Scheduler is the v1 shape on token counts alone.
#
# ## 5 · Speculative decoding · 推测解码
#
# Decoding one token reads all the target model's weights for a tiny amount of compute (lab01's
# roofline). Verifying `k + 1` tokens in one pass costs almost the same as one token while decode
# is memory-bound. So: let a cheap **draft** model propose `k` tokens `x_1..x_k` (k sequential
# passes of the draft), run the **target** once over them, and keep a prefix.
#
# **The acceptance rule** (Leviathan et al. 2023; Chen et al. 2023). With `q_i` the draft's and
# `p_i` the target's distribution at position `i` (both given the same prefix):
#
# 1. accept `x_i` with probability `min(1, p_i(x_i) / q_i(x_i))`, for `i = 1, 2, …` in order;
# 2. at the first rejection, draw a replacement from the **residual** `normalize(max(0, p_i − q_i))` and stop;
# 3. if all `k` are accepted, draw one **bonus** token from `p_{k+1}` (the target computed it anyway).
#
# **Why the output is distributed exactly as the target's** (one position; the rest follows by
# induction, because a position is only reached after the previous token is fixed). The token
# `x` comes out of position `i` either as an accepted draft or as a replacement:
#
# `P(out = x) = q(x) · min(1, p(x)/q(x)) + (1 − β) · max(0, p(x) − q(x)) / (1 − β)`
# `           = min(q(x), p(x)) + max(0, p(x) − q(x)) = p(x)`,
#
# where `β = Σ_y min(p(y), q(y))` is the acceptance probability, and `Σ_y max(0, p(y) − q(y)) =
# 1 − β` is exactly the residual's normaliser. Every piece is needed: accept always when
# `p ≥ q` but *never* otherwise and tokens with `p < q` vanish; resample from `p` instead of the
# residual and tokens the draft over-proposes get counted twice; drop the bonus token and the
# output is right but one token per round shorter. At temperature 0 the rule becomes "accept while
# the draft's argmax equals the target's; then take the target's argmax": the output equals the
# target's greedy generation.
#
# **Tokens per target call.** With an acceptance rate `α` per position (treated as independent),
# a round yields `1 + (number of accepted drafts)`, whose mean is
#
# `E[tokens per round] = 1 + α + α² + … + α^k = (1 − α^(k+1)) / (1 − α)`  (k + 1 at α = 1).
#
# **Speed-up.** A round costs `k` draft passes and one target pass; with `c` = draft cost / target
# cost per pass: `speed-up(k) = (1 − α^(k+1)) / ((1 − α)(1 + c·k))`. The numerator saturates at
# `1/(1 − α)` while the cost grows linearly, so there is a best `k`:

# %%
def expected_tokens(alpha, k):
    """Mean tokens per target call: (1 - alpha^(k+1)) / (1 - alpha)."""
    return k + 1.0 if alpha == 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


def speedup(alpha, k, c):
    """Tokens per unit of target time, relative to plain decoding (one token per target pass)."""
    return expected_tokens(alpha, k) / (1 + c * k)


ks = np.arange(0, 13)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for alpha in (0.5, 0.7, 0.8, 0.9):
    axes[0].plot(ks, [expected_tokens(alpha, k) for k in ks], marker=".", label=f"α = {alpha}")
    for c, ls in ((0.05, "-"), (0.2, "--")):
        axes[1].plot(ks, [speedup(alpha, k, c) for k in ks], ls=ls, label=f"α = {alpha}, c = {c}")
axes[0].set_xlabel("k (draft tokens per round)")
axes[0].set_ylabel("tokens per target call")
axes[0].legend()
axes[1].set_xlabel("k")
axes[1].set_ylabel("speed-up")
axes[1].legend(fontsize=7, ncol=2)
plt.tight_layout()
plt.show()
for alpha in (0.6, 0.8, 0.9):
    for c in (0.05, 0.2):
        best = max(range(1, 17), key=lambda k: speedup(alpha, k, c))
        print(f"α = {alpha}, c = {c}: best k = {best:2d}, speed-up {speedup(alpha, best, c):.2f}x")

# %% [markdown]
# Rules of thumb: the speed-up is bounded by `1/(1 − α)` and by `1/c`-ish costs; a higher α
# (a better-aligned draft, an easier text) pushes the best k up; a costlier draft pushes it down.
# Speculation helps at **small batch** (decode memory-bound, idle compute to spend); at large batch
# the target's step is already compute-bound, the `k + 1` verified positions are not free, and
# the gain shrinks or turns negative. Rejected positions must also be **rolled back** from both
# models' KV caches (the lab: truncate the cache to the accepted length; recompute nothing).
#
# ## 6 · EAGLE, Medusa, lookahead · 推测解码的变体
#
# * **Medusa** (2024): no separate draft model; `k` extra heads on the target's last hidden state
#   each predict the token `i` positions ahead; candidates from their top choices form a tree,
#   verified in one pass with a tree attention mask. Needs fine-tuning of the heads; acceptance
#   with a "typical" threshold (not exact sampling) or exact greedy.
# * **EAGLE** (2024; EAGLE-2/3): the draft is a single transformer layer that extrapolates the
#   target's *features* (second-to-top hidden states) rather than tokens, fed with the sampled
#   token; dynamic draft trees; among the highest acceptance lengths (3–5 tokens per call), and exact.
# * **Lookahead decoding** (2024): no draft at all; Jacobi iteration proposes n-grams in parallel
#   and a pool of past n-grams supplies candidates, verified in the same pass. Works best on
#   repetitive text (code).
# * Related: prompt-lookup / n-gram drafting (copy spans from the prompt — great for editing and
#   RAG), self-speculative decoding (skip layers of the target as the draft), and *adaptive k*
#   (the lab's frontier task: pick k each round from the acceptance seen so far).
#
# ## 7 · Predict, then measure: α on the course models · 先预测，再测量
#
# The course's `target` (4 layers, 128 wide) and `draft` (2 layers, 64 wide) were trained on the
# same text. **Predict** first: α per position is `Σ_x min(p(x), q(x))` (the acceptance
# probability of the rule above). Measure it along text the target itself writes at temperature 1,
# with one full forward pass of each model over the text (every position at once):

# %%
from inferlab.engine.kv_cache import KVCache
from inferlab.engine.model_runner import CacheInfo, ModelRunner

target, draft = models.load("target"), models.load("draft")
T = 1.0


class CachedModel:
    """One sequence over the engine's paged KV cache: `run(ids)` appends, `length = n` rolls back."""

    def __init__(self, model, max_len=512, block_size=16):
        self.kv = KVCache.for_model(model.config, max_len // block_size, block_size)
        self.runner = ModelRunner(model, self.kv)
        self.table = list(range(max_len // block_size))  # one sequence owns every block
        self.length = 0  # cached positions; later slots are stale and get overwritten

    def run(self, ids):
        """Logits (T, V) of `ids` at positions length..length+T-1."""
        start, end = self.length, self.length + len(ids)
        info = CacheInfo(self.kv[0].slot_mapping(self.table, start, end), [self.table], [len(ids)], [end])
        logits = self.runner.forward(torch.tensor(ids), torch.arange(start, end), info)
        self.length = end
        return logits


def dist(logits, temperature):
    return torch.softmax(logits.double() / temperature, -1)


def sample_text(prompt, n, temperature, seed):
    """n tokens sampled from the target after `prompt`."""
    g, m = torch.Generator().manual_seed(seed), CachedModel(target)
    ids, feed = list(prompt), list(prompt)
    for _ in range(n):
        ids.append(int(torch.multinomial(dist(m.run(feed)[-1], temperature), 1, generator=g)))
        feed = ids[-1:]
    return ids


@torch.no_grad()
def alpha_along(ids, start, temperature):
    """Σ_x min(p, q) at every position from `start` of the token list `ids` (one pass per model)."""
    x = torch.tensor([ids])
    p, q = dist(target(x)[0], temperature), dist(draft(x)[0], temperature)  # (T, V) each
    return torch.minimum(p, q).sum(-1)[start - 1:-1]  # the distributions of tokens start..end


prompts = ["The KV cache", "A block table", "Speculative decoding", "The scheduler"]
alphas = []
for i, text in enumerate(prompts):
    prompt = models.encode(text)
    alphas.append(alpha_along(sample_text(prompt, 60, T, seed=i), len(prompt), T))
alphas = torch.cat(alphas)
alpha = float(alphas.mean())
print(f"α at temperature {T}: mean {alpha:.3f} over {alphas.numel()} positions "
      f"(10th percentile {float(alphas.quantile(0.1)):.2f}, median {float(alphas.median()):.2f})")

# %% [markdown]
# Now **measure** tokens per target call: a plain speculative loop over both models' caches
# (a rejected proposal is rolled back by setting the cache's length back), counting target
# calls, for k = 1..8.

# %%
def speculative_run(prompt, n, k, temperature, seed):
    """Generate n tokens by speculative sampling; returns (tokens, target calls)."""
    g = torch.Generator().manual_seed(seed)
    tm, dm = CachedModel(target), CachedModel(draft)
    ids, calls = list(prompt), 0
    while len(ids) < len(prompt) + n:
        kk = min(k, len(prompt) + n - len(ids) - 1)
        drafts, qs = [], []
        for _ in range(kk):
            feed = drafts[-1:] if drafts else ids[dm.length:]  # unseen committed tokens, then the last proposal
            q = dist(dm.run(feed)[-1], temperature)
            drafts.append(int(torch.multinomial(q, 1, generator=g)))
            qs.append(q)
        p = dist(tm.run(ids[tm.length:] + drafts)[-kk - 1:], temperature)  # (kk + 1, V)
        calls += 1
        out = []
        for i, x in enumerate(drafts):
            if float(torch.rand((), generator=g, dtype=torch.float64)) < min(1.0, float(p[i, x] / qs[i][x])):
                out.append(x)
                continue
            residual = (p[i] - qs[i]).clamp(min=0)
            out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=g)))
            break
        else:
            out.append(int(torch.multinomial(p[kk], 1, generator=g)))
        n_acc = len(out) - 1
        tm.length = len(ids) + n_acc  # roll back both caches to the accepted proposals
        dm.length = min(dm.length, len(ids) + n_acc)
        ids += out
    return ids[len(prompt):], calls


N_NEW = 48
measured = {}
for k in range(1, 9):
    tokens = calls = 0
    for i, text in enumerate(prompts):
        out, c = speculative_run(models.encode(text), N_NEW, k, T, seed=100 + i)
        tokens, calls = tokens + len(out), calls + c
    measured[k] = tokens / calls
    print(f"k = {k}: predicted {expected_tokens(alpha, k):.2f} tokens per target call, measured {measured[k]:.2f}")

# %% [markdown]
# The measured figure sits below the prediction, more so for large k (and it is noisy: 4 prompts ×
# 48 tokens per k, a few dozen rounds): α is not the same at every position —
# easy stretches (long words, repeated phrases) alternate with hard ones, and
# `E[(1 − α^(k+1))/(1 − α)]` over a spread of α is below the formula at the mean α (the function
# is concave in α for the k that matter) — and the last round of a generation is cut short.
#
# **The best k** also needs the cost ratio. On a GPU at batch 1 both models are memory-bound and
# `c` ≈ the ratio of their weight bytes; on this CPU we time one single-token pass of each:

# %%
def time_pass(model, n=30, length=64):
    x = torch.randint(0, model.config.vocab_size, (1, length))
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(n):
            model(x)
    return (time.perf_counter() - t0) / n


c = time_pass(draft) / time_pass(target)
weights = sum(p.numel() for p in draft.parameters()) / sum(p.numel() for p in target.parameters())
ks = list(range(1, 9))
pred_speed = [speedup(alpha, k, c) for k in ks]
meas_speed = [measured[k] / (1 + c * k) for k in ks]
print(f"cost ratio c = {c:.2f} (timed on this CPU); weight-bytes ratio {weights:.2f}")
print(f"best k: predicted {ks[int(np.argmax(pred_speed))]}, from measured tokens per call {ks[int(np.argmax(meas_speed))]}")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].plot(ks, [expected_tokens(alpha, k) for k in ks], marker="o", label=f"predicted, α = {alpha:.2f}")
axes[0].plot(ks, [measured[k] for k in ks], marker="s", label="measured")
axes[0].set_xlabel("k")
axes[0].set_ylabel("tokens per target call")
axes[0].legend()
axes[1].plot(ks, pred_speed, marker="o", label="predicted")
axes[1].plot(ks, meas_speed, marker="s", label="from measured tokens/call")
axes[1].set_xlabel("k")
axes[1].set_ylabel(f"speed-up at c = {c:.2f}")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# `benchmarks/lab07_bench.py` runs the lab's KV-cached version and times it; the lab's frontier
# task chooses k per round from the acceptance seen so far, to beat every fixed k in target calls.
#
# ## 8 · Interview questions · 面试问题 (syllabus §7, §3.2)
#
# **Q1. Speculative Decoding技术的核心思想是什么？适用于什么场景？ What is the core idea of
# speculative decoding, and where does it help?**
# Decode is memory-bound: one target pass reads all the weights to produce one token, so verifying
# several tokens in one pass costs about the same as one. A cheap draft proposes k tokens; the
# target scores all of them in one pass and keeps the longest prefix that the rejection rule
# accepts (`min(1, p/q)`, residual resampling, a bonus token), so the output is distributed
# exactly as the target's — a pure latency optimisation with no quality loss. Expected tokens per
# target call `(1 − α^(k+1))/(1 − α)`; speed-up `that / (1 + c·k)`. It helps at small batch and
# low latency targets, with a well-aligned draft (same tokenizer, same training data, or
# EAGLE/Medusa heads), on predictable text (code, edits, RAG with copying); it helps little or
# hurts at large batch (the target is compute-bound, verification is no longer free) or with a
# poorly aligned draft (α < ~0.5).
#
# **Q2. 连续批处理(Continuous Batching)与静态批处理有什么区别？ How does continuous batching differ
# from static batching?**
# Static batching runs a batch until its longest request finishes: early finishers hold idle
# slots and memory, and newcomers wait for the whole batch. Continuous (iteration-level, Orca)
# batching schedules every step: finished requests leave at once, waiting ones join the next
# step; with a paged KV cache every request grows independently. Throughput rises by 2–20× on
# real output-length spreads and queueing latency falls. The costs: a scheduler on the critical
# path every step, ragged batches (selective batching: attention per request, everything else
# flattened), preemption when KV blocks run out.
#
# **Q3. PagedAttention如何解决变长序列批处理的内存浪费问题？ How does PagedAttention remove the
# memory waste of batching variable-length sequences? (§3.2)**
# Contiguous caches reserve `max_seq_len` per request (or pad to the longest), wasting 60–80 %
# of KV memory in internal and external fragmentation. Paging allocates fixed-size blocks on
# demand through a per-request block table, so waste is under one block per request, freed blocks
# are reused at once by any request, and common prefixes share blocks with copy-on-write. That
# memory turns into a larger batch, which is what continuous batching needs.
#
# **Q4. 长prompt如何影响正在解码的请求？如何解决？ How does a long prompt hurt running requests,
# and what fixes it?**
# Its prefill step is long, so every running request stalls (an ITL spike) — or, with
# prefill-first scheduling, decodes pause for the whole prefill. Chunked prefill with stall-free
# batching (Sarathi-Serve) caps each step's tokens and puts decodes first, giving only the left-over
# budget to prompt chunks. Alternatives: prefill/decode disaggregation (separate machines, lab06),
# or a priority for decodes. The knob is the token budget: a smaller one flattens ITL, a larger
# one raises prefill throughput.
#
# **Q5. KV Cache不足时如何处理？重计算和换出如何选择？ What happens when KV blocks run out;
# recomputation or swapping?**
# Preempt a running request — the newest (least work lost, FCFS fairness) — and either drop its
# blocks and later re-prefill prompt + outputs (recomputation: compute-bound, fast on GPUs, no
# host memory) or copy its blocks to host memory and back (swapping: PCIe bytes, host memory,
# better for very long contexts where the prefill is expensive). Guard against starvation: a
# watermark of free blocks at admission, aging or priorities so a request is not preempted
# forever, admission control. Output tokens are never lost in either scheme.
#
# **Q6. 如何设计一个集成多种优化技术的大模型推理系统？ How would you design an inference system
# that integrates these optimisations?**
# Layers with one job each: an API server and a request queue; a scheduler (continuous batching,
# chunked prefill, token budget, preemption, priorities); a KV block manager (paging, prefix
# cache, host tier); a model runner (FlashAttention over paged KV, CUDA graphs for decode,
# quantized weights and KV, tensor parallelism); a sampler (speculative verification). They
# interact — speculative tokens consume the token budget and KV blocks, prefix caching changes
# admission cost — so the scheduler must count all of them in one unit (tokens and blocks).
#
# **Q7. 在技术选型时，如何权衡？如何评估集成后的整体性能？ How do you choose among techniques, and
# evaluate the integrated system?**
# Start from the workload (prompt/output lengths, arrival rate, latency SLOs) and the bottleneck
# it creates (memory-bound decode, compute-bound prefill, KV capacity, interconnect). Each
# technique targets one: speculative decoding for latency at low batch, continuous batching and
# paging for throughput at high batch, chunked prefill for ITL, quantization for capacity. Measure
# end to end on a replayed trace: TTFT, TPOT/ITL percentiles, goodput (requests within SLO per
# second), cost per token; ablate one technique at a time, because gains do not add (speculation's
# gain falls as continuous batching raises the batch).
#
# **Q8. 未来大模型推理优化技术可能向什么方向发展？如何设计可扩展的架构？ Where is inference
# optimisation going, and how do you keep an architecture extensible?**
# Disaggregated prefill/decode and KV transfer across machines, KV-cache tiers to SSD and
# remote memory, self-drafting speculation (EAGLE-style heads, multi-token prediction trained
# in), long-context attention (sparse, sliding-window, MLA-compressed KV), low-bit formats (FP8,
# FP4) in hardware, and schedulers aware of SLOs and prefix caches across a cluster. Keep the
# architecture extensible by keeping the scheduler's unit general (tokens to compute per request
# and KV blocks), the KV manager separate from the kernels, and every component measurable.
