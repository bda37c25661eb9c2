"""The vocabulary of a check: the registry, failures that teach, and comparisons.

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
the submission, which becomes the message).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

KINDS = ("correctness", "performance", "integrity")
CATEGORIES = ("knowledge", "systems", "practice", "frontier")

# Absolute and relative tolerance per dtype of the computation under test, against
# a float64 reference. Half precision keeps ~3 decimal digits (fp16) or ~2 (bf16).
TOLERANCES = {
    torch.float64: (1e-9, 1e-7),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


class CheckFailure(AssertionError):
    """A check's verdict, with a message that says what to fix."""


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


# ----------------------------------------------------------------------------- comparisons


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def assert_close(actual, expected, *, name: str = "output", dtype: torch.dtype | None = None,
                 atol: float | None = None, rtol: float | None = None, context: str = "") -> None:
    """Compare a submission's tensor with a (higher-precision) reference; teach on failure."""
    ctx = f" ({context})" if context else ""
    if not isinstance(actual, torch.Tensor):
        raise CheckFailure(f"{name}{ctx}: expected a torch.Tensor, got {type(actual).__name__}")
    expected = torch.as_tensor(expected)
    if tuple(actual.shape) != tuple(expected.shape):
        raise CheckFailure(f"{name}{ctx}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    dt = dtype or actual.dtype
    d_atol, d_rtol = TOLERANCES.get(dt, (0.0, 0.0))
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    a = actual.detach().to("cpu", torch.float64) if actual.is_floating_point() else actual.detach().cpu()
    e = expected.detach().to("cpu", torch.float64) if expected.is_floating_point() else expected.detach().cpu()
    if not a.is_floating_point() and not e.is_floating_point():
        bad = a != e
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            raise CheckFailure(f"{name}{ctx}: {int(bad.sum())} of {bad.numel()} entries differ; "
                               f"first at index {idx}: got {a[idx].item()}, expected {e[idx].item()}")
        return
    a = a.to(torch.float64)
    e = e.to(torch.float64)
    same_inf = (a == e) | (torch.isnan(a) & torch.isnan(e))
    err = (a - e).abs()
    err = torch.where(same_inf, torch.zeros_like(err), err)
    err = torch.nan_to_num(err, nan=math.inf)
    bad = err > atol + rtol * e.abs().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise CheckFailure(
            f"{name}{ctx}: {int(bad.sum())} of {bad.numel()} entries out of tolerance "
            f"(atol {atol:g}, rtol {rtol:g} for {str(dt).replace('torch.', '')}); first at index {idx}: "
            f"got {_fmt(a[idx].item())}, expected {_fmt(e[idx].item())}; max abs error {_fmt(err.max().item())}")


def assert_equal(actual, expected, *, name: str = "result", context: str = "") -> None:
    """Exact equality for plain values, with the first difference shown."""
    ctx = f" ({context})" if context else ""
    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            raise CheckFailure(f"{name}{ctx}: expected a tensor, got {type(actual).__name__}")
        if actual.dtype != expected.dtype:
            raise CheckFailure(f"{name}{ctx}: dtype {actual.dtype}, expected {expected.dtype}")
        assert_close(actual, expected, name=name, context=context, atol=0, rtol=0)
        return
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        for i, (a, e) in enumerate(zip(actual, expected)):
            if a != e:
                raise CheckFailure(f"{name}{ctx}: first difference at index {i}: got {a!r}, expected {e!r}")
        if len(actual) != len(expected):
            raise CheckFailure(f"{name}{ctx}: length {len(actual)}, expected {len(expected)}")
        return
    if actual != expected:
        raise CheckFailure(f"{name}{ctx}: got {actual!r}, expected {expected!r}")


def exception_names(exc: BaseException) -> list[str]:
    """Class names along an exception's MRO (works for remote errors too)."""
    mro = getattr(exc, "mro_names", None)
    if mro is not None:
        return list(mro)
    return [k.__name__ for k in type(exc).__mro__]


def expect_raises(exc_name: str, fn, *args, match: str | None = None, what: str = "", **kwargs):
    """Call fn and require an exception whose class (or a base) is named exc_name."""
    label = what or getattr(fn, "__name__", "the call")
    try:
        fn(*args, **kwargs)
    except CheckFailure:
        raise
    except BaseException as e:  # noqa: BLE001 - the submission may raise anything
        names = exception_names(e)
        if exc_name not in names:
            raise CheckFailure(f"{label}: expected {exc_name}, got {names[0]}: {e}") from None
        if match is not None and match not in str(e):
            raise CheckFailure(f"{label}: the {exc_name} message should name {match!r}; it says {str(e)!r}") from None
        return e
    raise CheckFailure(f"{label}: expected {exc_name}, but nothing was raised")


def require(cond: bool, message: str) -> None:
    """Fail the check with `message` unless `cond`."""
    if not cond:
        raise CheckFailure(message)
