"""Grading throughput, runner only: the sandboxed grade that each `inferlab autograde` worker runs, on k processes.

    PYTHONPATH=. python benchmarks/grading_throughput.py --lab lab01 --submissions 32 --workers 1 2 4 8 16
    PYTHONPATH=. python benchmarks/grading_throughput.py --per-worker 6 --json out.json   # fewer for small k

What it measures (a proxy for `python -m inferlab.classroom.throughput`, which needs nbgrader and
Dask): each of k worker processes (spawned, one thread each as Dask's nanny sets them, torch
imported once) takes the next submission from a shared queue and grades it with
`inferlab.grading.runner.grade(lab, notebook)` -- exactly the call that nbgrader's
`GradeOutOfProcess` preprocessor makes inside a Dask worker, with `torch.set_num_threads(1)` as it
sets. The submissions alternate the reference notebook (`solutions/LAB/LAB.ipynb`) and the student
copy (`labs/LAB/LAB.ipynb`, every answer a stub), as `throughput.py` builds them.
Left out: nbgrader's own work per submission (executing the notebook in a sandboxed Jupyter
kernel, restoring locked cells, writing the gradebook), Dask's scheduling, and the CLI start.

Reported per worker count: submissions graded, wall seconds from the first submission handed out
to the last result (the pool already started), submissions per minute, CPU seconds per submission
(the worker's and its grading children's user + system time), median seconds of one grade, and the
scores (a reference must score full marks, a stub zero: a wrong score means the row is void).
Grading runs on the CPU (CUDA hidden), as on the course's grading machines.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


_BARRIER = None


def _init(barrier) -> None:
    global _BARRIER
    _BARRIER = barrier
    sys.path.insert(0, str(ROOT))
    import torch

    import inferlab.grading.runner  # noqa: F401  (imports torch, the checks' machinery: once per worker)

    torch.set_num_threads(1)


def _ping(_: int) -> int:
    """Held until every worker holds one: so each of the k workers has started and imported torch."""
    _BARRIER.wait(timeout=600)
    return os.getpid()


def _cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _grade_one(lab: str, path: str, seed: int) -> dict:
    from inferlab.grading.runner import grade

    (s0, c0), t0 = _cpu(), time.monotonic()
    report = grade(lab, path, seed=seed)
    (s1, c1), t1 = _cpu(), time.monotonic()
    return {"path": Path(path).name, "seconds": t1 - t0, "cpu_self": s1 - s0, "cpu_children": c1 - c0,
            "score": report.score, "max_score": report.max_score, "pid": os.getpid()}


def submissions(lab: str, n: int, folder: Path) -> list[Path]:
    """n notebooks in `folder`: the reference and the student copy, alternating."""
    sources = [ROOT / "solutions" / lab / f"{lab}.ipynb", ROOT / "labs" / lab / f"{lab}.ipynb"]
    out = []
    for i in range(n):
        p = folder / f"s{i:03d}_{'reference' if i % 2 == 0 else 'stub'}.ipynb"
        shutil.copy(sources[i % 2], p)
        out.append(p)
    return out


def measure(lab: str, paths: list[Path], workers: int, seed: int) -> dict:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init,
                             initargs=(ctx.Barrier(workers),)) as pool:
        pids = set(pool.map(_ping, range(workers)))  # every worker started and warm before the clock
        t0 = time.monotonic()
        futures = [pool.submit(_grade_one, lab, str(p), seed) for p in paths]
        rows = [f.result() for f in futures]
        wall = time.monotonic() - t0
    n = len(rows)
    cpu = sum(r["cpu_self"] + r["cpu_children"] for r in rows)
    ref = [r for r in rows if "reference" in r["path"]]
    stub = [r for r in rows if "stub" in r["path"]]
    return {
        "workers": workers, "workers_started": len(pids), "submissions": n, "wall_s": round(wall, 2),
        "per_min": round(60 * n / wall, 2), "cpu_s_per_submission": round(cpu / n, 2),
        "grade_s_median": round(statistics.median(r["seconds"] for r in rows), 2),
        "grade_s_reference_median": round(statistics.median(r["seconds"] for r in ref), 2) if ref else None,
        "grade_s_stub_median": round(statistics.median(r["seconds"] for r in stub), 2) if stub else None,
        "reference_scores": sorted({f"{r['score']:g}/{r['max_score']:g}" for r in ref}),
        "stub_scores": sorted({f"{r['score']:g}/{r['max_score']:g}" for r in stub}),
    }


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "load_before": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab", default="lab01")
    p.add_argument("--submissions", type=int, default=32, help="the most submissions graded per worker count")
    p.add_argument("--per-worker", type=int, default=0,
                   help="grade min(submissions, per_worker * k) for k workers (0: always --submissions)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json", default=None, help="write the rows here as they come (JSON)")
    args = p.parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # grading runs on the CPU, as on the grading machines
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # what Dask's nanny sets
        os.environ[k] = "1"
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    import torch

    out = {"what": "runner-only proxy of inferlab autograde: inferlab.grading.runner.grade per submission on k "
                   "spawned worker processes (nbgrader's notebook execution, Dask and the CLI start left out)",
           "lab": args.lab, "machine": machine(), "torch": torch.__version__, "rows": []}
    try:
        import triton

        out["triton"] = triton.__version__
    except Exception:  # noqa: BLE001
        pass
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}), flush=True)
    with tempfile.TemporaryDirectory(prefix="inferlab-grading-throughput-") as tmp:
        for w in args.workers:
            n = args.submissions if args.per_worker <= 0 else min(args.submissions, args.per_worker * w)
            n += n % 2  # as many references as stubs
            paths = submissions(args.lab, n, Path(tmp))
            load = os.getloadavg()[0]
            row = measure(args.lab, paths, w, args.seed)
            row.update(load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2))
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
            for q in paths:
                q.unlink()
    print(f"\n{'workers':>7} {'subs':>5} {'wall s':>8} {'subs/min':>9} {'CPU s/sub':>10} {'grade s (ref/stub)':>19}")
    for r in out["rows"]:
        print(f"{r['workers']:>7} {r['submissions']:>5} {r['wall_s']:>8.1f} {r['per_min']:>9.1f} "
              f"{r['cpu_s_per_submission']:>10.1f} {r['grade_s_reference_median']:>9}/{r['grade_s_stub_median']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
