"""Trusted course code that runs beside the submission: look-ups and measurements.

Each probe is `f(namespace, *args)` and returns plain data. The grader calls them
through `sub.probe(...)` (in the sandboxed child) and a learner's kernel calls the
same functions directly, so the two front doors measure alike.
"""
from __future__ import annotations

import torch


def has_name(ns, name: str) -> bool:
    return name in ns


def mro_names(ns, name: str) -> list[str]:
    obj = ns.get(name)
    if not isinstance(obj, type):
        raise TypeError(f"`{name}` should be a class, got {type(obj).__name__}")
    return [k.__name__ for k in obj.__mro__]


def as_list(obj) -> list:
    return list(obj)


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


_SEAL: dict | None = None


def _watched() -> dict:
    """Every object a measurement relies on, by name, so that a replacement shows."""
    import triton.runtime.interpreter as interp

    import inferlab.memtrace as mt

    out = {}
    for owner_name, owner in (("memtrace", mt), ("probes", __import__(__name__, fromlist=["x"])),
                              ("Trace", mt.Trace), ("Launch", mt.Launch), ("ArgStats", mt.ArgStats),
                              ("GridExecutor", interp.GridExecutor),
                              ("InterpreterBuilder", getattr(interp, "InterpreterBuilder", object))):
        for k, v in list(vars(owner).items()):
            if owner_name in ("memtrace", "probes") and not callable(v) and not isinstance(v, type):
                continue
            out[f"{owner_name}.{k}"] = id(v)
    try:
        import inferlab.models.llama as llama

        for cname, cls in vars(llama).items():
            if isinstance(cls, type) and cls.__module__ == llama.__name__:
                for k, v in list(vars(cls).items()):
                    out[f"models.{cname}.{k}"] = id(v)
    except ImportError:  # pragma: no cover - the model is optional for kernels-only labs
        pass
    for k in ("equal", "nan_to_num", "as_tensor"):
        out[f"torch.{k}"] = id(getattr(torch, k))
    for k in ("clone", "reshape", "to", "float", "data_ptr", "numel", "element_size", "stride", "detach",
              "permute", "dim", "__eq__"):
        out[f"Tensor.{k}"] = id(getattr(torch.Tensor, k))
    return out


def seal() -> None:
    """Remember the measuring code as it is before a submission runs (called by the grader's child)."""
    global _SEAL
    _SEAL = _watched()


def tampered_names() -> list[str]:
    """Names of measuring code replaced since `seal()`."""
    if _SEAL is None:
        return []
    now = _watched()
    return sorted(k for k, v in _SEAL.items() if now.get(k) != v)


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


def _span(t: torch.Tensor) -> tuple[int, int]:
    start = t.data_ptr()
    if t.numel() == 0:
        return start, start
    last = sum((s - 1) * st for s, st in zip(t.shape, t.stride())) * t.element_size()
    return start, start + last + t.element_size()


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
        from inferlab.grading.checks import CheckFailure

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


def counted_call(ns, name: str, model, *args, **kwargs) -> dict:
    """Call `ns[name](model, *args)` and count the token positions it sends through
    layer 0's `qkv`, with a wrapper whose counter the submission cannot reach; also
    report the model's own `tokens_processed` delta. A fair implementation shows the
    same number both ways."""
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"the submission does not define `{name}`")
    layer = model.layers[0]
    method = type(layer).qkv.__get__(layer)
    count = [0]

    def qkv(x, positions, *a, **k):
        count[0] += int(x.shape[0]) * int(x.shape[1])
        return method(x, positions, *a, **k)

    before = tampered_names()
    own_before = int(model.tokens_processed)
    object.__setattr__(layer, "qkv", qkv)
    try:
        result = fn(model, *args, **kwargs)
        intact = layer.__dict__.get("qkv") is qkv
    finally:
        layer.__dict__.pop("qkv", None)
    return {"result": result, "tokens": count[0], "own_tokens": int(model.tokens_processed) - own_before,
            "tampered": bool(before or tampered_names() or not intact)}
