"""Notebooks written as plain percent-format text, built into .ipynb with nbgrader metadata.

Every notebook of the course (lectures and lab sources) is authored once as a `.py`
file in the percent format, so that diffs stay readable; `inferlab build` turns it
into the `.ipynb` that JupyterLab and nbgrader read. Cell markers:

    # %% [markdown]                                   a markdown cell ("# " stripped)
    # %%                                              a code cell
    # %% [solution id=lab01_causal_mask]              autograded answer (### BEGIN/END SOLUTION inside)
    # %% [test id=lab01_task1 points=4 category=knowledge]   autograded, locked test cell
    # %% [written id=lab01_q1 points=2 category=knowledge]   manually graded markdown answer
    # %% [markdown locked id=lab01_intro]             a read-only markdown cell
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import nbformat

CATEGORIES = ("knowledge", "systems", "practice", "frontier")
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


def _nbgrader(kind: str, opts: dict, where: str) -> dict | None:
    if kind in ("test", "written", "solution") or opts.get("locked"):
        if "id" not in opts:
            raise ValueError(f"{where}: a {kind} cell needs id=...")
    meta = None
    if kind == "solution":
        meta = {"grade": False, "solution": True, "locked": False, "task": False}
    elif kind in ("test", "written"):
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
    nb.cells = blocks
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write deterministically (stable key order, trailing newline)."""
    text = nbformat.writes(nb, version=4)
    Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def build_percent(src: Path, dst: Path) -> bool:
    """Build one notebook; return True when dst changed."""
    nb = parse_percent(Path(src).read_text(encoding="utf-8"), str(src))
    new = nbformat.writes(nb, version=4) + "\n"
    old = Path(dst).read_text(encoding="utf-8") if Path(dst).exists() else None
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
