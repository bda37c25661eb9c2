"""lab06 checks: serving metrics, the KV-transfer cost model, a disaggregated server with faults, a capacity plan.

`run_disaggregated` runs through the trusted probe `inferlab.transfer_faults.run_watched` in the
submission's process: it installs a `TransferWatch` (counts in every rank the model's token
positions and the floating-point bytes sent, and injects the transfer faults), calls the
submission, and records every rank that raised or died. Expected tokens come from the course
model's greedy full recomputation here, in the grader's process; the capacity plan is compared
with an exhaustive search over the course simulator, also run here.
"""
from __future__ import annotations

import math

from inferlab import disagg_sim
from inferlab.grading import CheckFailure, Checks, raises, require

checks = Checks("lab06")

PROBE = "inferlab.transfer_faults:run_watched"
_MODEL = []


def _model():
    if not _MODEL:
        from inferlab.models import load

        _MODEL.append(load("target"))
    return _MODEL[0]


def _close(a, b, rel=1e-9, abs_=1e-12) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# ----------------------------------------------------------------------------- task 1 · metrics


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def metrics_on_a_small_trace(sub, rng):
    """ttft, tpot and goodput on three hand-made records."""
    recs = [{"arrival": 0.0, "token_times": [0.25, 0.375, 0.5]},
            {"arrival": 0.5, "token_times": [0.75, 1.0]},
            {"arrival": 1.0, "token_times": [3.0, 4.0, 5.0]}]
    for r, want_ttft, want_tpot in zip(recs, (0.25, 0.25, 2.0), (0.125, 0.25, 1.0)):
        got = sub.ttft(r)
        require(_close(got, want_ttft), f"ttft({r}) = {got!r}, expected token_times[0] - arrival = {want_ttft}")
        got = sub.tpot(r)
        require(_close(got, want_tpot), f"tpot({r}) = {got!r}, expected (last - first) / (n - 1) = {want_tpot}")
    got = sub.goodput(recs, 0.5, 0.25)
    require(_close(got, 2 / 5.0), f"goodput(3 records, ttft_slo=0.5, tpot_slo=0.25) = {got!r}, expected 2 requests "
            "met both SLOs over the span from the first arrival (0.0) to the last token (5.0): 0.4 req/s")


@checks.check(group="task1", points=1, category="knowledge")
def tpot_of_a_one_token_request_is_none(sub, rng):
    """A one-token request has no TPOT (None), and its TTFT is still defined."""
    r = {"arrival": 1.5, "token_times": [2.0]}
    got = sub.tpot(r)
    require(got is None, f"tpot({r}) = {got!r}: a one-token request has no decode phase; expected None (a 0 "
            "would pull every TPOT average down)")
    require(_close(sub.ttft(r), 0.5), f"ttft({r}) = {sub.ttft(r)!r}, expected 0.5")


@checks.check(group="task1", points=2, category="knowledge")
def goodput_edge_cases(sub, rng):
    """goodput: no records, SLO boundaries (inclusive), one-token requests, span from the first arrival."""
    got = sub.goodput([], 1.0, 1.0)
    require(got == 0.0, f"goodput([], ...) = {got!r}, expected 0.0")
    # exactly at the SLOs (binary fractions: no rounding): both count as met
    recs = [{"arrival": 0.0, "token_times": [0.5, 0.75, 1.0]},   # ttft 0.5 == slo, tpot 0.25 == slo
            {"arrival": 0.25, "token_times": [0.75]},            # one token: meets the TPOT SLO
            {"arrival": 0.5, "token_times": [1.0, 2.0]}]         # tpot 1.0 > 0.25: missed
    got = sub.goodput(recs, 0.5, 0.25)
    require(_close(got, 2 / 2.0), f"goodput at ttft_slo=0.5, tpot_slo=0.25 = {got!r}, expected 1.0: the first "
            "request sits exactly on both SLOs (<= counts as met), the one-token request meets the TPOT SLO, "
            "the third misses TPOT; 2 requests over 0.0 .. 2.0 s")
    # long queueing before the first token: the span starts at the first arrival
    span = 1.0 + float(torch_uniform(rng)) * 3
    recs = [{"arrival": 0.0, "token_times": [span, span + 0.5]},
            {"arrival": 0.5, "token_times": [span + 0.25, span + 1.0]}]
    got = sub.goodput(recs, 100.0, 1.0)
    want = 2 / (span + 1.0)
    require(_close(got, want), f"goodput = {got!r}, expected {want:.6g}: 2 requests over the span from the first "
            f"arrival (0.0) to the last token ({span + 1.0:.4g}); measuring from the first token hides the queueing")
    # a missed TTFT counts
    got = sub.goodput([{"arrival": 0.0, "token_times": [2.0, 2.5]}] * 2, 1.0, 1.0)
    require(_close(got, 0.0), f"goodput of requests that all miss the TTFT SLO = {got!r}, expected 0.0")


def torch_uniform(rng):
    import torch

    return torch.rand((), generator=rng).item()


@checks.check(group="task1", points=1, category="knowledge")
def metrics_refuse_bad_input(sub, rng):
    """ValueError naming the argument: empty token_times, negative SLO."""
    raises("ValueError", sub.tpot, {"arrival": 0.0, "token_times": []}, names=("token_times",),
           what="tpot(record with no token times)")
    raises("ValueError", sub.ttft, {"arrival": 0.0, "token_times": []}, names=("token_times",),
           what="ttft(record with no token times)")
    raises("ValueError", sub.goodput, [{"arrival": 0.0, "token_times": [1.0]}], -1.0, 1.0, names=("ttft_slo",),
           what="goodput(ttft_slo=-1)")


# ----------------------------------------------------------------------------- task 2 · kv_transfer_time


def _transfer(kv_bytes, latency, bandwidth, L, prefill_time):
    t = latency + kv_bytes / (L * bandwidth)
    c = prefill_time / L
    return max(t, L * t - (L - 1) * c)


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def kv_transfer_time_whole(sub, rng):
    """One message: latency + bytes / bandwidth (num_layers = 1, prefill time irrelevant)."""
    for args, want in (((10**6, 1e-5, 1e9), 1e-5 + 1e-3), ((0, 2e-6, 5e10), 2e-6)):
        got = sub.kv_transfer_time(*args)
        require(_close(got, want), f"kv_transfer_time{args} = {got!r}, expected latency + bytes/bandwidth = {want:.6g}")
    got = sub.kv_transfer_time(10**6, 1e-5, 1e9, num_layers=1, prefill_time=5.0)
    require(_close(got, 1e-5 + 1e-3), f"kv_transfer_time(num_layers=1, prefill_time=5) = {got!r}: a whole transfer "
            "starts after the prefill, expected 1.001e-3")


@checks.check(group="task2", points=2, category="knowledge")
def kv_transfer_time_overlaps_layers(sub, rng):
    """Layer by layer: max(t, L t - (L-1) c), in the link-bound and the compute-bound regimes."""
    import torch

    cases = [(2 * 32 * 8 * 128 * 2 * 4096, 5e-6, 50e9, 32, 0.35),   # compute-bound: only the last layer shows
             (2 * 32 * 8 * 128 * 2 * 4096, 20e-6, 1.25e9, 32, 0.35),  # link-bound: overlap hides L-1 layers' compute
             (2048 * 300, 5e-5, 1e9, 4, 0.0)]                       # no compute to hide behind
    for _ in range(3):
        u = torch.rand(4, generator=rng).tolist()
        cases.append((int(1e6 + u[0] * 1e9), u[1] * 1e-4, 1e9 + u[2] * 1e11, 1 + int(u[3] * 79), u[0] * 0.5))
    for kv, a, bw, L, pt in cases:
        got = sub.kv_transfer_time(kv, a, bw, num_layers=L, prefill_time=pt)
        want = _transfer(kv, a, bw, L, pt)
        require(_close(got, want, rel=1e-9),
                f"kv_transfer_time({kv}, latency={a:.3g}, bandwidth={bw:.3g}, num_layers={L}, prefill_time={pt:.3g})"
                f" = {got!r}, expected {want:.6g} (t = latency + bytes/(L bw) = {a + kv / (L * bw):.4g} s per layer, "
                f"c = prefill_time/L = {pt / L:.4g} s per layer: max(t, L t - (L-1) c))")


@checks.check(group="task2", points=1, category="knowledge")
def kv_transfer_time_refuses_bad_input(sub, rng):
    """ValueError naming the argument: bandwidth 0, negative latency, num_layers 0."""
    raises("ValueError", sub.kv_transfer_time, 100, 1e-6, 0.0, names=("bandwidth",), what="kv_transfer_time(bandwidth=0)")
    raises("ValueError", sub.kv_transfer_time, 100, -1e-6, 1e9, names=("latency",), what="kv_transfer_time(latency<0)")
    raises("ValueError", sub.kv_transfer_time, 100, 1e-6, 1e9, num_layers=0, names=("num_layers",),
           what="kv_transfer_time(num_layers=0)")


# ----------------------------------------------------------------------------- task 3 · run_disaggregated


def _prompts(rng, lengths):
    import torch

    V = _model().config.vocab_size
    return [torch.randint(0, V, (n,), generator=rng).tolist() for n in lengths]


def _run(sub, prompts, m, P, D, options=None, faults=None, limit=90.0):
    return sub.probe(PROBE, prompts, m, P, D, options or {}, faults, limit)


def _expect_tokens(out, prompts, m, what, allow_clear_error=False):
    """Every request's tokens equal greedy full recomputation; or (faults) a clear error."""
    from inferlab.models import greedy_reference

    err = out["error"]
    if err is not None:
        names, msg = err
        if allow_clear_error and not {"NotImplementedError", "RunTimeout", "LaunchTimeout", "RankError",
                                      "AssertionError"} & set(names) \
                and {"RuntimeError", "TimeoutError", "ValueError"} & set(names):
            return "error"
        raise CheckFailure(f"{what}: run_disaggregated raised {names[0]}: {msg[:1500]}")
    got = out["tokens"]
    require(isinstance(got, list) and len(got) == len(prompts),
            f"{what}: expected a list of {len(prompts)} token lists, got {str(got)[:200]}")
    model = _model()
    for i, (p, toks) in enumerate(zip(prompts, got)):
        want = greedy_reference(model, p, m)
        if toks != want:
            first = next((j for j, (a, b) in enumerate(zip(toks, want)) if a != b), min(len(toks), len(want)))
            raise CheckFailure(f"{what}: request {i} (prompt of {len(p)} tokens) got {toks}, greedy generation gives "
                               f"{want}; first difference at output token {first}")
    return "tokens"


def _no_rank_failed(out, what):
    fails = out["rank_failures"]
    require(not fails, f"{what}: with no fault injected, rank {fails[0][0] if fails else ''} failed: "
            f"{fails[0][1] if fails else ''}: {fails[0][2] if fails else ''}")


@checks.check(group="task3", points=2, category="systems", visible=True)
def disaggregated_tokens_equal_greedy(sub, rng):
    """1 prefill + 1 decode worker, 3 prompts (1, 9, 40 tokens), 5 new tokens each: greedy tokens."""
    prompts = _prompts(rng, (1, 9, 40))
    out = _run(sub, prompts, 5, 1, 1)
    _expect_tokens(out, prompts, 5, "run_disaggregated(3 prompts, 5, num_prefill=1, num_decode=1)")
    _no_rank_failed(out, "run_disaggregated")


@checks.check(group="task3", points=4, category="systems")
def disaggregated_tokens_under_back_pressure(sub, rng):
    """2 prefill + 2 decode workers, 8 prompts of 1..max length, more KV than the decode side holds at once."""
    import torch

    cfg = _model().config
    m, bs = 4, 16
    longest = cfg.max_seq_len - m
    lengths = [1, longest] + [int(x) for x in torch.randint(2, longest, (6,), generator=rng)]
    prompts = _prompts(rng, lengths)
    needs = [-(-(n + m - 1) // bs) for n in lengths]
    num_blocks = max(needs) + 2  # every request fits alone; all of them need several times the decode side
    out = _run(sub, prompts, m, 2, 2, {"num_blocks": num_blocks, "block_size": bs, "timeout": 2.0})
    what = (f"run_disaggregated(8 prompts of {sorted(lengths)} tokens, {m}, num_prefill=2, num_decode=2, "
            f"num_blocks={num_blocks}: {sum(needs)} blocks needed in all)")
    _expect_tokens(out, prompts, m, what)
    _no_rank_failed(out, what)
    m1 = _run(sub, prompts[:2], 1, 1, 1)
    _expect_tokens(m1, prompts[:2], 1, "run_disaggregated(2 prompts, max_new_tokens=1)")


@checks.check(group="task3", points=3, category="systems", kind="performance")
def disaggregated_counts_prefill_once_and_exact_kv_bytes(sub, rng):
    """Counted in every rank: prefill positions = prompts' total, decode = sum(m - 1), KV bytes = prompts' KV."""
    cfg = _model().config
    lengths = (3, 17, 64, 1, 150)
    m, P, D = 4, 1, 2
    prompts = _prompts(rng, lengths)
    out = _run(sub, prompts, m, P, D)
    what = f"run_disaggregated({len(prompts)} prompts of {list(lengths)} tokens, {m}, num_prefill={P}, num_decode={D})"
    _expect_tokens(out, prompts, m, what)
    _no_rank_failed(out, what)
    counts = out["counts"] + [{"tokens": 0, "kv_bytes": 0, "kv_sends": 0}] * (1 + P + D)
    router, pre, dec = counts[0], counts[1:1 + P], counts[1 + P:1 + P + D]
    total = sum(lengths)
    require(router["tokens"] == 0, f"{what}: the router (rank 0) ran {router['tokens']} positions through the model; "
            "it only routes")
    got = sum(c["tokens"] for c in pre)
    require(got == total, f"{what}: prefill workers (ranks 1..{P}) ran {got} positions through the model; the "
            f"prompts hold {total}: each prompt runs exactly once, no padding")
    got = sum(c["tokens"] for c in dec)
    want = len(prompts) * (m - 1)
    require(got == want, f"{what}: decode workers ran {got} positions through the model; generation alone needs "
            f"{len(prompts)} x (m - 1) = {want} (the first token comes from the prefill; decode never recomputes a "
            "prompt position)")
    kv = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * 4
    got = sum(c["kv_bytes"] for c in pre)
    require(got == kv * total, f"{what}: prefill workers sent {got} bytes of floating-point data; the prompts' KV is "
            f"2 x {cfg.num_layers} layers x {cfg.num_kv_heads} heads x {cfg.head_dim} x 4 bytes x {total} positions "
            f"= {kv * total} (exactly the prompts' positions, every layer, once)")
    sends = sum(c["kv_sends"] for c in pre)
    require(sends >= cfg.num_layers * len(prompts),
            f"{what}: {sends} floating-point messages for {len(prompts)} requests; layer by layer means at least "
            f"{cfg.num_layers} per request")


@checks.check(group="task3", points=1, category="systems")
def disaggregated_refuses_bad_input(sub, rng):
    """ValueError naming the argument: empty prompt, token id out of range, num_decode 0, a request no worker holds."""
    V = _model().config.vocab_size
    raises("ValueError", sub.run_disaggregated, [[1, 2], []], 3, names=("prompts",), what="run_disaggregated(empty prompt)")
    raises("ValueError", sub.run_disaggregated, [[1, V]], 3, names=("prompts",),
           what=f"run_disaggregated(token id {V} with vocab_size {V})")
    raises("ValueError", sub.run_disaggregated, [[1, 2]], 3, num_decode=0, names=("num_decode",),
           what="run_disaggregated(num_decode=0)")
    raises("ValueError", sub.run_disaggregated, [list(range(100))], 10, num_blocks=4, block_size=16,
           names=("num_blocks",), what="run_disaggregated(a 100-token prompt, 10 new tokens, num_blocks=4 of 16)")
    got = sub.run_disaggregated([], 3)
    require(list(got) == [], f"run_disaggregated([], 3) = {got!r}, expected []")


# ----------------------------------------------------------------------------- task 3 · faults

_FAULT_LENGTHS = (5, 33, 1, 70)
_FAULT_M = 5


def _fault_run(sub, rng, faults, what):
    prompts = _prompts(rng, _FAULT_LENGTHS)
    out = _run(sub, prompts, _FAULT_M, 1, 2, {"timeout": 1.0}, faults)
    require(any(c.get("faults") for c in out["counts"]),
            f"{what}: the fault was never injected (did the run send the KV as floating-point tensors from rank 1?)"
            + (f"; run_disaggregated raised {out['error'][0][0]}: {out['error'][1][:800]}" if out["error"] else ""))
    _expect_tokens(out, prompts, _FAULT_M, what, allow_clear_error=True)


@checks.check(group="task3_faults", points=2, category="systems", visible=True)
def corrupted_kv_is_detected(sub, rng):
    """A prefill worker's 1st and 4th KV messages arrive corrupted: the checksums catch it, tokens stay right."""
    _fault_run(sub, rng, {"corrupt": [(0, 0), (0, 3)]},
               "run_disaggregated with KV messages 0 and 3 of prefill worker 1 corrupted in transit")


@checks.check(group="task3_faults", points=1, category="systems")
def dropped_kv_is_recovered(sub, rng):
    """A prefill worker's 3rd KV message is silently dropped: the transfer times out, the request runs again."""
    _fault_run(sub, rng, {"drop": [(0, 2)]}, "run_disaggregated with KV message 2 of prefill worker 1 dropped "
               "(timeout=1.0)")


@checks.check(group="task3_faults", points=1, category="systems")
def late_kv_is_recovered(sub, rng):
    """A KV message arrives 3 s late (timeout 1 s): abandoned, rerun, and its late arrival corrupts nothing."""
    _fault_run(sub, rng, {"delay": [(0, 1, 3.0)]}, "run_disaggregated with KV message 1 of prefill worker 1 "
               "3 s late (timeout=1.0)")


@checks.check(group="task3_faults", points=2, category="systems")
def dead_decode_worker_loses_nothing(sub, rng):
    """Decode worker 0 dies after 3 decode positions: its requests finish on the other one."""
    _fault_run(sub, rng, {"kill_decode": (0, 3)}, "run_disaggregated with decode worker 0 (rank 2) dying mid-request "
               "(timeout=1.0)")


# ----------------------------------------------------------------------------- task 4 · plan_capacity


def _goodput(records, ttft_slo, tpot_slo):
    """The answer key of goodput (SPEC lab06)."""
    if not records:
        return 0.0
    met = 0
    for r in records:
        t = r["token_times"]
        tpot_ok = len(t) == 1 or (t[-1] - t[0]) / (len(t) - 1) <= tpot_slo
        met += (t[0] - r["arrival"] <= ttft_slo) and tpot_ok
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    return met / span if span > 0 else (math.inf if met else 0.0)


def _check_plan(sub, requests, n, ttft_slo, tpot_slo, chunks, what):
    plan = sub.plan_capacity([tuple(r.__dict__.values()) for r in requests], n, ttft_slo, tpot_slo, chunks)
    plan = dict(plan)
    got_g = plan.pop("goodput", None)
    try:
        used = disagg_sim.plan_workers(plan)
    except ValueError as e:
        raise CheckFailure(f"{what}: plan_capacity returned {plan}, not a plan the simulator runs: {e}") from None
    require(used == n, f"{what}: the plan {plan} uses {used} workers, expected {n}")
    require(plan["chunk_size"] in chunks, f"{what}: chunk_size {plan['chunk_size']} is not one of {chunks}")
    g = _goodput(disagg_sim.simulate(requests, plan), ttft_slo, tpot_slo)
    require(_close(got_g, g, rel=1e-6), f"{what}: plan_capacity says goodput {got_g!r} for {plan}; simulating it "
            f"gives {g:.6g} req/s")
    best, best_g = None, -1.0
    for p in disagg_sim.all_plans(n, chunks):
        gp = _goodput(disagg_sim.simulate(requests, p), ttft_slo, tpot_slo)
        if gp > best_g:
            best, best_g = p, gp
    require(g >= 0.95 * best_g, f"{what}: the plan {plan} reaches {g:.4g} req/s within both SLOs; the best plan "
            f"{best} reaches {best_g:.4g} (at least 95% needed). Does the objective count both SLOs?")


@checks.check(group="task4", points=1, category="practice", visible=True)
def capacity_plan_on_two_workers(sub, rng):
    """2 workers, 60 bursty requests: the plan reaches 95% of the best goodput by exhaustive search."""
    reqs = disagg_sim.bursty_workload(60, 4.0, seed=int(torch_uniform(rng) * 1000))
    _check_plan(sub, reqs, 2, 2.0, 0.2, (128, 512), "plan_capacity(60 requests at 4/s, 2 workers, SLOs 2 s / 0.2 s)")


@checks.check(group="task4", points=3, category="practice")
def capacity_plan_reaches_best_goodput(sub, rng):
    """4 workers, bursty load, tight TPOT SLO: >= 95% of the exhaustive search's goodput (3 workloads)."""
    for rate, seed, ttft_slo, tpot_slo in ((12.0, 1, 2.0, 0.05), (12.0, 2, 2.0, 0.05), (8.0, 2, 1.0, 0.05)):
        reqs = disagg_sim.bursty_workload(100, rate, seed=seed)
        _check_plan(sub, reqs, 4, ttft_slo, tpot_slo, (128, 512, 2048),
                    f"plan_capacity(100 requests at {rate}/s (seed {seed}), 4 workers, SLOs {ttft_slo} s / {tpot_slo} s)")


@checks.check(group="task4", points=1, category="practice")
def capacity_plan_refuses_bad_input(sub, rng):
    """ValueError naming the argument: num_workers 0, no chunk sizes."""
    reqs = [(0.0, 10, 5)]
    raises("ValueError", sub.plan_capacity, reqs, 0, 1.0, 0.1, names=("num_workers",), what="plan_capacity(num_workers=0)")
    raises("ValueError", sub.plan_capacity, reqs, 2, 1.0, 0.1, (), names=("chunk_sizes",),
           what="plan_capacity(chunk_sizes=())")

