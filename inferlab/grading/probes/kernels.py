"""Triton kernels measured: the instrumented interpreter's bytes, FLOPs and out-of-bounds lanes.

`traced(ns, name, *args)` calls a submission's kernel wrapper under `inferlab.memtrace` and
returns its result with a plain summary of what it moved; `TraceSummary` reads it in the grader.
"""
from __future__ import annotations

import torch

from inferlab.grading.probes.integrity import tampered_names


def warm_interpreter() -> None:
    """Run one tiny kernel so the interpreter's lazy pieces load before the sandbox closes."""
    import triton
    import triton.language as tl

    @triton.jit
    def _copy(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        m = offs < n
        tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m) + 0, mask=m)

    x = torch.arange(4, dtype=torch.float32)
    y = torch.empty_like(x)
    _copy[(1,)](x, y, 4, BLOCK=8)
    try:
        import inferlab.memtrace as mt

        with mt.trace():
            _copy[(1,)](x, y, 4, BLOCK=8)
    except Exception:  # noqa: BLE001
        pass


def _tensors(value, out):
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors(v, out)
    return out


class _LaunchSnapshots:
    """Wrap the interpreter's launch to keep, after each launch, a copy of every tensor argument."""

    def __init__(self) -> None:
        self.snaps: list[torch.Tensor] = []
        self.launches = 0

    def __enter__(self):
        from triton.runtime import interpreter

        self.cls = interpreter.GridExecutor
        self.orig = self.cls.__call__
        snaps = self

        def call(executor, *args, **kwargs):
            out = snaps.orig(executor, *args, **kwargs)
            snaps.launches += 1
            for a in list(args) + list(kwargs.values()):
                if isinstance(a, torch.Tensor) and a.numel() and len(snaps.snaps) < 64:
                    snaps.snaps.append(a.detach().clone())
            return out

        self.wrapper = call
        self.cls.__call__ = call
        return self

    def __exit__(self, *exc):
        intact = self.cls.__call__ is self.wrapper
        self.cls.__call__ = self.orig
        self.intact = intact
        return False


def _produced_by_kernel(result: torch.Tensor, snaps: list[torch.Tensor]) -> bool:
    """Does the returned tensor hold exactly what some kernel launch left in one of its arguments?"""
    flat = result.detach().reshape(-1)
    for s in reversed(snaps):
        if s.numel() != result.numel():
            continue
        c = s.reshape(-1)
        c = c.to(result.dtype) if c.dtype != result.dtype else c
        if torch.equal(c, flat) or (flat.is_floating_point() and torch.equal(
                torch.nan_to_num(c.float(), nan=1.5e38), torch.nan_to_num(flat.float(), nan=1.5e38))):
            return True
    return False


def traced(ns, name: str, *args, **kwargs) -> dict:
    """Call `ns[name]` under the instrumented interpreter; return its result and what it moved."""
    import inferlab.memtrace as mt

    fn = ns.get(name)
    if fn is None:
        raise NameError(f"the submission does not define `{name}`")
    inputs = _tensors((args, kwargs), [])
    before = tampered_names()
    with mt.trace(on_oob="record") as t:
        with _LaunchSnapshots() as snaps:
            result = fn(*args, **kwargs)
    outs = _tensors(result, [])
    summary = {
        "launches": [
            {"kernel": str(getattr(l, "name", "?")), "num_programs": int(getattr(l, "num_programs", 0) or 0),
             "args": {str(k): {"bytes_loaded": int(a.bytes_loaded), "bytes_stored": int(a.bytes_stored),
                               "nbytes": int(getattr(a, "nbytes", 0) or 0)}
                      for k, a in getattr(l, "args", {}).items()}}
            for l in t.launches],
        "bytes_loaded": int(t.bytes_loaded),
        "bytes_stored": int(t.bytes_stored),
        "dot_flops": int(getattr(t, "dot_flops", 0) or 0),
        "oob": [str(e) for e in list(getattr(t, "oob", []))[:5]],
        "oob_count": len(getattr(t, "oob", [])),
        "input_loaded": [int(t.loaded_from(x)) for x in inputs],
        "input_nbytes": [int(x.numel() * x.element_size()) for x in inputs],
        "result_stored": [int(t.stored_to(x)) for x in outs],
        "result_nbytes": [int(x.numel() * x.element_size()) for x in outs],
        "result_from_kernel": [_produced_by_kernel(x, snaps.snaps) for x in outs],
        "tampered": bool(before or tampered_names() or not snaps.intact),
        "tampered_names": (before or tampered_names())[:10],
        "summary": t.summary() if hasattr(t, "summary") else "",
    }
    return {"result": result, "trace": summary}


class TraceSummary:
    """What a traced call moved, as plain numbers (built from `traced`'s dict)."""

    def __init__(self, data: dict) -> None:
        self.data = data
        for k, v in data.items():
            setattr(self, k, v)

    @classmethod
    def checked(cls, data: dict) -> "TraceSummary":
        """The summary, or a CheckFailure when the measuring code was replaced during the call."""
        from inferlab.grading.asserts import CheckFailure

        if data.get("tampered"):
            names = ", ".join(data.get("tampered_names") or []) or "the interpreter's launch"
            raise CheckFailure(f"the measuring code was modified while the call ran ({names}): "
                               "nothing measured in this call can be graded")
        return cls(data)

    @property
    def num_launches(self) -> int:
        return len(self.launches)

    def kernel_made_outputs(self) -> bool:
        """At least one Triton launch ran and every returned tensor holds what a kernel stored."""
        return self.num_launches > 0 and bool(self.result_from_kernel) and all(self.result_from_kernel) \
            and not self.tampered

    def __repr__(self) -> str:
        return (f"TraceSummary(launches={self.num_launches}, loaded={self.bytes_loaded} B, "
                f"stored={self.bytes_stored} B, dot_flops={self.dot_flops}, oob={self.oob_count})")
