"""Which submissions are graded: a content hash per student and lab, stored beside the gradebook.

The hash covers every file of the collected submission (its timestamp.txt too: a new
timestamp can change a late penalty) and the lab's grader (the hidden checks and the
source notebook), so a rerun grades only what is new or changed, and everything after
the checks change. The ledger is written after the gradebook commit: a run stopped in
between leaves an entry that no longer matches, and the next run grades that one again.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
from pathlib import Path


def submission_files(folder: Path, ignore: list[str]) -> dict[str, bytes]:
    """The files nbgrader would take from a collected submission, by path relative to it."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _ignored(d, ignore))
        for name in sorted(filenames):
            if _ignored(name, ignore):
                continue
            path = Path(dirpath) / name
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def _ignored(name: str, ignore: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in ignore)


def grader_fingerprint(course: Path, lab: str, source_directory: str) -> str:
    """The lab's hidden checks and source notebooks: a change here regrades every submission."""
    h = hashlib.sha256()
    for path in sorted([course / "autograder" / f"{lab}.py", *(course / source_directory / lab).glob("*.ipynb")]):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def content_hash(files: dict[str, bytes], fingerprint: str) -> str:
    h = hashlib.sha256(fingerprint.encode())
    for rel in sorted(files):
        data = files[rel]
        h.update(f"\0{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


class Ledger:
    """`<course>/.inferlab/autograde/<lab>.json`: student -> {hash, status, score, ...}."""

    def __init__(self, course: Path, lab: str) -> None:
        self.path = Path(course) / ".inferlab" / "autograde" / f"{lab}.json"
        try:
            self.entries: dict[str, dict] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def is_current(self, student: str, digest: str) -> bool:
        entry = self.entries.get(student)
        return bool(entry) and entry.get("hash") == digest and entry.get("status") == "graded"

    def record(self, who: str, **entry) -> None:
        self.entries[who] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as f:
            json.dump(self.entries, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
