"""lab05's own tests: the ungraded overlap task, and collectives reached around the patches."""
from __future__ import annotations

import pytest

from conftest import ROOT, expected_failures, solution_cells, wrong_submission
from inferlab.grading.runner import grade
from inferlab.launch import launch


def reference_namespace() -> dict:
    ns = {"__name__": "lab05_reference"}  # not __main__: the demo cells stay quiet
    for src in solution_cells("lab05"):
        exec(compile(src, "<lab05 cell>", "exec"), ns)
    return ns


def test_overlapped_matmul_equals_serial_on_two_ranks():
    ns = reference_namespace()
    out = launch(ns["overlap_experiment"], 2, 64, 32, 48, 1)
    assert all(o["agree"] for o in out)
    assert all(o["serial_s"] > 0 and o["overlapped_s"] > 0 for o in out)


ATTACKS = sorted((ROOT / "tests" / "submissions" / "lab05").glob("attack_*.py"))


@pytest.mark.parametrize("path", ATTACKS, ids=[p.stem for p in ATTACKS])
def test_attack_on_the_ring_loses_its_checks(path, tmp_path):
    """Collectives reached around the patched attributes, processes started from a rank: refused."""
    report = grade("lab05", wrong_submission("lab05", path, tmp_path), groups=["task1"])
    failed = {t.id.split(".", 1)[1] for t in report.tests if not t.passed}
    assert failed == expected_failures(path), {t.id: t.message for t in report.tests}
    assert all("not allowed" in t.message or "does not allow" in t.message
               for t in report.tests if not t.passed), {t.id: t.message for t in report.tests}
