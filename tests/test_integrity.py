"""Adversarial submissions gain nothing, and one bad submission never disturbs another.

Each `tests/submissions/labNN/attack_*.py` is the reference solution plus an attack
(see autograder/README.md for the threat model); its first line names the checks it
must fail, exactly as for the known-wrong submissions.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import scores_table
from classroom import Classroom
from conftest import LABS, ROOT, expected_failures, wrong_submission
from inferlab.grading import load_checks
from inferlab.grading.runner import grade

TABLE = json.loads(scores_table.TABLE.read_text()) if scores_table.TABLE.exists() else {}
ATTACKS = [(lab, p) for lab in LABS for p in sorted((ROOT / "tests" / "submissions" / lab).glob("attack_*.py"))]


def tree_digest(*folders: str) -> str:
    h = hashlib.sha256()
    for folder in folders:
        for p in sorted((ROOT / folder).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()


def sleepers() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"987" in (d / "cmdline").read_bytes() and b"sleep" in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


@pytest.mark.parametrize("lab,path", ATTACKS, ids=[f"{l}-{p.stem}" for l, p in ATTACKS])
def test_attack_gains_nothing(lab, path, tmp_path):
    expected = {f"{lab}.{n}" for n in expected_failures(path)}
    before = tree_digest("autograder", "solutions", "inferlab")
    sub = wrong_submission(lab, path, tmp_path)
    timeout = scores_table.SHORT_TIMEOUT.get(path.stem)
    report = grade(lab, sub, timeout=timeout)
    failed = {t.id for t in report.tests if not t.passed}
    msgs = {t.id: t.message for t in report.tests if not t.passed}
    assert failed == expected, f"{path.name}: failed {sorted(failed)}, expected {sorted(expected)}\n{json.dumps(msgs, indent=1)}"
    row = TABLE.get(lab, {}).get(path.name)
    assert row is None or scores_table.entry(report) == row, f"{path.name}: the table of scores says {row}"
    assert tree_digest("autograder", "solutions", "inferlab") == before, "the submission changed the course files"
    assert not Path("/tmp/inferlab-pwned.txt").exists()
    assert not sleepers(), "a process the submission started is still running"


def test_fake_output_does_not_reach_the_report(tmp_path):
    sub = wrong_submission("lab01", ROOT / "tests" / "submissions" / "lab01" / "attack_print.py", tmp_path)
    out = subprocess.run([sys.executable, "-m", "inferlab.cli", "grade", "lab01", str(sub), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    report = json.loads(out.stdout)  # exactly one JSON object: the grader's
    assert report["score"] < report["max_score"] and report["max_score"] != 999


# ----------------------------------------------------------------------------- a class of 30


def notebook_with(reference: Path, extra_cells: list[str], out: Path) -> Path:
    nb = nbformat.read(reference, as_version=4)
    for src in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    for c in nb.cells:
        c.pop("id", None)
    nbformat.write(nb, out)
    return out


@pytest.mark.slow
def test_a_class_of_30_mixed_submissions(tmp_path, capsys):
    lab = "lab01"
    checks = {c.id: c.points for c in load_checks(lab).items}
    max_score = sum(checks.values())
    folder = ROOT / "tests" / "submissions" / lab
    reference = ROOT / "solutions" / lab / f"{lab}.ipynb"
    room = Classroom(tmp_path, [lab])
    room.release(lab)
    stub = room.root / "release" / lab / f"{lab}.ipynb"
    if not stub.exists():
        stub = ROOT / "labs" / lab / f"{lab}.ipynb"
    wrong = sorted(folder.glob("wrong_*.py"))[:9]
    attacks = sorted(folder.glob("attack_*.py"))
    subs: dict[str, tuple[Path, float]] = {}
    for i in range(6):
        subs[f"good{i}"] = (reference, max_score)
    subs["stub"] = (stub, 0.0)
    for p in wrong + attacks:
        lost = sum(checks[f"{lab}.{n}"] for n in expected_failures(p))
        nb = notebook_with(reference, [p.read_text()], tmp_path / f"{p.stem}.ipynb")
        subs[p.stem] = (nb, max_score - lost)
    # Whole-notebook attacks: a kernel that dies, a cell that never ends, tampered metadata.
    subs["kernel_exit"] = (notebook_with(reference, ["import os\nos._exit(1)"], tmp_path / "exit.ipynb"), max_score)
    subs["endless_cell"] = (notebook_with(reference, ["while True:\n    pass"], tmp_path / "endless.ipynb"), max_score)
    from test_nbgrader import tamper
    subs["tamper_stub"] = (tamper(stub, tmp_path / "tamper.ipynb"), 0.0)
    while len(subs) < 30:
        subs[f"good{len(subs)}"] = (reference, max_score)
    assert len(subs) == 30
    for student, (nb, _) in subs.items():
        room.submit(student, lab, nb)
    before = tree_digest("autograder", "solutions", "inferlab")
    room.env["INFERLAB_CELL_TIMEOUT"] = "20"
    room.env["INFERLAB_CHECK_TIMEOUT"] = "20"
    t0 = time.monotonic()
    out = room.autograde(lab)
    t_nbgrader = time.monotonic() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    # The students' kernels ran under the sandbox too: nothing written outside, nothing left running.
    assert tree_digest("autograder", "solutions", "inferlab") == before, "a student's kernel changed the course files"
    assert not Path("/tmp/inferlab-pwned.txt").exists() and not sleepers()
    scores = room.scores()
    wrong_scores = {s: (scores.get((s, lab)), want) for s, (_, want) in subs.items()
                    if scores.get((s, lab)) is None or abs(scores[(s, lab)] - want) > 1e-6}
    assert not wrong_scores, f"nbgrader scores (got, expected): {wrong_scores}"
    t0 = time.monotonic()
    for student, (nb, want) in subs.items():
        got = grade(lab, nb, timeout=20).score
        assert got == pytest.approx(want), f"inferlab grade {student}: {got} != {want}"
    t_grade = time.monotonic() - t0
    with capsys.disabled():
        print(f"\n[30 submissions of {lab}] nbgrader autograde {t_nbgrader:.0f} s, inferlab grade loop {t_grade:.0f} s")
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    (ROOT / ".pytest_cache" / "class_of_30.txt").write_text(
        f"nbgrader autograde {t_nbgrader:.1f} s; inferlab grade loop {t_grade:.1f} s\n")
