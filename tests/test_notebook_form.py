"""Notebooks that behave when opened: stored in Jupyter's normal form (opening and saving an untouched
notebook in JupyterLab changes nothing), lecture notebooks stored with their outputs and in step
with their percent sources. (tests/test_browser.py saves one in a real JupyterLab too.)

JupyterLab's save, emulated step by step: the browser parses the JSON (JavaScript numbers:
4.0 becomes 4), the kernel's `language_info` replaces the stored one when the kernel connects,
and jupyter_server writes the model with nbformat (sorted keys, one-space indent, final newline).
"""
from __future__ import annotations

import json

import nbformat
import pytest

from conftest import ROOT
from inferlab.notebook import cell_sources, has_outputs, notebook_sources, parse_percent

# Every section and its lab (a section joins this list once it is built with `inferlab build`;
# all ten are).
DONE = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10")
PAIRS = [(src, dst) for src, dst in notebook_sources(ROOT)
         if dst.stem[:2] in DONE or dst.stem[3:5] in DONE and dst.stem.startswith("lab")]
LECTURES = [(src, dst) for src, dst in PAIRS if dst.parent.name == "course"]
RELEASED = [ROOT / "labs" / f"lab{n}" / f"lab{n}.ipynb" for n in DONE if (ROOT / "labs" / f"lab{n}").exists()]


@pytest.fixture(scope="module")
def kernel_language_info() -> dict:
    """What the course's kernel reports when JupyterLab connects to it."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        return kc.kernel_info(reply=True, timeout=120)["content"]["language_info"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def saved_by_jupyterlab(text: str, language_info: dict) -> str:
    data = json.loads(text, parse_float=lambda s: int(float(s)) if float(s).is_integer() else float(s))
    stored = data["metadata"].get("language_info", {})
    data["metadata"]["language_info"] = dict(language_info, version=stored.get("version", language_info["version"]))
    return nbformat.writes(nbformat.from_dict(data), version=nbformat.NO_CONVERT) + "\n"


@pytest.mark.parametrize("path", [dst for _, dst in PAIRS] + RELEASED, ids=lambda p: str(p.relative_to(ROOT)))
def test_opening_and_saving_changes_nothing(path, kernel_language_info):
    """(The Python version stays the stored one: a kernel of another patch release writes its own.)"""
    text = path.read_text(encoding="utf-8")
    assert saved_by_jupyterlab(text, kernel_language_info) == text, f"{path}: not in Jupyter's normal form: run `inferlab build`"


@pytest.mark.parametrize("src,dst", LECTURES, ids=[d.stem for _, d in LECTURES])
def test_lecture_notebooks_are_stored_with_outputs_in_step_with_their_sources(src, dst):
    nb = nbformat.read(dst, as_version=4)
    assert cell_sources(nb) == cell_sources(parse_percent(src.read_text(encoding="utf-8"), str(src))), \
        f"{dst.name} differs from {src.name}: run `inferlab build {dst.stem[:2]}`"
    assert has_outputs(nb), f"{dst.name} has no outputs: run `inferlab build {dst.stem[:2]}`"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None or not c.source.strip() for c in code), f"{dst.name}: a cell was not run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{dst.name}: an error is stored"
    if any("plt." in c.source for c in code):
        assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), f"{dst.name}: no plot stored"
