# %% [markdown]
# # lab09 · Measurement and scoring · 性能评估与评分
#
# Every other lab ends with a number: a speed-up, a TTFT, a score. This lab makes those
# numbers honest (诚实的基准测试). You write the serving metrics from request records, a
# timing function that warms up, synchronises and reports percentiles, a bootstrap
# confidence interval that says whether a 5% speed-up is real, the §9 rubric that turns
# points into a grade, then you audit a flawed benchmark harness and write a load
# generator that does not hide queueing (coordinated omission).
#
# | task | graded names | what | category |
# | --- | --- | --- | --- |
# | 1 | `latency_summary` | TTFT, TPOT, ITL percentiles and throughput · 服务指标 | knowledge |
# | 2 | `bench` | warm-up, synchronise, median and percentiles · 计时 | practice |
# | 3 | `speedup_ci` | is the speed-up real? bootstrap CI · 自助法置信区间 | practice |
# | 4 | `rubric_score` | the §9 rubric: 40/30/20/10 and four bands · 评分标准 | knowledge |
# | 5 | `audit_flaws`, `fixed_harness` | audit a flawed harness and fix it · 审查基准测试 | practice |
# | 6 | `poisson_arrivals`, `load_test` | an open-loop load test · 开环压测 | systems |
#
# A request record (lab06's) is a dict with `arrival` (seconds) and `token_times` (the
# seconds at which each output token was produced, ascending, at least one). Bad input
# must raise `ValueError` (or `TypeError` for a wrong type) whose message names the
# argument. `inferlab grade lab09 lab09.ipynb` runs every check, hidden ones included.
# The lecture: `course/09_measurement.ipynb`.

# %%
import math
import os
import time

import numpy as np
import torch

import inferlab
from inferlab import models
from inferlab.testbench import RealDevice, SimulatedDevice, ToyServer, VirtualClock, audit_durations

DEMO = __name__ == "__main__" and os.environ.get("INFERLAB_AUTOGRADE") != "1"  # demo cells skip under grading

# %% [markdown]
# ## Task 1 · latency_summary · 服务指标 (lab09 · task 1)
#
# Why: one number never describes a server. Users feel the wait for the first token
# (**TTFT**, time to first token = `token_times[0] - arrival`), the speed of the stream
# (**TPOT**, time per output token = `(token_times[-1] - token_times[0]) / (n - 1)`, one
# value per request with `n >= 2` tokens) and its stutters (**ITL**, inter-token latency:
# every gap between two consecutive tokens *of one request*). The operator pays for
# **throughput**: all output tokens over the span from the first arrival to the last token.
# Tails matter more than means (the p99 user is a real user), so report percentiles.
#
# ```
# request A  arrival 0.0 | tokens at 0.5 0.6 0.8        TTFT 0.5  TPOT 0.15  ITL 0.1, 0.2
# request B  arrival 0.2 | token  at 0.9                 TTFT 0.7  (no TPOT, no ITL)
# throughput = 4 tokens / (0.9 - 0.0) s
# ```
#
# Two traps where published tools differ: TPOT is a per-request mean, ITL is per gap, so a
# request's one long stall counts once in ITL's distribution but is smeared over its TPOT;
# and a one-token request has no TPOT at all (counting it as 0 flatters the server).
#
# Write `latency_summary(records) -> dict`:
# `{"ttft": {"p50", "p90", "p99"}, "tpot": {...}, "itl": {...}, "output_tokens_per_s": float}`,
# percentiles by linear interpolation (`numpy.percentile`'s default). When no request has two
# tokens, `tpot` and `itl` hold `None` for each percentile. `ValueError` naming `records`
# for an empty list, a record without `arrival`/`token_times`, no tokens, times that go
# backwards (a first token before the arrival included), or a zero span: the helper
# `_check_records` at the top of the cell does that checking for you.

# %% [solution id=lab09_latency_summary]
def _check_records(records):
    """Validate lab06 request records; return [(arrival, token_times)] as floats."""
    if not isinstance(records, (list, tuple)):
        raise TypeError(f"records must be a list of dicts, got {type(records).__name__}")
    if not records:
        raise ValueError("records must hold at least one request record")
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "arrival" not in r or "token_times" not in r:
            raise ValueError(f"records[{i}] must be a dict with 'arrival' and 'token_times'")
        try:
            arrival = float(r["arrival"])
            times = [float(t) for t in r["token_times"]]
        except (TypeError, ValueError):
            raise ValueError(f"records[{i}]: arrival and token_times must be numbers") from None
        if not times:
            raise ValueError(f"records[{i}]: token_times must hold at least one time")
        if not all(math.isfinite(t) for t in [arrival] + times):
            raise ValueError(f"records[{i}]: times must be finite")
        if times[0] < arrival or any(b < a for a, b in zip(times, times[1:])):
            raise ValueError(f"records[{i}]: token_times must be ascending and not before the arrival")
        out.append((arrival, times))
    return out


def latency_summary(records):
    """TTFT, TPOT and ITL percentiles (p50/p90/p99, linear) and output tokens per second of lab06 records."""
    ### BEGIN SOLUTION
    recs = _check_records(records)
    ttft = [times[0] - arrival for arrival, times in recs]
    tpot = [(times[-1] - times[0]) / (len(times) - 1) for _, times in recs if len(times) >= 2]
    itl = [b - a for _, times in recs for a, b in zip(times, times[1:])]  # gaps within one request
    span = max(times[-1] for _, times in recs) - min(arrival for arrival, _ in recs)
    if span <= 0:
        raise ValueError("records: the span from the first arrival to the last token is zero")

    def pct(xs):
        if not xs:
            return {"p50": None, "p90": None, "p99": None}
        p50, p90, p99 = np.percentile(np.asarray(xs, dtype=np.float64), [50, 90, 99])  # linear
        return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}

    n_tokens = sum(len(times) for _, times in recs)
    return {"ttft": pct(ttft), "tpot": pct(tpot), "itl": pct(itl), "output_tokens_per_s": n_tokens / span}
    ### END SOLUTION


# %%
_records = [{"arrival": 0.0, "token_times": [0.5, 0.6, 0.8]}, {"arrival": 0.2, "token_times": [0.9]}]
print(latency_summary(_records))

# %% [test id=lab09_task1]
from inferlab.grading import check_here
check_here("lab09", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · bench · 计时 (lab09 · task 2)
#
# Why: the first calls of anything are slow (compilation, allocator growth, cold caches,
# GPU clocks ramping up), so **warm up** and do not time them. A CUDA launch returns
# before the kernel ran: a wall clock around it measures the launch unless you
# **synchronise**; CUDA events (`torch.cuda.Event(enable_timing=True)`) time the work on
# the device itself. Timings are skewed (a context switch, a page fault, another process),
# so report the **median** and the p10/p90 spread, never a lone mean.
#
# Write `bench(fn, warmup=3, rep=20) -> {"median", "p10", "p90"}` in seconds per call:
# call `fn()` `warmup` times untimed, then exactly `rep` timed calls; on a GPU time each with
# CUDA events, otherwise with `time.perf_counter` (synchronising first when CUDA is present).
# Percentiles by linear interpolation. `TypeError` when `fn` is not callable,
# `ValueError`/`TypeError` naming `warmup` (an int >= 0) or `rep` (an int >= 1).

# %% [solution id=lab09_bench]
def bench(fn, warmup=3, rep=20):
    """Seconds per call of fn(): warm up, time `rep` calls (CUDA events on a GPU), {"median", "p10", "p90"}."""
    ### BEGIN SOLUTION
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    for name, value, low in (("warmup", warmup, 0), ("rep", rep, 1)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    for _ in range(warmup):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(rep)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        times = [start.elapsed_time(end) / 1e3 for start, end in events]  # ms -> s
    else:
        times = []
        for _ in range(rep):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    p10, p50, p90 = np.percentile(np.asarray(times, dtype=np.float64), [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90)}
    ### END SOLUTION


# %%
_a = torch.randn(256, 256)
print({k: f"{v * 1e6:.1f} us" for k, v in bench(lambda: _a @ _a).items()})

# %% [test id=lab09_task2]
from inferlab.grading import check_here
check_here("lab09", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · speedup_ci · 自助法置信区间 (lab09 · task 3)
#
# Why: your kernel is 5% faster than the baseline in one run. Is it? Timing noise on a
# shared machine is often larger than 5%. The **bootstrap** answers without assuming a
# distribution: resample each sample with replacement, recompute the statistic, and read
# the spread of the recomputed values. If the interval for `median(baseline) / median(new)`
# lies above 1, the speed-up is real at that confidence; if it straddles 1, run more.
#
# Write `speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0) -> (lo, hi)`:
# a confidence interval for the speed-up `median(baseline) / median(new)` (> 1: the new code
# is faster). The reference uses the percentile bootstrap: `n_boot` times, resample both
# samples independently (same sizes, with replacement) and take the ratio of medians; return
# the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles. Any interval whose
# coverage is right passes (the checks measure coverage, not draws). Same `seed`, same
# interval. `ValueError` naming the argument for empty samples, times that are not finite
# and > 0, `confidence` outside (0, 1), `n_boot` < 100.

# %% [solution id=lab09_speedup_ci]
def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    """Bootstrap CI (lo, hi) of median(baseline_times) / median(new_times) at `confidence`."""
    ### BEGIN SOLUTION
    samples = []
    for name, xs in (("baseline_times", baseline_times), ("new_times", new_times)):
        try:
            a = np.asarray(xs, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a sequence of numbers") from None
        if a.ndim != 1 or a.size < 1:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of seconds, got shape {a.shape}")
        if not (np.isfinite(a).all() and (a > 0).all()):
            raise ValueError(f"{name} must hold finite times > 0")
        samples.append(a)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or n_boot < 100:
        raise ValueError(f"n_boot must be an int >= 100, got {n_boot!r}")
    base, new = samples
    rng = np.random.default_rng(seed)
    b = np.median(base[rng.integers(0, base.size, (n_boot, base.size))], axis=1)  # (n_boot,)
    n = np.median(new[rng.integers(0, new.size, (n_boot, new.size))], axis=1)  # (n_boot,)
    lo, hi = np.quantile(b / n, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)
    ### END SOLUTION


# %%
_rng = np.random.default_rng(1)
_base = 1.00 * np.exp(0.04 * _rng.standard_normal(30))
_new = 0.95 * np.exp(0.04 * _rng.standard_normal(30))
print("5% faster, 30 runs each:", speedup_ci(_base, _new))
print("5% faster,  5 runs each:", speedup_ci(_base[:5], _new[:5]))

# %% [test id=lab09_task3]
from inferlab.grading import check_here
check_here("lab09", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · rubric_score · 评分标准 (lab09 · task 4)
#
# Why: the syllabus grades four abilities (§9): knowledge 知识掌握 40%, systems thinking
# 系统思维 30%, practice 实践应用 20%, frontier 前沿技术 10%. Every check of every lab belongs
# to one of them, and every grade report shows the four and the band. A lab that tests only
# two categories must still score out of 100, so the weights are **renormalised** over the
# categories present.
#
# Write `rubric_score(points) -> {"score", "band"}`: `points` maps some of `"knowledge"`,
# `"systems"`, `"practice"`, `"frontier"` to `(earned, possible)`. A category counts when
# `possible > 0`; the score is `100 · Σ w·earned/possible / Σ w` over those, rounded to 2
# decimals; the band of the rounded score is `"excellent"` (>= 90), `"good"` (>= 80),
# `"fair"` (>= 70) or `"poor"`. `ValueError` naming `points` for an unknown category, a pair
# that is not two numbers with `0 <= earned <= possible`, or no category with `possible > 0`;
# `TypeError` when `points` is not a dict.

# %% [solution id=lab09_rubric_score]
RUBRIC_WEIGHTS = {"knowledge": 40, "systems": 30, "practice": 20, "frontier": 10}


def rubric_score(points):
    """§9 score 0..100 (weights 40/30/20/10 renormalised over categories with possible > 0) and its band."""
    ### BEGIN SOLUTION
    if not isinstance(points, dict):
        raise TypeError(f"points must be a dict of category -> (earned, possible), got {type(points).__name__}")
    num = den = 0.0
    for cat, pair in points.items():
        if cat not in RUBRIC_WEIGHTS:
            raise ValueError(f"points: unknown category {cat!r}; expected some of {list(RUBRIC_WEIGHTS)}")
        try:
            earned, possible = (float(x) for x in pair)
        except (TypeError, ValueError):
            raise ValueError(f"points[{cat!r}] must be a pair (earned, possible) of numbers, got {pair!r}") from None
        if not (math.isfinite(earned) and math.isfinite(possible) and 0 <= earned <= possible):
            raise ValueError(f"points[{cat!r}] must have 0 <= earned <= possible, got {pair!r}")
        if possible > 0:
            num += RUBRIC_WEIGHTS[cat] * earned / possible
            den += RUBRIC_WEIGHTS[cat]
    if den == 0:
        raise ValueError("points: no category with possible > 0")
    score = round(100.0 * num / den, 2)
    band = "excellent" if score >= 90 else "good" if score >= 80 else "fair" if score >= 70 else "poor"
    return {"score": score, "band": band}
    ### END SOLUTION


# %%
print(rubric_score({"knowledge": (9, 10), "practice": (4, 8)}))  # (40·0.9 + 20·0.5) / 60

# %% [test id=lab09_task4]
from inferlab.grading import check_here
check_here("lab09", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · audit a benchmark harness · 审查基准测试 (lab09 · task 5)
#
# Below is a harness a colleague wrote to report a decode step's time and a load test's
# latency. Its numbers look fine and are wrong. It talks to the device through a small
# interface: `device.clock()` (seconds), `device.synchronize()` (wait for queued work), and
# `step()` launches one step (asynchronously, like a CUDA kernel). `RealDevice()` is that
# interface on this machine; the checks use `SimulatedDevice`, an asynchronous device on a
# virtual clock whose kernels take known times (`inferlab.testbench`).
#
# 1. Write `audit_flaws()` returning the set of names, from `FLAW_VOCABULARY`, of every flaw
#    the harness has (and none it does not have).
# 2. Write `fixed_harness(device, step, records, warmup=3, rep=30)`, returning the same keys:
#    `step_s` the median of `rep` timed, synchronised calls after `warmup` untimed ones
#    (`step` called exactly `warmup + rep` times); `ttft_p50`, `ttft_p99` over every request;
#    `output_tokens_per_s` as in task 1. Time with `device.clock()` only.

# %%
FLAW_VOCABULARY = {
    "no_warmup": "the first, cold calls (compilation, caches, clocks ramping up) are timed",
    "no_sync": "the clock is read while the device may still be running the work",
    "mean_of_skewed_sample": "a mean summarises a sample with a long tail",
    "first_request_dropped": "a request is left out of the latency statistics",
    "throughput_wrong_span": "throughput divides by a span that does not start at the first arrival",
    "coarse_timer": "the clock's resolution is close to the time being measured",
    "coordinated_omission": "a request is sent only after earlier ones finish, so queueing is never seen",
    "outliers_trimmed": "the slowest samples are thrown away before summarising",
    "unseeded_workload": "the inputs change from run to run",
}


def flawed_harness(device, step, records, rep=30):
    """A step's time and a load test's TTFT and throughput -- as a colleague wrote it."""
    times = []
    for _ in range(rep):
        t0 = device.clock()
        step()
        times.append(device.clock() - t0)
    ttfts = [r["token_times"][0] - r["arrival"] for r in records[1:]]  # the first request includes start-up
    first_token = min(r["token_times"][0] for r in records)
    last_token = max(r["token_times"][-1] for r in records)
    n_tokens = sum(len(r["token_times"]) for r in records)
    return {
        "step_s": sum(times) / len(times),
        "ttft_p50": float(np.percentile(ttfts, 50)),
        "ttft_p99": float(np.percentile(ttfts, 99)),
        "output_tokens_per_s": n_tokens / (last_token - first_token),
    }


# %%
_dev = SimulatedDevice(audit_durations(seed=0, n=33))
_recs = [{"arrival": 0.0, "token_times": [0.30, 0.31, 0.32]}, {"arrival": 0.01, "token_times": [0.05, 0.06]},
         {"arrival": 0.02, "token_times": [0.07, 0.08, 0.09]}]
print("flawed:", flawed_harness(_dev, _dev.kernel, _recs))

# %% [solution id=lab09_audit]
def audit_flaws():
    """The names, from FLAW_VOCABULARY, of every flaw flawed_harness has: a set of str."""
    ### BEGIN SOLUTION
    return {"no_warmup", "no_sync", "mean_of_skewed_sample", "first_request_dropped", "throughput_wrong_span"}
    ### END SOLUTION


def fixed_harness(device, step, records, warmup=3, rep=30):
    """The harness, fixed: median synchronised step time after warm-up; TTFT and throughput over every request."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        step()
    device.synchronize()  # the warm-up's work must not leak into the first timed call
    times = []
    for _ in range(rep):
        t0 = device.clock()
        step()
        device.synchronize()
        times.append(device.clock() - t0)
    summary = latency_summary(records)
    return {
        "step_s": float(np.median(times)),
        "ttft_p50": summary["ttft"]["p50"],
        "ttft_p99": summary["ttft"]["p99"],
        "output_tokens_per_s": summary["output_tokens_per_s"],
    }
    ### END SOLUTION


# %%
_dev = SimulatedDevice(audit_durations(seed=0, n=33))
print("fixed: ", fixed_harness(_dev, _dev.kernel, _recs))

# %% [test id=lab09_task5]
from inferlab.grading import check_here
check_here("lab09", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · an open-loop load test · 开环压测 (lab09 · task 6)
#
# Why: users do not wait for each other. A load generator that sends the next request only
# when the previous one has finished (closed loop) slows down exactly when the server does,
# so it never sees the queue it would have built: **coordinated omission**. An open-loop
# generator sends each request at its scheduled time, and measures latency from that
# *scheduled* time, however late the generator got round to sending it. Arrivals of
# independent users are well modelled by a **Poisson process**: exponential gaps with mean
# `1 / rate`.
#
# Write
# * `poisson_arrivals(rate, n, seed=0) -> list[float]`: the `n` arrival times (seconds from
#   0, ascending) of a Poisson process of `rate` requests per second: cumulative sums of
#   exponential gaps of mean `1 / rate` (the first arrival is the first gap). Same seed, same
#   list. `ValueError` naming `rate` (> 0) or `n` (an int >= 0).
# * `load_test(server, clock, prompts, arrivals, max_new_tokens) -> list[dict]`: one record
#   per prompt, in prompt order, `{"arrival", "token_times", "tokens"}`. Prompt `i` arrives at
#   `start + arrivals[i]`, `start = clock.now()` when the call begins. The loop: submit
#   (`server.submit(prompt, max_new_tokens) -> request id`) every prompt whose arrival time
#   has come (`<= clock.now()`); if the server has work (`server.has_work()`), run one
#   `server.step()`, which returns `[(request id, token), ...]`, and stamp each token with
#   `clock.now()` read after the step; otherwise `clock.sleep_until(next arrival)`. Stop when
#   every prompt is submitted and the server is idle. A record's `arrival` is the scheduled
#   time, never the time it was submitted.
#
# The server here is the course model behind a first-come-first-served queue
# (`ToyServer`); on a `VirtualClock` every step advances the clock by a fixed cost, so the
# records are exact and repeatable. The same function drives it on a `RealClock`.

# %% [solution id=lab09_load_test]
def poisson_arrivals(rate, n, seed=0):
    """n arrival times (s, ascending) of a Poisson process with `rate` requests/s: cumulative exponential gaps."""
    ### BEGIN SOLUTION
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=n)  # (n,)
    return [float(t) for t in np.cumsum(gaps)]
    ### END SOLUTION


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    """Open-loop replay: prompt i arrives at start + arrivals[i]; one record per prompt, latency from arrival."""
    ### BEGIN SOLUTION
    if len(prompts) != len(arrivals):
        raise ValueError(f"prompts ({len(prompts)}) and arrivals ({len(arrivals)}) must have one length")
    if any(b < a for a, b in zip(arrivals, list(arrivals)[1:])) or any(a < 0 for a in arrivals):
        raise ValueError("arrivals must be ascending offsets >= 0")
    start = clock.now()
    records = [{"arrival": start + a, "token_times": [], "tokens": []} for a in arrivals]
    owner = {}  # server request id -> prompt index
    sent = 0
    while sent < len(prompts) or server.has_work():
        now = clock.now()
        while sent < len(prompts) and records[sent]["arrival"] <= now:
            owner[server.submit(prompts[sent], max_new_tokens)] = sent
            sent += 1
        if server.has_work():
            events = server.step()
            t = clock.now()
            for rid, token in events:
                records[owner[rid]]["token_times"].append(t)
                records[owner[rid]]["tokens"].append(int(token))
        else:
            clock.sleep_until(records[sent]["arrival"])  # idle until the next scheduled arrival
    return records
    ### END SOLUTION


# %%
if DEMO:
    _model = models.load("target")
    _prompts = [models.encode(t) for t in ("The cache", "Paged attention", "A token", "Decode")]
    _clock = VirtualClock()
    _recs = load_test(ToyServer(_model, _clock), _clock, _prompts, poisson_arrivals(200.0, 4, seed=1), 4)
    print([models.decode(r["tokens"]) for r in _recs])
    print(latency_summary(_recs))

# %% [test id=lab09_task6]
from inferlab.grading import check_here
check_here("lab09", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab09", "task6", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Load sweep · 负载曲线
#
# The same prompts at rising arrival rates (timing only: `ToyServer(None, clock)` skips the
# model, the virtual clock advances by the same costs): TTFT stays flat while the server keeps up, then
# climbs without bound once the arrival rate passes its capacity (the queue grows for the
# whole run). That knee is the server's capacity at this SLO; a closed-loop generator would
# never show it.

# %%
if DEMO:
    _prompts = [models.encode(f"request {i} about caches") for i in range(64)]
    print(f"{'rate/s':>7} {'TTFT p50':>9} {'TTFT p99':>9} {'TPOT p50':>9} {'tok/s':>7}")
    for rate in (20, 50, 100, 200, 400):
        _clock = VirtualClock()  # model=None: the same timings without running the model
        _recs = load_test(ToyServer(None, _clock), _clock, _prompts, poisson_arrivals(rate, 64, seed=2), 6)
        _s = latency_summary(_recs)
        print(f"{rate:7d} {_s['ttft']['p50'] * 1e3:8.1f}ms {_s['ttft']['p99'] * 1e3:8.1f}ms "
              f"{_s['tpot']['p50'] * 1e3:8.2f}ms {_s['output_tokens_per_s']:7.0f}")
