"""A test bench for measurement code: clocks, an asynchronous device, a toy server.

Benchmarks and load generators are code too, and they are wrong more often than
the kernels they time. To check them we need work whose true cost is known:

    clock = VirtualClock()                       # time moves only when told to
    dev = SimulatedDevice(durations=[...])       # a GPU-like queue on that kind of clock
    step = dev.kernel                            # returns at once; the work runs "on the device"
    t0 = dev.clock(); step(); dev.synchronize(); t1 = dev.clock()   # t1 - t0 = launch + duration
    server = ToyServer(model, VirtualClock())    # the course model behind a FCFS queue

How it works: `SimulatedDevice` keeps a virtual "now" and the time its queue
drains; a launch costs `launch_s` of host time and queues the next duration, a
`synchronize()` moves "now" to the end of the queue. A harness that reads the
clock without synchronising therefore measures the launch, exactly as wall clock
around an asynchronous CUDA launch does. `ToyServer` runs real greedy generation
with a KV cache, one step at a time (a waiting request's prefill first, else one
decode token for every running request); on a `VirtualClock` each step advances
the clock by a fixed cost model, so a load test's records are a pure function of
the arrival times, on a real clock they are real times.

Limits: one stream, no overlap of host and device beyond the queue, no clock
boost or caches. `RealDevice` and `RealClock` are the same interfaces over
`time.perf_counter` (and `torch.cuda.synchronize` on a GPU).
"""
from __future__ import annotations

import math
import time

import torch

__all__ = ["VirtualClock", "RealClock", "SimulatedDevice", "RealDevice", "ToyServer", "SleepPattern",
           "audit_durations"]


# ----------------------------------------------------------------------------- clocks


class VirtualClock:
    """Seconds that pass only through `sleep` or `advance`."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._t += seconds

    def sleep_until(self, t: float) -> None:
        """Move to time t (no-op when t has passed)."""
        self._t = max(self._t, float(t))

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


class RealClock:
    """`time.perf_counter` and `time.sleep` behind the VirtualClock interface."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        time.sleep(seconds)

    def sleep_until(self, t: float) -> None:
        """Sleep until perf_counter() reaches t (no-op when t has passed)."""
        delay = t - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    def advance(self, seconds: float) -> None:  # the real clock advances by itself
        pass


# ----------------------------------------------------------------------------- devices


class SimulatedDevice:
    """An asynchronous device on a virtual clock: `kernel()` queues the next duration and returns."""

    def __init__(self, durations, launch_s: float = 5e-6) -> None:
        self.durations = [float(d) for d in durations]
        if not self.durations or min(self.durations) < 0:
            raise ValueError("durations must be a non-empty list of seconds >= 0")
        self.launch_s = float(launch_s)
        self._now = 0.0
        self._queue_end = 0.0
        self.calls = 0
        self.syncs = 0
        self.log: list[tuple[float, float]] = []  # (start, end) on the device, per kernel

    def clock(self) -> float:
        """Host time now (seconds)."""
        return self._now

    def synchronize(self) -> None:
        """Wait (in virtual time) until every queued kernel has finished."""
        self.syncs += 1
        self._now = max(self._now, self._queue_end)

    def kernel(self) -> None:
        """Launch the next kernel: costs launch_s of host time, runs durations[i] on the device."""
        dur = self.durations[self.calls % len(self.durations)]
        self.calls += 1
        self._now += self.launch_s
        start = max(self._now, self._queue_end)
        self._queue_end = start + dur
        self.log.append((start, self._queue_end))

    __call__ = kernel


class RealDevice:
    """The same interface on this machine: perf_counter, and torch.cuda.synchronize on a GPU."""

    def __init__(self) -> None:
        self.cuda = torch.cuda.is_available()

    def clock(self) -> float:
        return time.perf_counter()

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def audit_durations(seed: int, n: int, cold: int = 3) -> list[float]:
    """Per-call kernel seconds: `cold` slow first calls, then ~1 ms with a seeded 20% of 8-12 ms outliers."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 3, generator=g, dtype=torch.float64).tolist()
    out = []
    for i, (a, b, c) in enumerate(u):
        if i < cold:
            out.append(0.040 + 0.010 * a)  # compilation, cold caches, clocks ramping up
        elif b < 0.2:
            out.append(0.008 + 0.004 * c)  # another process, a page fault, a clock dip
        else:
            out.append(0.001 * (0.95 + 0.1 * a))
    return out


class SleepPattern:
    """A callable for timing harnesses: call i sleeps `seconds[i]` (the last value repeats); counts calls."""

    def __init__(self, seconds) -> None:
        self.seconds = [float(s) for s in seconds]
        self.calls = 0

    def __call__(self) -> None:
        s = self.seconds[min(self.calls, len(self.seconds) - 1)]
        self.calls += 1
        if s > 0:
            time.sleep(s)


# ----------------------------------------------------------------------------- a toy server


class ToyServer:
    """The course model behind a first-come-first-served queue, one step at a time.

    `submit(prompt_ids, max_new_tokens) -> request id`; `has_work()`; `step() -> [(rid, token)]`
    runs one step: the oldest waiting request's prefill (its first token) when one waits,
    else one decode token for every running request. On a VirtualClock a step advances the
    clock by `prefill_s + prefill_per_token_s * len(prompt)` or `decode_s + decode_per_seq_s * batch`.
    With `model=None` the tokens are a fixed function of the prompt (timing-only runs).
    """

    def __init__(self, model=None, clock=None, *, prefill_s: float = 0.004, prefill_per_token_s: float = 0.0002,
                 decode_s: float = 0.002, decode_per_seq_s: float = 0.0005) -> None:
        self.model = model
        self.clock = clock if clock is not None else RealClock()
        self.costs = (prefill_s, prefill_per_token_s, decode_s, decode_per_seq_s)
        self.waiting: list[int] = []
        self.running: list[int] = []
        self.requests: dict[int, dict] = {}
        self.log: list[dict] = []  # one entry per submit and per step, with clock times

    # -- the interface a load generator uses
    def submit(self, prompt_ids, max_new_tokens: int) -> int:
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise ValueError("prompt_ids must hold at least one token")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        rid = len(self.requests)
        self.requests[rid] = {"prompt": prompt, "max_new_tokens": max_new_tokens, "tokens": [], "cache": None}
        self.waiting.append(rid)
        self.log.append({"op": "submit", "rid": rid, "time": self.clock.now()})
        return rid

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def step(self) -> list[tuple[int, int]]:
        if not self.has_work():
            raise RuntimeError("step() with no request waiting or running")
        t0 = self.clock.now()
        p_s, p_tok, d_s, d_seq = self.costs
        if self.waiting:
            rid = self.waiting.pop(0)
            req = self.requests[rid]
            events = [(rid, self._next_token(req))]
            cost = p_s + p_tok * len(req["prompt"])
            self.running.append(rid)
        else:
            events = [(rid, self._next_token(self.requests[rid])) for rid in self.running]
            cost = d_s + d_seq * len(self.running)
        self.running = [r for r in self.running
                        if len(self.requests[r]["tokens"]) < self.requests[r]["max_new_tokens"]]
        self.clock.advance(cost)
        self.log.append({"op": "step", "start": t0, "end": self.clock.now(), "rids": [r for r, _ in events]})
        return events

    # -- generation: greedy with a per-request KV cache
    @torch.no_grad()
    def _next_token(self, req: dict) -> int:
        if self.model is None:
            seq = req["prompt"] + req["tokens"]
            token = (sum(seq) * 31 + len(seq)) % 512
        else:
            token = self._model_token(req)
        req["tokens"].append(token)
        return token

    def _model_token(self, req: dict) -> int:
        model = self.model
        seq = req["prompt"] + req["tokens"]
        cached = 0 if req["cache"] is None else req["cache"][0][0].shape[2]
        ids = torch.tensor([seq[cached:]], dtype=torch.long)  # (1, T): the prompt, then one token
        positions = torch.arange(cached, len(seq))  # (T,)
        x = model.embed(ids)  # (1, T, C)
        cache = req["cache"] or [None] * len(model.layers)
        for i, layer in enumerate(model.layers):
            q, k, v = layer.qkv(x, positions)  # (1, H, T, D), (1, H_kv, T, D) x2
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], dim=2)  # (1, H_kv, cached + T, D)
                v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            group = q.shape[1] // k.shape[1]
            kk = k.repeat_interleave(group, dim=1)  # (1, H, cached + T, D)
            vv = v.repeat_interleave(group, dim=1)
            T, S = q.shape[2], kk.shape[2]
            mask = torch.arange(S)[None, :] <= torch.arange(T)[:, None] + (S - T)  # (T, S)
            s = (q @ kk.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (1, H, T, S)
            attn = torch.softmax(s.masked_fill(~mask, -math.inf), dim=-1) @ vv  # (1, H, T, D)
            x = layer.finish(x, attn)  # (1, T, C)
        req["cache"] = cache
        return int(torch.argmax(model.logits(x)[0, -1]))
