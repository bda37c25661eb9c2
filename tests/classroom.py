"""A throw-away nbgrader course in a temporary folder, driven like an instructor would."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

from inferlab import course_root

ROOT = course_root()


class Classroom:
    def __init__(self, base: Path, labs: list[str]) -> None:
        self.root = Path(base) / "course"
        (self.root / "solutions").mkdir(parents=True)
        shutil.copy(ROOT / "nbgrader_config.py", self.root / "nbgrader_config.py")
        for lab in labs:
            shutil.copytree(ROOT / "solutions" / lab, self.root / "solutions" / lab)
        self.env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
                        INFERLAB_EXCHANGE=str(Path(base) / "exchange"))

    def nbgrader(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root, env=self.env,
                             capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    @property
    def db_url(self) -> str:
        return self.env.get("INFERLAB_GRADEBOOK_URL") or f"sqlite:///{self.root / 'gradebook.db'}"

    def release(self, lab: str, duedate: str = "2030-01-01 00:00:00 UTC") -> None:
        """`lab` may be a glob ("lab*"): nbgrader's assignment ids are; one command releases them all."""
        from nbgrader.api import Gradebook

        # (what `nbgrader db assignment add --duedate` does, without starting a process)
        with Gradebook(self.db_url, "inferlab") as gb:
            for p in sorted((self.root / "solutions").glob(lab)):
                gb.update_or_create_assignment(p.name, duedate=duedate)
        self.nbgrader("generate_assignment", lab, "--force")

    def submit(self, student: str, lab: str, notebook: Path, timestamp: str | None = None) -> None:
        folder = self.root / "submitted" / student / lab
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, folder / f"{lab}.ipynb")
        if timestamp:
            (folder / "timestamp.txt").write_text(timestamp)

    def autograde(self, lab: str) -> subprocess.CompletedProcess:
        # Students are created as their submissions are graded (nbgrader's Autograde.create_student).
        return self.nbgrader("autograde", lab, "--force", check=False)

    def feedback(self, lab: str) -> None:
        self.nbgrader("generate_feedback", lab, "--force")

    def scores(self) -> dict[tuple[str, str], float]:
        """The gradebook as `nbgrader export` writes it (its CSV plugin, run here rather than in a new process)."""
        from nbgrader.api import Gradebook
        from nbgrader.plugins import CsvExportPlugin

        out = self.root / "grades.csv"
        with Gradebook(self.db_url, "inferlab") as gb:
            CsvExportPlugin(to=str(out)).export(gb)
        with open(out, newline="") as f:
            return {(r["student_id"], r["assignment"]): float(r["score"] or 0) for r in csv.DictReader(f)}

    def autograded_notebook(self, student: str, lab: str) -> Path:
        return self.root / "autograded" / student / lab / f"{lab}.ipynb"

    def feedback_html(self, student: str, lab: str) -> Path:
        return self.root / "feedback" / student / lab / f"{lab}.html"
