"""The instructor's workflow, for real: release, submit, autograde, feedback, export.

Every lab's reference scores full marks and its student notebook 0 through
nbgrader: the scores `inferlab grade` gives them in tests/test_labs.py. Feedback
shows no hidden test source; edited metadata and fake output change nothing (the
tampering is the same for every lab, so it is graded once, on the first lab; the
class of tests/test_classroom.py and tests/test_integrity.py tamper again).
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
@pytest.mark.parametrize("lab", LABS)
def test_nbgrader_round_trip_scores_match_inferlab_grade(lab, tmp_path):
    max_score = sum(c.points for c in load_checks(lab).items)
    room = Classroom(tmp_path, [lab])
    room.release(lab)
    released = room.root / "release" / lab / f"{lab}.ipynb"
    if not released.exists():
        released = room.root / "labs" / lab / f"{lab}.ipynb"
    reference = ROOT / "solutions" / lab / f"{lab}.ipynb"
    subs = {"ref": reference, "stub": released}
    if lab == LABS[0]:
        subs["tamper_stub"] = tamper(released, tmp_path / "tamper_stub.ipynb")
        subs["tamper_ref"] = tamper(reference, tmp_path / "tamper_ref.ipynb")
    for student, nb in subs.items():
        room.submit(student, lab, nb)
    out = room.autograde(lab)
    assert out.returncode == 0, out.stderr[-3000:]
    room.feedback(lab)
    scores = room.scores()
    expected = {"ref": max_score, "stub": 0.0, "tamper_stub": 0.0, "tamper_ref": max_score}
    got = {s: scores[(s, lab)] for s in subs}
    # `inferlab grade` gives the reference max_score and the stub 0: tests/test_labs.py.
    assert got == pytest.approx({s: expected[s] for s in subs}), got
    # Feedback: verdicts and points, never the hidden checks' source.
    html = room.feedback_html("stub", lab).read_text()
    assert "FAIL" in html and "hidden=True" not in html and "BEGIN HIDDEN TESTS" not in html
    assert "Traceback (most recent call last)" not in html
