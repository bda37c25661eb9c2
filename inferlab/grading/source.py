"""Read a submission (.ipynb or .py) into the code it runs."""
from __future__ import annotations

import ast
import json
from pathlib import Path


class UnreadableSubmission(ValueError):
    """The file cannot be graded at all (exit status 2)."""


def _is_test_cell(cell: dict) -> bool:
    src = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) else cell.get("source", "")
    return "check_here(" in src or "### BEGIN HIDDEN TESTS" in src


def read_cells(lab: str, path: str | Path) -> list[str]:
    """The code cells of a notebook (test cells left out) or the text of a module."""
    p = Path(path)
    if not p.exists():
        raise UnreadableSubmission(f"{p}: no such file")
    if p.is_dir():
        raise UnreadableSubmission(f"{p}: is a folder, not a notebook or module")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UnreadableSubmission(f"{p}: cannot be read ({e.__class__.__name__})") from None
    if p.suffix == ".py":
        try:
            ast.parse(text, filename=str(p))
        except SyntaxError as e:
            raise UnreadableSubmission(f"{p}:{e.lineno}: syntax error: {e.msg}") from None
        return [text]
    if p.suffix != ".ipynb":
        raise UnreadableSubmission(f"{p}: expected a .ipynb notebook or a .py module")
    try:
        nb = json.loads(text)
        cells = nb["cells"]
        assert isinstance(cells, list)
    except Exception:  # noqa: BLE001
        raise UnreadableSubmission(f"{p}: not a Jupyter notebook (invalid JSON or no cells)") from None
    ids = []
    for c in cells:
        meta = (c.get("metadata") or {}).get("nbgrader") or {}
        ids.append(str(meta.get("grade_id", "")))
        text = c.get("source", "")
        ids.append(text if isinstance(text, str) else "".join(text))
    if not any(lab in s for s in ids):
        raise UnreadableSubmission(f"{p}: not a notebook of {lab} (no cell mentions {lab})")
    out = []
    for c in cells:
        if c.get("cell_type") != "code" or _is_test_cell(c):
            continue
        src = c.get("source", "")
        out.append(src if isinstance(src, str) else "".join(src))
    return out


def register_source(name: str, src: str) -> None:
    """Let `inspect` (and so @triton.jit) find the source of code compiled from a string."""
    import linecache

    linecache.cache[name] = (len(src), None, src.splitlines(True), name)


def run_cells(cells: list[str], ns: dict, prefix: str = "cell") -> dict:
    """Execute code cells into `ns` as a notebook would (sources registered for Triton)."""
    for i, src in enumerate(cells):
        name = f"<{prefix} {i}>"
        register_source(name, src)
        exec(compile(src, name, "exec"), ns)  # noqa: S102 - the course's own or a graded submission
    return ns


def load_solution(lab: str, root: str | Path | None = None) -> dict:
    """The reference solution of `lab` run into a fresh namespace (for benchmarks and demos)."""
    from inferlab import course_root

    root = Path(root) if root else course_root()
    return run_cells(read_cells(lab, root / "solutions" / lab / f"{lab}.ipynb"), {"__name__": f"{lab}_solution"}, lab)
