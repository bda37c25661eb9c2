"""The gradebook side of parallel grading.

Workers never touch the course gradebook. Each gets a private SQLite copy of the lab's
definitions (`definitions`), grades into it with nbgrader's own converter, and sends back
what `nbgrader autograde` writes: the submission's timestamp, every grade cell's auto score,
every solution cell's automatic comment. The client alone writes them into the course
gradebook (`write_grades`), one submission per transaction, so a crash leaves a submission
either fully graded or as it was. SQLite or PostgreSQL: whatever `CourseDirectory.db_url` says.
"""
from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

# What `nbgrader generate_assignment` stores about a lab; the rest of a gradebook is submissions.
DEFINITIONS = ("course", "assignment", "notebook", "base_cell", "grade_cells", "solution_cells",
               "task_cells", "source_cell")


class LabNotInGradebook(ValueError):
    pass


def definitions(db_url: str, course_id: str, lab: str) -> bytes:
    """A fresh SQLite gradebook (its bytes) holding the course's lab definitions and no submission."""
    from nbgrader.api import Base, Gradebook, MissingEntry
    from sqlalchemy import create_engine

    with Gradebook(db_url, course_id) as gb:
        try:
            gb.find_assignment(lab)
        except MissingEntry:
            raise LabNotInGradebook(
                f"{lab} is not in the gradebook ({_redact(db_url)}): run `nbgrader generate_assignment {lab}` "
                "(or `nbgrader db assignment add`) first") from None
    with tempfile.TemporaryDirectory(prefix="inferlab-seed-") as tmp:
        path = Path(tmp) / "gradebook.db"
        Gradebook(f"sqlite:///{path}", course_id).close()  # schema, alembic version, course row
        src, dst = create_engine(db_url), create_engine(f"sqlite:///{path}")
        try:
            with src.connect() as s, dst.begin() as d:
                ids: dict[str, set] = {}  # this lab's rows only: the copy travels with every task
                for table in Base.metadata.sorted_tables:
                    if table.name not in DEFINITIONS:
                        continue
                    have = {r[0] for r in d.execute(table.select().with_only_columns(table.c.id))}
                    rows = [dict(r._mapping) for r in s.execute(table.select())]
                    rows = [r for r in rows if r["id"] not in have and _of_lab(table.name, r, lab, ids)]
                    ids[table.name] = {r["id"] for r in rows}
                    if rows:
                        d.execute(table.insert(), rows)
        finally:
            src.dispose()
            dst.dispose()
        return path.read_bytes()


def _of_lab(table: str, row: dict, lab: str, ids: dict[str, set]) -> bool:
    if table == "assignment":
        return row["name"] == lab
    if table == "notebook":
        return row["assignment_id"] in ids.get("assignment", ())
    if table in ("base_cell", "source_cell"):
        return row["notebook_id"] in ids.get("notebook", ())
    if table in ("grade_cells", "solution_cells", "task_cells"):
        return row["id"] in ids.get("base_cell", ())
    return True  # course


def read_grades(db_url: str, course_id: str, lab: str, student: str, present: set[str]) -> dict:
    """What nbgrader's autograde wrote for one submission into a (private) gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        sub = gb.find_submission(lab, student)
        notebooks = {}
        for nb in sub.notebooks:
            notebooks[nb.name] = {
                "missing": nb.name not in present,
                "grades": {g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                           for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
                "late_submission_penalty": nb.late_submission_penalty,
            }
        return {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None, "notebooks": notebooks,
                "score": float(sub.score), "max_score": float(sub.max_score)}


def write_grades(db_url: str, course_id: str, lab: str, student: str, grades: dict, late_plugin) -> float:
    """Write one submission's grades as `nbgrader autograde` would, in one transaction; its score.

    As nbgrader's SaveAutoGrades: a grade keeps any manual score and is flagged for review
    when it has one; as AssignLatePenalties: the penalty is computed from the notebook's
    score in this gradebook (manual scores included) by the course's late-penalty plugin.
    """
    from nbgrader.api import (Comment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment,
                              SubmittedNotebook)

    with Gradebook(db_url, course_id) as gb:
        db = gb.db
        try:
            if db.get(Student, student) is None:
                db.add(Student(id=student))
                db.flush()
            try:
                sub = gb.find_submission(lab, student)
            except MissingEntry:
                assignment, who = gb.find_assignment(lab), db.get(Student, student)
                notebooks = list(assignment.notebooks)
                with db.no_autoflush:  # the structure nbgrader's add_submission mirrors, not yet committed
                    sub = SubmittedAssignment(assignment=assignment, student=who)
                    for notebook in notebooks:
                        nb = SubmittedNotebook(notebook=notebook, assignment=sub)
                        for cell in notebook.grade_cells:
                            Grade(cell_id=cell.id, notebook=nb)
                        for cell in notebook.solution_cells:
                            Comment(cell_id=cell.id, notebook=nb)
                        for cell in notebook.task_cells:
                            Comment(cell_id=cell.id, notebook=nb)
                            Grade(cell_id=cell.id, notebook=nb)
                    db.add(sub)  # cascades to the notebooks, grades and comments built above
            if grades["timestamp"]:
                sub.timestamp = datetime.datetime.fromisoformat(grades["timestamp"])
            db.flush()
            for nb in sub.notebooks:
                got = grades["notebooks"].get(nb.name)
                if got is None:
                    continue
                for g in nb.grades:
                    if g.name not in got["grades"]:
                        continue
                    g.auto_score = got["grades"][g.name]["auto_score"]
                    if got["missing"]:
                        g.needs_manual_grade = got["grades"][g.name]["needs_manual_grade"]
                    else:
                        g.needs_manual_grade = g.manual_score is not None or g.auto_score is None
                for c in nb.comments:
                    if c.name in got["comments"]:
                        c.auto_comment = got["comments"][c.name]
            db.flush()
            db.expire_all()  # scores and lateness are computed by the database
            for nb in sub.notebooks:
                got = grades["notebooks"].get(nb.name)
                if got is None or got["missing"]:
                    continue
                nb.late_submission_penalty = None
                if sub.total_seconds_late > 0:
                    penalty = late_plugin.late_submission_penalty(student, nb.score, sub.total_seconds_late)
                    if penalty is not None:
                        nb.late_submission_penalty = min(max(penalty, 0), nb.score)
            db.commit()
            db.expire_all()
            return float(sub.score)
        except BaseException:
            db.rollback()
            raise


def late_penalty_plugin(config):
    """The course's late-penalty plugin, as nbgrader's AssignLatePenalties makes it."""
    from nbgrader.preprocessors import AssignLatePenalties

    pre = AssignLatePenalties(config=config)
    pre.init_plugin()
    return pre.plugin_inst


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
