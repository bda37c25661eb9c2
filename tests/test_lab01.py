"""lab01's own tests: a correct solution written differently scores full marks (behaviour, not structure)."""
from __future__ import annotations

import pytest

from conftest import ROOT
from inferlab.grading.runner import grade

ALT = ROOT / "tests" / "submissions" / "lab01" / "alt_written_differently.py"


@pytest.mark.skipif(not (ROOT / "inferlab" / "models" / "weights" / "target.pt").exists(),
                    reason="the course model's weights are not built yet")
def test_a_correct_solution_written_differently_scores_full_marks():
    report = grade("lab01", ALT)
    failed = [f"{t.id}: {t.message}" for t in report.tests if not t.passed]
    assert not failed, "\n".join(failed)
    assert report.score == report.max_score
