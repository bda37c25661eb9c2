"""Every lab: the reference scores full marks, the student notebook 0, each known-wrong
submission loses exactly the checks it names; notebooks and checks agree on points."""
from __future__ import annotations

import json

import nbformat
import pytest

from conftest import LABS, ROOT, expected_failures, known_wrong, wrong_submission
from inferlab.grading import load_checks
from inferlab.grading.runner import grade

WRONG = [(lab, p) for lab in LABS for p in known_wrong(lab)]


@pytest.mark.parametrize("lab", LABS)
def test_reference_solution_scores_full_marks(lab):
    report = grade(lab, ROOT / "solutions" / lab / f"{lab}.ipynb")
    failed = [f"{t.id}: {t.message}" for t in report.tests if not t.passed]
    assert not failed, "\n".join(failed)
    assert report.score == report.max_score > 0


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_scores_zero(lab):
    report = grade(lab, ROOT / "labs" / lab / f"{lab}.ipynb")
    passed = [t.id for t in report.tests if t.passed]
    assert not passed, f"the stub passes {passed}"
    assert report.score == 0


@pytest.mark.parametrize("lab,path", WRONG, ids=[f"{l}-{p.stem}" for l, p in WRONG])
def test_known_wrong_submission_loses_exactly_its_checks(lab, path, tmp_path):
    expected = {f"{lab}.{n}" for n in expected_failures(path)}
    ids = {c.id for c in load_checks(lab).items}
    assert expected <= ids, f"unknown checks named in {path.name}: {expected - ids}"
    report = grade(lab, wrong_submission(lab, path, tmp_path))
    failed = {t.id for t in report.tests if not t.passed}
    msgs = {t.id: t.message for t in report.tests if not t.passed}
    assert failed == expected, (f"{path.name}: failed {sorted(failed)}, expected {sorted(expected)}\n"
                                + json.dumps(msgs, indent=1))


@pytest.mark.parametrize("lab", LABS)
def test_every_check_has_a_known_wrong_submission(lab):
    named = set()
    for p in known_wrong(lab):
        named |= {f"{lab}.{n}" for n in expected_failures(p)}
    missing = [c.id for c in load_checks(lab).items if c.id not in named]
    assert not missing, f"checks no known-wrong submission fails: {missing}"


@pytest.mark.parametrize("lab", LABS)
def test_test_cells_carry_the_points_and_category_of_their_checks(lab):
    nb = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    groups = load_checks(lab).groups()
    seen = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        group = meta["grade_id"][len(lab) + 1:]
        assert group in groups, f"test cell {meta['grade_id']} has no checks"
        checks = groups[group]
        assert meta["points"] == sum(c.points for c in checks), f"{meta['grade_id']}: points differ from its checks"
        cats = {c.category for c in checks}
        assert cats == {cell.metadata["inferlab"]["category"]}, f"{meta['grade_id']}: categories {cats}"
        assert f'check_here("{lab}", "{group}"' in cell.source
        seen.add(group)
    assert seen == set(groups), f"check groups without a test cell: {set(groups) - seen}"


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_has_no_solution_or_hidden_test(lab):
    text = (ROOT / "labs" / lab / f"{lab}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True"):
        assert marker not in text, f"labs/{lab} contains {marker!r}"
