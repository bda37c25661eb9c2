"""Feedback a learner can read, in a real kernel (nbclient), on the student notebook of lab01:

one line per check (PASS, or FAIL with what was tried and the first mismatch), "N hidden checks
run in the grader", one line of error and never the grader's traceback; an unwritten task says
"task N not written yet"; a syntax error names the cell and the line; Run All reaches the end;
nbgrader counts a failing check cell as 0 and its Validate shows the FAIL text.
"""
from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT
from inferlab.grading import load_checks

LAB = "lab01"
WRONG_MASK = '''def causal_mask(n_q, n_k, device=None):
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()  # ignores the offset n_k - n_q
'''
SYNTAX_ERROR = '''def top_k_top_p_filter(logits, top_k=None, top_p=None):
    kept = logits.clone(
    return kept
'''


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _text(cell, name=None):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and name in (None, o.name))


def _errors(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The student notebook with task 1 wrong, task 2 right, task 3 a syntax error, the rest unwritten,
    run top to bottom as Run All does (the cells' raises-exception tags honoured)."""
    nb = nbformat.read(ROOT / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    solved = nbformat.read(ROOT / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    _cell(nb, "lab01_causal_mask").source = WRONG_MASK
    _cell(nb, "lab01_attention").source = _cell(solved, "lab01_attention").source
    _cell(nb, "lab01_top_k_top_p_filter").source = SYNTAX_ERROR
    tmp = tmp_path_factory.mktemp("feedback")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp)}}).execute()
    nbformat.write(nb, tmp / f"{LAB}.ipynb")
    return nb


def test_run_all_reaches_the_end(ran):
    code = [c for c in ran.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "Run All stopped before the last cell"


def test_a_wrong_answer_gets_one_line_per_check_and_a_one_line_error(ran):
    cell = _cell(ran, "lab01_task1")
    out, err = _text(cell, "stdout"), _text(cell, "stderr")
    assert "PASS causal_mask_square" in out
    assert "FAIL causal_mask_rectangular" in err and "expected" in err and "first" in err, err
    n_hidden = sum(not c.visible for c in load_checks(LAB).select(group="task1"))
    assert out.rstrip().endswith(f"{n_hidden} hidden check{'s' if n_hidden != 1 else ''} run in the grader "
                                 f"(`inferlab grade {LAB} {LAB}.ipynb`, or nbgrader's autograde)"), out
    (error,) = _errors(cell)
    assert error.ename == "TaskNotPassing" and len(error.traceback) == 1, error.traceback
    assert "causal_mask_rectangular" in error.traceback[0]
    shown = out + err + "\n".join(error.traceback)
    for grader_frame in ("Traceback", "File \"", "inferlab/grading", "autograder/"):
        assert grader_frame not in shown, shown


def test_a_right_answer_passes(ran):
    cell = _cell(ran, "lab01_task2")
    out = _text(cell, "stdout")
    assert not _errors(cell) and not _text(cell, "stderr"), _text(cell)
    assert re.search(r"all \d+ visible checks of task 2 passed", out) and "PASS attention_fully_masked_rows" in out


def test_an_unwritten_task_says_so(ran):
    cell = _cell(ran, "lab01_task4")
    err = _text(cell, "stderr")
    assert "task 4 not written yet" in err, err
    (error,) = _errors(cell)
    assert error.traceback == [f"\x1b[0;31mTaskNotPassing\x1b[0m: {LAB} task 4 not written yet"]
    assert "NotImplementedError: NotImplementedError" not in _text(cell)


def test_a_syntax_error_names_the_cell_and_line(ran):
    err = _text(_cell(ran, "lab01_task3"), "stderr")
    assert re.search(r"`top_k_top_p_filter` is not defined: its cell \(In \[\d+\]\) has a SyntaxError at line 2", err), err


def test_nbgrader_counts_a_failing_check_cell_as_zero_and_validate_shows_the_fail_text(ran):
    from nbgrader.utils import determine_grade
    from nbgrader.validator import Validator

    for gid, expected in (("lab01_task1", 0), ("lab01_task3", 0), ("lab01_task4", 0)):
        assert determine_grade(_cell(ran, gid))[0] == expected
    cell = _cell(ran, "lab01_task2")
    assert determine_grade(cell)[0] == cell.metadata.nbgrader.points
    shown = Validator()._extract_error(_cell(ran, "lab01_task1"))
    assert "FAIL causal_mask_rectangular" in shown and "Traceback" not in shown, shown


def test_the_first_cell_prints_no_generator():
    nb = nbformat.read(ROOT / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert not first.source.rstrip().splitlines()[-1].startswith("torch.manual_seed("), \
        "the last line's value (a torch.Generator) is printed"


# ----------------------------------------------------------------------------- the grader that speaks


def test_an_endless_loop_costs_seconds_and_the_rest_is_graded(tmp_path):
    """attack_infinite_loop: kv_cache_bytes never returns. Its first call is given up after
    FIRST_CALL_TIMEOUT, the function is marked hanging, the other checks that need it fail at once,
    and the checks of the other functions of the task still pass; each result is reported as it comes."""
    import time

    from conftest import wrong_submission
    from inferlab.grading.remote import FIRST_CALL_TIMEOUT
    from inferlab.grading.runner import grade

    path = wrong_submission(LAB, ROOT / "tests" / "submissions" / LAB / "attack_infinite_loop.py", tmp_path)
    seen = []
    t0 = time.monotonic()
    report = grade(LAB, path, groups=["task6"], seed=1, progress=seen.append)
    assert [r.id for r in seen] == [t.id for t in report.tests]
    by = {t.id.split(".")[1]: t for t in report.tests}
    first = by["kv_cache_bytes_llama2_7b"]
    assert not first.passed and first.message.startswith("hanging: `kv_cache_bytes` did not return")
    assert first.seconds < FIRST_CALL_TIMEOUT + 60  # the first check of the grade also starts the sandbox
    for name in ("kv_cache_bytes_gqa_and_random", "formulas_reject_bad_input"):
        assert not by[name].passed and "not called again" in by[name].message and by[name].seconds < 2
    assert by["matmul_cost_hand_cases"].passed and by["roofline_time_hand_cases"].passed
    assert time.monotonic() - t0 < FIRST_CALL_TIMEOUT + 120


def test_a_grade_has_a_time_budget():
    from inferlab.grading.runner import grade

    report = grade(LAB, ROOT / "solutions" / LAB / f"{LAB}.ipynb", groups=["task1"], budget=0.0)
    assert report.tests and all(not t.passed and "time budget" in t.message for t in report.tests)


def test_the_score_is_shown_once_and_the_rubric_as_a_view_of_the_same_points():
    from inferlab.grading.runner import Report, Result

    rep = Report(lab=LAB, tests=[Result("lab01.a", 2, 2, True, "correctness", "knowledge", "task1", "ok"),
                                 Result("lab01.b", 0, 2, False, "correctness", "systems", "task6", "got 1, expected 2")])
    text = rep.table()
    assert text.count("2 / 4 points") == 1 and "FAIL" in text and "got 1, expected 2" in text
    rubric = text.splitlines()[-1]
    assert "the same points by the course rubric" in rubric and "knowledge 2/2 x 40%" in rubric
    assert "systems 0/2 x 30%" in rubric and "57.1/100" in rubric  # 40 * 1 / (40 + 30)
