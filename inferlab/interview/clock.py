"""The candidate's clock: section starts printed into the notebook, read back by the report.

`start_section(3)` prints the current UTC time; the printed line is saved with the
notebook, and the report turns consecutive starts (and the submission time) into
minutes per section. The times are the candidate's own record, shown for
reflection; the grade's clock is nbgrader's release and submission times.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

_LINE = re.compile(r"section (\d+) started at (\S+)")
_CELL = re.compile(r"^\s*start_section\((\d+)\)\s*$", re.M)


def start_section(number: int) -> str:
    """Record that you start section `number` now (run its clock cell once, when you begin it)."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 8:
        raise ValueError(f"number must be a section from 1 to 8, got {number!r}")
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    line = f"section {number} started at {now}"
    print(line)
    return now


def section_starts(notebook: str | Path) -> dict[int, datetime]:
    """The last recorded start of each section in a saved notebook (outputs of its clock cells)."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[int, datetime] = {}
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = src if isinstance(src, str) else "".join(src)
        if cell.get("cell_type") != "code" or not _CELL.search(src):
            continue
        for o in cell.get("outputs", []):
            text = o.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            for m in _LINE.finditer(text):
                try:
                    out[int(m.group(1))] = datetime.fromisoformat(m.group(2))
                except ValueError:
                    continue
    return out
