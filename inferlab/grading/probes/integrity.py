"""The seal: every object a measurement relies on, remembered before a submission runs.

The grader's child calls `seal()` once the course's code is imported; a probe asks
`tampered_names()` before and after the call it measures, and a measurement taken while
the measuring code was replaced is refused (see `TraceSummary.checked`).
"""
from __future__ import annotations

import importlib

import torch

def probe_modules() -> list:
    """Every module of this package (each one's functions are sealed); one that fails to import is left out."""
    import pkgutil

    import inferlab.grading.probes as pkg

    out = []
    for m in pkgutil.iter_modules(pkg.__path__):
        try:
            out.append(importlib.import_module(f"{pkg.__name__}.{m.name}"))
        except Exception:  # noqa: BLE001 - a probe that cannot load measures nothing
            pass
    return out


_SEAL: dict | None = None


def _watched() -> dict:
    """Every object a measurement relies on, by name, so that a replacement shows."""
    import triton.runtime.interpreter as interp

    import inferlab.memtrace as mt

    out = {}
    owners = [("memtrace", mt), ("probes", importlib.import_module("inferlab.grading.probes"))]
    owners += [(f"probes.{m.__name__.rsplit('.', 1)[-1]}", m) for m in probe_modules()]
    owners += [("Trace", mt.Trace), ("Launch", mt.Launch), ("ArgStats", mt.ArgStats),
               ("GridExecutor", interp.GridExecutor),
               ("InterpreterBuilder", getattr(interp, "InterpreterBuilder", object))]
    for owner_name, owner in owners:
        for k, v in list(vars(owner).items()):
            if owner_name.startswith(("memtrace", "probes")) and not callable(v) and not isinstance(v, type):
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
