"""Grading an interview: whose interview a notebook is, each slot's check, and the whole run.

`autograder/lab10.py` registers one check per slot and calls the functions here;
`inferlab grade lab10`, nbgrader's autograde and `inferlab interview grade` all
run those checks through the course's sandboxed runner. Which interview a
notebook is graded against comes from a trusted front door when there is one (the
candidate id given to `inferlab interview grade`, nbgrader's student id), and
otherwise from the notebook's `CANDIDATE`; the expected values come from the key
store's secret, never from the notebook.
"""
from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path

from inferlab.grading.checks import CheckFailure, load_checks
from inferlab.interview.generate import Interview, load
from inferlab.interview.keys import SAMPLE, KeyStore

_TRUSTED: dict = {"candidate": None, "course": None}
_CACHE: dict = {}


@contextlib.contextmanager
def trusted(candidate: str | None, course=None):
    """Grade as `candidate` of the course at `course` (the front door vouches for who submitted)."""
    saved = dict(_TRUSTED)
    _TRUSTED.update(candidate=candidate, course=str(course) if course else None)
    try:
        yield
    finally:
        _TRUSTED.update(saved)


def set_trusted(candidate: str | None, course=None) -> None:
    _TRUSTED.update(candidate=candidate, course=str(course) if course else None)


def _load(candidate: str, course) -> Interview:
    store = KeyStore(course)
    key = (candidate, str(store.dir))
    path = store.dir / f"{candidate}.json"
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    if key not in _CACHE or _CACHE[key][0] != stamp:
        _CACHE[key] = (stamp, load(candidate, course))
    return _CACHE[key][1]


def declared_candidate(sub) -> str | None:
    try:
        return sub.probe("inferlab.interview.probes:read_text", "CANDIDATE")
    except CheckFailure:
        return None


def interview_for(sub) -> Interview:
    """The interview this submission is graded against."""
    declared = declared_candidate(sub)
    who, course = _TRUSTED["candidate"], _TRUSTED["course"]
    store = KeyStore(course)
    if who is not None and who != SAMPLE and store.has(who):
        return _load(who, course)
    if declared == SAMPLE:
        return _load(SAMPLE, course)
    if who is not None:
        raise CheckFailure(f"no interview on record for candidate {who!r} (run `inferlab interview new` first)")
    if not declared:
        raise CheckFailure("this notebook names no CANDIDATE (keep the set-up cell of the interview notebook)")
    try:
        return _load(declared, course)
    except (LookupError, ValueError) as e:
        raise CheckFailure(f"cannot grade it here: {e}") from None


def _local(sub) -> bool:
    return type(sub).__name__ == "LocalSubmission"


def _value(sub, name: str, unit: str) -> float:
    got = sub.probe("inferlab.interview.probes:read_value", name)
    if got.get("missing"):
        raise CheckFailure(f"define `{name}` (run its answer cell): `{name} = <number in {unit}>`")
    if got.get("none"):
        raise CheckFailure(f"`{name}` is still None: assign your answer as a number in {unit}")
    if "value" not in got:
        extra = f" ({got['text']!r})" if "text" in got else ""
        raise CheckFailure(f"`{name}` must be a number in {unit}, got a {got['type']}{extra}; "
                           f"write the number itself (e.g. `{name} = 1.5e9`), units as stated in the question")
    return got["value"]


def check_answered(slot: str, sub) -> None:
    """Visible, 0 points: the answer is a number. In practice mode (the key is on this machine), feedback too."""
    if not _local(sub):
        return _value_of_slot(slot, sub, None)
    try:
        iv = interview_for(sub)
    except CheckFailure:
        iv = None
    if iv is None or not iv.record.practice:
        got = sub.probe("inferlab.interview.probes:read_value", slot)
        if "value" not in got:
            _value(sub, slot, "the question's unit")
        print(f"   {slot} recorded; it is graded after you submit")
        return
    item = iv.item(slot)
    value = _value(sub, slot, item.question.unit)
    if not item.question.accepts(value, item.expected):
        raise CheckFailure(f"not yet: {slot} = {value:g}, expected {item.expected:.6g} ({item.question.tolerance_text()}).\n"
                           f"How to get there: {item.question.working(item.params)}")
    print(f"   right: {slot} = {value:g}; how: {item.question.working(item.params)}")


def _value_of_slot(slot, sub, _):
    iv = interview_for(sub)
    _value(sub, slot, iv.item(slot).question.unit)


def check_slot(slot: str, sub) -> None:
    """Hidden: the answer matches the expected value within the question's tolerance."""
    iv = interview_for(sub)
    item = iv.item(slot)
    k = item.question
    value = _value(sub, slot, k.unit)
    if not k.accepts(value, item.expected):
        raise CheckFailure(f"{slot} ({k.title[0]}): {value:g} is not the expected value "
                           f"(graded {k.tolerance_text()}, in {k.unit})")


def _declared_task(sub):
    from inferlab.interview import coding

    src = sub.probe("inferlab.interview.probes:read_text", "CODING_TASK")
    if src in coding.TASKS:
        return coding.resolve(coding.TASKS[src])
    return None


def check_code(part: str, sub, rng) -> None:
    """The coding task's own lab checks: part 'example' = its visible checks, 'hidden' = the others."""
    import torch

    from inferlab.grading.runner import run_check
    from inferlab.interview.coding import split_checks

    try:
        task = interview_for(sub).item("code").question
    except CheckFailure:
        task = _declared_task(sub) if _local(sub) else None
        if task is None:
            raise
    registry = load_checks(task.lab)
    example, rest = split_checks(registry.groups(), task.groups)
    chosen = example if part == "example" else rest
    if not chosen:
        raise CheckFailure(f"{task.lab} has no {part} checks for this task")
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=rng))
    failed = []
    for c in chosen:
        ok, msg = run_check(c, sub, seed)
        if not ok:
            failed.append(f"{c.id}: {msg}")
    if failed:
        raise CheckFailure(f"{len(failed)} of {len(chosen)} {part} checks of the coding task failed:\n" + "\n".join(failed))


# ----------------------------------------------------------------------------- the front door

def submission_time(path: Path, given: str | None = None) -> datetime | None:
    """When it was submitted: given, else nbgrader's timestamp.txt beside it, else the file's mtime."""
    from inferlab.interview.keys import parse_time

    if given:
        return parse_time(given, "submitted")
    stamp = Path(path).parent / "timestamp.txt"
    if stamp.exists():
        return parse_time(stamp.read_text().strip(), "timestamp.txt")
    return datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc).replace(microsecond=0)


def grade_interview(candidate: str, path, course=None, seed: int | None = None):
    """Run every machine check of `candidate`'s interview on the notebook at `path` (a runner Report)."""
    from inferlab.grading.runner import grade

    course = Path(course or os.environ.get("INFERLAB_COURSE") or os.getcwd()).resolve()
    KeyStore(course).load(candidate)       # LookupError / ValueError: no such interview
    with trusted(candidate, course):
        return grade("lab10", path, seed=seed)
