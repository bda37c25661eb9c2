"""A correct lab09 written another way: plain Python percentiles, perf_counter_ns, a *basic*
bootstrap, integer rubric arithmetic, random.expovariate arrivals, an event-queue load loop."""
import math
import random
import statistics
import time


def _pct(xs, p):
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def latency_summary(records):
    if not isinstance(records, list) or not records:
        raise ValueError("records must be a non-empty list")
    for i, r in enumerate(records):
        tt = r.get("token_times") if isinstance(r, dict) else None
        if not tt or "arrival" not in r:
            raise ValueError(f"records[{i}] needs arrival and token_times")
        if tt[0] < r["arrival"] or any(b < a for a, b in zip(tt, tt[1:])):
            raise ValueError(f"records[{i}] has times out of order")
    groups = {"ttft": [], "tpot": [], "itl": []}
    for r in records:
        tt = r["token_times"]
        groups["ttft"].append(tt[0] - r["arrival"])
        if len(tt) > 1:
            groups["tpot"].append((tt[-1] - tt[0]) / (len(tt) - 1))
            groups["itl"] += [tt[i + 1] - tt[i] for i in range(len(tt) - 1)]
    out = {k: {f"p{p}": (_pct(v, p) if v else None) for p in (50, 90, 99)} for k, v in groups.items()}
    start = min(r["arrival"] for r in records)
    end = max(r["token_times"][-1] for r in records)
    if not end > start:
        raise ValueError("records span no time")
    out["output_tokens_per_s"] = sum(len(r["token_times"]) for r in records) / (end - start)
    return out


def bench(fn, warmup=3, rep=20):
    if not callable(fn):
        raise TypeError("fn is not callable")
    if type(warmup) is not int or warmup < 0:
        raise ValueError("warmup must be an int >= 0")
    if type(rep) is not int or rep < 1:
        raise ValueError("rep must be an int >= 1")
    i = 0
    while i < warmup:
        fn()
        i += 1
    ns = []
    for _ in range(rep):
        a = time.perf_counter_ns()
        fn()
        ns.append(time.perf_counter_ns() - a)
    s = [x / 1e9 for x in ns]
    return {"p10": _pct(s, 10), "median": statistics.median(s), "p90": _pct(s, 90)}


def speedup_ci(baseline_times, new_times, confidence=0.95, n_boot=2000, seed=0):
    for name, xs in (("baseline_times", baseline_times), ("new_times", new_times)):
        if len(xs) == 0 or not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in xs):
            raise ValueError(f"{name} must be non-empty positive finite times")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError("n_boot must be an int >= 100")
    rng = random.Random(seed)
    b, n = list(baseline_times), list(new_times)
    est = statistics.median(b) / statistics.median(n)
    ratios = sorted(statistics.median(rng.choices(b, k=len(b))) / statistics.median(rng.choices(n, k=len(n)))
                    for _ in range(n_boot))
    lo_q, hi_q = _pct(ratios, 50 * (1 - confidence)), _pct(ratios, 50 * (1 + confidence))
    return (max(0.0, 2 * est - hi_q), 2 * est - lo_q) if hi_q > lo_q else (est, est)  # basic bootstrap


_W = {"knowledge": 4, "systems": 3, "practice": 2, "frontier": 1}


def rubric_score(points):
    if type(points) is not dict:
        raise TypeError("points must be a dict")
    bad = set(points) - set(_W)
    if bad:
        raise ValueError(f"points has unknown categories {sorted(bad)}")
    num = den = 0.0
    for cat, (earned, possible) in points.items():
        if earned < 0 or earned > possible:
            raise ValueError(f"points[{cat}] is not 0 <= earned <= possible")
        if possible:
            num += _W[cat] * earned / possible
            den += _W[cat]
    if not den:
        raise ValueError("points has nothing possible")
    score = round(num / den * 100, 2)
    band = "poor"
    for cut, name in ((70, "fair"), (80, "good"), (90, "excellent")):
        if score >= cut:
            band = name
    return {"score": score, "band": band}


def audit_flaws():
    return ["throughput_wrong_span", "first_request_dropped", "mean_of_skewed_sample", "no_sync", "no_warmup"]


def fixed_harness(device, step, records, warmup=3, rep=30):
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(rep):
        device.synchronize()
        t0 = device.clock()
        step()
        device.synchronize()
        samples.append(device.clock() - t0)
    s = latency_summary(records)
    return {"step_s": statistics.median(samples), "ttft_p50": s["ttft"]["p50"], "ttft_p99": s["ttft"]["p99"],
            "output_tokens_per_s": s["output_tokens_per_s"]}


def poisson_arrivals(rate, n, seed=0):
    if not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError("rate must be > 0")
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be an int >= 0")
    rng, t, out = random.Random(seed), 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append(t)
    return out


def load_test(server, clock, prompts, arrivals, max_new_tokens):
    t0 = clock.now()
    due = [t0 + a for a in arrivals]
    records = [dict(arrival=d, token_times=[], tokens=[]) for d in due]
    pending = list(range(len(prompts)))
    which = {}
    while pending or server.has_work():
        while pending and due[pending[0]] <= clock.now():
            i = pending.pop(0)
            which[server.submit(prompts[i], max_new_tokens)] = records[i]
        if not server.has_work():
            clock.sleep_until(due[pending[0]])
            continue
        out = server.step()
        now = clock.now()
        for rid, tok in out:
            which[rid]["token_times"].append(now)
            which[rid]["tokens"].append(int(tok))
    return records
