"""Trusted code that runs beside the candidate's notebook (in the grader's sandboxed child): reads answers."""
from __future__ import annotations

import math
import numbers


def read_value(ns: dict, name: str) -> dict:
    """{"value": float}, {"missing": True}, {"none": True} or {"type": name} for `ns[name]`, as plain data."""
    if name not in ns:
        return {"missing": True}
    v = ns[name]
    if v is None:
        return {"none": True}
    if isinstance(v, str):
        return {"type": "str", "text": v[:80]}
    if isinstance(v, bool):
        return {"type": "bool"}
    if isinstance(v, numbers.Real):
        x = float(v)
        return {"value": x} if math.isfinite(x) else {"type": "non-finite number"}
    dim = getattr(v, "dim", None)
    ndim = dim() if callable(dim) else getattr(v, "ndim", None)
    if ndim == 0 and callable(getattr(v, "item", None)):   # a 0-d tensor or a numpy scalar
        x = float(v.item())
        return {"value": x} if math.isfinite(x) else {"type": "non-finite number"}
    return {"type": type(v).__name__}


def read_text(ns: dict, name: str):
    """A str variable of the notebook, or None."""
    v = ns.get(name)
    return v if isinstance(v, str) else None
