"""nbgrader's side of an interview: the candidate's due time in, the grades and timestamps out."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from inferlab.interview.keys import Record, parse_time

LAB = "lab10"


def db_url(course: Path) -> str:
    return f"sqlite:///{Path(course) / 'gradebook.db'}"


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(tzinfo=None)


def register_due(course: Path, record: Record) -> bool:
    """Give the candidate their own due time in the course's gradebook (an extension of lab10's due date).

    Returns False when the course has no gradebook or lab10 has no due date yet
    (then nbgrader's own due date applies). Practice interviews have no clock.
    """
    if record.practice or record.due is None or not (Path(course) / "gradebook.db").exists():
        return False
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gb:
        try:
            assignment = gb.find_assignment(LAB)
        except MissingEntry:
            return False
        if assignment.duedate is None:
            return False
        gb.update_or_create_student(record.candidate)
        extension = _naive_utc(parse_time(record.due)) - assignment.duedate
        gb.update_or_create_submission(LAB, record.candidate, extension=extension)
    return True


def results(course: Path, candidate: str) -> dict | None:
    """Per grade cell scores, the late penalty and the submission time from nbgrader, or None if not graded."""
    if not (Path(course) / "gradebook.db").exists():
        return None
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gb:
        try:
            nb = gb.find_submission_notebook(LAB, LAB, candidate)
            sub = gb.find_submission(LAB, candidate)
        except MissingEntry:
            return None
        cells = {}
        for g in nb.grades:
            cells[g.name] = {"auto": g.auto_score, "manual": g.manual_score, "max": g.max_score,
                             "needs_manual": bool(g.needs_manual_grade), "score": g.score}
        comments = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
        ts = sub.timestamp.replace(tzinfo=timezone.utc) if sub.timestamp else None
        due = sub.duedate.replace(tzinfo=timezone.utc) if sub.duedate else None
        return {"cells": cells, "comments": comments, "late_penalty": float(nb.late_submission_penalty or 0.0),
                "score": float(nb.score), "max_score": float(nb.max_score), "timestamp": ts, "due": due}
