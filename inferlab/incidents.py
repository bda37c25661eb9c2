"""Troubleshooting incidents: reproducible serving runs with one bad setting, their evidence, and a fix replayed.

An incident is a serving day on a simulated device: Poisson arrivals, the course scheduler
(`inferlab.engine.Scheduler`: continuous batching, chunked prefill, preemption by recomputation,
prefix caching) and a cost model that turns each step's plan into seconds. Nothing depends on
the machine it runs on: the clock is simulated, so the same incident gives the same numbers
everywhere, and a change is measured by running the day again.

    inc = draw(seed=7, kind="kv_blocks_too_few")      # one incident (kind left out: drawn too)
    report = inc.report()                              # what an on-call engineer sees: config,
                                                       # limits, SLOs, metrics, per-step trace
    after = inc.replay({"num_blocks": 2048})           # the same day with one change
    after["metrics"]["ttft"]["p99"] <= report["slo"]["ttft_p99"]
    incident_set(seed, n)                              # n incidents of different kinds

The step cost (simulated seconds):
    STEP_OVERHEAD + PER_TOKEN * (tokens in the batch) + PER_CONTEXT * (context tokens the decodes read)
    + SYNC_PER_TOKEN * (tokens sampled), only with the per-token synchronising sampler
    + num_speculative_tokens * (DRAFT_STEP + DRAFT_PER_SEQ * decodes), with speculation
    (the target then verifies k + 1 tokens per decode and keeps 1 + the accepted drafts).

Root causes (`CAUSES`) and the knobs a fix may change (`KNOBS`): a fix is one knob.
"""
from __future__ import annotations

import dataclasses
import math
import random

from inferlab.engine.scheduler import Scheduler
from inferlab.engine.sequence import Sequence, SequenceStatus

STEP_OVERHEAD = 4e-3
PER_TOKEN = 4e-5
PER_CONTEXT = 2e-7
SYNC_PER_TOKEN = 1.5e-3
DRAFT_STEP = 1.5e-3
DRAFT_PER_SEQ = 2e-5

CAUSES = ("kv_blocks_too_few", "max_num_seqs_too_low", "prefill_starves_decode", "prefix_caching_off",
          "draft_low_acceptance", "block_leak", "sampler_sync")

KNOBS = {  # knob: (type, what it is)
    "num_blocks": (int, "KV blocks in the pool (at most limits['num_blocks']: what the memory holds)"),
    "max_num_seqs": (int, "running requests at most (at most limits['max_num_seqs'])"),
    "max_num_batched_tokens": (int, "prefill tokens + decodes in one step (chunked prefill's chunk)"),
    "enable_prefix_caching": (bool, "reuse KV blocks of identical prompt prefixes"),
    "num_speculative_tokens": (int, "draft tokens proposed per decode step (0: no speculation)"),
    "sampler": (str, "'batched' (one device->host copy per step) or 'per_token_sync' (one per sampled token)"),
    "free_path": (str, "'immediate' (blocks return on finish) or 'deferred' (the batched free path)"),
}
_CHOICES = {"sampler": ("batched", "per_token_sync"), "free_path": ("immediate", "deferred")}
TUNABLES = ("num_blocks", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching", "num_speculative_tokens")
BLOCK_SIZE = 16
_ATTEMPTS: dict = {}  # redraws per kind (calibration)
LEAK_PER_REQUEST = 2  # blocks the deferred free path forgets per finished request (the bug)

__all__ = ["CAUSES", "KNOBS", "Incident", "apply_change", "draw", "incident_set", "simulate", "summarize"]


def _pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(records) -> dict:
    """p50/p90/p99 of TTFT, TPOT, ITL over the finished requests (lab09's definitions) and output tokens/s."""
    done = [r for r in records if r["token_times"]]
    itl = [b - a for r in done for a, b in zip(r["token_times"], r["token_times"][1:])]
    tpot = [(r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
            for r in done if len(r["token_times"]) > 1]
    groups = {"ttft": [r["token_times"][0] - r["arrival"] for r in done], "tpot": tpot, "itl": itl}
    out = {k: {f"p{p}": _pct(v, p) for p in (50, 90, 99)} for k, v in groups.items()}
    span = (max(r["token_times"][-1] for r in done) - min(r["arrival"] for r in records)) if done else 0.0
    out["output_tokens_per_s"] = sum(len(r["token_times"]) for r in done) / span if span > 0 else 0.0
    return out


# ----------------------------------------------------------------------------- the simulated day


def simulate(config: dict, requests, *, draft_acceptance: float = 0.7, seed: int = 0) -> dict:
    """Run `requests` [(arrival, prompt_ids, max_new_tokens)] under `config` (every KNOBS key); metrics + trace."""
    cfg = dict(config)
    sched = Scheduler(cfg["max_num_seqs"], cfg["max_num_batched_tokens"], cfg["num_blocks"], BLOCK_SIZE,
                      cfg["enable_prefix_caching"])
    bm = sched.block_manager
    rng = random.Random(seed)
    k = cfg["num_speculative_tokens"]
    pending = sorted(((a, i, p, m) for i, (a, p, m) in enumerate(requests)), key=lambda r: (r[0], r[1]))
    seqs, trace = [], []
    t, j, leaked, oom = 0.0, 0, 0, False
    proposed = accepted = recomputed = 0
    while j < len(pending) or sched.has_unfinished():
        while j < len(pending) and pending[j][0] <= t:
            a, i, p, m = pending[j]
            seq = Sequence(i, p, m, arrival=a)
            sched.add_sequence(seq)
            seqs.append(seq)
            j += 1
        if not sched.has_unfinished():
            t = pending[j][0]
            continue
        plan = sched.schedule()
        if not plan.scheduled:  # nothing can run: the pool is exhausted by blocks nobody holds
            oom = True
            break
        recomputed += sum(n for s, n in plan.scheduled if s.num_preemptions and s.is_prefilling)
        decodes = [s for s in plan.scheduled if not s[0].is_prefilling]
        sampled = sum(1 for s, n in plan.scheduled if s.num_cached_tokens + n >= s.num_prefill_tokens)
        ctx = sum(s.num_cached_tokens + 1 for s, _ in decodes)
        tokens = plan.num_tokens + k * len(decodes)  # speculation verifies k + 1 tokens per decode
        dt = STEP_OVERHEAD + PER_TOKEN * tokens + PER_CONTEXT * ctx * (1 + k)
        host = SYNC_PER_TOKEN * sampled * (1 + k) if cfg["sampler"] == "per_token_sync" else 0.0
        draft = k * (DRAFT_STEP + DRAFT_PER_SEQ * len(decodes)) if (k and decodes) else 0.0
        dt += host + draft
        t += dt
        decode_seqs = [s for s, _ in decodes]
        done = sched.postprocess(plan, [0] * len(plan.scheduled), now=t)
        for s in decode_seqs:  # speculation: the accepted drafts come out with the verified token
            if k == 0 or s.status is SequenceStatus.FINISHED:
                continue
            n_acc = 0
            while n_acc < k and rng.random() < draft_acceptance:
                n_acc += 1
            proposed += k
            accepted += n_acc
            for _ in range(min(n_acc, s.max_new_tokens - s.num_outputs)):
                s.append_token(0, t)
            if s.is_finished:
                bm.deallocate(s)
                sched.running.remove(s)
                s.status = SequenceStatus.FINISHED
                sched._finished.append(s.seq_id)
                done.append(s)
        if cfg["free_path"] == "deferred":  # the bug: part of each finished request's blocks never returns
            for _ in done:
                for _ in range(LEAK_PER_REQUEST):
                    if bm.num_free_blocks:
                        bm._take_free_block()
                        leaked += 1
        held = sum(len(s.block_table) for s in sched.running)
        trace.append({"t": round(t, 6), "dt": round(dt, 6), "prefill_tokens": sum(plan.prefill.values()),
                      "decodes": len(plan.decode), "running": len(sched.running), "waiting": len(sched.waiting),
                      "preempted": len(plan.preempted), "blocks_used": bm.num_used_blocks,
                      "blocks_held_by_requests": held, "host_sync_s": round(host, 6), "draft_s": round(draft, 6),
                      "finished": len(done)})
    records = [s.record() for s in seqs] + [{"arrival": a, "token_times": []} for a, _, _, _ in pending[j:]]
    metrics = summarize(records)
    prompt_tokens = sum(len(p) for _, p, _ in requests)
    finished = sum(1 for s in seqs if s.status is SequenceStatus.FINISHED)
    metrics.update(requests=len(requests), finished=finished, unfinished=len(requests) - finished,
                   out_of_memory=oom, steps=len(trace), preemptions=sched.num_preemptions,
                   recomputed_tokens=recomputed, prefix_hit_tokens=sched.num_prefix_hit_tokens,
                   prompt_tokens=prompt_tokens, repeated_prefix_tokens=_repeated_prefix_tokens(requests),
                   spec_proposed=proposed, spec_accepted=accepted,
                   busy_s=round(sum(s["dt"] for s in trace), 6),
                   host_sync_s=round(sum(s["host_sync_s"] for s in trace), 6),
                   draft_s=round(sum(s["draft_s"] for s in trace), 6))
    return {"metrics": metrics, "trace": trace, "records": records}


def _repeated_prefix_tokens(requests) -> int:
    """Prompt tokens in full blocks whose whole prefix appeared in an earlier prompt (what a prefix cache could skip)."""
    from inferlab.traces import block_keys

    seen, n = set(), 0
    for _, p, _ in requests:
        keys = block_keys(p, BLOCK_SIZE)
        hits = 0
        for key in keys:
            if key not in seen:
                break
            hits += 1
        n += hits * BLOCK_SIZE
        seen.update(keys)
    return n


# ----------------------------------------------------------------------------- incidents


def apply_change(config: dict, change, limits: dict) -> dict:
    """`config` with the one change `{knob: value}`; ValueError naming `change` when it is not one valid knob."""
    if not isinstance(change, dict) or len(change) != 1:
        raise ValueError(f"change must be a dict with exactly one knob, got {change!r}")
    (knob, value), = change.items()
    if knob not in KNOBS:
        raise ValueError(f"change names {knob!r}, not a knob; knobs: {sorted(KNOBS)}")
    typ = KNOBS[knob][0]
    if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"change: {knob} must be an int, got {value!r}")
    if typ is bool and not isinstance(value, bool):
        raise ValueError(f"change: {knob} must be a bool, got {value!r}")
    if typ is str and value not in _CHOICES[knob]:
        raise ValueError(f"change: {knob} must be one of {_CHOICES[knob]}, got {value!r}")
    lo_hi = limits.get(knob)
    if lo_hi is not None and not lo_hi[0] <= value <= lo_hi[1]:
        raise ValueError(f"change: {knob}={value} is outside what this deployment allows, {lo_hi}")
    out = dict(config)
    out[knob] = value
    return out


@dataclasses.dataclass
class Incident:
    """One reproducible bad day: its cause (kept out of the report), configuration, workload and SLOs."""

    cause: str
    config: dict
    limits: dict
    requests: list
    draft_acceptance: float
    seed: int
    slo: dict = dataclasses.field(default_factory=dict)
    good_fixes: tuple = ()
    _run: dict | None = None

    def run(self, config: dict | None = None) -> dict:
        return simulate(config or self.config, self.requests, draft_acceptance=self.draft_acceptance, seed=self.seed)

    def report(self) -> dict:
        """What the on-call engineer sees: tunable config, limits, SLOs, metrics and the per-step trace (plain data)."""
        if self._run is None:
            self._run = self.run()
        return {"config": {k: self.config[k] for k in TUNABLES}, "limits": {k: list(v) for k, v in self.limits.items()},
                "slo": dict(self.slo), "metrics": self._run["metrics"], "trace": self._run["trace"],
                "workload": {"requests": len(self.requests), "block_size": BLOCK_SIZE,
                             "duration_s": round(self.requests[-1][0], 3),
                             "prompt_tokens": [len(p) for _, p, _ in self.requests],
                             "max_new_tokens": [m for _, _, m in self.requests]}}

    def replay(self, change) -> dict:
        """The same day with one change: {"metrics", "meets_slo", "violations"}."""
        cfg = apply_change(self.config, change, self.limits)
        run = self.run(cfg)
        bad = violations(run["metrics"], self.slo)
        return {"metrics": run["metrics"], "meets_slo": not bad, "violations": bad}


def violations(metrics: dict, slo: dict) -> list[str]:
    """The SLOs `metrics` misses (every request must finish)."""
    out = []
    if metrics["unfinished"]:
        out.append(f"{metrics['unfinished']} requests never finished")
    for key, limit in slo.items():
        name = key.removesuffix("_p99")
        got = metrics[name]["p99"]
        if got is not None and got > limit:
            out.append(f"{name} p99 {got * 1e3:.1f} ms > SLO {limit * 1e3:.1f} ms")
    return out


def _tokens(rng, n):
    return [rng.randrange(512) for _ in range(n)]


def _arrivals(rng, rate, n):
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append(t)
    return out


def _base(rng) -> dict:
    return {"num_blocks": 1024, "max_num_seqs": 32, "max_num_batched_tokens": rng.choice((256, 512)),
            "enable_prefix_caching": rng.random() < 0.5, "num_speculative_tokens": 0,
            "sampler": "batched", "free_path": "immediate"}


def _limits(cfg) -> dict:
    return {"num_blocks": [1, cfg["num_blocks"]], "max_num_seqs": [1, 64], "max_num_batched_tokens": [16, 8192],
            "num_speculative_tokens": [0, 8]}


def _chat(rng, n, rate, plo=40, phi=200, mlo=16, mhi=96, system=None):
    sys_p = system or []
    return [(a, sys_p + _tokens(rng, rng.randint(plo, phi)), rng.randint(mlo, mhi)) for a in _arrivals(rng, rate, n)]


def _make(kind: str, rng: random.Random):
    """(config, limits, requests, draft_acceptance, good fixes) of one incident of `kind` (parameters from rng)."""
    cfg = _base(rng)
    alpha = 0.75
    if kind == "kv_blocks_too_few":
        cfg.update(num_blocks=rng.randint(48, 64), enable_prefix_caching=False)
        reqs = _chat(rng, 50, rng.uniform(10, 14), 150, 300, 64, 160)
        limits = _limits(dict(cfg, num_blocks=rng.choice((1024, 2048))))
        fixes = [{"num_blocks": limits["num_blocks"][1]}, {"num_blocks": 640}]
    elif kind == "max_num_seqs_too_low":
        cfg.update(max_num_seqs=rng.choice((1, 2)))
        reqs = _chat(rng, 50, rng.uniform(16, 22), 40, 120, 32, 96)
        limits = _limits(cfg)
        fixes = [{"max_num_seqs": 32}, {"max_num_seqs": 64}]
    elif kind == "prefill_starves_decode":
        cfg.update(max_num_batched_tokens=8192, enable_prefix_caching=False)
        short = _chat(rng, 70, rng.uniform(12, 16), 20, 60, 48, 96)
        long_ = [(a, _tokens(rng, rng.randint(3000, 4500)), 4) for a in _arrivals(rng, rng.uniform(1.5, 2.2), 7)]
        reqs = sorted(short + long_, key=lambda r: r[0])
        limits = _limits(cfg)
        fixes = [{"max_num_batched_tokens": 256}, {"max_num_batched_tokens": 512}]
    elif kind == "prefix_caching_off":
        cfg.update(enable_prefix_caching=False, max_num_batched_tokens=512)
        system = _tokens(rng, rng.randint(90, 110) * BLOCK_SIZE)
        reqs = _chat(rng, 60, rng.uniform(9, 11), 10, 40, 8, 24, system=system)
        limits = _limits(cfg)
        fixes = [{"enable_prefix_caching": True}]
    elif kind == "draft_low_acceptance":
        cfg.update(num_speculative_tokens=rng.choice((4, 5, 6)))
        alpha = rng.uniform(0.02, 0.08)
        reqs = _chat(rng, 50, rng.uniform(8, 10), 30, 100, 64, 128)
        limits = _limits(cfg)
        fixes = [{"num_speculative_tokens": 0}]
    elif kind == "block_leak":
        cfg.update(free_path="deferred", num_blocks=rng.randint(150, 180), enable_prefix_caching=False)
        reqs = _chat(rng, 110, rng.uniform(10, 12), 30, 90, 16, 48)
        limits = _limits(cfg)
        fixes = [{"free_path": "immediate"}]
    elif kind == "sampler_sync":
        cfg.update(sampler="per_token_sync")
        reqs = _chat(rng, 60, rng.uniform(12, 16), 30, 100, 48, 128)
        limits = _limits(cfg)
        fixes = [{"sampler": "batched"}]
    else:
        raise ValueError(f"kind must be one of {CAUSES}, got {kind!r}")
    if kind != "draft_low_acceptance" and rng.random() < 0.3:
        cfg["num_speculative_tokens"], alpha = 2, rng.uniform(0.75, 0.85)  # a good draft: harmless
    return cfg, limits, reqs, alpha, fixes


def draw(seed: int, kind: str | None = None) -> Incident:
    """One incident of `kind` (drawn from CAUSES when None) with parameters from `seed`; SLOs set so the
    listed good fixes meet them with a margin and the bad configuration misses them by at least 1.5x."""
    rng = random.Random(f"incident:{seed}:{kind}")
    kind = kind or rng.choice(CAUSES)
    for attempt in range(20):
        cfg, limits, reqs, alpha, fixes = _make(kind, rng)
        inc = Incident(kind, cfg, limits, reqs, alpha, seed=rng.randrange(2**31), good_fixes=tuple(fixes))
        base = inc.run()
        fixed = [inc.run(apply_change(cfg, f, limits))["metrics"] for f in fixes]
        if any(m["unfinished"] for m in fixed):
            continue
        slo = {}
        for name in ("ttft", "tpot", "itl"):
            worst = max(m[name]["p99"] for m in fixed)
            slo[f"{name}_p99"] = _round_up(worst * 1.25)
        if kind != "prefill_starves_decode":
            slo.pop("itl_p99")
        bad = base["metrics"]
        if bad["unfinished"] or any(bad[k.removesuffix("_p99")]["p99"] > 1.5 * v for k, v in slo.items()):
            inc.slo = slo
            inc._run = base
            return inc
        _ATTEMPTS[kind] = _ATTEMPTS.get(kind, 0) + 1
    raise RuntimeError(f"could not draw a separable {kind} incident from seed {seed}")


def _round_up(x: float) -> float:
    """x rounded up to 2 significant digits (an SLO someone would write down)."""
    if x <= 0:
        return 0.001
    e = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10 ** e) * 10 ** e


def incident_set(seed: int, n: int = 4) -> list[Incident]:
    """`n` incidents of distinct kinds, kinds and parameters drawn from `seed`."""
    if not 1 <= n <= len(CAUSES):
        raise ValueError(f"n must be in [1, {len(CAUSES)}], got {n}")
    kinds = random.Random(f"incident-set:{seed}").sample(CAUSES, n)
    return [draw(seed * 31 + i, kind) for i, kind in enumerate(kinds)]
