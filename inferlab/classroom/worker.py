"""One submission graded in a Dask worker, by nbgrader's own Autograde converter.

The worker builds a private copy of what `nbgrader autograde` reads: the collected
submission (sent by the client, so a remote worker needs no shared folder), and a
private SQLite gradebook holding the lab's definitions. It runs nbgrader's Autograde
converter with the course's configuration (the same preprocessors: RestoreCells,
SandboxedExecute, GradeOutOfProcess, late penalties) against that copy, and returns
what it produced: the autograded folder's files and the grades. The course gradebook
is written by the client only.

A submission that runs past `deadline` seconds stops the worker process (its kernel and
grading children first): Dask sees the worker die, the nanny starts a fresh one, and the
client retries the submission once. Workers need the course (its `autograder/` checks,
`solutions/` sources and nbgrader_config.py) at the same path, as the course's container
image provides.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
from pathlib import Path

TIMEOUT_MARKERS = ("timed out:", "CellTimeoutError", "TimeoutError")


def grade_submission(job: dict) -> dict:
    """Grade `job` = {course, lab, student, files, definitions, deadline}; return grades and files."""
    watchdog = _Watchdog(float(job.get("deadline") or 0))
    try:
        return _grade(job)
    finally:
        watchdog.cancel()


def _grade(job: dict) -> dict:
    import nbformat
    from nbgrader.converters import Autograde
    from sqlalchemy.exc import SAWarning
    from nbgrader.utils import capture_log

    from inferlab.classroom.config import course_directory, load_course_config
    from inferlab.classroom.gradebook import read_grades

    t0 = time.monotonic()
    course, lab, student = Path(job["course"]), job["lab"], job["student"]
    with tempfile.TemporaryDirectory(prefix=f"inferlab-autograde-{student}-") as tmp:
        tmp = Path(tmp)
        db = tmp / "gradebook.db"
        db.write_bytes(job["definitions"])
        submitted = tmp / "submitted" / student / lab
        for rel, data in job["files"].items():
            path = submitted / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        config = load_course_config(course)
        config.CourseDirectory.db_url = f"sqlite:///{db}"
        config.CourseDirectory.submitted_directory = str(tmp / "submitted")
        config.CourseDirectory.autograded_directory = str(tmp / "autograded")
        config.CourseDirectory.assignment_id = lab
        config.CourseDirectory.student_id = student
        coursedir = course_directory(config)
        app = Autograde(coursedir=coursedir, config=config)
        app.force = True
        app.create_student = True
        with warnings.catch_warnings():  # nbgrader's add_submission under SQLAlchemy 2 (as in `nbgrader autograde`)
            warnings.simplefilter("ignore", SAWarning)
            out = capture_log(app)
        log = out.get("log", "")
        if not out["success"]:
            raise AutogradeFailed(f"nbgrader autograde failed for {student}/{lab}:\n"
                                  + (out.get("error") or "")[-3000:] + "\n" + log[-2000:])
        autograded = tmp / "autograded" / student / lab
        files = {p.relative_to(autograded).as_posix(): p.read_bytes()
                 for p in sorted(autograded.rglob("*")) if p.is_file()}
        present = {Path(rel).stem for rel in job["files"] if rel.endswith(".ipynb") and "/" not in rel}
        grades = read_grades(config.CourseDirectory.db_url, coursedir.course_id, lab, student, present)
        timeouts = sum(log.count(m) for m in ("CellTimeoutError",))
        for rel, data in files.items():
            if rel.endswith(".ipynb"):
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
                timeouts += sum(str(o.get("text", "")).count("timed out:") for c in nb.cells
                                if c.cell_type == "code" for o in c.get("outputs", []))
    return {"student": student, "lab": lab, "grades": grades, "files": files, "timeouts": timeouts,
            "seconds": time.monotonic() - t0, "log": log[-4000:], "pid": os.getpid()}


class AutogradeFailed(RuntimeError):
    pass


class _Watchdog:
    """Past the deadline: kill this process's children, then the worker process itself."""

    def __init__(self, seconds: float) -> None:
        self.timer = None
        if seconds > 0:
            self.timer = threading.Timer(seconds, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    @staticmethod
    def _fire() -> None:  # pragma: no cover - ends the process
        try:
            import psutil

            for p in psutil.Process().children(recursive=True):
                try:
                    p.kill()
                except psutil.Error:
                    pass
        finally:
            os.kill(os.getpid(), signal.SIGKILL)


def warm_up() -> int:
    """Import what grading needs once per worker process (torch, Triton, nbgrader)."""
    import nbgrader.converters  # noqa: F401
    import torch  # noqa: F401

    import inferlab.nbgrader_plugins  # noqa: F401

    shutil.which("python")
    return os.getpid()
