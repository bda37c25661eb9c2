"""The score of every graded file of every lab: the table that proves a refactor changes no grade.

    python tests/scores_table.py [--labs lab01,lab03] [--workers 2] [--out tests/scores_before_renovation.json]

grades, one file per sandboxed child, each lab's reference notebook, the generated student
notebook and every `tests/submissions/labNN/wrong_*.py` and `attack_*.py` (built as the test
suite builds them: the reference solution with the file's definitions replacing its own), and
writes per (lab, file) the score, max_score and the sorted ids of the checks that failed.
`tests/test_labs.py` grades the same files and compares them with the committed table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLE = HERE / "scores_before_renovation.json"
SEED = 20240611  # any seed: the scores must not depend on it
# Submissions that hang on purpose are graded with a short check timeout, as the attack tests do.
SHORT_TIMEOUT = {"attack_infinite_loop": 10}


def labs() -> list[str]:
    return sorted(p.name for p in (ROOT / "solutions").glob("lab*") if (p / f"{p.name}.src.py").exists())


def graded_files(lab: str) -> list[str]:
    """The names of the graded files of `lab`, as keys of the table."""
    folder = ROOT / "tests" / "submissions" / lab
    subs = sorted(p.name for p in folder.glob("*.py") if p.name.startswith(("wrong_", "attack_")))
    return ["reference", "student"] + subs


def build(lab: str, name: str, tmp: Path) -> tuple[Path, float | None]:
    """The file that is graded for table entry `name`, and its check timeout (None: default)."""
    sys.path.insert(0, str(HERE))
    from conftest import wrong_submission

    if name == "reference":
        return ROOT / "solutions" / lab / f"{lab}.ipynb", None
    if name == "student":
        return ROOT / "labs" / lab / f"{lab}.ipynb", None
    override = ROOT / "tests" / "submissions" / lab / name
    return wrong_submission(lab, override, tmp), SHORT_TIMEOUT.get(override.stem)


def entry(report) -> dict:
    return {"score": report.score, "max_score": report.max_score,
            "failed": sorted(t.id for t in report.tests if not t.passed)}


def _grade_one(job: tuple[str, str]) -> tuple[str, str, dict]:
    from inferlab.grading.runner import grade

    lab, name = job
    with tempfile.TemporaryDirectory() as tmp:
        path, timeout = build(lab, name, Path(tmp))
        return lab, name, entry(grade(lab, path, seed=SEED, timeout=timeout))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labs", default="", help="comma-separated labs (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(TABLE))
    args = ap.parse_args(argv)
    chosen = args.labs.split(",") if args.labs else labs()
    out = Path(args.out)
    table = json.loads(out.read_text()) if out.exists() else {}
    jobs = [(lab, name) for lab in chosen for name in graded_files(lab)]
    with ProcessPoolExecutor(args.workers) as pool:
        for lab, name, row in pool.map(_grade_one, jobs):
            table.setdefault(lab, {})[name] = row
            print(f"{lab} {name}: {row['score']:g}/{row['max_score']:g} failed {row['failed']}", flush=True)
    table = {lab: dict(sorted(rows.items())) for lab, rows in sorted(table.items())}
    out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
