"""lab09 · Measurement and scoring: every check, visible and hidden (syllabus §9, §2.3, §7.1; SPEC §lab09).

Serving metrics are compared with `answers.latency_summary` (numpy's linear percentiles)
on hand-built and random records. Timing code is graded against work of known cost
(`inferlab.testbench`): `bench` times a callable whose calls sleep by a known pattern
(call counts prove warm-up and repetitions; the outlier pattern separates median from
mean), the audit's fixed harness runs on a simulated asynchronous device on a virtual
clock (its numbers are exact), and the load generator drives a toy server on a virtual
clock, replayed here by an independent loop. The bootstrap interval is graded by its
coverage of a known speed-up over many seeded data sets, never draw by draw. Nothing
is timed against a wall-clock limit: the sleeps are 30-50 ms apart from "no work".
"""
from __future__ import annotations

import math
import statistics

import numpy as np

from inferlab.grading import CheckFailure, Checks, raises, require
from inferlab.grading import answers, inputs
from inferlab.grading.asserts import is_number, number
from inferlab.grading.probes import timing
from inferlab.grading.runner import RUBRIC_WEIGHTS, rubric_score as rubric_answer
from inferlab.testbench import ToyServer, VirtualClock

checks = Checks("lab09")

PCTS = ("p50", "p90", "p99")


# ----------------------------------------------------------------------------- task 1 · latency_summary


def _summary(sub, records, what):
    """Call latency_summary and check the shape of its answer."""
    out = sub.latency_summary(records)
    require(isinstance(out, dict), f"{what}: expected a dict, got {type(out).__name__}")
    for key in ("ttft", "tpot", "itl"):
        require(isinstance(out.get(key), dict) and all(p in out[key] for p in PCTS),
                f"{what}: out[{key!r}] must be a dict with keys {PCTS}, got {out.get(key)!r}")
    require("output_tokens_per_s" in out, f"{what}: missing 'output_tokens_per_s'")
    return out


def _compare(got, expected, keys, what):
    for key in keys:
        if key == "output_tokens_per_s":
            number(got[key], expected[key], f"{what}: output_tokens_per_s", rel=1e-9)
            continue
        for p in PCTS:
            e, g = expected[key][p], got[key][p]
            if e is None:
                require(g is None, f"{what}: {key} {p} should be None (no request has two tokens), got {g!r}")
            else:
                require(g is not None, f"{what}: {key} {p} is None, expected {e:.6g}")
                number(g, e, f"{what}: {key} {p}", rel=1e-9, abs=1e-12)


def _random_records(rng, n, *, min_tokens=1, max_tokens=8, gap=None):
    """n records with random arrivals (listed out of order), TTFTs and token gaps; interleaved in time."""
    r = inputs.py_random(rng)
    recs = []
    for _ in range(n):
        arrival = r.uniform(0.0, 2.0)
        t = arrival + r.expovariate(1 / 0.2)
        times = [t]
        for _ in range(r.randint(min_tokens, max_tokens) - 1):
            t += gap if gap is not None else r.choice([0.0, r.expovariate(1 / 0.03), r.expovariate(1 / 0.3)])
            times.append(t)
        recs.append({"arrival": arrival, "token_times": times})
    r.shuffle(recs)
    return recs


@checks.check(group="task1", points=2, category="knowledge", visible=True)
def latency_summary_hand_built(sub, rng):
    """latency_summary on the task's two requests and on three hand-built ones: every field."""
    cases = [
        [{"arrival": 0.0, "token_times": [0.5, 0.6, 0.8]}, {"arrival": 0.2, "token_times": [0.9]}],
        [{"arrival": 1.0, "token_times": [1.2, 1.3, 1.5, 1.6]}, {"arrival": 0.5, "token_times": [0.9, 1.4]},
         {"arrival": 1.1, "token_times": [1.25]}],
    ]
    for recs in cases:
        what = f"latency_summary({recs})"
        _compare(_summary(sub, recs, what), answers.latency_summary(recs),
                 ("ttft", "tpot", "itl", "output_tokens_per_s"), what)


@checks.check(group="task1", points=2, category="knowledge")
def latency_summary_percentiles_interpolate(sub, rng):
    """TTFT and TPOT percentiles by linear interpolation (numpy's default) on 7, 13 and 50 random requests."""
    for n in (7, 13, 50):
        recs = _random_records(rng, n, min_tokens=2)
        what = f"latency_summary of {n} random requests (each of 2+ tokens)"
        _compare(_summary(sub, recs, what), answers.latency_summary(recs), ("ttft", "tpot"),
                 what + "; percentiles interpolate linearly between ranks, as numpy.percentile does")


@checks.check(group="task1", points=2, category="knowledge")
def latency_summary_tpot_over_multi_token_requests(sub, rng):
    """TPOT counts only requests with two or more tokens (a one-token request has no TPOT)."""
    r = inputs.py_random(rng)
    recs = [{"arrival": 0.0, "token_times": [0.1, 0.1 + 4 * 0.02, 0.1 + 8 * 0.02]}]
    recs += [{"arrival": a, "token_times": [a + r.uniform(0.05, 0.5)]} for a in sorted(r.uniform(0, 1) for _ in range(9))]
    r.shuffle(recs)
    what = "latency_summary of 1 request of 3 tokens (TPOT 0.08 s) and 9 one-token requests"
    _compare(_summary(sub, recs, what), answers.latency_summary(recs), ("tpot",), what)


@checks.check(group="task1", points=2, category="knowledge")
def latency_summary_itl_within_requests(sub, rng):
    """ITL is every gap between consecutive tokens of one request, never between two requests' tokens."""
    g = 0.0125
    recs = _random_records(rng, 12, min_tokens=2, max_tokens=9, gap=g)
    what = f"latency_summary of 12 interleaved requests whose own tokens are {g} s apart"
    _compare(_summary(sub, recs, what), answers.latency_summary(recs), ("itl",),
             what + " (every ITL is exactly that gap)")


@checks.check(group="task1", points=1, category="knowledge")
def latency_summary_throughput_from_first_arrival(sub, rng):
    """output_tokens_per_s = all output tokens / (last token time - first arrival), records in any order."""
    for n in (1, 5, 30):
        recs = _random_records(rng, n)
        what = f"latency_summary of {n} random requests, listed out of arrival order"
        _compare(_summary(sub, recs, what), answers.latency_summary(recs), ("output_tokens_per_s",), what)


@checks.check(group="task1", points=1, category="knowledge")
def latency_summary_edge_cases_and_bad_input(sub, rng):
    """One request, tied token times, only one-token requests (TPOT/ITL None); bad records refused."""
    t = 0.25 + 0.5 * float(inputs.randn(rng, 1).abs())
    cases = [
        [{"arrival": 0.0, "token_times": [t]}],
        [{"arrival": 1.0, "token_times": [1.0 + t, 1.0 + t, 1.0 + t]}],
        [{"arrival": a, "token_times": [a + t]} for a in (0.0, 0.1, 0.3, 0.35)],
    ]
    for recs in cases:
        what = f"latency_summary({recs})"
        _compare(_summary(sub, recs, what), answers.latency_summary(recs),
                 ("ttft", "tpot", "itl", "output_tokens_per_s"), what)
    ok = {"arrival": 0.0, "token_times": [0.1, 0.2]}
    for bad, label in (([], "[]"), ([ok, {"arrival": 0.5, "token_times": [0.4]}], "a first token before its arrival"),
                       ([ok, {"arrival": 0.0, "token_times": [0.3, 0.2]}], "token_times going backwards"),
                       ([ok, {"arrival": 0.0, "token_times": []}], "a record without tokens"),
                       ([{"arrival": 0.0}], "a record without token_times")):
        raises(("ValueError",), sub.latency_summary, bad, names=("records",), what=f"latency_summary({label})")


# ----------------------------------------------------------------------------- task 2 · bench

SLOW = 0.040  # a slow call sleeps this long; a fast one does nothing (a few microseconds)
FAST_BOUND = 0.010  # a fast call measures below this even on a loaded machine


def _bench_result(out, what):
    res = out["result"]
    require(isinstance(res, dict) and all(k in res for k in ("median", "p10", "p90")),
            f"{what}: expected a dict with 'median', 'p10', 'p90', got {res!r}")
    for k in ("median", "p10", "p90"):
        require(is_number(res[k]) and math.isfinite(res[k]) and res[k] >= 0,
                f"{what}: {k} must be a number of seconds >= 0, got {res[k]!r}")
    require(res["p10"] <= res["median"] <= res["p90"],
            f"{what}: expected p10 <= median <= p90, got {res}")
    return res


@checks.check(group="task2", points=1, category="practice", visible=True)
def bench_reports_median_p10_p90(sub, rng):
    """bench of a 20 ms call: median, p10, p90 in seconds, p10 <= median <= p90, about 20 ms."""
    out = sub.probe(timing.bench_calls, [0.020], warmup=1, rep=5)
    res = _bench_result(out, "bench(a call sleeping 20 ms, warmup=1, rep=5)")
    require(0.019 <= res["median"] <= 0.020 + 0.2,
            f"bench(a call sleeping 20 ms): median {res['median']:.4g} s; expected about 0.020 s per call (seconds, "
            "not milliseconds)")


@checks.check(group="task2", points=2, category="practice")
def bench_warms_up_then_repeats(sub, rng):
    """fn runs exactly warmup + rep times (defaults 3 + 20); the slow first `warmup` calls are not timed."""
    for warmup, rep in ((None, None), (0, 1), (4, 6), (2, 9)):
        w, n = (3 if warmup is None else warmup), (20 if rep is None else rep)
        what = f"bench(fn, warmup={warmup}, rep={rep})" if warmup is not None else "bench(fn) with the defaults"
        out = sub.probe(timing.bench_calls, [SLOW] * w + [0.0], warmup=warmup, rep=rep)
        require(out["calls"] == w + n, f"{what}: fn was called {out['calls']} times; expected warmup + rep = {w + n} "
                                       f"({w} untimed warm-up calls, then {n} timed ones)")
        res = _bench_result(out, what)
        if w:
            require(res["p90"] < FAST_BOUND,
                    f"{what}: the first {w} calls take {SLOW * 1e3:.0f} ms, the timed ones nothing, but p90 is "
                    f"{res['p90'] * 1e3:.1f} ms: the warm-up calls must not be timed")


@checks.check(group="task2", points=2, category="practice")
def bench_median_not_mean(sub, rng):
    """5 of 20 timed calls are 40 ms outliers: the median stays fast, p90 is the outlier (GPU: CUDA path too)."""
    r = inputs.py_random(rng)
    slow = set(r.sample(range(20), 5))
    pattern = [0.0] + [SLOW if i in slow else 0.0 for i in range(20)]
    what = "bench(fn, warmup=1, rep=20) where 5 of the 20 timed calls sleep 40 ms and the others do nothing"
    res = _bench_result(sub.probe(timing.bench_calls, pattern, warmup=1, rep=20), what)
    require(res["median"] < FAST_BOUND,
            f"{what}: median {res['median'] * 1e3:.1f} ms; the median call does nothing (a mean would say "
            f"{5 * SLOW / 20 * 1e3:.0f} ms)")
    require(res["p10"] < FAST_BOUND, f"{what}: p10 {res['p10'] * 1e3:.1f} ms, expected about 0")
    require(SLOW * 0.95 <= res["p90"] < SLOW + 0.2,
            f"{what}: p90 {res['p90'] * 1e3:.1f} ms, expected about 40 ms (linear interpolation of the 20 samples)")
    if sub.probe(timing.has_cuda):
        cycles = 20_000_000  # ~10 ms at GPU clocks
        out = sub.probe(timing.bench_cuda, cycles)
        res = _bench_result(out, "bench of torch.cuda._sleep on the GPU")
        require(res["median"] >= 0.5 * out["event_s"],
                f"bench of a GPU kernel that runs {out['event_s'] * 1e3:.2f} ms: median {res['median'] * 1e3:.3f} ms; "
                "time the kernel on the device (CUDA events) or synchronise before reading the clock")


@checks.check(group="task2", points=1, category="practice")
def bench_rejects_bad_arguments(sub, rng):
    """TypeError for a non-callable fn; ValueError/TypeError naming warmup or rep; fn never runs then."""
    for callable_fn, kwargs, names, label in ((False, {}, ("fn",), "bench(42)"),
                                              (True, {"rep": 0}, ("rep",), "bench(fn, rep=0)"),
                                              (True, {"warmup": -1}, ("warmup",), "bench(fn, warmup=-1)"),
                                              (True, {"rep": 2.5}, ("rep",), "bench(fn, rep=2.5)")):
        out = sub.probe(timing.bench_refused, callable_fn, kwargs)
        require(out["raised"] is not None, f"{label}: expected an error, but nothing was raised")
        want = ("TypeError",) if not callable_fn else ("ValueError", "TypeError")
        require(set(want) & set(out["raised"]), f"{label}: expected {' or '.join(want)}, got {out['raised'][0]}")
        require(not names or any(n in out["message"] for n in names),
                f"{label}: the message should name {names[0]!r}; it says {out['message']!r}")
        require(out["calls"] == 0, f"{label}: fn ran {out['calls']} times before the error; check the arguments first")


# ----------------------------------------------------------------------------- task 3 · speedup_ci

CI_N = 25  # timings per sample
CI_SIGMA = 0.05  # lognormal spread of a normal timing
CI_OUTLIERS = 0.2  # share of the baseline's timings that are 3-5x slow (all above the normal ones)


def _ci_truth(speedup):
    """The true median ratio of the two populations drawn by _ci_samples."""
    # Baseline: 80% lognormal(0, sigma), 20% uniform(3, 5) above all of them: its median is the
    # lognormal's quantile 0.5 / 0.8 = 0.625. New: lognormal(log(med / speedup), sigma).
    med_b = math.exp(CI_SIGMA * statistics.NormalDist().inv_cdf(0.5 / (1 - CI_OUTLIERS)))
    return med_b, med_b / speedup


def _ci_samples(gen, speedup, n=CI_N):
    med_b, med_n = _ci_truth(speedup)
    base = np.exp(CI_SIGMA * gen.standard_normal(n))
    slow = gen.random(n) < CI_OUTLIERS
    base[slow] = gen.uniform(3.0, 5.0, int(slow.sum()))
    new = med_n * np.exp(CI_SIGMA * gen.standard_normal(n))
    return base.tolist(), new.tolist()


def _ci(sub, base, new, what, **kwargs):
    out = sub.speedup_ci(base, new, **kwargs)
    require(isinstance(out, (tuple, list)) and len(out) == 2 and all(is_number(x) for x in out),
            f"{what}: expected a pair (lo, hi) of numbers, got {out!r}")
    lo, hi = float(out[0]), float(out[1])
    require(math.isfinite(lo) and math.isfinite(hi) and lo <= hi, f"{what}: expected finite lo <= hi, got {out!r}")
    return lo, hi


def _coverage(sub, rng, confidence, trials, speedup=1.2):
    gen = np.random.default_rng(inputs.seed(rng))
    truth = _ci_truth(speedup)[0] / _ci_truth(speedup)[1]
    hits = 0
    for k in range(trials):
        base, new = _ci_samples(gen, speedup)
        lo, hi = _ci(sub, base, new, f"speedup_ci(confidence={confidence}, trial {k})",
                     confidence=confidence, n_boot=400, seed=k)
        hits += lo <= truth <= hi
    return hits / trials, truth


@checks.check(group="task3", points=1, category="practice", visible=True)
def speedup_ci_brackets_the_estimate(sub, rng):
    """The interval holds median(base)/median(new), is repeatable with one seed, and is a point for constant data."""
    gen = np.random.default_rng(inputs.seed(rng))
    for speedup in (1.05, 1.5, 0.8):
        base, new = _ci_samples(gen, speedup)
        est = float(np.median(base) / np.median(new))
        what = f"speedup_ci(30 timings each, true speed-up {speedup})"
        lo, hi = _ci(sub, base, new, what, seed=7)
        require(lo <= est <= hi, f"{what}: ({lo:.4g}, {hi:.4g}) misses the estimate median(base) / median(new) = "
                                 f"{est:.4g} (a speed-up > 1 means the new code is faster)")
        again = _ci(sub, base, new, what, seed=7)
        require(again == (lo, hi), f"{what}: seed=7 twice gave {(lo, hi)} and {again}; one seed, one interval")
    lo, hi = _ci(sub, [2.0] * 9, [1.0] * 7, "speedup_ci([2.0] * 9, [1.0] * 7)")
    require(abs(lo - 2.0) < 1e-9 and abs(hi - 2.0) < 1e-9,
            f"speedup_ci([2.0] * 9, [1.0] * 7): got ({lo}, {hi}), expected (2.0, 2.0)")


@checks.check(group="task3", points=3, category="practice")
def speedup_ci_covers_the_true_speedup(sub, rng):
    """90% intervals hold the true median ratio in 75-99% of 200 seeded data sets (skewed baseline)."""
    cover, truth = _coverage(sub, rng, 0.9, 200)
    require(0.75 <= cover <= 0.99,
            f"speedup_ci(confidence=0.9) held the true speed-up {truth:.4f} in {cover:.0%} of 200 data sets "
            f"({CI_N} timings each, the baseline with {CI_OUTLIERS:.0%} outliers 3-5x slow); expected about 90%. "
            "The speed-up is a ratio of medians; resample both samples")


@checks.check(group="task3", points=1, category="practice")
def speedup_ci_follows_confidence(sub, rng):
    """50% intervals cover about half the time; 99% intervals are wider than 80% ones."""
    cover, truth = _coverage(sub, rng, 0.5, 300)
    require(0.35 <= cover <= 0.68, f"speedup_ci(confidence=0.5) held the true speed-up {truth:.4f} in {cover:.0%} "
                                   "of 300 data sets; expected about 50%")
    gen = np.random.default_rng(inputs.seed(rng))
    base, new = _ci_samples(gen, 1.1)
    lo80, hi80 = _ci(sub, base, new, "speedup_ci(confidence=0.8)", confidence=0.8, seed=3)
    lo99, hi99 = _ci(sub, base, new, "speedup_ci(confidence=0.99)", confidence=0.99, seed=3)
    require(hi99 - lo99 > hi80 - lo80, f"speedup_ci: the 99% interval ({lo99:.4g}, {hi99:.4g}) should be wider "
                                       f"than the 80% one ({lo80:.4g}, {hi80:.4g})")


@checks.check(group="task3", points=1, category="practice")
def speedup_ci_rejects_bad_input(sub, rng):
    """ValueError naming baseline_times, new_times, confidence or n_boot for empty samples, bad times, bad values."""
    good = [1.0, 1.1, 0.9]
    for args, kwargs, name in (([[], good], {}, "baseline_times"), ([good, [1.0, -0.5]], {}, "new_times"),
                               ([good, [1.0, math.nan]], {}, "new_times"),
                               ([good, good], {"confidence": 1.0}, "confidence"),
                               ([good, good], {"confidence": 0.0}, "confidence"),
                               ([good, good], {"n_boot": 10}, "n_boot")):
        raises(("ValueError",), sub.speedup_ci, *args, names=(name,), what=f"speedup_ci({args}, {kwargs})", **kwargs)


# ----------------------------------------------------------------------------- task 4 · rubric_score


def _rubric(sub, points, what=None):
    what = what or f"rubric_score({points})"
    got = sub.rubric_score(points)
    want = rubric_answer(points)
    require(isinstance(got, dict) and "score" in got and "band" in got,
            f"{what}: expected a dict with 'score' and 'band', got {got!r}")
    number(got["score"], want["score"], f"{what}: score", rel=0, abs=0.006)
    require(got["band"] == want["band"], f"{what}: band {got['band']!r}, expected {want['band']!r} "
                                         f"for a score of {want['score']}")


@checks.check(group="task4", points=1, category="knowledge", visible=True)
def rubric_score_weights(sub, rng):
    """All four categories present: weights 40/30/20/10 (§9)."""
    _rubric(sub, {"knowledge": (10, 10), "systems": (5, 10), "practice": (0, 4), "frontier": (2, 2)})
    _rubric(sub, {"knowledge": (3, 4), "systems": (6, 6), "practice": (1, 2), "frontier": (1, 5)})
    _rubric(sub, {"knowledge": (8, 8), "systems": (9, 9), "practice": (4.5, 4.5), "frontier": (1, 1)})


@checks.check(group="task4", points=2, category="knowledge")
def rubric_score_renormalises(sub, rng):
    """Weights renormalised over the categories present with possible > 0 (missing ones and 0/0 ignored)."""
    _rubric(sub, {"knowledge": (9, 10), "practice": (4, 8)})
    _rubric(sub, {"knowledge": (1, 2), "systems": (0, 0), "frontier": (3, 3)})
    _rubric(sub, {"systems": (7, 7)})
    _rubric(sub, {"practice": (2, 9), "frontier": (0, 0)})
    r = inputs.py_random(rng)
    for _ in range(6):
        cats = r.sample(list(RUBRIC_WEIGHTS), r.randint(1, 4))
        points = {}
        for c in cats:
            possible = r.choice([0, r.randint(1, 40)])
            points[c] = (r.randint(0, possible), possible)
        if any(p > 0 for _, p in points.values()):
            _rubric(sub, points)


@checks.check(group="task4", points=2, category="knowledge")
def rubric_score_band_boundaries(sub, rng):
    """Bands at exactly 90 / 80 / 70 (>=), and 89.99 / 79.99 / 69.99 below them; 100 and 0."""
    for earned in (9, 8, 7):
        for cat in RUBRIC_WEIGHTS:
            _rubric(sub, {cat: (earned, 10)}, f"rubric_score({{{cat!r}: ({earned}, 10)}}) (score {earned}0)")
    for earned in (8999, 7999, 6999):
        _rubric(sub, {"systems": (earned, 10000)}, f"rubric_score({{'systems': ({earned}, 10000)}})")
    _rubric(sub, {"knowledge": (5, 5), "frontier": (1, 1)})
    _rubric(sub, {"knowledge": (0, 5), "practice": (0, 1)})
    _rubric(sub, {"knowledge": (9, 10), "systems": (27, 30), "practice": (18, 20), "frontier": (0.9, 1)},
            "rubric_score(every category at 90%)")


@checks.check(group="task4", points=1, category="knowledge")
def rubric_score_rejects_bad_points(sub, rng):
    """ValueError naming points for an unknown category, earned > possible, or nothing possible; TypeError for a list."""
    for bad, label in (({"knowledge": (1, 2), "speed": (1, 1)}, "an unknown category 'speed'"),
                       ({"knowledge": (3, 2)}, "earned > possible"),
                       ({"systems": (-1, 2)}, "earned < 0"),
                       ({}, "no category"), ({"practice": (0, 0)}, "nothing possible")):
        raises(("ValueError",), sub.rubric_score, bad, names=("points",), what=f"rubric_score({bad}) ({label})")
    raises(("TypeError",), sub.rubric_score, [("knowledge", 1, 2)], names=("points",), what="rubric_score(a list)")


# ----------------------------------------------------------------------------- task 5 · audit

AUDIT_ANSWER = {"no_warmup", "no_sync", "mean_of_skewed_sample", "first_request_dropped", "throughput_wrong_span"}


def _audit_records(rng):
    """A load test's records: the first request (the earliest) pays a cold start and has the largest TTFT."""
    r = inputs.py_random(rng)
    first = 0.9 + r.uniform(0, 0.1)
    recs = [{"arrival": 0.0, "token_times": [first + 0.02 * i for i in range(4)]}]
    for _ in range(r.randint(6, 11)):
        a = r.uniform(0.05, 1.0)
        t = a + r.uniform(0.03, 0.2)
        recs.append({"arrival": a, "token_times": [t + 0.02 * i for i in range(r.randint(1, 6))]})
    return recs


def _audit(sub, rng, warmup, rep):
    records = _audit_records(rng)
    seed = inputs.seed(rng, 2**31)
    out = sub.probe(timing.audit, "fixed_harness", seed, warmup, rep, records)
    res = out["result"]
    keys = ("step_s", "ttft_p50", "ttft_p99", "output_tokens_per_s")
    require(isinstance(res, dict) and all(k in res for k in keys),
            f"fixed_harness: expected a dict with keys {keys}, got {res!r}")
    for k in keys:
        require(is_number(res[k]), f"fixed_harness: {k} must be a number, got {res[k]!r}")
    return out, res, records


@checks.check(group="task5", points=2, category="practice")
def audit_names_the_flaws(sub, rng):
    """audit_flaws() names exactly the harness's flaws, from FLAW_VOCABULARY."""
    named = set(sub.probe(timing.flaw_names, "audit_flaws"))
    missing, extra = AUDIT_ANSWER - named, named - AUDIT_ANSWER
    require(not missing and not extra,
            f"audit_flaws(): {len(named & AUDIT_ANSWER)} of the {len(AUDIT_ANSWER)} flaws found"
            + (f"; {sorted(extra)} {'is' if len(extra) == 1 else 'are'} not a flaw of this harness" if extra else "")
            + (f"; {len(missing)} more to find" if missing else ""))


@checks.check(group="task5", points=2, category="practice", visible=True)
def audit_warms_up_and_repeats(sub, rng):
    """fixed_harness calls step exactly warmup + rep times (3 + 30, 0 + 5, 5 + 11)."""
    for warmup, rep in ((3, 30), (0, 5), (5, 11)):
        out, _, _ = _audit(sub, rng, warmup, rep)
        require(out["calls"] == warmup + rep,
                f"fixed_harness(warmup={warmup}, rep={rep}): step was called {out['calls']} times; expected "
                f"{warmup + rep} ({warmup} untimed warm-up calls, then {rep} timed ones)")


@checks.check(group="task5", points=2, category="practice")
def audit_synchronises(sub, rng):
    """step_s measures the work on the device (>= the shortest kernel), not the 5 us launch."""
    out, res, _ = _audit(sub, rng, 3, 30)
    shortest = min(out["durations"][3:33])
    require(res["step_s"] >= shortest,
            f"fixed_harness: step_s = {res['step_s'] * 1e6:.1f} us, but every timed kernel runs at least "
            f"{shortest * 1e6:.0f} us on the device: step() only launches; synchronise before reading the clock")


@checks.check(group="task5", points=1, category="practice")
def audit_step_time_is_the_median(sub, rng):
    """step_s is exactly the median of the rep timed, synchronised calls after warm-up (the simulated times)."""
    for warmup, rep in ((3, 30), (4, 17)):
        out, res, _ = _audit(sub, rng, warmup, rep)
        timed = [out["launch_s"] + d for d in out["durations"][warmup:warmup + rep]]
        want = float(np.median(timed))
        number(res["step_s"], want, f"fixed_harness(warmup={warmup}, rep={rep}): step_s (median of the timed calls; "
                                    f"their mean is {np.mean(timed) * 1e3:.3f} ms)", rel=1e-9)


@checks.check(group="task5", points=1, category="practice")
def audit_ttft_over_every_request(sub, rng):
    """ttft_p50 and ttft_p99 over every request, the first (cold) one included."""
    _, res, records = _audit(sub, rng, 3, 30)
    want = answers.latency_summary(records)["ttft"]
    for p in ("p50", "p99"):
        number(res[f"ttft_{p}"], want[p], f"fixed_harness: ttft_{p} over all {len(records)} requests", rel=1e-9)


@checks.check(group="task5", points=1, category="practice")
def audit_throughput_from_first_arrival(sub, rng):
    """output_tokens_per_s over the span from the first arrival to the last token."""
    _, res, records = _audit(sub, rng, 3, 30)
    number(res["output_tokens_per_s"], answers.latency_summary(records)["output_tokens_per_s"],
           "fixed_harness: output_tokens_per_s", rel=1e-9)


# ----------------------------------------------------------------------------- task 6 · load test


def _ks_exponential(gaps, rate) -> float:
    """Kolmogorov-Smirnov distance between the gaps' empirical CDF and Exp(rate)."""
    x = np.sort(np.asarray(gaps, dtype=np.float64))
    n = x.size
    cdf = 1.0 - np.exp(-rate * x)
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


def _arrivals(sub, rate, n, seed, what):
    out = sub.poisson_arrivals(rate, n, seed=seed)
    require(isinstance(out, (list, tuple)) and len(out) == n and all(is_number(t) for t in out),
            f"{what}: expected a list of {n} numbers, got {str(out)[:200]}")
    return [float(t) for t in out]


@checks.check(group="task6", points=1, category="systems", visible=True)
def poisson_arrivals_shape(sub, rng):
    """n ascending times > 0; one seed, one list; another seed, another; bad rate or n refused."""
    a = _arrivals(sub, 50.0, 40, 3, "poisson_arrivals(50.0, 40, seed=3)")
    require(a[0] > 0 and all(y >= x for x, y in zip(a, a[1:])),
            "poisson_arrivals(50.0, 40, seed=3): times must start after 0 (the first gap) and ascend")
    require(a == _arrivals(sub, 50.0, 40, 3, "poisson_arrivals again"), "poisson_arrivals: one seed must give one list")
    require(a != _arrivals(sub, 50.0, 40, 4, "poisson_arrivals(seed=4)"), "poisson_arrivals: seeds 3 and 4 gave one list")
    require(_arrivals(sub, 5.0, 0, 0, "poisson_arrivals(5.0, 0)") == [], "poisson_arrivals(5.0, 0) must be []")
    raises(("ValueError",), sub.poisson_arrivals, 0.0, 3, names=("rate",), what="poisson_arrivals(0.0, 3)")
    raises(("ValueError", "TypeError"), sub.poisson_arrivals, 2.0, -1, names=("n",), what="poisson_arrivals(2.0, -1)")


@checks.check(group="task6", points=2, category="systems")
def poisson_arrivals_are_exponential(sub, rng):
    """3000 gaps follow Exp(rate) (Kolmogorov-Smirnov, p < 1e-7 to fail), at two rates."""
    for rate in (7.0, 350.0):
        n = 3000
        seed = inputs.seed(rng, 2**31)
        a = _arrivals(sub, rate, n, seed, f"poisson_arrivals({rate}, {n}, seed={seed})")
        gaps = np.diff(np.asarray([0.0] + a))
        d, bound = _ks_exponential(gaps, rate), math.sqrt(math.log(2 / 1e-7) / (2 * n))
        require(d <= bound, f"poisson_arrivals({rate}, {n}): the gaps are not exponential with mean 1/rate = "
                            f"{1 / rate:.4g} s: Kolmogorov-Smirnov distance {d:.4f} > {bound:.4f} "
                            f"(mean gap {gaps.mean():.4g} s)")


def _load_workload(rng, n, burst):
    """Prompts of 2-12 tokens; arrivals with idle gaps and bursts faster than the server."""
    r = inputs.py_random(rng)
    prompts = [[r.randrange(512) for _ in range(r.randint(2, 12))] for _ in range(n)]
    t, arrivals = 0.0, []
    for i in range(n):
        t += r.expovariate(1 / 0.0004) if (burst and r.random() < 0.7) else r.uniform(0.002, 0.06)
        arrivals.append(t)
    return prompts, arrivals


def _replay(prompts, arrivals, max_new_tokens, start):
    """The answer key: an open-loop replay of the workload on a timing-only ToyServer."""
    clock = VirtualClock(start)
    server = ToyServer(None, clock)
    scheduled = [start + a for a in arrivals]
    times = [[] for _ in prompts]
    index = {}
    i = 0
    while i < len(prompts) or server.has_work():
        while i < len(prompts) and scheduled[i] <= clock.now():
            index[server.submit(prompts[i], max_new_tokens)] = i
            i += 1
        if not server.has_work():
            clock.sleep_until(scheduled[i])
            continue
        for rid, _ in server.step():
            times[index[rid]].append(clock.now())
    return scheduled, times


def _load_records(sub, prompts, arrivals, max_new_tokens, start, use_model):
    out = sub.probe(timing.load_test, prompts, arrivals, max_new_tokens, start, use_model)
    recs = out["records"]
    require(isinstance(recs, (list, tuple)) and len(recs) == len(prompts),
            f"load_test: expected {len(prompts)} records (one per prompt, in prompt order), got {str(recs)[:200]}")
    clean = []
    for i, r in enumerate(recs):
        require(isinstance(r, dict) and all(k in r for k in ("arrival", "token_times", "tokens")),
                f"load_test: record {i} must be a dict with 'arrival', 'token_times', 'tokens', got {str(r)[:200]}")
        clean.append({"arrival": float(r["arrival"]), "token_times": [float(t) for t in list(r["token_times"])],
                      "tokens": [int(t) for t in list(r["tokens"])]})
    return clean, out


@checks.check(group="task6", points=1, category="systems", visible=True)
def load_test_records(sub, rng):
    """One record per prompt with max_new_tokens token times and the course model's greedy tokens."""
    r = inputs.py_random(rng)
    prompts = [[r.randrange(512) for _ in range(n)] for n in (5, 3, 9)]
    arrivals = [0.0, 0.001, 0.030]
    recs, _ = _load_records(sub, prompts, arrivals, 3, 0.0, True)
    for i, (rec, prompt) in enumerate(zip(recs, prompts)):
        require(len(rec["token_times"]) == 3 and len(rec["tokens"]) == 3,
                f"load_test: record {i} has {len(rec['token_times'])} token times and {len(rec['tokens'])} tokens; "
                "expected max_new_tokens = 3 of each")
        want = answers.greedy_tokens(prompt, 3)
        require(rec["tokens"] == want, f"load_test: record {i} holds tokens {rec['tokens']}, but the server produced "
                                       f"{want} for prompt {i}: keep each token with its own request")


@checks.check(group="task6", points=2, category="systems")
def load_test_records_scheduled_arrivals(sub, rng):
    """Under a burst the server is busy: a record's arrival is still its scheduled time (no coordinated omission)."""
    start = 100.0 + float(inputs.randint(rng, 0, 1000))
    prompts, arrivals = _load_workload(rng, 16, burst=True)
    recs, _ = _load_records(sub, prompts, arrivals, 4, start, False)
    for i, (rec, a) in enumerate(zip(recs, arrivals)):
        require(abs(rec["arrival"] - (start + a)) <= 1e-9,
                f"load_test: record {i}'s arrival is {rec['arrival']:.6f}, but it was scheduled at start + "
                f"arrivals[{i}] = {start + a:.6f} (start = clock.now() = {start}); measuring from the moment it was "
                "sent hides the time it queued behind the generator (coordinated omission)")


@checks.check(group="task6", points=2, category="systems")
def load_test_open_loop_timing(sub, rng):
    """Token times equal an open-loop replay: submit on arrival while the server is busy, sleep until the next arrival."""
    start = 10.0
    for burst in (True, False):
        prompts, arrivals = _load_workload(rng, 14, burst=burst)
        recs, out = _load_records(sub, prompts, arrivals, 3, start, False)
        submits = {e["rid"]: e["time"] for e in out["log"] if e["op"] == "submit"}
        require(len(submits) == len(prompts), f"load_test: {len(submits)} prompts submitted, expected {len(prompts)}")
        scheduled, times = _replay(prompts, arrivals, 3, start)
        for i, (rec, want) in enumerate(zip(recs, times)):
            for j, (g, w) in enumerate(zip(rec["token_times"], want)):
                if abs(g - w) > 1e-9:
                    raise CheckFailure(
                        f"load_test ({'bursts' if burst else 'idle gaps'}): record {i} token {j} at "
                        f"{(g - start) * 1e3:.3f} ms, expected {(w - start) * 1e3:.3f} ms (arrival "
                        f"{(scheduled[i] - start) * 1e3:.3f} ms): submit every arrived prompt before each step, "
                        "stamp tokens with clock.now() after the step, and when idle sleep_until the next arrival")
            require(len(rec["token_times"]) == len(want), f"load_test: record {i} has {len(rec['token_times'])} "
                                                         f"token times, expected {len(want)}")
