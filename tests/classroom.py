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

    def release(self, lab: str, duedate: str = "2030-01-01 00:00:00 UTC") -> None:
        self.nbgrader("db", "assignment", "add", lab, f"--duedate={duedate}")
        self.nbgrader("generate_assignment", lab, "--force")

    def submit(self, student: str, lab: str, notebook: Path, timestamp: str | None = None) -> None:
        folder = self.root / "submitted" / student / lab
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, folder / f"{lab}.ipynb")
        if timestamp:
            (folder / "timestamp.txt").write_text(timestamp)

    def autograde(self, lab: str) -> subprocess.CompletedProcess:
        self.nbgrader("db", "student", "import", str(self._students_csv()))
        return self.nbgrader("autograde", lab, "--force", check=False)

    def _students_csv(self) -> Path:
        path = self.root / "students.csv"
        students = sorted(p.name for p in (self.root / "submitted").iterdir())
        path.write_text("id\n" + "\n".join(students) + "\n")
        return path

    def feedback(self, lab: str) -> None:
        self.nbgrader("generate_feedback", lab, "--force")

    def scores(self) -> dict[tuple[str, str], float]:
        out = self.root / "grades.csv"
        self.nbgrader("export", f"--to={out}")
        with open(out, newline="") as f:
            return {(r["student_id"], r["assignment"]): float(r["score"] or 0) for r in csv.DictReader(f)}

    def autograded_notebook(self, student: str, lab: str) -> Path:
        return self.root / "autograded" / student / lab / f"{lab}.ipynb"

    def feedback_html(self, student: str, lab: str) -> Path:
        return self.root / "feedback" / student / lab / f"{lab}.html"
