"""Timing harnesses and load generators run against work of known cost (lab09).

Each probe builds the instrumented objects of `inferlab.testbench` here, in the
submission's process, calls the submission's function on them and returns plain data:
the function's result and the counts the grader trusts (calls made, synchronisations,
the server's log of submits and steps).
"""
from __future__ import annotations

import torch

from inferlab.testbench import SimulatedDevice, SleepPattern, ToyServer, VirtualClock, audit_durations


def _plain(out):
    return dict(out) if isinstance(out, dict) else out


def bench_calls(ns, seconds, warmup=None, rep=None) -> dict:
    """`bench(SleepPattern(seconds), warmup, rep)` (defaults when None) -> {"result", "calls"}."""
    fn = SleepPattern(seconds)
    kwargs = {k: v for k, v in (("warmup", warmup), ("rep", rep)) if v is not None}
    out = ns["bench"](fn, **kwargs)
    return {"result": _plain(out), "calls": fn.calls}


def bench_refused(ns, fn_is_callable: bool, kwargs: dict) -> dict:
    """Call bench with bad arguments; report the exception and how many times fn ran."""
    fn = SleepPattern([0.0])
    try:
        ns["bench"](fn if fn_is_callable else 42, **kwargs)
    except Exception as e:  # noqa: BLE001 - the submission may raise anything
        return {"raised": [k.__name__ for k in type(e).__mro__], "message": str(e), "calls": fn.calls}
    return {"raised": None, "message": "", "calls": fn.calls}


def has_cuda(ns) -> bool:
    return torch.cuda.is_available()


def bench_cuda(ns, cycles: int) -> dict:
    """bench of a kernel that spins the GPU for `cycles`, and the same kernel timed by CUDA events."""
    def fn():
        torch.cuda._sleep(cycles)  # returns at once; the GPU spins

    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    out = ns["bench"](fn, warmup=2, rep=10)
    return {"result": _plain(out), "event_s": start.elapsed_time(end) / 1e3}


def flaw_names(ns, name: str) -> list:
    """The strings of the set/list/tuple that `ns[name]()` returns, sorted (lab09's audit_flaws)."""
    value = ns[name]()
    if not isinstance(value, (set, frozenset, list, tuple)) or not all(isinstance(x, str) for x in value):
        raise TypeError(f"{name}() must return a set of strings, got {type(value).__name__}")
    return sorted(set(value))


def audit(ns, name: str, seed: int, warmup: int, rep: int, records: list) -> dict:
    """The submission's fixed harness on a SimulatedDevice: its report and the device's counts."""
    dev = SimulatedDevice(audit_durations(seed, warmup + rep, cold=warmup))
    out = ns[name](dev, dev.kernel, records, warmup=warmup, rep=rep)
    return {"result": _plain(out), "calls": dev.calls, "syncs": dev.syncs,
            "durations": dev.durations, "launch_s": dev.launch_s}


def load_test(ns, prompts, arrivals, max_new_tokens: int, start: float, use_model: bool) -> dict:
    """The submission's load_test against a ToyServer on a VirtualClock that starts at `start`."""
    model = None
    if use_model:
        from inferlab import models

        model = models.load("target")
    clock = VirtualClock(start)
    server = ToyServer(model, clock)
    records = ns["load_test"](server, clock, prompts, arrivals, max_new_tokens)
    if isinstance(records, (list, tuple)):
        records = [_plain(r) for r in records]
    return {"records": records, "log": server.log,
            "tokens": [server.requests[r]["tokens"] for r in sorted(server.requests)]}
