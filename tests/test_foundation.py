"""The install, the build and the `inferlab` command."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LABS, ROOT

INFERLAB = [sys.executable, "-m", "inferlab.cli"]


def pins(text: str) -> dict[str, str]:
    return {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M)}


def test_environment_yml_pins_match_requirements():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req and req == env, f"requirements.txt {req} vs environment.yml {env}"
    assert req["torch"] and req["triton"] and req["nbgrader"]


def test_generated_notebooks_match_their_sources(tmp_path):
    from inferlab.notebook import build

    stale = build(ROOT, verbose=False, release_dir=tmp_path / "labs", write_sources=False)
    assert not stale, f"run `make labs`: these notebooks differ from their sources: {stale}"
    for lab in LABS:
        fresh = json.loads((tmp_path / "labs" / lab / f"{lab}.ipynb").read_text())
        committed = json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
        assert [c["source"] for c in fresh["cells"]] == [c["source"] for c in committed["cells"]], \
            f"labs/{lab} drifted from solutions/{lab}: run `make labs`"
        assert [c.get("metadata") for c in fresh["cells"]] == [c.get("metadata") for c in committed["cells"]]


def run(*args, **kw):
    return subprocess.run([*INFERLAB, *args], capture_output=True, text=True, cwd=ROOT, **kw)


@pytest.mark.parametrize("content,suffix,needle", [
    (None, ".ipynb", "no such file"),
    ("not json", ".ipynb", "not a Jupyter notebook"),
    ('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}', ".ipynb", "not a notebook of lab01"),
    ("def f(:\n", ".py", "syntax error"),
    ("x = 1", ".txt", "expected a .ipynb"),
])
def test_grade_refuses_unreadable_submissions_with_exit_2(tmp_path, content, suffix, needle):
    path = tmp_path / f"sub{suffix}"
    if content is not None:
        path.write_text(content)
    out = run("grade", "lab01", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_grade_refuses_an_unknown_lab(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("x = 1\n")
    out = run("grade", "lab77", str(path))
    assert out.returncode == 2 and "lab77" in out.stderr


def test_grade_json_follows_the_spec(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("print('all tests passed: 100/100')\n")
    out = run("grade", "lab01", str(path), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {"lab", "score", "max_score", "tests", "rubric"} <= set(report)
    assert report["lab"] == "lab01" and report["score"] == 0 and report["max_score"] > 0
    for t in report["tests"]:
        assert {"id", "points", "max_points", "passed", "kind", "category", "message"} <= set(t)
        assert t["kind"] in ("correctness", "performance", "integrity")
        assert t["category"] in ("knowledge", "systems", "practice", "frontier")
        assert not t["passed"] and t["message"]
    assert report["rubric"]["band"] == "poor"


def test_rubric_score_weights_and_bands():
    from inferlab.grading.runner import rubric_score

    assert rubric_score({"knowledge": (4, 4), "systems": (3, 3), "practice": (2, 2), "frontier": (1, 1)}) \
        == {"score": 100.0, "band": "excellent"}
    r = rubric_score({"knowledge": (1, 2), "systems": (0, 0)})
    assert r == {"score": 50.0, "band": "poor"}
    assert rubric_score({"knowledge": (9, 10), "practice": (8, 10)})["score"] == pytest.approx((40 * .9 + 20 * .8) / 60 * 100, abs=0.01)


def test_inferlab_check_reports_versions_mode_and_extensions():
    out = run("check")
    text = out.stdout
    for needle in ("torch", "triton", "nbgrader", "mode", "@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
        assert needle in text, text
    assert out.returncode == 0, text


def test_docs_spec_is_the_shared_spec():
    """docs/SPEC.md is the graded contract inside the repository: the same bytes as the course's shared SPEC."""
    shared = ROOT.parent / "shared" / "SPEC.md"
    if not shared.exists():
        pytest.skip("no ../shared/SPEC.md beside this checkout")
    assert (ROOT / "docs" / "SPEC.md").read_bytes() == shared.read_bytes(), \
        "docs/SPEC.md differs from ../shared/SPEC.md: copy it again"


TRUSTED_SPEC = re.compile(r"""["'](inferlab(?:\.\w+)+):(\w+)["']""")


def test_every_trusted_code_name_in_the_tree_resolves():
    """Checks reach trusted code by the function itself; a "module:function" string left anywhere
    must name a real function, so a rename fails here and not in a grade."""
    import importlib

    seen = []
    for folder in ("autograder", "inferlab", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "submissions" in path.parts:
                continue
            for m in TRUSTED_SPEC.finditer(path.read_text(encoding="utf-8")):
                if m.group(1) == "inferlab.x":  # the protocol's example in child.py
                    continue
                mod = importlib.import_module(m.group(1))
                assert callable(getattr(mod, m.group(2), None)), f"{path.relative_to(ROOT)}: {m.group(0)} does not resolve"
                seen.append(m.group(0))


def test_probe_functions_travel_by_module_and_name():
    from inferlab.grading import probes

    assert probes.spec(probes.tiers.run_policy_ops) == "inferlab.grading.probes.tiers:run_policy_ops"
    assert probes.spec(probes.traced) == "inferlab.grading.probes.kernels:traced"
    with pytest.raises(ValueError):
        probes.spec(len)
