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
