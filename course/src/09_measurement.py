# %% [markdown]
# # 09 · Measurement and scoring · 性能评估与评分标准 (syllabus §9, with §2.3 and §7.1)
#
# Every claim in this course ends in a number: FlashAttention is 3x faster, paging wastes 4%
# instead of 60%, the disaggregated server meets its SLO. This notebook is about how those
# numbers are made and how they lie: a timer that measures the launch and not the kernel, a
# mean dragged by one outlier, a load generator that politely waits for the server and so
# never sees a queue. Then the serving metrics (TTFT, TPOT, ITL, goodput) and where published
# tools define them differently, MLPerf's rules as a model of an honest benchmark, the
# bootstrap for deciding whether a 5% change is real, and the §9 rubric that every grade in
# this course reports.
#
# Lab: `labs/lab09/lab09.ipynb` (`latency_summary`, `bench`, `speedup_ci`, `rubric_score`, an
# audit of a flawed harness, an open-loop load test). Everything here runs on a CPU; the GPU
# parts show their code and run when a GPU is present (`benchmarks/lab09_bench.py`).

# %%
import math
import statistics
import time

import inferlab  # first: sets TRITON_INTERPRET=1 without a GPU
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from inferlab.grading.runner import rubric_score
from inferlab.testbench import SimulatedDevice, ToyServer, VirtualClock, audit_durations

torch.manual_seed(0)
CUDA = torch.cuda.is_available()
print("device:", torch.cuda.get_device_name(0) if CUDA else "cpu")

# %% [markdown]
# ## 1 · The first call is slow: warm-up · 预热
#
# The first calls of almost anything pay one-off costs: Triton and `torch.compile` compile
# kernels, cuBLAS picks an algorithm, the caching allocator asks the driver for memory, pages
# are faulted in, the CPU's caches and branch predictors are cold, and a GPU that idled at a
# low clock takes milliseconds to ramp up. Time the steady state: run a few untimed calls first.

# %%
torch.set_num_threads(1)  # one thread: fewer sources of noise on a shared machine
x = torch.randn(128, 128)
per_call = []
for _ in range(15):
    t0 = time.perf_counter()
    torch.linalg.qr(x)  # the first call loads and initialises LAPACK
    per_call.append(time.perf_counter() - t0)
print(f"first call {per_call[0] * 1e3:.2f} ms; median of the next 14: {np.median(per_call[1:]) * 1e3:.2f} ms; "
      f"mean of all 15: {np.mean(per_call) * 1e3:.2f} ms")

# %% [markdown]
# ## 2 · Asynchrony: the clock must wait for the device · 同步
#
# A CUDA kernel launch returns to Python as soon as the kernel is *queued* (a few
# microseconds); the GPU runs it later. So
#
# ```python
# t0 = time.perf_counter(); y = a @ b; t1 = time.perf_counter()      # measures the launch
# t0 = time.perf_counter(); y = a @ b; torch.cuda.synchronize(); t1 = time.perf_counter()   # the work
# ```
#
# A `.item()`, a `print` of a tensor, or a copy to the CPU synchronises too, which is how
# a timing "accidentally works" and then breaks when the print is removed.
#
# To see this without a GPU, `inferlab.testbench.SimulatedDevice` is a queue on a virtual
# clock: `kernel()` costs 5 µs of host time and queues the next duration, `synchronize()`
# moves the clock to the end of the queue. Its kernels take ~1 ms, with a cold start and a
# few 8-12 ms outliers (`audit_durations`).

# %%
def time_calls(dev, n, sync):
    """Wall-clock (virtual) time of n calls, with or without a synchronize before reading the clock."""
    out = []
    for _ in range(n):
        t0 = dev.clock()
        dev.kernel()
        if sync:
            dev.synchronize()
        out.append(dev.clock() - t0)
    return out


durations = audit_durations(seed=0, n=43, cold=3)
for sync in (False, True):
    dev = SimulatedDevice(durations)
    for _ in range(3):  # warm-up
        dev.kernel()
    dev.synchronize()
    t = time_calls(dev, 40, sync)
    print(f"sync={sync!s:5}: median {np.median(t) * 1e3:8.4f} ms   (true kernel median "
          f"{np.median(durations[3:]) * 1e3:.4f} ms + 0.005 ms launch)")

# %% [markdown]
# Without a synchronise the harness reports 5 µs: the launch. A subtler bug: synchronise
# after each timed call but not after the warm-up, and the first timed call waits for the
# warm-up's queued kernels.
#
# ## 3 · CUDA events, L2 flush, clock boost · CUDA 事件、L2 清空与频率
#
# **CUDA events** are timestamps written by the GPU itself into its stream:
#
# ```python
# start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
# start.record(); fn(); end.record(); end.synchronize()
# ms = start.elapsed_time(end)          # GPU time between the two events, ~0.5 µs resolution
# ```
#
# They measure only the device work between them, so launch overhead and Python time in
# between are excluded when the queue is full — and included as idle gaps when it is not.
# Wall clock + synchronize measures what a user waits for (launches, Python, the work).
# For a tiny kernel (10 µs) the two differ by the launch cost; for a 10 ms kernel, by
# nothing. Report which one you used. `triton.testing.do_bench` uses events, flushes L2
# and reports quantiles; `benchmarks/lab09_bench.py` compares the three ways on a GPU.
#
# **L2 flush**: an H100 has 50 MB of L2. Time the same 8 MB matmul 100 times and from the
# second call on its inputs are in L2: you measure L2 bandwidth (several TB/s above HBM's
# 3.35). In a real model the next layer's weights are not in L2. Before each timed call,
# write a 256 MB buffer (`cache.zero_()`) to evict it; time the flush outside the events.
#
# **Clock boost and throttling**: GPUs run above base clock when cool and below it when hot
# or power-capped. A 5-second benchmark right after idling runs faster than minute 10 of a
# serving day. Either lock clocks (`nvidia-smi -lgc`, needs admin) or run long enough to
# reach steady state, and record the clocks (`nvidia-smi --query-gpu=clocks.sm,power.draw`).
#
# ## 4 · Percentiles, not means · 分位数而非均值
#
# Timings are skewed: most calls are fast, and a few hit a context switch, a page fault, a
# garbage collection, another process. The mean is pulled by every outlier; the median is
# not; the p99 *is* the outliers — which, for a server, are real users. Move the slider.

# %%
def latency_sample(outlier_share, n=2000, seed=0):
    """n latencies (ms): lognormal around 10 ms, a share of them 5-20x slower."""
    g = np.random.default_rng(seed)
    x = 10 * np.exp(0.15 * g.standard_normal(n))
    slow = g.random(n) < outlier_share
    x[slow] *= g.uniform(5, 20, int(slow.sum()))
    return x


def show_latency(outlier_share=0.05):
    """Histogram of the sample with its mean, median and p99."""
    x = latency_sample(outlier_share)
    mean, med, p99 = x.mean(), np.median(x), np.percentile(x, 99)
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.hist(x, bins=np.logspace(0.7, 3.5, 80), color="lightsteelblue")
    ax.set_xscale("log")
    for v, c, name in ((med, "green", "median"), (mean, "red", "mean"), (p99, "purple", "p99")):
        ax.axvline(v, color=c, label=f"{name} {v:.1f} ms")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title(f"{outlier_share:.0%} outliers")
    ax.legend()
    plt.tight_layout()
    plt.show()


widgets.interact(show_latency, outlier_share=widgets.FloatSlider(min=0.0, max=0.3, step=0.01, value=0.05,
                                                                 description="outliers"));

# %% [markdown]
# With 0% outliers mean ≈ median. At 1% the mean moves by ~10% while the median does not
# move, and the p99 jumps several-fold. A mean of a skewed sample answers no question
# anyone asked. Report the median for "how fast is it", p90/p99 for "how bad does it get",
# and say how many samples: a p99 of 50 samples lies between the two largest values.
#
# Percentiles need a definition too: numpy's default interpolates linearly between the two
# nearest ranks; "nearest rank" picks one sample. On 10 samples their p90s can differ by the
# gap between the two largest values. This course uses linear interpolation everywhere.
#
# ## 5 · Serving metrics · 服务指标
#
# A request record holds its `arrival` and the times its output tokens appeared.
#
# | metric | definition | what it tells |
# | --- | --- | --- |
# | TTFT 首 token 时延 | `token_times[0] - arrival` | queueing + prefill: the wait before anything appears |
# | TPOT 每 token 时延 | `(token_times[-1] - token_times[0]) / (n - 1)`, requests with n ≥ 2 | decode speed of one request, averaged over it |
# | ITL token 间隔 | every `token_times[i+1] - token_times[i]` of one request | stutters: one long gap shows in the ITL tail |
# | E2E latency 端到端 | `token_times[-1] - arrival` | the whole answer |
# | throughput 吞吐 | all output tokens / (last token - first arrival) | what the operator pays for |
# | goodput 有效吞吐 | requests per second that met the TTFT *and* TPOT SLOs | throughput that users accept |
#
# Where tools differ (read their docs before comparing numbers):
# * **TPOT vs ITL.** Some tools call the mean inter-token time "ITL"; others report ITL per
#   gap. Per gap, a request that stalls once for 200 ms contributes one large ITL and many
#   small ones, so the ITL median is *lower* than the TPOT median of the same run while the
#   ITL p99 is higher; averaged per request the stall is diluted into its TPOT.
# * **One-token requests.** They have no TPOT. Counting them as 0 makes TPOT look better
#   the more short answers there are.
# * **TTFT from when?** From the scheduled arrival (open loop), from the moment the client
#   sent it, or from when the server accepted it. Each later start hides a queue.
# * **Warm-up bursts.** A run that starts with every client firing at once (all requests at
#   t = 0) puts the whole burst in the queue: p99 TTFT measures the start-up, not the
#   steady state. Ramp up, or discard a warm-up period *by time*, not by dropping requests.
# * **Throughput span.** Dividing by "first token to last token" drops the first request's
#   prefill and queueing from the denominator.

# %%
records = [
    {"arrival": 0.00, "token_times": [0.30, 0.32, 0.34, 0.36, 0.38]},
    {"arrival": 0.05, "token_times": [0.40, 0.42, 0.64, 0.66, 0.68]},  # one 220 ms stall
    {"arrival": 0.10, "token_times": [0.45]},                          # one-token answer
    {"arrival": 0.12, "token_times": [0.50, 0.52, 0.54]},
]
ttft = [r["token_times"][0] - r["arrival"] for r in records]
tpot = [(r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
        for r in records if len(r["token_times"]) > 1]
itl = [b - a for r in records for a, b in zip(r["token_times"], r["token_times"][1:])]
print("TTFT ms", [round(t * 1e3) for t in ttft])
print("TPOT ms", [round(t * 1e3, 1) for t in tpot], " median", round(np.median(tpot) * 1e3, 1))
print("ITL  ms", [round(t * 1e3) for t in itl], " median", round(np.median(itl) * 1e3, 1),
      " p99", round(np.percentile(itl, 99) * 1e3, 1))
n_tok = sum(len(r["token_times"]) for r in records)
print(f"throughput {n_tok / (0.68 - 0.00):.1f} tok/s from the first arrival; "
      f"{n_tok / (0.68 - 0.30):.1f} tok/s from the first token (flattering)")

# %% [markdown]
# ## 6 · Coordinated omission · 协同遗漏
#
# A **closed-loop** load generator sends the next request when the previous answer is back.
# When the server slows down, the generator slows down with it: it never builds the queue
# that real users, who do not wait for each other, would build. Its latencies are measured
# from the moment it sent each request, so the time a request *would have* waited is
# omitted — and the omission is coordinated with exactly the moments the server was slow.
#
# An **open-loop** generator fixes the arrival schedule in advance (Poisson arrivals for
# independent users), sends each request at its time whether or not the server is busy, and
# measures TTFT from the *scheduled* time. Below, both drive the same toy server
# (`ToyServer`: a waiting prefill first, else one decode step for every running request, on
# a virtual clock) at rising rates.

# %%
def open_loop(prompts, arrivals, max_new_tokens):
    """Submit each prompt at its scheduled time; latency from the schedule (lab09 task 6)."""
    clock = VirtualClock()
    server = ToyServer(None, clock)
    recs = [{"arrival": a, "token_times": []} for a in arrivals]
    owner, sent = {}, 0
    while sent < len(prompts) or server.has_work():
        while sent < len(prompts) and arrivals[sent] <= clock.now():
            owner[server.submit(prompts[sent], max_new_tokens)] = sent
            sent += 1
        if server.has_work():
            for rid, _ in server.step():
                recs[owner[rid]]["token_times"].append(clock.now())
        else:
            clock.sleep_until(arrivals[sent])
    return recs


def closed_loop(prompts, arrivals, max_new_tokens):
    """Send the next prompt only when the previous one is done; latency from the send."""
    clock = VirtualClock()
    server = ToyServer(None, clock)
    recs = []
    for prompt, a in zip(prompts, arrivals):
        clock.sleep_until(a)
        rid = server.submit(prompt, max_new_tokens)
        rec = {"arrival": clock.now(), "token_times": []}
        while server.has_work():
            for r, _ in server.step():
                rec["token_times"].append(clock.now())
        recs.append(rec)
    return recs


g = np.random.default_rng(0)
prompts = [[1] * 32 for _ in range(200)]
rates = [20, 50, 100, 150, 200, 300]
curves = {"open loop": [], "closed loop": []}
for rate in rates:
    arrivals = np.cumsum(g.exponential(1 / rate, 200)).tolist()
    for name, fn in (("open loop", open_loop), ("closed loop", closed_loop)):
        recs = fn(prompts, arrivals, 8)
        curves[name].append(np.percentile([r["token_times"][0] - r["arrival"] for r in recs], 99) * 1e3)
fig, ax = plt.subplots(figsize=(7, 3.2))
for name, ys in curves.items():
    ax.plot(rates, ys, "o-", label=name)
ax.set_xlabel("offered load (requests/s)")
ax.set_ylabel("p99 TTFT (ms)")
ax.set_yscale("log")
ax.legend()
plt.tight_layout()
plt.show()
for rate, o, c in zip(rates, curves["open loop"], curves["closed loop"]):
    print(f"{rate:4d} req/s  p99 TTFT open {o:8.1f} ms   closed {c:6.1f} ms")

# %% [markdown]
# The closed loop reports a flat ~10 ms p99 TTFT (one prefill) at every rate: the server
# looks like it never saturates. The open loop shows the knee where the queue starts to grow without bound — the
# capacity of this server at a TTFT SLO. (Closed loops are fine for one question: "how fast
# is one request at a fixed concurrency"; say that that is what you measured.)
#
# ## 7 · MLPerf's server scenario as a model · MLPerf 服务场景规则
#
# MLPerf Inference (MLCommons) turns these lessons into rules that every submitter follows:
# * **Open-loop Poisson arrivals** at a target QPS generated by LoadGen, with **fixed seeds**
#   (published per round, so nobody tunes for one schedule); the result is the highest QPS
#   that meets the latency bound.
# * **Latency bounds at the 99th percentile**, not the mean. For LLMs, both token latencies:
#   Llama-2-70B server requires p99 TTFT ≤ 2 s and p99 TPOT ≤ 200 ms (an "interactive"
#   variant sets much tighter bounds).
# * **A minimum run length** (600 s) and a minimum number of queries, so that the p99 is
#   estimated from enough samples and clock boost, thermal throttling and cache warm-up
#   settle into the steady state.
# * **Accuracy checked** on the same run's outputs (a fast wrong answer does not count), and
#   an audit: the run is reproducible by someone else.
#
# ## 8 · Is a 5% speed-up real? The bootstrap · 自助法置信区间
#
# Two timing samples, baseline and new; the new median is 5% lower. Noise on a shared
# machine is often 5%. The **bootstrap** estimates how much the ratio of medians would vary
# if we reran the experiment, using the samples themselves as the population: resample each
# with replacement, recompute `median(base*) / median(new*)`, repeat thousands of times, and
# take the central 95% of the recomputed ratios. If the whole interval is above 1, the
# speed-up is real at that confidence. Nothing is assumed about the distribution (no
# normality), which suits skewed timings.

# %%
def speedup_ci(base, new, confidence=0.95, n_boot=2000, seed=0):
    """Percentile bootstrap CI of median(base) / median(new)."""
    base, new = np.asarray(base), np.asarray(new)
    g = np.random.default_rng(seed)
    b = np.median(base[g.integers(0, base.size, (n_boot, base.size))], axis=1)  # (n_boot,)
    n = np.median(new[g.integers(0, new.size, (n_boot, new.size))], axis=1)  # (n_boot,)
    return tuple(np.quantile(b / n, [(1 - confidence) / 2, (1 + confidence) / 2]))


g = np.random.default_rng(3)
print(" runs   speed-up 95% CI        verdict")
for n in (5, 10, 20, 50, 200):
    base = 1.00 * np.exp(0.08 * g.standard_normal(n))  # 8% run-to-run noise
    new = 0.95 * np.exp(0.08 * g.standard_normal(n))   # truly 5% faster
    lo, hi = speedup_ci(base, new)
    print(f"{n:5d}   ({lo:.3f}, {hi:.3f})   {'real' if lo > 1 else 'not shown' if hi > 1 else 'slower'}")

# %% [markdown]
# With 8% noise, five runs each cannot show a 5% speed-up; fifty can. Two more rules: the
# baseline and the new code are timed **in the same run, interleaved** (A B A B …), so that
# a clock change or a neighbour's job hits both; and the number of runs is fixed before
# looking (rerunning until the interval clears 1 is p-hacking).
#
# ## 9 · The §9 rubric · 评分标准
#
# The syllabus grades four abilities. Every check of every lab in this course carries one
# of them, and every grade report (`inferlab grade`, nbgrader feedback, `inferlab report`)
# shows the four and the band.
#
# | category 类别 | weight | excellent 优秀 (90-100) | good 良好 (80-89) | fair 一般 (70-79) | poor 较差 (<70) |
# | --- | --- | --- | --- | --- | --- |
# | knowledge 知识掌握程度 | 40% | 深入理解各项核心技术的原理和实现细节，能准确分析技术优缺点 · understands the principles and implementation details, analyses trade-offs precisely | 基本掌握主要技术概念，对实现原理有较好理解 · knows the main concepts, understands how they are implemented | 了解基础概念，但对深层原理理解有限 · knows the basics, little depth | 概念模糊，技术理解不够准确 · vague concepts, inaccurate understanding |
# | systems thinking 系统思维能力 | 30% | 能从系统角度分析问题，考虑技术间的协同和权衡 · analyses from the system's view, weighs interactions and trade-offs | 有一定的系统性思考，能分析主要的技术关联 · some systematic thinking, sees the main links | 基本的分析能力，但缺乏系统性考虑 · basic analysis, not systematic | 思路局限，难以进行系统性分析 · narrow, cannot analyse a system |
# | practice 实践应用能力 | 20% | 有丰富的实践经验，能结合实际场景分析问题 · rich hands-on experience, reasons from real scenarios | 有一定实践经验，能应用理论知识 · some experience, applies the theory | 实践经验有限，理论联系实际能力一般 · limited experience | 缺乏实践经验，难以应用所学知识 · cannot apply what was learned |
# | frontier 前沿技术了解 | 10% | 对最新技术发展有深入了解，能讨论发展趋势 · knows the latest work in depth, discusses trends | 关注技术发展，了解主要的新技术 · follows the field, knows the main new techniques | 对前沿技术有基本了解 · basic awareness | 缺乏对新技术的关注和了解 · unaware of new work |
#
# The score is `100 · Σ w · earned/possible / Σ w` over the categories a lab tests (weights
# renormalised: a lab without frontier checks still scores out of 100), rounded to 2
# decimals; bands at 90 / 80 / 70.

# %%
print(rubric_score({"knowledge": (18, 20), "systems": (9, 12), "practice": (10, 10)}))
print(rubric_score({"knowledge": (9, 10)}), "<- exactly 90 is excellent")

# %% [markdown]
# **What an answer sounds like in each band** — the question "why is FlashAttention faster?"
# (知识掌握 · knowledge):
# * *poor* 较差: "It uses a better algorithm, so it does fewer calculations." (It does the same
#   FLOPs; the answer is wrong about what changed.)
# * *fair* 一般: "It uses tiling and does not store the attention matrix." (Right words, no why.)
# * *good* 良好: "Standard attention writes and reads the N×N score matrix in HBM; FlashAttention
#   tiles Q, K, V into SRAM and uses an online softmax, so HBM traffic drops from O(N²) to
#   O(N²d²/M) and the kernel stops being memory-bound."
# * *excellent* 优秀: the above, plus the trade-offs: the backward pass recomputes the scores
#   from the saved log-sum-exp (more FLOPs, less memory), block sizes are set by SRAM size and
#   occupancy, FA2 moves the loop order to parallelise over the sequence, and for decode
#   (one query) the win comes from split-K (Flash-Decoding), not from the same tiling.
#
# And "your p99 latency doubled overnight — what do you do?" (系统思维 · systems thinking):
# *fair* lists causes; *good* checks the load (arrival rate, prompt lengths) before the code
# and separates TTFT from TPOT; *excellent* reasons from the queue (utilisation near 1 makes
# waits explode), reads goodput not throughput, checks KV-cache pressure (preemptions,
# recomputation) and compares against a same-run baseline before blaming a change.
#
# ## 10 · Interview questions · 面试问题 (syllabus §9, §2.3, §7.1)
#
# **Q1. 如何评估FlashAttention在特定应用场景下的性能提升？ How do you evaluate
# FlashAttention's speed-up for a given workload?**
# Fix the workload's shapes (batch, heads, head dim, the real distribution of sequence
# lengths, causal or not, dtype) and time the attention op and the end-to-end model, both
# against the baseline in the same run: warm-up, CUDA events, L2 flushed, medians with a
# bootstrap CI over repeated runs. Report TFLOP/s (`4·B·H·N²·D`, halved for causal) against
# the card's measured matmul ceiling, peak memory (`torch.cuda.max_memory_allocated`), and
# check numerics against a float64 reference (max error, lse). The model-level number
# (TTFT for long prompts) is what users see; the kernel number explains it.
#
# **Q2. 如何评估多种技术集成后的整体性能提升？ How do you evaluate the gain of several
# techniques combined?**
# End to end, under an open-loop load that looks like production (arrival process, prompt
# and output length distributions, prefix sharing), at several rates: goodput at the SLOs
# (p99 TTFT and TPOT) and the knee of the latency-load curve, not peak throughput. Then an
# ablation: remove one technique at a time, since gains do not add (paging helps batching,
# which changes what FlashAttention's kernel sees). Same hardware, same seeds, fixed run
# length, CIs on the differences.
#
# **Q3. 为什么要报告p99而不是平均延迟？ Why report p99 rather than mean latency?**
# Latency is skewed: the mean mixes the typical case with rare outliers and describes neither.
# p50 says what a typical request sees, p99 what one in a hundred sees — and a user session
# issues many requests, so most users meet the p99 regularly. SLOs are written as
# percentiles, and a mean can improve while the tail gets worse (batching more requests).
#
# **Q4. TTFT、TPOT、ITL有什么区别？各自受什么影响？ What are TTFT, TPOT and ITL, and what
# drives each?**
# TTFT = queueing + prefill (prompt length, prefill batching, chunked prefill, prefix-cache
# hits). TPOT = the decode step time averaged over a request (batch size, KV length, memory
# bandwidth, interference from prefills scheduled in the same steps). ITL = each gap, so it
# shows the stalls (a long prefill stalling everyone's decode, preemption) that TPOT averages
# away. Disaggregating prefill and decode (lab06) trades TTFT and TPOT interference for a KV
# transfer.
#
# **Q5. 什么是协同遗漏（coordinated omission）？如何避免？ What is coordinated omission?**
# A closed-loop or send-when-ready load generator pauses when the server is slow and
# measures from when it finally sent, so the waiting that users would have done is never
# recorded — exactly during the slow periods. Avoid it with an open-loop generator whose
# arrival times are fixed in advance, measuring latency from the scheduled time (as wrk2 and
# MLPerf LoadGen do), and check that the generator itself kept up.
#
# **Q6. 怎么判断一次5%的性能提升是真实的？ How do you tell whether a 5% speed-up is real?**
# Measure the noise: repeated runs of both versions, interleaved, in one session; compute a
# confidence interval for the ratio of medians (bootstrap, or a rank test). If the interval
# excludes 1 the gain is real at that confidence; if not, run more or report "no significant
# difference". Also check that the gain survives a different input distribution and a
# cold-to-warm change (clock boost), and that the workload's shapes match production.
#
# **Q7. 面对推理延迟突然增加的问题，你的排查思路是什么？ Latency suddenly increased — how
# do you investigate?**
# First the load: arrival rate, prompt/output lengths, prefix-cache hit rate (a new client
# with long unique prompts). Then split the latency: queueing (TTFT up, TPOT flat: capacity),
# prefill (TTFT up with prompt length), decode (TPOT up: bigger batches, longer contexts, KV
# preemption/swapping). Then the machine: clocks, throttling, a noisy neighbour, NCCL
# retries. Compare against a same-run baseline and the last deploy before blaming code.

# %% [markdown]
# ## Summary · 小结
# * Warm up, synchronise (or use CUDA events), flush L2 when the real workload would miss,
#   and note the clocks. Report medians and p90/p99 with the number of samples.
# * TTFT, TPOT, ITL, E2E, throughput and goodput answer different questions; state the
#   definitions, because tools differ.
# * Load-test open loop with a fixed arrival schedule; measure from the schedule.
# * A speed-up without a confidence interval is an anecdote.
# * The §9 rubric weighs knowledge 40, systems 30, practice 20, frontier 10.
