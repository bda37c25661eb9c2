"""Every lecture notebook executes top to bottom without error (headless, CPU)."""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "course").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_course_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]


def test_every_course_notebook_has_interview_questions_in_both_languages():
    for path in NOTEBOOKS:
        if path.stem.startswith("00"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "Interview" in text and "面试" in text, f"{path.name}: the section's interview questions (中文 + English)"
