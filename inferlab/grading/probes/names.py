"""Look-ups in the submission's namespace (probes: `f(namespace, *args)`)."""
from __future__ import annotations


def has_name(ns, name: str) -> bool:
    return name in ns


def mro_names(ns, name: str) -> list[str]:
    obj = ns.get(name)
    if not isinstance(obj, type):
        raise TypeError(f"`{name}` should be a class, got {type(obj).__name__}")
    return [k.__name__ for k in obj.__mro__]


def as_list(obj) -> list:
    return list(obj)
