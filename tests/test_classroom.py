"""A class graded on a Dask cluster: `inferlab autograde` writes the gradebook `nbgrader autograde` writes.

The slow test grades a class of 30 mixed lab01 submissions (correct, wrong, stub, every
attack of tests/test_integrity.py inside a notebook, a kernel that exits, a cell that never
ends, tampered metadata) on a local Dask cluster of two worker processes, into a PostgreSQL
gradebook when one can be started here (SQLite otherwise); one worker is killed in the middle
of a grading. Every score is the one its known-wrong file's first line implies; no student's
kernel changes the course or leaves a process behind. Six submissions of every kind are also
graded serially by `nbgrader autograde` and compared cell by cell (scores, review flags,
comments, late penalty, verdicts), and the whole-notebook ones by `inferlab grade`. A rerun
grades only the submission that changed, and a submission that runs past the deadline is
stopped, retried once and reported, its grades left as they were.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from classroom import Classroom
from conftest import ROOT, expected_failures
from inferlab.classroom.gradebook import definitions, write_grades
from inferlab.classroom.ledger import Ledger, content_hash, grader_fingerprint, submission_files
from inferlab.classroom.progress import LabTally, Progress, summary_table
from inferlab.grading.runner import grade
from test_integrity import notebook_with, sleepers, tree_digest

LAB = "lab01"


def start_postgres():
    """(server, '') or (None, why not): Debian's package is installed first where it is missing."""
    from inferlab.classroom.postgres import LocalPostgres, PostgresUnavailable, install_debian_package

    why = install_debian_package()
    if why:
        return None, why
    pg = LocalPostgres()
    try:
        return pg.start(), ""
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as e:
        pg.stop()
        return None, f"PostgreSQL could not start: {e}"


def gradebook_rows(db_url: str, students) -> dict:
    """Everything `nbgrader autograde` writes about these students' submissions."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(db_url, "inferlab") as gb:
        for s in students:
            sub = gb.find_submission(LAB, s)
            rows[(s, "timestamp")] = sub.timestamp
            for nb in sub.notebooks:
                rows[(s, nb.name, "late")] = nb.late_submission_penalty
                for g in nb.grades:
                    rows[(s, nb.name, g.name)] = (g.auto_score, g.manual_score, g.needs_manual_grade)
                for c in nb.comments:
                    rows[(s, nb.name, "comment", c.name)] = c.auto_comment
    return rows


def verdicts(notebook: Path) -> list[str]:
    """The PASS/FAIL lines of an autograded notebook (messages carry this run's random inputs)."""
    nb = nbformat.read(notebook, as_version=4)
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out += re.findall(r"^(?:PASS|FAIL) \S+ \([^)]*\)", str(o.get("text", "")), flags=re.M)
    return out


# ----------------------------------------------------------------------------- cheap parts


def test_ledger_hash_follows_content_and_grader(tmp_path):
    sub = tmp_path / "submitted" / "ada" / LAB
    sub.mkdir(parents=True)
    (sub / f"{LAB}.ipynb").write_text("{}")
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / "x.ipynb").write_text("ignored")
    files = submission_files(sub, [".ipynb_checkpoints", "*.pyc"])
    assert list(files) == [f"{LAB}.ipynb"]
    fp = grader_fingerprint(ROOT, LAB, "solutions")
    h = content_hash(files, fp)
    assert content_hash(dict(files), fp) == h
    assert content_hash({**files, "timestamp.txt": b"2030-01-01 00:00:00 UTC"}, fp) != h
    assert content_hash({f"{LAB}.ipynb": b"{ }"}, fp) != h
    assert content_hash(files, fp[::-1]) != h
    ledger = Ledger(tmp_path, LAB)
    assert not ledger.is_current("ada", h)
    ledger.record("ada", hash=h, status="graded")
    assert Ledger(tmp_path, LAB).is_current("ada", h)
    ledger.record("ada", hash=h, status="failed")
    assert not Ledger(tmp_path, LAB).is_current("ada", h)


def test_summary_and_progress_lines():
    t = LabTally(submissions=3, up_to_date=1, graded=1, failed=1, timed_out=1, retried=1, scores=[48.0], max_score=48)
    table = summary_table({LAB: t})
    assert table.splitlines()[0].split()[:3] == ["lab", "submissions", "up"]
    assert table.splitlines()[2].split() == [LAB, "3", "1", "1", "1", "1", "1", "48.0/48"]

    class Sink:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    sink = Sink()
    p = Progress(2, sink)
    p.done = 1
    p.update("graded", "lab01 ada: 48/48")
    assert "1/2" in sink.text and "graded 1" in sink.text and "lab01 ada" in sink.text


def test_command_line_errors(tmp_path, capsys):
    from inferlab.cli import main

    assert main(["autograde", LAB, "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["autograde", LAB, "--course", str(tmp_path)]) == 2
    assert "nbgrader_config.py" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["autograde", LAB, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])


def small_gradebook(db_url: str) -> None:
    """lab01 with one notebook of two grade cells and one solution cell, as generate_assignment stores it."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "inferlab") as gb:
        gb.add_assignment(LAB, duedate="2030-01-01 00:00:00 UTC")
        gb.add_notebook(LAB, LAB)
        gb.add_grade_cell("t1", LAB, LAB, max_score=2, cell_type="code")
        gb.add_grade_cell("t2", LAB, LAB, max_score=3, cell_type="code")
        gb.add_solution_cell("s1", LAB, LAB)


def fake_grades(t1, t2, timestamp=None, comment=None) -> dict:
    return {"timestamp": timestamp, "score": t1 + t2, "max_score": 5.0,
            "notebooks": {LAB: {"missing": False, "late_submission_penalty": None,
                                "grades": {"t1": {"auto_score": t1, "needs_manual_grade": False},
                                           "t2": {"auto_score": t2, "needs_manual_grade": False}},
                                "comments": {"s1": comment}}}}


class Penalty:
    def late_submission_penalty(self, student, score, seconds_late):
        return score * 0.1 * -(-seconds_late // 3600)


def check_writer(db_url: str) -> None:
    """One transaction per submission; manual grades kept and flagged; penalties from the plugin."""
    from nbgrader.api import Gradebook, MissingEntry

    small_gradebook(db_url)
    seed = definitions(db_url, "inferlab", LAB)
    assert seed.startswith(b"SQLite format 3")
    assert write_grades(db_url, "inferlab", LAB, "ada", fake_grades(2, 1, comment="No response."), Penalty()) == 3

    class Broken(Penalty):
        def late_submission_penalty(self, *a):
            raise RuntimeError("the plugin broke half-way")

    with pytest.raises(RuntimeError):
        write_grades(db_url, "inferlab", LAB, "bob", fake_grades(2, 3, "2030-01-01 02:30:00"), Broken())
    with Gradebook(db_url, "inferlab") as gb:
        with pytest.raises(MissingEntry):
            gb.find_submission(LAB, "bob")  # nothing half-written
        g = gb.find_grade("t2", LAB, LAB, "ada")
        g.manual_score = 2.5
        gb.db.commit()
    score = write_grades(db_url, "inferlab", LAB, "ada", fake_grades(2, 0, "2030-01-01 02:30:00"), Penalty())
    with Gradebook(db_url, "inferlab") as gb:
        g = gb.find_grade("t2", LAB, LAB, "ada")
        assert (g.auto_score, g.manual_score, g.needs_manual_grade) == (0, 2.5, True)
        nb = gb.find_submission_notebook(LAB, LAB, "ada")
        assert nb.late_submission_penalty == pytest.approx(4.5 * 0.3)  # 3 started hours late, on 2 + 2.5
        assert gb.find_comment("s1", LAB, LAB, "ada").auto_comment is None
        assert score == pytest.approx(4.5)


def test_gradebook_writer_sqlite(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])  # alembic
    check_writer(f"sqlite:///{tmp_path / 'gradebook.db'}")


# ----------------------------------------------------------------------------- a class of 30


def class_of_30(room: Classroom, tmp: Path) -> dict[str, tuple[Path, float]]:
    """The mixed class: student -> (notebook, expected score from each file's expect-fail line)."""
    from test_nbgrader import tamper
    from inferlab.grading import load_checks

    checks = {c.id: c.points for c in load_checks(LAB).items}
    full = sum(checks.values())
    folder = ROOT / "tests" / "submissions" / LAB
    reference = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
    stub = room.root / "labs" / LAB / f"{LAB}.ipynb"
    subs: dict[str, tuple[Path, float]] = {f"good{i}": (reference, full) for i in range(6)}
    subs["stub"] = (stub, 0.0)
    for p in sorted(folder.glob("wrong_*.py"))[:9] + sorted(folder.glob("attack_*.py")):
        lost = sum(checks[f"{LAB}.{n}"] for n in expected_failures(p))
        subs[p.stem] = (notebook_with(reference, [p.read_text()], tmp / f"{p.stem}.ipynb"), full - lost)
    subs["kernel_exit"] = (notebook_with(reference, ["import os\nos._exit(1)"], tmp / "exit.ipynb"), full)
    subs["endless_cell"] = (notebook_with(reference, ["while True:\n    pass"], tmp / "endless.ipynb"), full)
    subs["tamper_stub"] = (tamper(stub, tmp / "tamper.ipynb"), 0.0)
    while len(subs) < 30:
        subs[f"good{len(subs)}"] = (reference, full)
    return subs


@pytest.mark.slow
def test_a_class_of_30_on_a_dask_cluster(tmp_path, capsys):
    from inferlab.classroom.autograde import autograde, local_cluster

    pg, why = start_postgres()
    try:
        room = Classroom(tmp_path, [LAB])
        room.env.update(INFERLAB_CELL_TIMEOUT="20", INFERLAB_CHECK_TIMEOUT="20")
        if pg is not None:
            room.env["INFERLAB_GRADEBOOK_URL"] = pg.url
        db_url = pg.url if pg is not None else f"sqlite:///{room.root / 'gradebook.db'}"
        room.release(LAB)
        subs = class_of_30(room, tmp_path)
        assert len(subs) == 30
        for student, (nb, _) in subs.items():
            room.submit(student, LAB, nb)
        late = "wrong_" + sorted(s for s in subs if s.startswith("wrong_"))[0][6:]
        (room.root / "submitted" / late / LAB / "timestamp.txt").write_text("2030-01-01 02:30:00.000000 UTC")

        killed: list[str] = []

        def kill_one_worker(client, job):
            if killed:
                return
            time.sleep(3)  # its kernel and grading child are running
            for addr, keys in client.processing().items():
                if any(str(k).startswith(f"autograde-{LAB}-{job.student}-") for k in keys):
                    os.kill(client.run(os.getpid, workers=[addr])[addr], signal.SIGKILL)
                    killed.append(job.student)
                    return

        saved = {k: os.environ.get(k) for k in ("INFERLAB_CELL_TIMEOUT", "INFERLAB_CHECK_TIMEOUT",
                                                 "INFERLAB_GRADEBOOK_URL", "INFERLAB_EXCHANGE", "PATH")}
        os.environ.update({k: room.env[k] for k in saved if k in room.env})
        try:
            cluster = local_cluster(2)
            try:
                before = tree_digest("autograder", "solutions", "inferlab")
                t0 = time.monotonic()
                summary = autograde([LAB], course=str(room.root), scheduler=cluster.scheduler_address,
                                    on_running=kill_one_worker)
                t_class = time.monotonic() - t0
                tally = summary["labs"][LAB]
                assert killed, "no worker was killed"
                assert (tally["graded"], tally["failed"]) == (30, 0) and tally["retried"] >= 1, summary["table"]
                assert tally["timed_out"] >= 1  # the endless cell hit the cell time limit
                ledger = Ledger(room.root, LAB).entries
                assert ledger[killed[0]]["attempts"] == 2
                # The students' kernels ran under the sandbox: nothing written outside, nothing left running.
                assert tree_digest("autograder", "solutions", "inferlab") == before, "a student's kernel changed the course"
                assert not Path("/tmp/inferlab-pwned.txt").exists() and not sleepers()
                # Every score as its file's expect-fail line implies, in the real gradebook.
                scores = room.scores()
                want = {s: v for s, (_, v) in subs.items()}
                from nbgrader.api import Gradebook

                with Gradebook(db_url, "inferlab") as gb:
                    penalty = gb.find_submission_notebook(LAB, LAB, late).late_submission_penalty
                assert penalty == pytest.approx(want[late] * 0.3)
                got = {s: scores.get((s, LAB)) for s in subs}
                assert got == pytest.approx({s: v - (penalty if s == late else 0) for s, v in want.items()})

                # Serial `nbgrader autograde` of a subset, in a copy of the course with its own gradebook.
                subset = ["good0", "stub", late, "kernel_exit", "tamper_stub", "attack_replace_checks"]
                serial = Classroom(tmp_path / "serial", [])
                shutil.rmtree(serial.root)
                shutil.copytree(room.root, serial.root, ignore=shutil.ignore_patterns(
                    "submitted", "autograded", "feedback", ".inferlab", "gradebook.db"))
                (serial.root / "gradebook.db").write_bytes(definitions(db_url, "inferlab", LAB))
                for s in subset:
                    shutil.copytree(room.root / "submitted" / s, serial.root / "submitted" / s)
                serial.env.update(INFERLAB_CELL_TIMEOUT="20", INFERLAB_CHECK_TIMEOUT="20")
                serial.env.pop("INFERLAB_GRADEBOOK_URL", None)
                out = serial.nbgrader("autograde", LAB, "--force", check=False)
                assert out.returncode == 0, out.stderr[-3000:]
                ours = gradebook_rows(db_url, subset)
                theirs = gradebook_rows(f"sqlite:///{serial.root / 'gradebook.db'}", subset)
                assert ours == theirs
                for s in subset:
                    assert verdicts(room.autograded_notebook(s, LAB)) == verdicts(serial.autograded_notebook(s, LAB))
                    assert verdicts(room.autograded_notebook(s, LAB))
                # The whole-notebook cases through `inferlab grade` (the files of the others: tests/test_labs.py,
                # tests/test_integrity.py).
                for s in ("kernel_exit", "endless_cell", "tamper_stub"):
                    assert grade(LAB, subs[s][0], timeout=20).score == pytest.approx(want[s]), s

                # A rerun grades only what changed: the stub's author submits the reference.
                shutil.copy(subs["good0"][0], room.root / "submitted" / "stub" / LAB / f"{LAB}.ipynb")
                again = autograde([LAB], course=str(room.root), scheduler=cluster.scheduler_address)
                assert again["labs"][LAB]["up_to_date"] == 29 and again["labs"][LAB]["graded"] == 1
                assert room.scores()[("stub", LAB)] == want["good0"]

                # Past the deadline: stopped, retried once, reported; its grades stay as they were.
                hang = notebook_with_sleep(subs["good0"][0], tmp_path / "asleep.ipynb")
                shutil.copy(hang, room.root / "submitted" / "good1" / LAB / f"{LAB}.ipynb")
                before = gradebook_rows(db_url, ["good1"])
                late_run = autograde([LAB], course=str(room.root), scheduler=cluster.scheduler_address,
                                     students=["good1"], deadline=12)
                rec = late_run["submissions"][0]
                assert (rec["status"], rec["attempts"]) == ("timed out", 2), rec
                assert late_run["labs"][LAB]["failed"] == 1 and late_run["labs"][LAB]["retried"] == 1
                assert gradebook_rows(db_url, ["good1"]) == before
                assert Ledger(room.root, LAB).entries["good1"]["status"] == "timed out"
            finally:
                cluster.close()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        if pg is not None:
            pg.stop()
    with capsys.disabled():
        print(f"\n[30 submissions of {LAB}, 2 Dask workers, gradebook on "
              f"{'PostgreSQL' if pg is not None else 'SQLite (' + why + ')'}] {t_class:.0f} s")
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    (ROOT / ".pytest_cache" / "class_of_30_dask.txt").write_text(
        json.dumps({"seconds": round(t_class, 1), "workers": 2, "postgres": pg is not None}) + "\n")


def notebook_with_sleep(reference: Path, out: Path) -> Path:
    nb = nbformat.read(reference, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(3600)"))
    for c in nb.cells:
        c.pop("id", None)
    nbformat.write(nb, out)
    return out
