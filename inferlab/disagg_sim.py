"""A discrete-event simulator of LLM serving, colocated vs prefill/decode disaggregated (lab06, course §6).

    from inferlab.disagg_sim import COURSE_COSTS, bursty_workload, simulate
    reqs = bursty_workload(200, rate=20.0, seed=0)
    recs = simulate(reqs, {"mode": "disaggregated", "num_prefill": 2, "num_decode": 2, "chunk_size": 512})
    recs = simulate(reqs, {"mode": "colocated", "num_workers": 4, "chunk_size": 512})

Each record is lab06's request record `{"arrival": s, "token_times": [s, ...]}`.

The cost model (`Costs`), calibrated on the course model (`calibrate`; `COURSE_COSTS` holds the
numbers measured on the course's 2-core CPU machine):
- a batch of prompt chunks, chunk i running n_i tokens after o_i already cached:
  `prefill_a + prefill_b * sum(n_i) + prefill_c * sum((o_i + n_i)^2 - o_i^2)` (a whole prompt of
  length L: a + b L + c L^2 — the quadratic is attention);
- a decode step of B sequences holding S context tokens in all: `decode_a + decode_b * B + decode_c * S`;
- a mixed step (colocated, chunked prefill) pays one fixed cost, `max(prefill_a, decode_a)`, plus both
  variable parts: the prefill chunk stalls every decode of the step (interference);
- a KV handoff of L prompt tokens: `kv_bytes_per_token * L` bytes sent layer by layer while the prefill
  computes (lab06's `kv_transfer_time`), on a link of `link_latency` s and `link_bandwidth` B/s.

The servers:
- colocated: `num_workers` identical workers, each a continuous-batching engine with chunked prefill
  (every running decode first, then prompt chunks first come first served up to `chunk_size`
  tokens per step); a request goes to the worker with the fewest unfinished requests;
- disaggregated: `num_prefill` prefill workers (a step runs whole waiting prompts, first come first
  served, up to `chunk_size` tokens, at least one prompt) produce the first token; the KV then moves
  to the decode worker with the fewest running requests, which decodes in continuous batches.
Both admit at most `max_batch` running sequences per worker. Deterministic: same inputs, same records.
"""
from __future__ import annotations

import dataclasses
import heapq
import random


@dataclasses.dataclass(frozen=True)
class Costs:
    """Seconds per step of one worker, as a function of the work in the step (see the module docstring)."""

    prefill_a: float
    prefill_b: float
    prefill_c: float
    decode_a: float
    decode_b: float
    decode_c: float
    kv_bytes_per_token: int
    num_layers: int
    link_latency: float = 50e-6
    link_bandwidth: float = 1e9
    max_batch: int = 64

    def prefill_time(self, chunks) -> float:
        """A step running prompt chunks [(cached o_i, new n_i), ...]."""
        n = sum(c[1] for c in chunks)
        quad = sum((o + k) ** 2 - o ** 2 for o, k in chunks)
        return self.prefill_a + self.prefill_b * n + self.prefill_c * quad

    def decode_time(self, batch: int, context: int) -> float:
        """A decode step of `batch` sequences holding `context` tokens in all."""
        return self.decode_a + self.decode_b * batch + self.decode_c * context

    def mixed_time(self, chunks, batch: int, context: int) -> float:
        """One colocated step: prompt chunks and decodes share the fixed cost and stall each other."""
        if not chunks:
            return self.decode_time(batch, context)
        if not batch:
            return self.prefill_time(chunks)
        return (max(self.prefill_a, self.decode_a) + self.prefill_time(chunks) - self.prefill_a
                + self.decode_time(batch, context) - self.decode_a)

    def transfer_time(self, num_tokens: int, prefill_time: float) -> float:
        """What the layer-by-layer KV handoff adds after the prefill ends (lab06's kv_transfer_time)."""
        L = self.num_layers
        t = self.link_latency + self.kv_bytes_per_token * num_tokens / (L * self.link_bandwidth)
        c = prefill_time / L
        return max(t, L * t - (L - 1) * c)


# Measured by `calibrate()` on the course model, float32, 1 thread, the course's 2-core CPU machine
# under load (prefill of 16..448 tokens: 23..140 ms; a decode step of 1..16 sequences: 20..90 ms:
# the paged attention of the course engine loops over sequences in Python).
COURSE_COSTS = Costs(prefill_a=1.9e-2, prefill_b=2.7e-4, prefill_c=2.0e-8,
                     decode_a=1.6e-2, decode_b=4.0e-3, decode_c=9.0e-6,
                     kv_bytes_per_token=2 * 4 * 2 * 32 * 4, num_layers=4)


@dataclasses.dataclass(frozen=True)
class Request:
    """One simulated request: when it arrives and how many tokens go in and come out."""

    arrival: float
    prompt_len: int
    output_len: int


def bursty_workload(num_requests: int, rate: float, prompt_len=(32, 448), output_len=(8, 64),
                    burstiness: float = 4.0, seed: int = 0) -> list[Request]:
    """Requests arriving at `rate` per second on average, in bursts: gamma gaps with CV^2 = `burstiness`.

    burstiness 1 is a Poisson process; larger values bunch arrivals together. Lengths are uniform
    integers in the given inclusive ranges.
    """
    rng = random.Random(seed)
    shape = 1.0 / burstiness
    t, out = 0.0, []
    for _ in range(num_requests):
        out.append(Request(t, rng.randint(*prompt_len), rng.randint(*output_len)))
        t += rng.gammavariate(shape, 1.0 / (rate * shape))
    return out


# ----------------------------------------------------------------------------- the servers


class _Seq:
    __slots__ = ("req", "cached", "times")

    def __init__(self, req: Request):
        self.req, self.cached, self.times = req, 0, []

    @property
    def prefilling(self) -> bool:
        return self.cached < self.req.prompt_len


class _Worker:
    """One engine: waiting and running sequences, busy until `free_at`."""

    def __init__(self, idx: int):
        self.idx, self.waiting, self.running, self.busy = idx, [], [], False

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.running)


class _Sim:
    def __init__(self, costs: Costs):
        self.costs, self.events, self.n = costs, [], 0

    def at(self, t: float, fn, *args) -> None:
        self.n += 1
        heapq.heappush(self.events, (t, self.n, fn, args))

    def run(self) -> None:
        while self.events:
            t, _, fn, args = heapq.heappop(self.events)
            fn(t, *args)


def _colocated(requests, num_workers: int, chunk_size: int, costs: Costs) -> list[_Seq]:
    sim, workers = _Sim(costs), [_Worker(i) for i in range(num_workers)]
    seqs = [_Seq(r) for r in requests]

    def arrive(t, s):
        w = min(workers, key=lambda w: (w.load, w.idx))
        w.waiting.append(s)
        if not w.busy:
            step(t, w)

    def step(t, w):
        while w.waiting and len(w.running) < costs.max_batch:
            w.running.append(w.waiting.pop(0))
        decodes = [s for s in w.running if not s.prefilling][:chunk_size]
        budget = chunk_size - len(decodes)
        chunks = []
        for s in w.running:
            if s.prefilling and budget > 0:
                n = min(s.req.prompt_len - s.cached, budget)
                chunks.append((s, n))
                budget -= n
        if not decodes and not chunks:
            w.busy = False
            return
        w.busy = True
        ctx = sum(s.req.prompt_len + len(s.times) for s in decodes)
        dt = costs.mixed_time([(s.cached, n) for s, n in chunks], len(decodes), ctx)
        sim.at(t + dt, finish, w, decodes, chunks)

    def finish(t, w, decodes, chunks):
        for s in decodes:
            s.times.append(t)
        for s, n in chunks:
            s.cached += n
            if not s.prefilling:
                s.times.append(t)
        w.running = [s for s in w.running if len(s.times) < s.req.output_len]
        step(t, w)

    for s in seqs:
        sim.at(s.req.arrival, arrive, s)
    sim.run()
    return seqs


def _disaggregated(requests, num_prefill: int, num_decode: int, chunk_size: int, costs: Costs) -> list[_Seq]:
    sim = _Sim(costs)
    pre, dec = [_Worker(i) for i in range(num_prefill)], [_Worker(i) for i in range(num_decode)]
    seqs = [_Seq(r) for r in requests]

    def arrive(t, s):
        w = min(pre, key=lambda w: (w.load, w.idx))
        w.waiting.append(s)
        if not w.busy:
            prefill_step(t, w)

    def prefill_step(t, w):
        batch, total = [], 0
        while w.waiting and (not batch or total + w.waiting[0].req.prompt_len <= chunk_size):
            s = w.waiting.pop(0)
            batch.append(s)
            total += s.req.prompt_len
        if not batch:
            w.busy = False
            return
        w.busy = True
        w.running = batch
        dt = costs.prefill_time([(0, s.req.prompt_len) for s in batch])
        sim.at(t + dt, prefill_done, w, batch, dt)

    def prefill_done(t, w, batch, dt):
        w.running = []
        for s in batch:
            s.cached = s.req.prompt_len
            s.times.append(t)  # the prefill produces the first token
            if s.req.output_len > 1:
                sim.at(t + costs.transfer_time(s.req.prompt_len, dt), kv_arrives, s)
        prefill_step(t, w)

    def kv_arrives(t, s):
        w = min(dec, key=lambda w: (w.load, w.idx))
        w.waiting.append(s)
        if not w.busy:
            decode_step(t, w)

    def decode_step(t, w):
        while w.waiting and len(w.running) < costs.max_batch:
            w.running.append(w.waiting.pop(0))
        if not w.running:
            w.busy = False
            return
        w.busy = True
        ctx = sum(s.req.prompt_len + len(s.times) for s in w.running)
        batch = list(w.running)
        sim.at(t + costs.decode_time(len(batch), ctx), decode_done, w, batch)

    def decode_done(t, w, batch):
        for s in batch:
            s.times.append(t)
        w.running = [s for s in w.running if len(s.times) < s.req.output_len]
        decode_step(t, w)

    for s in seqs:
        sim.at(s.req.arrival, arrive, s)
    sim.run()
    return seqs


def _check_plan(plan: dict) -> tuple:
    if not isinstance(plan, dict) or plan.get("mode") not in ("colocated", "disaggregated"):
        raise ValueError(f"plan must be a dict with mode 'colocated' or 'disaggregated', got {plan!r}")
    chunk = plan.get("chunk_size")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"plan['chunk_size'] must be an int >= 1, got {chunk!r}")
    keys = ("num_workers",) if plan["mode"] == "colocated" else ("num_prefill", "num_decode")
    for k in keys:
        v = plan.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"plan[{k!r}] must be an int >= 1 for mode {plan['mode']!r}, got {v!r}")
    return (plan["mode"], chunk, *(plan[k] for k in keys))


def simulate(requests, plan: dict, costs: Costs = COURSE_COSTS) -> list[dict]:
    """Serve `requests` under `plan`; return one lab06 request record per request, in order.

    plan: {"mode": "colocated", "num_workers": n, "chunk_size": c} or
          {"mode": "disaggregated", "num_prefill": p, "num_decode": d, "chunk_size": c}.
    """
    mode, chunk, *sizes = _check_plan(plan)
    reqs = [r if isinstance(r, Request) else Request(*r) for r in requests]
    for r in reqs:
        if r.prompt_len < 1 or r.output_len < 1:
            raise ValueError(f"requests need prompt_len and output_len >= 1, got {r}")
    if mode == "colocated":
        seqs = _colocated(reqs, sizes[0], chunk, costs)
    else:
        seqs = _disaggregated(reqs, sizes[0], sizes[1], chunk, costs)
    return [{"arrival": s.req.arrival, "token_times": list(s.times)} for s in seqs]


def plan_workers(plan: dict) -> int:
    """Workers (GPUs) a plan uses."""
    mode, _, *sizes = _check_plan(plan)
    return sum(sizes)


def all_plans(num_workers: int, chunk_sizes) -> list[dict]:
    """Every plan on `num_workers` workers: colocated, and each prefill:decode split, for each chunk size."""
    plans = []
    for c in chunk_sizes:
        plans.append({"mode": "colocated", "num_workers": num_workers, "chunk_size": c})
        for p in range(1, num_workers):
            plans.append({"mode": "disaggregated", "num_prefill": p, "num_decode": num_workers - p, "chunk_size": c})
    return plans


# ----------------------------------------------------------------------------- calibration


def _fit(rows, ys) -> list[float]:
    """Least squares, non-negative by clipping (tiny systems: normal equations are enough)."""
    import torch

    A = torch.tensor(rows, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    sol = torch.linalg.lstsq(A, y[:, None]).solution[:, 0]
    return [max(float(v), 0.0) for v in sol]


def calibrate(model=None, prompt_lens=(16, 64, 128, 256, 448), batches=(1, 4, 16), contexts=(32, 256),
              repeats: int = 3, block_size: int = 16) -> Costs:
    """Measure the course model on this machine and fit a Costs (best of `repeats` per point)."""
    import time

    import torch

    from inferlab.engine.block_manager import BlockManager
    from inferlab.engine.kv_cache import KVCache
    from inferlab.engine.model_runner import ModelRunner
    from inferlab.engine.sequence import Sequence
    from inferlab.models import load

    model = model or load("target")
    cfg = model.config

    def best(fn):
        out = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out = min(out, time.perf_counter() - t0)
        return out

    rows, ys = [], []
    with torch.no_grad():
        for L in prompt_lens:
            ids = torch.randint(0, cfg.vocab_size, (1, L))
            ys.append(best(lambda: model(ids)))
            rows.append([1.0, L, L * L])
        pa, pb, pc = _fit(rows, ys)
        rows, ys = [], []
        for B in batches:
            for ctx in contexts:
                nb = B * (-(-(ctx + 1) // block_size))
                kv = KVCache.for_model(cfg, nb, block_size)
                bm, runner = BlockManager(nb, block_size), ModelRunner(model, kv)
                seqs = []
                for i in range(B):
                    s = Sequence(i, [1] * (ctx + 1), 1)
                    bm.allocate(s, ctx + 1)
                    s.num_cached_tokens = ctx
                    seqs.append(s)
                ids, pos, info = runner.prepare([(s, 1) for s in seqs])
                ys.append(best(lambda: runner.forward(ids, pos, info)))
                rows.append([1.0, B, B * ctx])
        da, db, dc = _fit(rows, ys)
    kv_bytes = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * 4
    return Costs(pa, pb, pc, da, db, dc, kv_bytes, cfg.num_layers)
