"""Adversarial submissions gain nothing, and one bad submission never disturbs another.

Each `tests/submissions/labNN/attack_*.py` is the reference solution plus an attack
(see autograder/README.md for the threat model); its first line names the checks it
must fail, exactly as for the known-wrong submissions. The same attacks inside notebooks, in a
class graded by nbgrader, are in tests/test_classroom.py.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import scores_table
from conftest import LABS, ROOT, expected_failures, wrong_submission
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


# ----------------------------------------------------------------------------- whole notebooks
# A class of 30 mixed notebooks (these attacks, a kernel that exits, a cell that never ends, tampered
# metadata) is graded through nbgrader, on Dask and serially, by tests/test_classroom.py.


def notebook_with(reference: Path, extra_cells: list[str], out: Path) -> Path:
    nb = nbformat.read(reference, as_version=4)
    for src in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    for c in nb.cells:
        c.pop("id", None)
    nbformat.write(nb, out)
    return out
