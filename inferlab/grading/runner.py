"""Grade a submission: run every check of a lab against it, in a sandboxed child."""
from __future__ import annotations

import json
import math
import os
import secrets
import time
import traceback
from dataclasses import asdict, dataclass, field

import torch

from inferlab.grading.asserts import CheckFailure
from inferlab.grading.checks import CATEGORIES, Check, load_checks
from inferlab.grading.remote import Child, ChildDied, ChildTimeout, Hanging, RemoteError, RemoteSubmission
from inferlab.grading.source import read_cells

RUBRIC_WEIGHTS = {"knowledge": 40, "systems": 30, "practice": 20, "frontier": 10}
DEFAULT_TIMEOUT = float(os.environ.get("INFERLAB_CHECK_TIMEOUT", "120"))
CELL_TIMEOUT = float(os.environ.get("INFERLAB_CELL_TIMEOUT", "60"))  # a notebook cell that runs longer is skipped
# The whole grade of one submission stops after this many seconds, whatever the submission does: the
# checks not run by then fail with that reason (a hanging function costs FIRST_CALL_TIMEOUT once).
GRADE_BUDGET = float(os.environ.get("INFERLAB_GRADE_BUDGET", "600"))


@dataclass
class Result:
    """One check's outcome, as `inferlab grade --json` prints it."""

    id: str
    points: float
    max_points: float
    passed: bool
    kind: str
    category: str
    group: str
    message: str
    seconds: float = 0.0


@dataclass
class Report:
    lab: str
    tests: list[Result] = field(default_factory=list)
    seed: int = 0
    load_errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tests), 4)

    def by_group(self) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            e, p = out.get(t.group, (0.0, 0.0))
            out[t.group] = (e + t.points, p + t.max_points)
        return out

    def rubric(self) -> dict:
        cats = {c: [0.0, 0.0] for c in CATEGORIES}
        for t in self.tests:
            cats[t.category][0] += t.points
            cats[t.category][1] += t.max_points
        present = {c: (e, p) for c, (e, p) in cats.items() if p > 0}
        return {"categories": {c: {"earned": e, "possible": p} for c, (e, p) in present.items()},
                **(rubric_score(present) if present else {"score": 0.0, "band": "poor"})}

    def to_json(self) -> dict:
        return {"lab": self.lab, "score": self.score, "max_score": self.max_score,
                "tests": [{k: v for k, v in asdict(t).items()} for t in self.tests],
                "rubric": self.rubric(), "seed": self.seed, "seconds": round(self.seconds, 2),
                "load_errors": self.load_errors}

    def table(self, lines_per_check: bool = True) -> str:
        """The report as text: the checks (unless already printed as progress), then the score, once,
        and the §9 rubric as a second view of the same points."""
        lines = []
        if lines_per_check:
            lines += [progress_line(t) for t in self.tests]
        failed = [t for t in self.tests if not t.passed]
        if failed:
            lines.append("")
            lines.append(f"{len(failed)} failed:")
            for t in failed:
                lines.append(f"  FAIL {t.id}")
                for m in t.message.splitlines()[:8]:
                    lines.append(f"       {m}")
        for e in self.load_errors:
            lines.append(f"  note: cell {e['cell']} of the submission raised {e['type']}: {e['message'][:200]}")
        lines.append("")
        lines.append(f"{self.lab}: {self.score:g} / {self.max_score:g} points  "
                     f"({sum(t.passed for t in self.tests)} of {len(self.tests)} checks passed; "
                     f"seed {self.seed}, {self.seconds:.1f} s)")
        r = self.rubric()
        parts = [f"{c} {v['earned']:g}/{v['possible']:g} x {RUBRIC_WEIGHTS[c]}%" for c, v in r["categories"].items()]
        lines.append(f"  the same points by the course rubric (§9: each category's share of its points, weighted "
                     f"{'/'.join(str(RUBRIC_WEIGHTS[c]) for c in r['categories'])} and scaled to 100): "
                     f"{'; '.join(parts)} -> {r['score']:.1f}/100 ({r['band']})")
        return "\n".join(lines)


def rubric_score(points: dict) -> dict:
    """Syllabus §9: weights 40/30/20/10 renormalised over the categories with possible > 0; the score
    rounded to 2 decimals, and the band of the rounded score (the answer key of lab09's `rubric_score`)."""
    if not isinstance(points, dict):
        raise TypeError(f"points must be a dict of category -> (earned, possible), got {type(points).__name__}")
    num = den = 0.0
    for cat, pair in points.items():
        if cat not in RUBRIC_WEIGHTS:
            raise ValueError(f"points: unknown category {cat!r}; expected some of {list(RUBRIC_WEIGHTS)}")
        earned, possible = (float(x) for x in pair)
        if not (math.isfinite(earned) and math.isfinite(possible) and 0 <= earned <= possible):
            raise ValueError(f"points[{cat!r}] must have 0 <= earned <= possible, got {pair!r}")
        if possible > 0:
            num += RUBRIC_WEIGHTS[cat] * earned / possible
            den += RUBRIC_WEIGHTS[cat]
    if den == 0:
        raise ValueError("points: no category with possible > 0")
    score = round(100.0 * num / den, 2)
    band = "excellent" if score >= 90 else "good" if score >= 80 else "fair" if score >= 70 else "poor"
    return {"score": score, "band": band}


def failure_message(e: BaseException) -> str:
    """Turn whatever a check raised into a message a learner can act on."""
    if isinstance(e, CheckFailure):
        return str(e)
    if isinstance(e, RemoteError):
        tb = e.remote_traceback.strip().splitlines()
        where = [line.strip() for line in tb if line.strip().startswith('File "<cell') or "submission" in line]
        loc = f" ({where[-1]})" if where else ""
        if e.type_name == "NotImplementedError":
            return f"not implemented yet: {e.message}"
        return f"your code raised {e.type_name}: {e.message}{loc}"
    if isinstance(e, Hanging):
        return f"hanging: {e}"
    if isinstance(e, ChildTimeout):
        return "timed out: the submission did not finish within the time limit (an endless loop?)"
    if isinstance(e, ChildDied):
        return f"crashed: {e}"
    return f"the check could not run: {type(e).__name__}: {e}\n" + traceback.format_exc(limit=3)


class LoadFailed(RuntimeError):
    """The submission's code could not be loaded at all."""


def start_child(cells: list[str], timeout: float, memory_mb: int | None = None, max_dropped: int = 3,
                reuse: Child | None = None, skip: list[int] | None = None):
    """A child with the submission loaded, cell by cell.

    A cell that kills the process (os._exit, a crash) or hangs past every limit is dropped and
    the load starts again without it, as a notebook whose kernel died there would have the cells
    before it defined: the damage costs the checks that needed that cell, not the whole grade.
    `reuse`: a live child of an earlier submission to load into first (its namespace is replaced).
    `skip`: cells not run at all (they ran out of time in an earlier load of the same submission).
    """
    dropped: list[int] = list(skip or [])
    max_dropped += len(dropped)
    cell_timeout = min(timeout, CELL_TIMEOUT)
    while True:
        if reuse is not None and reuse.alive:
            child, reuse = reuse, None
        else:
            child = Child(memory_mb=memory_mb)
        errors: list[dict] = [{"cell": i, "type": "Dropped", "message": "this cell stopped the process"}
                              for i in dropped]
        current = -1
        try:
            first = True
            for i, src in enumerate(cells):
                if i in dropped:
                    continue
                current = i
                child.deadline = time.monotonic() + cell_timeout + (30.0 if first else 10.0)
                out = child.request({"op": "load", "cells": [src], "cell_timeout": cell_timeout,
                                     "first_index": i, "keep": not first})
                errors += out["errors"]
                first = False
            return child, errors
        except (ChildTimeout, ChildDied, RemoteError) as e:
            child.close()
            if current < 0 or len(dropped) >= max_dropped or isinstance(e, RemoteError):
                raise LoadFailed(failure_message(e)) from None
            dropped.append(current)


def run_check(check: Check, sub, seed: int, explain=failure_message) -> tuple[bool, str]:
    """(passed, message) of one check; `explain` turns what it raised into the message."""
    rng = torch.Generator().manual_seed((seed * 1_000_003 + sum(map(ord, check.name))) % (2**63))
    try:
        check.fn(sub, rng)
        return True, "ok"
    except (ChildTimeout, ChildDied):
        raise
    except BaseException as e:  # noqa: BLE001 - a check's own failure or the submission's
        return False, explain(e)


def progress_line(t: Result) -> str:
    """One check's verdict on one line (what `inferlab grade` prints as each check finishes)."""
    mark = "PASS" if t.passed else "FAIL"
    why = "" if t.passed else "  " + (t.message.splitlines() or [""])[0][:120]
    return f"  {mark} {t.points:>4g}/{t.max_points:<4g} {t.category:9} {t.id}  ({t.seconds:.1f} s){why}"


def grade(lab: str, path, timeout: float | None = None, seed: int | None = None,
          groups: list[str] | None = None, memory_mb: int | None = None, progress=None,
          budget: float | None = None) -> Report:
    """Grade one submission with every check of `lab` (or only `groups`).

    progress: called with each check's `Result` as soon as it is known.
    budget: seconds for the whole grade (default GRADE_BUDGET); the checks left when it is spent fail.
    """
    return grade_many(lab, [path], timeout=timeout, seed=seed, groups=groups, memory_mb=memory_mb,
                      progress=progress, budget=budget)[0]


def grade_many(lab: str, paths, timeout: float | None = None, seed: int | None = None,
               groups: list[str] | None = None, memory_mb: int | None = None, progress=None,
               budget: float | None = None) -> list[Report]:
    """Grade several submissions of `lab`, one after another, in as few sandboxed children as can be.

    Each submission is loaded into a fresh namespace; a child that is still alive after one
    submission's checks is reused for the next (it saves the start of a process: the imports
    of torch and Triton). Meant for trusted batches, such as the course's known-wrong
    submissions: a submission that tampers with the process (an attack) is graded alone with
    `grade`, as every learner's submission is.
    """
    checks = load_checks(lab)
    cells_of = [read_cells(lab, p) for p in paths]  # raises UnreadableSubmission
    timeout = timeout or DEFAULT_TIMEOUT
    if seed is None:
        seed = int(os.environ.get("INFERLAB_SEED") or secrets.randbits(31))
    items = [c for c in checks.items if groups is None or c.group in groups]
    reports: list[Report] = []
    child: Child | None = None
    try:
        for cells in cells_of:
            report, child = _grade_cells(lab, cells, items, timeout, seed, memory_mb, child, progress,
                                         GRADE_BUDGET if budget is None else budget)
            reports.append(report)
    finally:
        if child is not None:
            child.close()
    return reports


def _grade_cells(lab: str, cells: list[str], items: list[Check], timeout: float, seed: int,
                 memory_mb: int | None, reuse: Child | None, progress=None,
                 budget: float = GRADE_BUDGET) -> tuple[Report, Child | None]:
    """Run `items` on one submission; return its report and the child, if still alive, for reuse."""
    t0 = time.monotonic()
    end = t0 + budget
    report = Report(lab=lab, seed=seed)
    child: Child | None = None
    broken = ""  # set when the submission cannot be loaded: every later check gets this message
    returned: set[str] = set()  # graded functions that returned once, and those that hung: shared by
    hanging: dict[str, float] = {}  # every child of this submission
    slow_cells: list[int] = []  # cells that ran out of time while loading: not run again on a restart
    try:
        for check in items:
            c0 = time.monotonic()
            passed, msg = False, broken
            if not broken and c0 >= end:
                msg = (f"not run: the grade's time budget ({budget:g} s) was spent before this check "
                       "(slow or hanging code above)")
            elif not broken and (child is None or not child.alive):
                if child is not None:
                    child.close()
                try:
                    child, errors = start_child(cells, min(timeout, max(end - c0, 1.0)), memory_mb, reuse=reuse,
                                                skip=slow_cells)
                    child.returned, child.hanging = returned, hanging
                    slow_cells += [e["cell"] for e in errors if e.get("type") == "CellTimeout" and e["cell"] not in slow_cells]
                    if not report.load_errors:
                        report.load_errors = errors
                except LoadFailed as e:
                    child = None
                    broken = msg = f"the submission could not be loaded: {e}"
                reuse = None
            if not broken and child is not None and not msg:
                child.deadline = min(time.monotonic() + (check.timeout or timeout), max(end, time.monotonic() + 1.0))
                try:
                    passed, msg = run_check(check, RemoteSubmission(child), seed)
                except (ChildTimeout, ChildDied) as e:
                    passed, msg = False, failure_message(e)
                    tail = child.output_tail(400).strip()
                    if tail and isinstance(e, ChildDied):
                        msg += "\nlast output: " + tail.splitlines()[-1][:300]
                if not passed:
                    msg = explain_missing(msg, report.load_errors)
            result = Result(check.id, check.points if passed else 0.0, check.points, passed,
                            check.kind, check.category, check.group, msg, round(time.monotonic() - c0, 3))
            report.tests.append(result)
            if progress is not None:
                progress(result)
    except BaseException:
        if child is not None:
            child.close()
        raise
    finally:
        if reuse is not None and reuse is not child:  # no check ran: the offered child is still ours
            reuse.close()
    report.seconds = time.monotonic() - t0
    if child is not None and not child.alive:
        child.close()
        child = None
    return report, child


def explain_missing(msg: str, load_errors: list[dict]) -> str:
    """A name the submission does not define, because the cell that defines it did not run: say which
    cell and why (a syntax error names its line)."""
    import re

    m = re.search(r"does not define `([A-Za-z_][A-Za-z0-9_]*)`", msg)
    if not m or not load_errors:
        return msg
    name = m.group(1)
    for e in load_errors:
        if e.get("type") == "SyntaxError" or name in e.get("message", ""):
            detail = e["message"]
            if e.get("type") in ("SyntaxError", "IndentationError", "TabError"):
                line = re.search(r"line (\d+)", detail)
                where = f"cell {e['cell']}" + (f", line {line.group(1)}" if line else "")
                return (f"`{name}` is not defined: the submission has a {e['type']} in {where} "
                        f"({re.sub(r' [(]<cell.*$', '', detail)}), so that cell did not run")
    return msg + "".join(f"\n(cell {e['cell']} raised {e['type']}: {e['message'][:200]})" for e in load_errors[:2])


def print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        print(report.table())
