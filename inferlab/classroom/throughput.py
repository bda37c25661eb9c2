"""Grading throughput of `inferlab autograde`: submissions per minute for 1, 2, ... workers.

    python -m inferlab.classroom.throughput --lab lab01 --submissions 8 --workers 1 2

Builds a throw-away course with the lab released and N submissions (reference and stub
alternating), then grades them all (`--force`) once per worker count on a fresh local
cluster. Reports wall-clock throughput and the CPU seconds one submission costs (the
workers' and their children's user+system time): on a shared machine the wall clock says
what the load allowed, the CPU seconds what an idle machine would do.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def build_course(base: Path, lab: str, n: int) -> Path:
    from inferlab import course_root

    root = course_root()
    course = base / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(root / "solutions" / lab, course / "solutions" / lab)
    env = dict(os.environ, INFERLAB_EXCHANGE=str(base / "exchange"))
    for args in (["db", "assignment", "add", lab], ["generate_assignment", lab, "--force"]):
        subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, check=True,
                       capture_output=True)
    sources = [root / "solutions" / lab / f"{lab}.ipynb", course / "labs" / lab / f"{lab}.ipynb"]
    for i in range(n):
        folder = course / "submitted" / f"s{i:03d}" / lab
        folder.mkdir(parents=True)
        shutil.copy(sources[i % 2], folder / f"{lab}.ipynb")
    return course


def measure(course: Path, lab: str, workers: int) -> dict:
    """Grade everything once on a fresh local cluster of `workers` processes, in a child process."""
    code = ("import json,sys,time; from inferlab.classroom.autograde import autograde; t=time.monotonic(); "
            f"s=autograde([{lab!r}], course={str(course)!r}, workers={workers}, force=True, stream=sys.stderr); "
            "print(json.dumps({'seconds': time.monotonic()-t, 'graded': s['labs'][%r]['graded']}))" % lab)
    cpu0, t0 = _cpu_of_children(), time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, INFERLAB_EXCHANGE=str(course.parent / "exchange")))
    wall, cpu = time.monotonic() - t0, _cpu_of_children() - cpu0
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    n = res["graded"]
    return {"workers": workers, "submissions": n, "grading_s": round(res["seconds"], 1), "process_s": round(wall, 1),
            "per_min": round(60 * n / res["seconds"], 2), "cpu_s_per_submission": round(cpu / n, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab", default="lab01")
    p.add_argument("--submissions", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    bindir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="inferlab-throughput-") as tmp:
        course = build_course(Path(tmp), args.lab, args.submissions)
        for w in args.workers:
            load = os.getloadavg()[0]
            row = measure(course, args.lab, w)
            row.update(lab=args.lab, cores=os.cpu_count(), load_before=round(load, 1),
                       load_after=round(os.getloadavg()[0], 1))
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
