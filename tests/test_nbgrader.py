"""The instructor's workflow, for real: release, submit, autograde, feedback, export.

Every lab's reference scores full marks and its student notebook 0 through
nbgrader, whose checks run in the sandboxed runner of `inferlab grade` (this is
where the suite grades every reference and stub). Feedback
shows no hidden test source; edited metadata and fake output change nothing (the
tampering is the same for every lab, so it is graded once, on the first lab; the
class of tests/test_classroom.py tampers again).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest

from classroom import Classroom
from conftest import LABS, ROOT
from inferlab.grading import load_checks


def tamper(nb_path: Path, out: Path) -> Path:
    """Edit nbgrader metadata and outputs the way a cheating student would."""
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            meta["points"] = 1000.0                      # more points
            meta["grade"], meta["solution"], meta["locked"] = False, True, False  # a test cell turned into a solution
            cell.source = 'print("All tests passed! 100/100")'
    nb.cells.append(nbformat.v4.new_code_cell('print("lab score: 100/100, all tests passed")'))
    nbformat.write(nb, out)
    return out


@pytest.mark.slow
def test_nbgrader_round_trip_of_every_lab(tmp_path):
    """One course holding every lab, as a term's instructor has it: each nbgrader step is one command
    for all labs (`generate_assignment "lab*"`, `autograde "lab*"`, `generate_feedback "lab*"`)."""
    room = Classroom(tmp_path, LABS)
    room.release("lab*")
    expected, problems = {}, []
    for lab in LABS:
        max_score = sum(c.points for c in load_checks(lab).items)
        released = room.root / "release" / lab / f"{lab}.ipynb"
        if not released.exists():
            released = room.root / "labs" / lab / f"{lab}.ipynb"
        reference = ROOT / "solutions" / lab / f"{lab}.ipynb"
        subs = {"ref": (reference, max_score), "stub": (released, 0.0)}
        if lab == LABS[0]:
            subs["tamper_stub"] = (tamper(released, tmp_path / "tamper_stub.ipynb"), 0.0)
            subs["tamper_ref"] = (tamper(reference, tmp_path / "tamper_ref.ipynb"), max_score)
        for student, (nb, want) in subs.items():
            room.submit(student, lab, nb)
            expected[(student, lab)] = want
    out = room.autograde("lab*")
    assert out.returncode == 0, out.stderr[-3000:]
    room.feedback("lab*")
    scores = room.scores()
    # (the checks ran in `inferlab grade`'s runner: the same scores through either front door)
    for (student, lab), want in expected.items():
        got = scores.get((student, lab))
        if got is None or abs(got - want) > 1e-6:
            graded = room.autograded_notebook(student, lab)
            fails = [line for line in (graded.read_text() if graded.exists() else "").split("\\n")
                     if "FAIL" in line][:8]
            problems.append(f"{lab} {student}: nbgrader scored {got}, expected {want}\n    " + "\n    ".join(fails))
        # Feedback: verdicts and points, never the hidden checks' source.
        if student == "stub":
            html = room.feedback_html("stub", lab).read_text()
            if not ("FAIL" in html and "hidden=True" not in html and "BEGIN HIDDEN TESTS" not in html
                    and "Traceback (most recent call last)" not in html):
                problems.append(f"{lab}: the stub's feedback shows no FAIL, or hidden tests, or a traceback")
    assert not problems, "\n".join(problems)
