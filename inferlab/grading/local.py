"""Checks run inside a learner's own kernel: quick feedback while working on a lab.

`check_here("lab01", "task1", globals())` runs the visible checks of one task on the
names the notebook defines and prints one line per check: PASS, or FAIL with what was
tried, the first mismatch, the max error and the tolerance. It is feedback, not a grade:
grades come from `inferlab grade` and nbgrader, which run every check (hidden ones too)
against the submission in a sandboxed process (see runner.py).

What the learner sees when a check fails is one line of error, never the grader's
traceback: `TaskNotPassing` renders itself in one line (IPython calls `_render_traceback_`).
The test cells are tagged `raises-exception`, so JupyterLab's Run All (and nbclient) go on
to the next task while nbgrader still counts the error as 0 for the cell. The FAIL details
go to stderr, which nbgrader's Validate shows beside the failing cell.
"""
from __future__ import annotations

import importlib
import os
import re
import secrets
import sys
import traceback

from inferlab.grading import probes
from inferlab.grading.asserts import CheckFailure
from inferlab.grading.checks import load_checks
from inferlab.grading.runner import run_check


class TaskNotPassing(Exception):
    """A task's visible checks did not all pass: one line for the learner, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def task_label(group: str) -> str:
    """"task3" -> "task 3"; "task5_perf" -> "task 5 (perf)"."""
    m = re.fullmatch(r"task(\d+)(?:_(\w+))?", group)
    if not m:
        return group
    return f"task {m.group(1)}" + (f" ({m.group(2)})" if m.group(2) else "")


def _resolve(fn):
    """A trusted function, given as itself or as "module:name"."""
    if not isinstance(fn, str):
        return fn
    mod, _, name = fn.partition(":")
    return getattr(importlib.import_module(mod), name)


def _inputs(ns: dict) -> list[str]:
    """The cells this kernel has run, in order (IPython's `In`), when there is a kernel."""
    hist = ns.get("In")
    return list(hist) if isinstance(hist, list) else []


def syntax_error_of(ns: dict, name: str) -> str:
    """Why `name` is missing, when the last cell run that defines it does not compile ("" otherwise)."""
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*=", re.M)
    for n in range(len(_inputs(ns)) - 1, 0, -1):
        src = ns["In"][n]
        if not isinstance(src, str) or not pattern.search(src):
            continue
        try:
            compile(src, f"In [{n}]", "exec")
        except SyntaxError as e:
            return (f"`{name}` is not defined: its cell (In [{n}]) has a {type(e).__name__} at line {e.lineno}: "
                    f"{e.msg}; fix it and run that cell again")
        return ""
    return ""


def _cell_of(filename: str) -> str:
    """'In [5]' for a file IPython compiled from a cell (ipykernel names them /tmp/ipykernel_*/N.py)."""
    try:
        ip = get_ipython()  # noqa: F821 - defined inside IPython
        number = ip.compile._filename_map.get(filename)
        if number is not None:
            return f"In [{number}]"
    except Exception:  # noqa: BLE001 - not in a kernel
        pass
    return "" if filename.startswith(os.path.dirname(os.path.dirname(__file__))) else filename


def explain(e: BaseException) -> str:
    """What a check raised, as a message a learner can act on (the submission's frame, not the grader's)."""
    if isinstance(e, CheckFailure):
        return str(e)
    if isinstance(e, NotImplementedError):
        return f"not written yet (raises NotImplementedError{': ' + str(e) if str(e) else ''})"
    where = ""
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        cell = _cell_of(frame.filename)
        if cell:
            where = f" ({cell}, line {frame.lineno}, in {frame.name})"
            break
    return f"your code raised {type(e).__name__}: {e}{where}"


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
            why = syntax_error_of(self._ns, name)
            raise CheckFailure(why or f"define `{name}` first (run the cell that defines it)") from None

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


def _say(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    print(text, file=stream)
    stream.flush()  # stdout and stderr interleave in the order written


def check_here(lab: str, group: str, ns: dict, hidden: bool = False, seed: int | None = None) -> None:
    """Run one task's checks on this notebook's definitions; raise one line (TaskNotPassing) if any fails."""
    if os.environ.get("INFERLAB_AUTOGRADE") == "1":
        print(f"{lab} · {group}: graded by the autograder in a separate process")
        return
    task = task_label(group)
    every = load_checks(lab).select(group=group)
    checks = [c for c in every if c.visible != hidden]
    n_hidden = sum(not c.visible for c in every)
    if not checks:
        print(f"{lab} · {task}: no {'hidden' if hidden else 'visible'} checks")
        return
    seed = secrets.randbits(31) if seed is None else seed
    sub = LocalSubmission(ns)
    failed, unwritten = [], []
    for c in checks:
        ok, msg = run_check(c, sub, seed, explain=explain)
        if ok:
            _say(f"PASS {c.name}: {c.doc}")
        elif "not written yet" in msg:
            unwritten.append(c.name)
            failed.append(c.name)
        else:
            _say(f"FAIL {c.name}: {c.doc}\n     " + msg.replace("\n", "\n     "), err=True)
            failed.append(c.name)
    if unwritten and len(unwritten) == len(failed) == len(checks):
        _say(f"{task} not written yet: replace `raise NotImplementedError` in its cell above", err=True)
        raise TaskNotPassing(f"{lab} {task} not written yet") from None
    for name in unwritten:
        _say(f"FAIL {name}: not written yet (raises NotImplementedError)", err=True)
    kind = "hidden" if hidden else "visible"
    if not failed:
        _say(f"all {len(checks)} {kind} checks of {task} passed")
    if not hidden:
        _say(f"{n_hidden} hidden check{'s' if n_hidden != 1 else ''} run in the grader "
             f"(`inferlab grade {lab} {lab}.ipynb`, or nbgrader's autograde)")
    if failed:
        raise TaskNotPassing(f"{lab} {task}: {len(failed)} of {len(checks)} {kind} checks failed "
                             f"({', '.join(failed)})") from None
