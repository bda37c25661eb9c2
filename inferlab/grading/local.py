"""Checks run inside a learner's own kernel: quick feedback while working on a lab.

`check_here("lab01", "task1", globals())` runs the visible checks of one task on the
names the notebook defines and prints what passed. It is feedback, not a grade:
grades come from `inferlab grade` and nbgrader, which run the same checks against
the submission in a sandboxed process (see runner.py).
"""
from __future__ import annotations

import importlib
import os
import secrets

from inferlab.grading import probes
from inferlab.grading.asserts import CheckFailure
from inferlab.grading.checks import load_checks
from inferlab.grading.runner import run_check


def _resolve(fn):
    """A trusted function, given as itself or as "module:name"."""
    if not isinstance(fn, str):
        return fn
    mod, _, name = fn.partition(":")
    return getattr(importlib.import_module(mod), name)


class LocalSubmission:
    """The graded names of a namespace (a notebook's globals or a module)."""

    def __init__(self, ns: dict) -> None:
        self._ns = ns

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._ns[name]
        except KeyError:
            raise CheckFailure(f"define `{name}` first (run the cell that defines it)") from None

    def has(self, name: str) -> bool:
        return name in self._ns

    def mro(self, name: str) -> list[str]:
        return probes.mro_names(self._ns, name)

    def make(self, fn, *args, **kwargs):
        return _resolve(fn)(*args, **kwargs)

    def probe(self, fn, *args, **kwargs):
        return _resolve(fn)(self._ns, *args, **kwargs)

    def traced(self, name: str, *args, **kwargs):
        out = probes.traced(self._ns, name, *args, **kwargs)
        return out["result"], probes.TraceSummary.checked(out["trace"])


def check_here(lab: str, group: str, ns: dict, hidden: bool = False, seed: int | None = None) -> None:
    """Run one task's checks on this notebook's definitions; raise if any fails."""
    if os.environ.get("INFERLAB_AUTOGRADE") == "1":
        print(f"{lab} · {group}: graded by the autograder in a separate process")
        return
    checks = load_checks(lab).select(group=group, visible=not hidden)
    if not checks:
        print(f"{lab} · {group}: no {'hidden' if hidden else 'visible'} checks")
        return
    seed = secrets.randbits(31) if seed is None else seed
    sub = LocalSubmission(ns)
    failed = []
    for c in checks:
        ok, msg = run_check(c, sub, seed)
        print(f"{'PASS' if ok else 'FAIL'} {c.id}: {c.doc}")
        if not ok:
            print("     " + msg.replace("\n", "\n     "))
            failed.append(c.id)
    if failed:
        raise AssertionError(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
    print(f"all {len(checks)} {'hidden' if hidden else 'visible'} checks of {group} passed")
