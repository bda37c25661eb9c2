"""What every benchmark shares: the lab's reference, honest timing, GB/s and TFLOP/s lines, the card.

    from benchmarks.common import load_solution, bench, card, perf_line   # PYTHONPATH=. (the repository root)
    ns = load_solution("lab03")                       # the reference's code cells, run into a namespace
    t = bench(lambda: ns["paged_attention"](...))     # {"median", "p10", "p90", "host", "times"} seconds
    # 1 read of K and V: B * L * H_kv * D * 2 (K and V) * 2 bytes (fp16)
    print(perf_line("paged", t, nbytes=kv_bytes))

Only the standard library, torch and (for the kernels) Triton are needed: the lab's percent
source `solutions/labNN/labNN.src.py` is read directly (no nbformat, no built notebook), so
the benchmarks run on a bare GPU machine with `PYTHONPATH=.`.

Timing rules (the same as lab09's graded `bench`):
- warm-up calls first (compilation, autotuning, allocator and communicator set-up stay out);
- on a GPU each repetition is bracketed by CUDA events on the current stream and read after
  one synchronisation at the end; on the CPU a wall clock around a synchronised call;
- `flush_l2=True` writes a buffer larger than the L2 cache between repetitions (outside the
  events), so a kernel that re-reads its inputs does not time the cache;
- the summary is the median and the 10th/90th percentiles (linear interpolation, numpy's
  default) of the repetitions; `host` is the median time for the call to *return* on the host
  (no synchronisation): when it exceeds the GPU time, the GPU waits for Python.
Whoever times a function that users call times it exactly as they call it (argument checks
included); a kernel-only figure may sit beside it, never in its place.
"""
from __future__ import annotations

import linecache
import re
import shlex
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
_MARKER = re.compile(r"^# %%(?:\s+\[(?P<head>[^\]]*)\])?\s*$")


# ----------------------------------------------------------------------------- the lab's reference


def solution_cells(lab: str, root: Path = ROOT) -> list[str]:
    """The code cells of `solutions/<lab>/<lab>.src.py`, test cells and markdown left out, in order."""
    text = (Path(root) / "solutions" / lab / f"{lab}.src.py").read_text(encoding="utf-8")
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            words = [w for w in shlex.split(m.group("head") or "") if "=" not in w and w != "locked"]
            cells.append((words[0] if words else "code", []))
        elif cells:
            cells[-1][1].append(line)
    return ["\n".join(lines).strip("\n") for kind, lines in cells if kind in ("code", "solution")]


def load_solution(lab: str, root: Path = ROOT) -> dict:
    """Run the reference's code cells into a fresh namespace (as the grader reads a notebook); return it."""
    ns: dict = {"__name__": f"{lab}_solution"}  # not __main__: the lab's demo cells stay quiet
    for i, src in enumerate(solution_cells(lab, root)):
        name = f"<{lab} cell {i}>"
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)  # inspect (@triton.jit) finds it
        exec(compile(src, name, "exec"), ns)  # noqa: S102 - the course's own reference
    return ns


# ----------------------------------------------------------------------------- the machine


def card(device=None) -> str:
    """The accelerator's name ('NVIDIA H200'), or 'CPU'."""
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        return torch.cuda.get_device_name(device)
    return "CPU"


def versions() -> str:
    """'torch 2.11.0 · triton 3.6.0' (Triton only when it imports)."""
    out = f"torch {torch.__version__}"
    try:
        import triton

        out += f" · triton {triton.__version__}"
    except Exception:  # noqa: BLE001 - a CPU-only environment may lack it
        pass
    return out


def header(title: str, device=None) -> str:
    """One line naming what is measured, the card and the software."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    where = f"{card(device)}" + (f" (x{n} on this host)" if n > 1 else "")
    return f"{title} · {where} · {versions()}"


# ----------------------------------------------------------------------------- timing


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics (numpy's default)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(times: list[float], host: list[float] | None = None) -> dict:
    """{"median", "p10", "p90", "host", "times"} of per-repetition seconds."""
    return {"median": percentile(times, 50), "p10": percentile(times, 10), "p90": percentile(times, 90),
            "host": percentile(host, 50) if host else float("nan"), "times": list(times)}


_L2_FLUSH: dict = {}


def _flush_buffer(device) -> torch.Tensor:
    """256 MiB on `device`: larger than any current GPU's L2 (H100/H200: 50 MiB, B200: 126 MiB)."""
    key = str(device)
    if key not in _L2_FLUSH:
        _L2_FLUSH[key] = torch.empty(256 << 20, dtype=torch.int8, device=device)
    return _L2_FLUSH[key]


def bench(fn, warmup: int = 3, rep: int = 20, flush_l2: bool = False, device=None) -> dict:
    """Seconds per call of `fn()`: median, p10, p90 over `rep` repetitions after `warmup` calls.

    GPU (`device` CUDA, or CUDA available and `device` None): CUDA events on the current stream
    around each call, read after one synchronisation at the end; CPU: a wall clock around each call.
    """
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for _ in range(warmup):
        fn()
    if dev.type != "cuda":
        times = []
        for _ in range(rep):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return summary(times, times)
    torch.cuda.synchronize(dev)
    buf = _flush_buffer(dev) if flush_l2 else None
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(rep)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(rep)]
    host = []
    for i in range(rep):
        if buf is not None:
            buf.zero_()
        starts[i].record()
        t0 = time.perf_counter()
        fn()
        host.append(time.perf_counter() - t0)
        ends[i].record()
    torch.cuda.synchronize(dev)
    return summary([s.elapsed_time(e) * 1e-3 for s, e in zip(starts, ends)], host)


def device_time(fn, warmup: int = 3, rep: int = 20, device=None, hold_s: float = 2e-3, before=None) -> dict:
    """Seconds of GPU work per call with the host's cost hidden: each call is enqueued behind a
    `hold_s` spin kernel, so the whole call is queued before the GPU reaches its start event.
    What the call would take if launching it cost nothing (a CUDA graph's replay comes close);
    a figure to set beside `bench`, never instead of it. CPU: the same as `latency`.
    `before()` runs untimed before each call (e.g. a barrier, so ranks start together)."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type != "cuda":
        return latency(fn, warmup, rep, device=dev, before=before)
    for _ in range(warmup):
        fn()
    khz = getattr(torch.cuda.get_device_properties(dev), "clock_rate", 0) or 2_000_000  # SM clock, kHz
    cycles = int(hold_s * khz * 1e3)
    times = []
    for _ in range(rep):
        torch.cuda.synchronize(dev)
        if before is not None:
            before()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(cycles)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(dev)
        times.append(start.elapsed_time(end) * 1e-3)
    return summary(times)


def latency(fn, warmup: int = 3, rep: int = 20, device=None, before=None) -> dict:
    """Seconds per *isolated* call: synchronise, start a wall clock, call, synchronise, stop.

    The time a caller waits for one result when nothing else is queued: host overhead, launch and
    synchronisation included (what a decode step pays when it needs the answer at once).
    `before()` runs untimed before each call (e.g. a barrier, so ranks start together).
    """
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rep):
        sync()
        if before is not None:
            before()
            sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return summary(times)


# ----------------------------------------------------------------------------- units and lines


def gbps(nbytes: float, seconds: float) -> float:
    """GB/s (10^9 bytes per second)."""
    return nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def tflops(flops: float, seconds: float) -> float:
    """TFLOP/s (10^12 floating-point operations per second)."""
    return flops / seconds / 1e12 if seconds > 0 else float("nan")


def perf_line(label: str, t: dict, nbytes: float | None = None, flops: float | None = None,
              ceiling_gbps: float | None = None, ceiling_tflops: float | None = None) -> str:
    """'label | 1.234 ms [1.2-1.3] | 812.3 GB/s (17% of 4800) | 101.2 TFLOP/s' (median time, p10-p90)."""
    med = t["median"]
    parts = [f"{label} | {med * 1e3:9.4f} ms [{t['p10'] * 1e3:.4f}-{t['p90'] * 1e3:.4f}]"]
    if nbytes is not None:
        s = f"{gbps(nbytes, med):9.1f} GB/s"
        if ceiling_gbps:
            s += f" ({gbps(nbytes, med) / ceiling_gbps:5.1%} of {ceiling_gbps:.0f})"
        parts.append(s)
    if flops is not None:
        s = f"{tflops(flops, med):8.1f} TFLOP/s"
        if ceiling_tflops:
            s += f" ({tflops(flops, med) / ceiling_tflops:5.1%} of {ceiling_tflops:.0f})"
        parts.append(s)
    return " | ".join(parts)


def copy_bandwidth(device="cuda", nbytes: int = 1 << 30) -> float:
    """The card's measured memory ceiling: bytes read + written per second by a device-to-device copy."""
    src = torch.empty(nbytes // 2, dtype=torch.float16, device=device)
    dst = torch.empty_like(src)
    t = bench(lambda: dst.copy_(src), warmup=3, rep=20, device=device)
    # 1 read and 1 write of every byte
    return 2 * src.numel() * src.element_size() / t["median"]
