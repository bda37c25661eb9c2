"""Notebooks written as plain percent-format text, built into .ipynb with nbgrader metadata.

Every notebook of the course (lectures and lab sources) is authored once as a `.py`
file in the percent format, so that diffs stay readable; `inferlab build` turns it
into the `.ipynb` that JupyterLab and nbgrader read. Cell markers:

    # %% [markdown]                                   a markdown cell ("# " stripped)
    # %%                                              a code cell
    # %% [solution id=lab01_causal_mask]              autograded answer (### BEGIN/END SOLUTION inside)
    # %% [test id=lab01_task1]                       autograded, locked test cell; points and category
                                                      come from the checks of group task1 (autograder/lab01.py)
    # %% [written id=lab01_q1 points=2 category=knowledge]   manually graded markdown answer
    # %% [markdown locked id=lab01_intro]             a read-only markdown cell

In a lab, every code cell from the first solution cell on is tagged `raises-exception`: Run All
(JupyterLab, nbclient) goes on past an unwritten task or a failing check, so the learner sees
the state of every task; nbgrader still counts a test cell's error as 0 points.

Notebooks are stored in Jupyter's normal form (`normal_form`): what JupyterLab writes when an
untouched notebook is opened and saved, so that opening one changes nothing. Lecture notebooks
keep their outputs (plots visible before running): a build re-executes one only when its
cells' sources changed.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from inferlab import course_root
from inferlab.grading.checks import CATEGORIES
_MARKER = re.compile(r"^# %%(?:\s+\[(?P<head>[^\]]*)\])?\s*$")


def _parse_head(head: str, where: str) -> tuple[str, dict]:
    """Split '[kind k=v ...]' into the kind and its options."""
    words = shlex.split(head or "")
    kind = "code"
    opts: dict = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            opts[k] = v
        elif w in ("markdown", "solution", "test", "written", "code"):
            kind = w
        elif w == "locked":
            opts["locked"] = True
        else:
            raise ValueError(f"{where}: unknown cell option {w!r}")
    return kind, opts


def _markdown_source(lines: list[str]) -> str:
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append(line[2:])
        elif line.strip() == "#":
            out.append("")
        elif line.strip() == "":
            out.append("")
        else:
            out.append(line)
    return "\n".join(out).strip("\n")


def _points_from_checks(opts: dict, where: str) -> None:
    """Fill a test cell's points and category from its checks (`autograder/labNN.py`, group = id after
    "labNN_"): points are declared once, on the checks. A header that still names them must agree."""
    from inferlab.grading.checks import load_checks

    lab, _, group = str(opts.get("id", "")).partition("_")
    try:
        checks = load_checks(lab).select(group=group)
    except ValueError:  # a lab whose checks are not written yet: the header's points stand
        return
    if not checks:
        raise ValueError(f"{where}: test cell {opts.get('id')}: autograder/{lab}.py has no checks in group {group!r}")
    points = sum(c.points for c in checks)
    cats = {c.category for c in checks}
    if len(cats) != 1:
        raise ValueError(f"{where}: the checks of {lab}/{group} mix categories {sorted(cats)}; split the group")
    for key, value in (("points", points), ("category", cats.pop())):
        if key in opts and (float(opts[key]) != value if key == "points" else opts[key] != value):
            raise ValueError(f"{where}: {key}={opts[key]} in the header, but the checks of {lab}/{group} say "
                             f"{value}: drop it from the header (the checks declare it)")
        opts[key] = value


def _nbgrader(kind: str, opts: dict, where: str) -> dict | None:
    if kind in ("test", "written", "solution") or opts.get("locked"):
        if "id" not in opts:
            raise ValueError(f"{where}: a {kind} cell needs id=...")
    meta = None
    if kind == "solution":
        meta = {"grade": False, "solution": True, "locked": False, "task": False}
    elif kind in ("test", "written"):
        if kind == "test":
            _points_from_checks(opts, where)
        if "points" not in opts or opts.get("category") not in CATEGORIES:
            raise ValueError(f"{where}: a {kind} cell needs points=N and category in {CATEGORIES}")
        meta = {"grade": True, "solution": kind == "written", "locked": kind == "test",
                "task": False, "points": float(opts["points"])}
    elif opts.get("locked"):
        meta = {"grade": False, "solution": False, "locked": True, "task": False}
    if meta is not None:
        meta["grade_id"] = opts["id"]
        meta["schema_version"] = 3
    return meta


def parse_percent(text: str, where: str = "<notebook>") -> nbformat.NotebookNode:
    """Build a notebook from percent-format text."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    blocks: list[tuple[str, dict, list[str]]] = []
    cur = None
    for i, line in enumerate(text.splitlines(), 1):
        m = _MARKER.match(line)
        if m:
            kind, opts = _parse_head(m.group("head") or "", f"{where}:{i}")
            cur = (kind, opts, [])
            blocks.append(cur)
        elif cur is not None:
            cur[2].append(line)
        elif line.strip():
            raise ValueError(f"{where}:{i}: text before the first '# %%' marker")
    for n, (kind, opts, lines) in enumerate(blocks):
        where_n = f"{where}: cell {n}"
        if kind in ("markdown", "written"):
            cell = nbformat.v4.new_markdown_cell(_markdown_source(lines))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines).strip("\n"))
        meta = _nbgrader(kind, opts, where_n)
        if meta is not None:
            cell.metadata["nbgrader"] = meta
        if "category" in opts:
            cell.metadata["inferlab"] = {"category": opts["category"]}
        cell.pop("id", None)
        blocks[n] = cell
    if any((c.metadata.get("nbgrader") or {}).get("solution") and c.cell_type == "code" for c in blocks):
        seen_solution = False
        for cell in blocks:
            seen_solution |= bool((cell.metadata.get("nbgrader") or {}).get("solution"))
            if seen_solution and cell.cell_type == "code":
                cell.metadata["tags"] = ["raises-exception"]
    nb.cells = blocks
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


RAISES = "raises-exception"


def language_info(version: str | None = None) -> dict:
    """What ipykernel reports and JupyterLab stores on opening a notebook (Python's version included)."""
    return {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
            "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3", "version": version or platform.python_version()}


def _json_numbers(value):
    """Numbers as JavaScript writes them: 4.0 -> 4 (JupyterLab saves points: 4.0 as 4)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value


def normal_form(nb, previous: str | None = None) -> str:
    """The text of `nb` as JupyterLab saves it after opening it with a kernel: full `language_info`,
    integral numbers as ints, keys sorted, one space indent, a final newline (jupyter_server's
    nbformat.write). `previous`: the notebook's current text, whose Python version is kept."""
    nb = nbformat.from_dict(_json_numbers(json.loads(nbformat.writes(nb, version=4))))
    version = None
    if previous:
        try:
            version = json.loads(previous)["metadata"]["language_info"]["version"]
        except (ValueError, KeyError, TypeError):
            version = None
    nb.metadata["language_info"] = language_info(version)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.setdefault("execution_count", None)
            cell.setdefault("outputs", [])
    return nbformat.writes(nb, version=4) + "\n"


def cell_sources(nb) -> list:
    """What a notebook is made of, outputs aside: each cell's type, source and metadata."""
    return [(c.cell_type, c.source, _json_numbers(dict(c.metadata))) for c in nb.cells]


def has_outputs(nb) -> bool:
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def execute(nb, cwd: Path, timeout: int = 600):
    """Run a lecture notebook top to bottom (headless, Agg plots); its outputs filled in place."""
    from nbclient import NotebookClient

    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    return nb


def build_percent(src: Path, dst: Path, run: bool = False) -> bool:
    """Build one notebook; return True when dst changed. A notebook whose cells are unchanged keeps
    its outputs; run=True executes a changed one (lecture notebooks: outputs committed)."""
    nb = parse_percent(Path(src).read_text(encoding="utf-8"), str(src))
    old = Path(dst).read_text(encoding="utf-8") if Path(dst).exists() else None
    old_nb = nbformat.reads(old, as_version=4) if old is not None else None
    if old_nb is not None and cell_sources(old_nb) == cell_sources(nb) and not (run and not has_outputs(old_nb)):
        new = normal_form(nbformat.reads(old, as_version=4), old)
    else:
        if run:
            try:
                execute(nb, Path(dst).parent)
            except Exception as e:  # noqa: BLE001 - a notebook that does not run yet is still built
                print(f"warning: {dst} did not run to the end ({type(e).__name__}); stored without all outputs",
                      file=sys.stderr)
        new = normal_form(nb, old)
    if old != new:
        Path(dst).write_text(new, encoding="utf-8")
        return True
    return False


def notebook_sources(root: Path) -> list[tuple[Path, Path]]:
    """(percent source, built notebook) pairs of the course and the lab solutions."""
    root = Path(root)
    pairs = [(p, root / "course" / (p.stem + ".ipynb")) for p in sorted((root / "course" / "src").glob("*.py"))]
    for p in sorted((root / "solutions").glob("lab*/*.src.py")):
        pairs.append((p, p.with_name(p.name[: -len(".src.py")] + ".ipynb")))
    return pairs


def build(root: Path | None = None, verbose: bool = True, release_dir: Path | None = None,
          write_sources: bool = True, only: list[str] | None = None, run: bool = True) -> list[str]:
    """Percent sources -> notebooks, then nbgrader generate_assignment solutions/ -> labs/.

    Returns the notebooks built from percent sources that changed (or, with
    write_sources=False, that would change: other cells, or not in the normal form).
    only: build just these (names such as "lab03" or "03": the course notebook and lab of that number).
    run: execute a lecture notebook whose cells changed, so that it is stored with its outputs.
    """
    root = Path(root) if root else course_root()

    def wanted(name: str) -> bool:
        return only is None or any(name.startswith(o) or name.startswith(o.removeprefix("lab")) for o in only)

    changed = []
    for src, dst in notebook_sources(root):
        if not wanted(dst.stem):
            continue
        lecture = dst.parent.name == "course"
        if write_sources:
            if build_percent(src, dst, run=run and lecture):
                changed.append(str(dst.relative_to(root)))
        else:
            nb = parse_percent(src.read_text(encoding="utf-8"), str(src))
            old = dst.read_text(encoding="utf-8") if dst.exists() else None
            if old is None or cell_sources(nbformat.reads(old, as_version=4)) != cell_sources(nb) \
                    or normal_form(nbformat.reads(old, as_version=4), old) != old:
                changed.append(str(dst.relative_to(root)))
    release = Path(release_dir) if release_dir else root / "labs"
    labs = sorted(p.name for p in (root / "solutions").glob("lab*") if p.is_dir() and wanted(p.name))
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/gradebook.db"
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        # All labs in one nbgrader process (its assignment id is a glob): one start instead of ten.
        for pattern in (["lab*"] if only is None and labs else labs):
            cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", pattern, "--force", "--log-level=WARN",
                   f"--db={db}", f"--CourseDirectory.root={root}",
                   f"--CourseDirectory.release_directory={release}"]
            out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"nbgrader generate_assignment {pattern} failed:\n{out.stdout}\n{out.stderr}")
        for lab in labs:
            for path in sorted((release / lab).glob("*.ipynb")):  # nbgrader writes points as 4.0
                text = path.read_text(encoding="utf-8")
                path.write_text(normal_form(nbformat.reads(text, as_version=4), text), encoding="utf-8")
            if verbose:
                print(f"built {release.name}/{lab}")
    for c in changed:
        if verbose:
            print(f"rebuilt {c}")
    return changed
