"""How a check says "wrong", once for every lab: failures that teach, and the comparisons they use.

    raises(("ValueError", "TypeError"), sub.f, x, names=("x",), what="f(x 3-D)")  bad input refused, argument named
    unchanged(before, after, what)          a refused call changed nothing (snapshots: dicts of values and tensors)
    integer(got, 42, what) · number(got, 0.5, what, rel=1e-9) · is_close(a, b)      scalars
    assert_close(out, ref64, dtype=q.dtype) tensors against a float64 reference, TOLERANCES per dtype
    assert_equal(got, expected)             exact: plain values, sequences, tensors (dtype too)
    distribution(tokens, probs, n, what)    draws of a sampler against its distribution (seeded, never flaky)

A check passes by returning and fails by raising `CheckFailure` with a message that shows
the first mismatch and the size of the error.
"""
from __future__ import annotations

import math
import re

import torch


class CheckFailure(AssertionError):
    """A check's verdict, with a message that says what to fix."""


def require(cond: bool, message: str) -> None:
    """Fail the check with `message` unless `cond`."""
    if not cond:
        raise CheckFailure(message)


# ----------------------------------------------------------------------------- errors


def exception_names(exc: BaseException) -> list[str]:
    """Class names along an exception's MRO (works for remote errors too)."""
    mro = getattr(exc, "mro_names", None)
    if mro is not None:
        return list(mro)
    return [k.__name__ for k in type(exc).__mro__]


def names_word(text: str, names) -> bool:
    """Whether `text` contains one of `names` as a whole word (an argument's name in a message)."""
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text) for n in names)


def raises(exc, fn, *args, names=(), match=None, what: str = "", **kwargs) -> BaseException:
    """Call `fn(*args, **kwargs)`; require an exception of class (or with a base) `exc` and return it.

    exc: a class name or a tuple of accepted names ("ValueError", "TypeError").
    names: the message must name one of these as a word (the argument that is wrong).
    match: the message must contain this text (or one of these texts).
    """
    accepted = (exc,) if isinstance(exc, str) else tuple(exc)
    label = what or getattr(fn, "__name__", "the call")
    want = " or ".join(accepted)
    try:
        fn(*args, **kwargs)
    except CheckFailure:
        raise
    except BaseException as e:  # noqa: BLE001 - the submission may raise anything
        if getattr(e, "grader_stop", False):  # the grader's own timeout or a dead child, not an answer
            raise
        got = exception_names(e)
        message = getattr(e, "message", None)
        text = message if isinstance(message, str) else str(e)
        if "NotImplementedError" in got and "NotImplementedError" not in accepted:
            raise CheckFailure(f"{label}: not written yet (raises NotImplementedError{': ' + text if text else ''})") from None
        if not set(accepted) & set(got):
            raise CheckFailure(f"{label}: expected {want}, got {got[0]}{': ' + text if text else ''}") from None
        if names and not names_word(text, names):
            raise CheckFailure(f"{label}: the {got[0]} message should name the argument "
                               f"({' or '.join(repr(n) for n in names)}); it says {text!r}") from None
        if match is not None and not any(m in str(e) for m in ([match] if isinstance(match, str) else match)):
            raise CheckFailure(f"{label}: the {got[0]} message should name {match!r}; it says {text!r}") from None
        return e
    raise CheckFailure(f"{label}: expected {want}, but nothing was raised (a silent wrong answer)")


def unchanged(before: dict, after: dict, what: str) -> None:
    """Two snapshots of an object's state are equal (tensors compared with NaN equal to NaN)."""
    for key, a in before.items():
        b = after[key]
        if isinstance(a, torch.Tensor):
            if not torch.equal(torch.nan_to_num(a.float(), nan=7.0), torch.nan_to_num(b.float(), nan=7.0)):
                idx = tuple(int(i) for i in (a != b).nonzero()[0])
                raise CheckFailure(f"{what} changed {key} at index {idx} (a call that raises must change nothing)")
        elif a != b:
            raise CheckFailure(f"{what} changed the {key}: before {a}, after {b} "
                               f"(a call that raises must change nothing: check first, then act)")


# ----------------------------------------------------------------------------- scalars


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_close(got, expected: float, rel: float = 1e-9, abs: float = 1e-12) -> bool:  # noqa: A002
    """A number (not a bool) within `rel` relative or `abs` absolute error of `expected`."""
    return is_number(got) and math.isclose(got, expected, rel_tol=rel, abs_tol=abs)


def integer(got, expected: int, what: str) -> None:
    """An exact int (not a bool, not a float)."""
    if not isinstance(got, int) or isinstance(got, bool):
        raise CheckFailure(f"{what}: expected an int, got {type(got).__name__} {got!r}")
    if got != expected:
        raise CheckFailure(f"{what}: got {got:,}, expected {expected:,}")


def number(got, expected: float, what: str, rel: float = 1e-9, abs: float = 0.0, unit: str = "") -> None:  # noqa: A002
    """A float (or int) within `rel` relative or `abs` absolute error of `expected`."""
    u = f" {unit}" if unit else ""
    if not is_number(got):
        raise CheckFailure(f"{what}: expected a float{f' ({unit})' if unit else ''}, got {type(got).__name__}")
    if not math.isclose(got, expected, rel_tol=rel, abs_tol=abs):
        err = (f"relative error {math.fabs(got - expected) / math.fabs(expected):.2g}" if expected
               else f"absolute error {math.fabs(got - expected):.2g}")
        raise CheckFailure(f"{what}: got {got:.6g}{u}, expected {expected:.6g}{u} ({err}, tolerance "
                           f"{rel:g} relative{f', {abs:g} absolute' if abs else ''})")


# ----------------------------------------------------------------------------- tensors

# Absolute and relative tolerance per dtype of the computation under test, against
# a float64 reference. Half precision keeps ~3 decimal digits (fp16) or ~2 (bf16).
TOLERANCES = {
    torch.float64: (1e-9, 1e-7),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


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
            f"(atol {atol:g}, rtol {rtol:g} for {dtype_name(dt)}); first at index {idx}: "
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


def finite(t, name: str, context: str, hint: str = "") -> None:
    """A tensor with no NaN (a guard of -inf - (-inf) forgotten)."""
    require(isinstance(t, torch.Tensor), f"{name} ({context}): expected a tensor, got {type(t).__name__}")
    if t.is_floating_point() and torch.isnan(t).any():
        idx = tuple(int(i) for i in torch.isnan(t).nonzero()[0])
        raise CheckFailure(f"{name} ({context}): NaN at index {idx}{' — ' + hint if hint else ''}")


# ----------------------------------------------------------------------------- distributions


def tv_bound(support: int, n: int, delta: float = 1e-9) -> float:
    """TV(empirical, true) exceeds this with probability < delta (E[TV] <= sqrt(V/N)/2, McDiarmid)."""
    return 0.5 * math.sqrt(support / n) + math.sqrt(math.log(1 / delta) / (2 * n))


def distribution(tokens, probs: torch.Tensor, n: int, what: str, law: str = "the expected distribution") -> None:
    """`tokens` (n,) int64 drawn from `probs` (V,) float64: none outside the support; total variation
    within a bound that a right sampler exceeds with probability < 1e-9 (no flaky failures)."""
    if not isinstance(tokens, torch.Tensor) or tuple(tokens.shape) != (n,):
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise CheckFailure(f"{what}: expected a LongTensor of shape ({n},), got {shape}")
    if tokens.dtype != torch.int64:
        raise CheckFailure(f"{what}: dtype {tokens.dtype}, expected torch.int64")
    V = probs.numel()
    if int(tokens.min()) < 0 or int(tokens.max()) >= V:
        raise CheckFailure(f"{what}: token ids outside [0, {V})")
    counts = torch.bincount(tokens, minlength=V).to(torch.float64)
    outside = (probs == 0) & (counts > 0)
    if outside.any():
        t = int(outside.nonzero()[0])
        raise CheckFailure(f"{what}: drew token {t} {int(counts[t])} times in {n} draws, "
                           f"but it has probability 0 under {law}")
    emp = counts / n
    tv = 0.5 * float((emp - probs).abs().sum())
    bound = tv_bound(int((probs > 0).sum()), n)
    if tv > bound:
        worst = int((emp - probs).abs().argmax())
        raise CheckFailure(f"{what}: the {n} draws do not follow {law}: "
                           f"total variation {tv:.4f} > bound {bound:.4f}; token {worst} drawn with frequency "
                           f"{emp[worst]:.4f}, expected probability {probs[worst]:.4f}")
