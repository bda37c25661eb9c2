"""Every lab: each known-wrong submission loses exactly the checks it names, as in the committed
table of scores; notebooks and checks agree on points. (Each reference scoring full marks and each
student notebook 0 is graded through nbgrader, with the same runner, by tests/test_nbgrader.py;
`reference` and `student` are graded here too when INFERLAB_TEST_REFERENCE=1, e.g. while writing a lab.)"""
from __future__ import annotations

import json
import os

import nbformat
import pytest

import scores_table
from conftest import LABS, ROOT, expected_failures, known_wrong
from inferlab.grading import load_checks
from inferlab.grading.runner import grade_many

TABLE = json.loads(scores_table.TABLE.read_text()) if scores_table.TABLE.exists() else {}
BATCH = 8  # files graded one after another in one sandboxed child


REFERENCE_TOO = bool(os.environ.get("INFERLAB_TEST_REFERENCE"))


def _batches():
    out = []
    for lab in LABS:
        names = [n for n in scores_table.graded_files(lab) if not n.startswith("attack_")  # attacks: alone
                 and (REFERENCE_TOO or n not in ("reference", "student"))]
        out += [(lab, tuple(names[i:i + BATCH])) for i in range(0, len(names), BATCH)]
    return out


BATCHES = _batches()


@pytest.mark.parametrize("lab,names", BATCHES, ids=[f"{lab}-{names[0].removesuffix('.py')}" for lab, names in BATCHES])
def test_reference_student_and_known_wrong_scores(lab, names, tmp_path):
    """The reference scores full marks, the student notebook 0, each known-wrong submission loses
    exactly the checks its first line names; and each grade equals the table of
    tests/scores_before_renovation.json (where it has a row: a file added since is checked alone)."""
    ids = {c.id for c in load_checks(lab).items}
    paths = [scores_table.build(lab, name, tmp_path)[0] for name in names]
    reports = grade_many(lab, paths, seed=scores_table.SEED)
    problems = []
    for name, report in zip(names, reports):
        failed = {t.id for t in report.tests if not t.passed}
        msgs = {t.id: t.message for t in report.tests if not t.passed}
        if name == "reference":
            if failed or not report.score == report.max_score > 0:
                problems.append(f"reference fails {sorted(failed)}: {json.dumps(msgs, indent=1)}")
        elif name == "student":
            if report.score != 0 or len(failed) != len(report.tests):
                problems.append(f"the stub passes {sorted({t.id for t in report.tests} - failed)}")
        else:
            expected = {f"{lab}.{n}" for n in expected_failures(ROOT / "tests" / "submissions" / lab / name)}
            if not expected <= ids:
                problems.append(f"unknown checks named in {name}: {expected - ids}")
            if failed != expected:
                problems.append(f"{name}: failed {sorted(failed)}, expected {sorted(expected)}\n"
                                + json.dumps(msgs, indent=1))
        row = TABLE.get(lab, {}).get(name)
        if row is not None and row != scores_table.entry(report):
            problems.append(f"{name}: graded {scores_table.entry(report)}, the table says {row}")
    assert not problems, "\n".join(problems)


def test_the_table_names_only_files_that_exist():
    for lab, rows in TABLE.items():
        assert set(rows) <= set(scores_table.graded_files(lab)), f"{lab}: rows without a file"


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
