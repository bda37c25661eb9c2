"""The learner's first hour in a real browser: JupyterLab (the learner's set-up of `make lab`)
driven by Playwright through Debian's Chromium, headless.

Steps, each with a screenshot in ARTIFACTS (kept by CI as artefacts):
 1. the index opens; the instructor's formgrader is not served to the learner;
 2. every lecture notebook opens with its committed outputs rendered (plots), no error shown;
 3. Run All on lecture 01 reaches the end with no error, a plot and a widget; moving the
    batch slider one step changes the calculator's output;
 4. lab01 with a wrong `causal_mask`: Run All reaches the end (unwritten tasks reported, not
    stopping the run), the task 1 check cell shows FAIL; the right answer then shows PASS;
 5. Validate shows the failing checks' FAIL text;
 6. an untouched notebook opened and saved is byte for byte the same file (Jupyter's normal form).

Budget: every lecture notebook is executed headless by tests/test_course.py (nbclient); here
they are opened and checked for rendered outputs, and only lecture 01 (the one with a
calculator widget) is run in the browser, which keeps this test to a few minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

ARTIFACTS = ROOT / ".ci" / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BIN = Path(sys.executable).parent
LECTURES = sorted(p.name for p in (ROOT / "course").glob("*.ipynb"))
WRONG_MASK = ("def causal_mask(n_q, n_k, device=None):\n"
              "    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()  # ignores n_k - n_q\n")

pytestmark = pytest.mark.slow


def _learner_flags() -> list[str]:
    """The server flags of the learner's JupyterLab, read from the Makefile (`make lab`)."""
    import re
    import shlex

    m = re.search(r"^LEARNER_FLAGS := (.*)$", (ROOT / "Makefile").read_text(), flags=re.M)
    return shlex.split(m.group(1))


LEARNER_FLAGS = _learner_flags()


def _ensure_chromium() -> str:
    """Debian's Chromium, installed from the package registry when missing (never `playwright install`)."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip("no chromium and no apt-get to install it (Debian's `chromium` package is needed)")
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        pytest.skip("no chromium, and installing it needs root (apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        out = subprocess.run(sudo + cmd, capture_output=True, text=True, env=env, timeout=600)
        if out.returncode != 0:
            pytest.skip(f"chromium could not be installed ({' '.join(cmd)}): {out.stderr.strip()[-300:]}")
    return shutil.which("chromium") or CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of what the learner opens (so that saving touches nothing in the repository)."""
    root = tmp_path_factory.mktemp("learner")
    shutil.copytree(ROOT / "course", root / "course", ignore=shutil.ignore_patterns("src", ".ipynb_checkpoints"))
    (root / "labs").mkdir()
    shutil.copytree(ROOT / "labs" / "lab01", root / "labs" / "lab01")
    shutil.copy(ROOT / "labs" / "lab01" / "lab01.ipynb", root / "labs" / "lab01" / "untouched.ipynb")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "SPEC.md", root / "docs" / "SPEC.md")
    nb = nbformat.read(root / "labs" / "lab01" / "lab01.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab01_causal_mask")
    cell.source = WRONG_MASK
    nbformat.write(nb, root / "labs" / "lab01" / "lab01.ipynb")
    return root


@pytest.fixture(scope="module")
def server(workdir):
    """JupyterLab with the learner's configuration (jupyter/learner), as `make lab` starts it."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(ROOT / "jupyter" / "learner"), MPLBACKEND="module://matplotlib_inline.backend_inline")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "server.log", "w")
    proc = subprocess.Popen([str(BIN / "jupyter"), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
                             "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}",
                             "--LabApp.expose_app_in_browser=True", *LEARNER_FLAGS],
                            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start (see .ci/artifacts/browser/server.log)")
                time.sleep(1)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium = _ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (requirements.txt) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def open_notebook(page, server, path: str) -> None:
    base, token = server
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           f" && window.jupyterapp.shell.currentWidget.context"
                           f" && window.jupyterapp.shell.currentWidget.context.path === {json.dumps(path)}"
                           " && window.jupyterapp.shell.currentWidget.context.isReady")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    wait_idle(page)


def wait_idle(page, timeout_s: float = 600) -> None:
    """The kernel is connected and idle, and no cell is waiting to run."""
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   if (!k || k.status !== 'idle') return false;
                   return !Array.from(w.content.widgets).some(c => c.model.type === 'code'
                                                              && c.model.executionState === 'running'); }""",
        timeout=timeout_s * 1000)


def run_all(page, timeout_s: float = 600) -> None:
    """Run All, then wait until every code cell has run (the cells outside the view included)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        """() => Array.from(window.jupyterapp.shell.currentWidget.content.widgets).every(
                   c => c.model.type !== 'code' || !c.model.sharedModel.getSource().trim()
                        || c.model.executionCount !== null)""", timeout=timeout_s * 1000)
    wait_idle(page)


def cell_outputs(page) -> list[dict]:
    """Each cell's outputs as the notebook model holds them: text shown, errors/stderr, plots, widgets."""
    return page.evaluate(
        """() => Array.from(window.jupyterapp.shell.currentWidget.content.widgets).map((c, i) => {
              const outs = c.model.type === 'code' ? c.model.outputs.toJSON() : [];
              const text = o => o.text ? [].concat(o.text).join('') :
                                o.traceback ? o.traceback.join('\\n') :
                                (o.data && o.data['text/plain']) ? [].concat(o.data['text/plain']).join('') : '';
              return {index: i, id: (c.model.getMetadata('nbgrader') || {}).grade_id || '',
                      executed: c.model.type !== 'code' || c.model.executionCount !== null || !c.model.sharedModel.getSource().trim(),
                      text: outs.map(text).join('\\n'),
                      error: outs.filter(o => o.output_type === 'error' || o.name === 'stderr').length,
                      images: outs.filter(o => o.data && o.data['image/png']).length,
                      widgets: outs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length}; })""")


def rendered(page, index: int) -> dict:
    """What the browser shows of cell `index` once scrolled into view: images and sliders drawn."""
    page.evaluate("(i) => window.jupyterapp.shell.currentWidget.content.scrollToItem(i, 'start')", index)
    page.wait_for_timeout(500)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)
    return {"images": cell.locator(".jp-OutputArea-output img").count(),
            "sliders": cell.locator(".widget-slider, .widget-hslider").count(), "cell": cell}


def test_1_index_opens_and_instructor_tools_are_hidden(page, server):
    open_notebook(page, server, "course/00_index.ipynb")
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()  # "get notified about official Jupyter news?"
    shot(page, "1-index")
    base, token = server
    assert "docs/SPEC.md" in page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden)")
    status = page.request.get(f"{base}/formgrader?token={token}").status
    assert status == 404, f"the formgrader is served to the learner (HTTP {status})"
    assert page.request.get(f"{base}/assignments?token={token}").status != 404  # the Assignment List's API
    assert page.locator("text=Formgrader").count() == 0


@pytest.mark.parametrize("name", LECTURES)
def test_2_lecture_notebooks_show_their_outputs(page, server, name):
    open_notebook(page, server, f"course/{name}")
    shot(page, f"2-{Path(name).stem}")
    stored = nbformat.read(ROOT / "course" / name, as_version=4)
    pngs = sum("image/png" in o.get("data", {}) for c in stored.cells if c.cell_type == "code" for o in c.outputs)
    cells = cell_outputs(page)
    assert sum(c["images"] for c in cells) == pngs, f"{name}: {pngs} stored plots, fewer opened"
    assert not [c for c in cells if c["error"]], f"{name}: an error is stored"
    plots = [c["index"] for c in cells if c["images"]]
    if plots:
        assert rendered(page, plots[0])["images"] > 0, f"{name}: the first plot is not drawn"
        shot(page, f"2-{Path(name).stem}-plot")


def test_3_lecture_run_all_plots_and_a_slider_that_moves(page, server):
    open_notebook(page, server, "course/01_inference_basics.ipynb")
    run_all(page)
    shot(page, "3-lecture01-run-all")
    cells = cell_outputs(page)
    assert all(c["executed"] for c in cells), "Run All stopped early"
    assert not [c["index"] for c in cells if c["error"]], "an error output after Run All"
    assert sum(c["images"] for c in cells) > 0, "no plot"
    sliders = [c for c in cells if c["widgets"]]
    assert sliders, "no widget"
    idx = sliders[0]["index"]
    view = rendered(page, idx)
    assert view["sliders"] > 0, "the widget is not drawn"
    before = view["cell"].inner_text()
    handle = view["cell"].locator(".noUi-handle, .ui-slider-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(3000)
    wait_idle(page)
    shot(page, "3-lecture01-slider-moved")
    after = view["cell"].inner_text()
    assert after != before, "moving the slider changed nothing"


def _check_cell(page, grade_id: str) -> dict:
    return next(c for c in cell_outputs(page) if c["id"] == grade_id)


def test_4_lab_check_cell_fail_then_pass(page, server):
    open_notebook(page, server, "labs/lab01/lab01.ipynb")
    run_all(page)
    shot(page, "4-lab01-run-all")
    cells = cell_outputs(page)
    assert all(c["executed"] for c in cells), "Run All stopped at an unwritten task"
    task1 = _check_cell(page, "lab01_task1")
    assert "FAIL causal_mask_rectangular" in task1["text"] and "Traceback" not in task1["text"], task1["text"]
    assert "task 2 not written yet" in _check_cell(page, "lab01_task2")["text"]
    right = nbformat.read(ROOT / "solutions" / "lab01" / "lab01.ipynb", as_version=4)
    src = next(c.source for c in right.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab01_causal_mask")
    sol = next(c["index"] for c in cells if c["id"] == "lab01_causal_mask")
    test = next(c["index"] for c in cells if c["id"] == "lab01_task1")
    page.evaluate("""([i, src]) => { const nb = window.jupyterapp.shell.currentWidget.content;
                                      nb.widgets[i].model.sharedModel.setSource(src); }""", [sol, src])
    for i in (sol, test):
        page.evaluate("(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; "
                      "return window.jupyterapp.commands.execute('notebook:run-cell'); }", i)
        page.wait_for_timeout(1000)
        wait_idle(page)
    page.locator(".jp-Cell").nth(test).scroll_into_view_if_needed()
    shot(page, "4-lab01-right-answer")
    text = _check_cell(page, "lab01_task1")["text"]
    assert "PASS causal_mask_rectangular" in text and "visible checks of task 1 passed" in text, text


def test_5_validate_shows_the_fail_text(page, server):
    open_notebook(page, server, "labs/lab01/lab01.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.get_by_role("button", name="Validate").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)
    page.wait_for_function("() => !document.querySelector('.jp-Dialog').innerText.includes('Validating')",
                           timeout=600_000)
    shot(page, "5-validate")
    text = dialog.inner_text()
    assert "not written yet" in text or "FAIL" in text, text
    page.keyboard.press("Escape")


def test_6_open_and_save_changes_nothing(page, server, workdir):
    path = workdir / "labs" / "lab01" / "untouched.ipynb"
    before = path.read_bytes()
    open_notebook(page, server, "labs/lab01/untouched.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(2000)
    shot(page, "6-saved")
    after = path.read_bytes()
    if after != before:
        import difflib

        diff = "".join(list(difflib.unified_diff(before.decode().splitlines(True), after.decode().splitlines(True)))[:40])
        pytest.fail(f"saving an untouched notebook changed it:\n{diff}")
