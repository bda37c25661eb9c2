"""Shared helpers for the test suite."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from inferlab import course_root

# Grading tensors are small; threads fighting over 2 cores cost far more than they give.
torch.set_num_threads(1)

ROOT = course_root()
LABS = sorted(p.name for p in (ROOT / "solutions").glob("lab*") if (p / f"{p.name}.src.py").exists())


def solution_cells(lab: str) -> list[str]:
    """The reference solution's code cells (test cells left out), as the grader reads them."""
    from inferlab.grading.source import read_cells

    return read_cells(lab, ROOT / "solutions" / lab / f"{lab}.ipynb")


def expected_failures(path: Path) -> set[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = re.match(r"#\s*expect-fail:\s*(.*)$", first)
    if not m:
        raise ValueError(f"{path}: first line must be '# expect-fail: check, check, ...'")
    return {s.strip() for s in m.group(1).split(",") if s.strip()}


def wrong_submission(lab: str, override: Path, tmp_path: Path) -> Path:
    """The reference solution with the definitions of `override` replacing its own."""
    out = tmp_path / f"{lab}_{override.stem}.py"
    body = "\n\n# ---- cell ----\n".join(solution_cells(lab) + [override.read_text(encoding="utf-8")])
    out.write_text(body, encoding="utf-8")
    return out


def known_wrong(lab: str) -> list[Path]:
    return sorted((ROOT / "tests" / "submissions" / lab).glob("wrong_*.py"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# ----------------------------------------------------------------------------- order of the run
# `make test` runs `pytest -n 2 --dist loadgroup --no-loadscope-reorder`: a free worker takes the next
# unit in this order. The slowest start first (seconds each on a 2-core runner, from --durations), so
# that no long test starts last and leaves one core idle; the modules whose fixtures start a server,
# a kernel or a course stay on one worker (one fixture, in their written order).
SLOWEST_FIRST = [
    (r"tests/test_classroom\.py::test_a_class_of_30", 500),
    (r"tests/test_nbgrader\.py::test_nbgrader_round_trip", 400),
    (r"tests/test_labs\.py::\w+\[lab0[678]-", 150),
    (r"tests/test_hub\.py", 150),
    (r"tests/test_browser\.py", 140),
    (r"tests/test_interview\.py", 100),
    (r"tests/test_labs\.py::\w+\[lab0[345]-", 60),
    (r"tests/test_integrity\.py::\w+\[lab01-attack_(infinite_loop|memory)\]", 50),
    (r"tests/test_labs\.py::\w+\[", 30),
    (r"tests/test_feedback\.py", 30),
]
ONE_WORKER = ("test_browser", "test_interview", "test_feedback", "test_serve", "test_notebook_form",
              "test_postgres", "test_lab07", "test_lab08", "test_lab09", "test_models", "test_engine")


def _weight(nodeid: str) -> float:
    for pattern, seconds in SLOWEST_FIRST:
        if re.match(pattern, nodeid):
            return seconds
    return 0.0


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        if module in ONE_WORKER:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=lambda item: -_weight(item.nodeid))  # stable: a module keeps its order
