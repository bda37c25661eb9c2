"""`inferlab autograde LAB...`: every collected submission graded on a Dask cluster, into the gradebook.

The client finds the submissions nbgrader collected (`submitted/STUDENT/LAB/`), skips those
whose content hash says they are graded already, and sends each of the others to a Dask
worker (a LocalCluster of processes with one thread each, or an existing scheduler), where
nbgrader's own Autograde converter grades it with the course's configuration (`worker.py`).
Results come back as they finish; the client is the gradebook's only writer (`gradebook.py`):
the autograded folder is swapped in whole, the grades committed in one transaction, then the
ledger entry (`ledger.py`) recorded. A submission whose worker died, that ran past the deadline
or that nbgrader could not grade is retried once on a fresh start; if it fails again it is
reported and nothing of it is written, and every other submission goes on.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from inferlab.classroom.progress import LabTally, Progress, summary_table

DEFAULT_DEADLINE = float(os.environ.get("INFERLAB_AUTOGRADE_DEADLINE", "1800"))


@dataclass
class Job:
    lab: str
    student: str
    files: dict
    digest: str
    attempt: int = 0
    reason: str = ""


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A client of `scheduler`, or of a fresh LocalCluster: `workers` processes, one thread each."""
    from distributed import Client

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = local_cluster(workers or os.cpu_count() or 1)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# A task whose worker dies is not rescheduled by Dask: the client retries it once itself. A busy
# machine can take more than Dask's default 30 s to start a replacement worker: it would give up.
# One task per worker thread at a time: a worker that dies takes down only the submission it was grading.
CLUSTER_CONFIG = {"distributed.scheduler.allowed-failures": 0,
                  "distributed.scheduler.worker-saturation": 1.0,
                  "distributed.worker.daemon": False,  # a grading child may start its own processes
                  "distributed.comm.timeouts.connect": "180s",
                  "distributed.comm.timeouts.tcp": "180s",
                  "distributed.admin.tick.limit": "1h"}


def local_cluster(workers: int, **kw):
    """A LocalCluster for grading: `workers` processes with one thread each, replaced when they die."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(CLUSTER_CONFIG):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=kw.pop("silence_logs", logging.ERROR), **kw)


def find_jobs(course: Path, cd, labs: list[str], tallies: dict, students: set[str] | None, force: bool):
    from nbgrader.api import Gradebook

    from inferlab.classroom.ledger import Ledger, content_hash, grader_fingerprint, submission_files

    jobs, ledgers = [], {}
    for lab in labs:
        ledgers[lab] = ledger = Ledger(course, lab)
        fingerprint = grader_fingerprint(course, lab, cd.source_directory)
        with Gradebook(cd.db_url, cd.course_id) as gb:
            in_gradebook = {s.student_id for s in gb.find_assignment(lab).submissions}
        tally = tallies[lab]
        for folder in sorted(glob.glob(cd.format_path(cd.submitted_directory, "*", lab))):
            student = Path(folder).parent.name
            if students and student not in students or not os.path.isdir(folder):
                continue
            tally.submissions += 1
            files = submission_files(Path(folder), list(cd.ignore))
            digest = content_hash(files, fingerprint)
            graded = os.path.isdir(cd.format_path(cd.autograded_directory, student, lab))
            if not force and graded and student in in_gradebook and ledger.is_current(student, digest):
                tally.up_to_date += 1
                continue
            jobs.append(Job(lab, student, files, digest))
    return jobs, ledgers


def install_folder(dest: Path, files: dict[str, bytes]) -> None:
    """Replace `dest` with exactly `files`, swapped in whole (never a half-written folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    for rel, data in files.items():
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.chmod(stage, 0o755)
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(dest, old)
    os.rename(stage, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def autograde(labs: list[str], course: str | None = None, workers: int | None = None,
              scheduler: str | None = None, students: list[str] | None = None, force: bool = False,
              deadline: float | None = None, stream=None, on_running=None) -> dict:
    """Grade every collected submission of `labs` that is new or changed; the summary as a dict.

    `on_running(client, job)` is called once a submission is seen running (tests use it to stop
    a worker in the middle of a grading).
    """
    from inferlab.classroom.config import course_directory, find_course, load_course_config
    from inferlab.classroom.gradebook import definitions, late_penalty_plugin, write_grades
    from inferlab.classroom.worker import grade_submission, warm_up

    stream = stream or sys.stderr
    _venv_on_path()
    deadline = DEFAULT_DEADLINE if deadline is None else deadline
    root = find_course(course)
    config = load_course_config(root)
    cd = course_directory(config)
    plugin = late_penalty_plugin(config)
    seeds = {lab: definitions(cd.db_url, cd.course_id, lab) for lab in labs}
    tallies = {lab: LabTally() for lab in labs}
    jobs, ledgers = find_jobs(root, cd, labs, tallies, set(students) if students else None, force)
    records: list[dict] = []
    if jobs:
        progress = Progress(len(jobs), stream)
        with dask_client(workers, scheduler) as client:
            client.run(warm_up)
            started: dict[str, float] = {}
            running: dict = {}

            def submit(job: Job):
                # Everything the worker needs travels with the task: no data on a worker that may die.
                payload = {"course": str(root), "lab": job.lab, "student": job.student, "files": job.files,
                           "deadline": deadline, "definitions": seeds[job.lab]}
                fut = client.submit(grade_submission, payload, pure=False,
                                    key=f"autograde-{job.lab}-{job.student}-{job.digest[:10]}-{job.attempt}")
                running[fut] = job
                return fut

            for job in jobs:
                submit(job)
            progress.update()
            seen_running: set[str] = set()
            while running:
                done = [f for f in running if f.status in ("finished", "error", "cancelled", "lost")]
                if not done:
                    time.sleep(0.5)
                now = time.monotonic()
                try:
                    for keys in client.processing().values():
                        for key in keys:
                            started.setdefault(key, now)
                except Exception:  # noqa: BLE001 - a scheduler busy restarting a worker
                    pass
                if on_running is not None:
                    for fut, job in list(running.items()):
                        if fut.key in started and fut.key not in seen_running:
                            seen_running.add(fut.key)
                            on_running(client, job)
                for fut in done:
                    job = running.pop(fut)
                    tally = tallies[job.lab]
                    ran = now - started.get(fut.key, now)
                    if fut.status == "finished":
                        try:
                            result = fut.result()
                            dest = Path(cd.format_path(cd.autograded_directory, job.student, job.lab))
                            install_folder(dest, result["files"])
                            score = write_grades(cd.db_url, cd.course_id, job.lab, job.student, result["grades"],
                                                 plugin)
                        except Exception as e:  # noqa: BLE001 - reported; the gradebook rolled back
                            _fail(job, f"could not be written: {type(e).__name__}: {e}", False, ledgers, tally,
                                  records, progress, stream)
                            continue
                        max_score = result["grades"]["max_score"]
                        tally.graded += 1
                        tally.timed_out += bool(result["timeouts"])
                        tally.scores.append(score)
                        tally.max_score = max(tally.max_score, max_score)
                        rec = {"lab": job.lab, "student": job.student, "status": "graded", "hash": job.digest,
                               "score": score, "max_score": max_score, "timeouts": result["timeouts"],
                               "seconds": round(result["seconds"], 2), "attempts": job.attempt + 1}
                        ledgers[job.lab].record(job.student, **rec)
                        records.append(rec)
                        progress.done += 1
                        progress.update("graded", f"{job.lab} {job.student}: {score:g}/{max_score:g}"
                                                  f" ({result['seconds']:.1f} s)")
                        continue
                    try:
                        exc = fut.exception() if fut.status == "error" else None
                    except Exception as e:  # noqa: BLE001 - a future cancelled or lost meanwhile
                        exc = e
                    timed_out = _killed(exc) and deadline > 0 and ran >= 0.8 * deadline
                    reason = (f"ran past the deadline ({deadline:g} s)" if timed_out else
                              f"its worker died ({type(exc).__name__})" if _killed(exc) else
                              f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                              if exc is not None else f"task {fut.status}")
                    if job.attempt == 0:
                        tally.retried += 1
                        job.attempt, job.reason = 1, reason
                        progress.update("retrying", f"{job.lab} {job.student}: {reason}; retrying once")
                        submit(job)
                        continue
                    _fail(job, reason, timed_out, ledgers, tally, records, progress, stream)
                    progress.counts["retrying"] = max(0, progress.counts["retrying"] - 1)
        progress.close()
    table = summary_table(tallies)
    stream.write(table + "\n")
    for rec in records:
        if rec["status"] != "graded":
            stream.write(f"  {rec['lab']} {rec['student']}: {rec['status']}: {rec['reason']}\n")
    return {"labs": {lab: {k: v for k, v in vars(t).items() if k != "scores"} for lab, t in tallies.items()},
            "submissions": records, "table": table}


def _venv_on_path() -> None:
    """nbgrader calls `alembic` (a new gradebook) and `jupyter` by name: this Python's scripts first."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _killed(exc) -> bool:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, KilledWorker)


def _fail(job, reason, timed_out, ledgers, tally, records, progress, stream) -> None:
    status = "timed out" if timed_out else "failed"
    tally.failed += 1
    tally.timed_out += timed_out
    rec = {"lab": job.lab, "student": job.student, "status": status, "hash": job.digest, "reason": reason,
           "attempts": job.attempt + 1}
    ledgers[job.lab].record(job.student, **rec)
    records.append(rec)
    progress.done += 1
    progress.update("failed", f"{job.lab} {job.student}: {status}: {reason}")


# ----------------------------------------------------------------------------- command line


def add_parser(sub) -> None:
    p = sub.add_parser("autograde", help="grade every collected submission of labs on a Dask cluster, into "
                                         "nbgrader's gradebook")
    p.add_argument("labs", nargs="+", metavar="LAB", help="lab01 ... lab10")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local Dask cluster (default: one per CPU core)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)")
    p.add_argument("--course", default=None, help="the nbgrader course folder (default: here, else the repository)")
    p.add_argument("--student", action="append", default=None, help="grade only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="grade again even what is graded and unchanged")
    p.add_argument("--deadline", type=float, default=None,
                   help=f"seconds one submission may take before its worker is stopped (default {DEFAULT_DEADLINE:g})")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(fn=cmd_autograde)


def cmd_autograde(args) -> int:
    if args.workers is not None and args.workers < 1:
        print("inferlab autograde: --workers must be at least 1", file=sys.stderr)
        return 2
    from inferlab.classroom.gradebook import LabNotInGradebook

    try:
        summary = autograde(args.labs, course=args.course, workers=args.workers, scheduler=args.scheduler,
                            students=args.student, force=args.force, deadline=args.deadline)
    except (LabNotInGradebook, ValueError) as e:
        print(f"inferlab autograde: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "table"}))
    return 1 if any(r["status"] != "graded" for r in summary["submissions"]) else 0
