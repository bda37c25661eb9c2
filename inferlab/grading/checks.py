"""The registry of checks: each lab's `checks`, their points, kinds and categories.

A lab's checks live in `autograder/labNN.py`:

    checks = Checks("lab01")

    @checks.check(group="task1", points=2, category="knowledge", visible=True)
    def causal_mask_matches_the_spec(sub, rng):
        '''causal_mask(n_q, n_k) on square, rectangular and 1-row shapes.'''
        ...

`sub` reaches the submission's graded names (`sub.causal_mask(...)`) whether it
runs in this process (a learner's kernel) or in the grader's sandboxed child;
`rng` is a torch.Generator seeded fresh for each run (the seed is reported).
A check passes by returning; it fails by raising `CheckFailure` (or any error of
the submission, which becomes the message). The words checks are written in live beside
this module: `asserts` (comparisons), `answers` (float64 answer keys), `inputs` (seeded
inputs) and `probes` (trusted code that runs beside the submission).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from inferlab.grading.asserts import CheckFailure

KINDS = ("correctness", "performance", "integrity")
CATEGORIES = ("knowledge", "systems", "practice", "frontier")

__all__ = ["CATEGORIES", "KINDS", "Check", "CheckFailure", "Checks", "load_checks"]


@dataclass(frozen=True)
class Check:
    """One graded property of a lab."""

    lab: str
    name: str
    fn: Callable
    group: str
    points: float
    kind: str
    category: str
    visible: bool
    doc: str
    timeout: float | None = None

    @property
    def id(self) -> str:
        return f"{self.lab}.{self.name}"


@dataclass
class Checks:
    """The ordered checks of one lab."""

    lab: str
    items: list[Check] = field(default_factory=list)

    def check(self, *, group: str, points: float, category: str, kind: str = "correctness",
              visible: bool = False, timeout: float | None = None):
        """Register the decorated function `fn(sub, rng)` as a check."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")

        def register(fn):
            doc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
            item = Check(self.lab, fn.__name__, fn, group, float(points), kind, category, visible, doc, timeout)
            if any(c.name == item.name for c in self.items):
                raise ValueError(f"duplicate check {item.id}")
            self.items.append(item)
            return fn

        return register

    def groups(self) -> dict[str, list[Check]]:
        out: dict[str, list[Check]] = {}
        for c in self.items:
            out.setdefault(c.group, []).append(c)
        return out

    def select(self, group: str | None = None, visible: bool | None = None) -> list[Check]:
        return [c for c in self.items
                if (group is None or c.group == group) and (visible is None or c.visible == visible)]


def load_checks(lab: str) -> Checks:
    """Import autograder/labNN.py and return its `checks`."""
    import importlib

    if not (isinstance(lab, str) and len(lab) == 5 and lab.startswith("lab") and lab[3:].isdigit()):
        raise ValueError(f"lab must look like 'lab01', got {lab!r}")
    try:
        mod = importlib.import_module(f"autograder.{lab}")
    except ModuleNotFoundError as e:
        if e.name in (f"autograder.{lab}", "autograder"):
            raise ValueError(f"lab {lab!r} has no checks (autograder/{lab}.py)") from None
        raise
    return mod.checks
