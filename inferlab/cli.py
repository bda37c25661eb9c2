"""The `inferlab` command: check the install, build the labs, grade a submission."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from inferlab import course_root

ROOT = course_root()


def _version(mod: str) -> str:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001
        return "not installed"


def cmd_check(args) -> int:
    """Versions, GPU or interpreter mode, and the lab extensions."""
    import inferlab

    print(f"python      {sys.version.split()[0]}  ({sys.executable})")
    for mod in ("torch", "triton", "jupyterlab", "notebook", "nbgrader", "ipywidgets", "matplotlib"):
        print(f"{mod:11} {_version(mod)}")
    import torch

    if torch.cuda.is_available():
        print(f"mode        GPU: {torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()}), Triton compiles kernels")
    else:
        print("mode        no CUDA device: Triton runs kernels through its interpreter "
              f"(TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET')})")
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or shutil.which("jupyter")
    ok = True
    if jupyter:
        out = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True)
        text = out.stdout + out.stderr
        for ext in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
            line = next((l for l in text.splitlines() if ext in l), "")
            enabled = "enabled" in line and "disabled" not in line
            ok &= enabled
            print(f"labext      {ext}: {'enabled' if enabled else 'MISSING or disabled'}")
    else:
        ok = False
        print("labext      jupyter not found")
    print(f"inferlab    {inferlab.__version__} at {ROOT}")
    return 0 if ok else 1


def cmd_build(args) -> int:
    from inferlab.notebook import build

    build(only=args.names or None, run=not args.no_run)
    return 0


def cmd_grade(args) -> int:
    import torch

    from inferlab.grading.runner import grade, print_report
    from inferlab.grading.source import UnreadableSubmission

    torch.set_num_threads(1)  # the checks' references are small; leave the cores to the submission

    from inferlab.grading.checks import load_checks
    from inferlab.grading.runner import progress_line

    labs = sorted(p.stem for p in (ROOT / "autograder").glob("lab[0-9][0-9].py"))
    try:
        checks = load_checks(args.lab)
    except ValueError as e:
        print(f"inferlab grade: {e}; the labs are {', '.join(labs)}", file=sys.stderr)
        return 2
    progress = None
    if not args.json:
        n = len(checks.items)
        print(f"grading {args.lab}: {n} checks, each printed as it finishes "
              f"(a function that does not return is given up after a few seconds)", flush=True)
        done = [0]

        def progress(result):
            done[0] += 1
            print(f"[{done[0]:>2}/{n}]" + progress_line(result)[1:], flush=True)

    try:
        report = grade(args.lab, args.submission, timeout=args.timeout, seed=args.seed, progress=progress)
    except (UnreadableSubmission, ValueError) as e:
        print(f"inferlab grade: {e}", file=sys.stderr)
        return 2
    if args.json:
        print_report(report, True)
    else:
        print(report.table(lines_per_check=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="inferlab", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="versions, GPU or interpreter mode, lab extensions").set_defaults(fn=cmd_check)
    b = sub.add_parser("build", help="regenerate labs/ from solutions/ (and notebooks from their sources)")
    b.add_argument("names", nargs="*", help="only these labs or lecture numbers (lab03, 03); default all")
    b.add_argument("--no-run", action="store_true", help="do not execute changed lecture notebooks")
    b.set_defaults(fn=cmd_build)
    g = sub.add_parser("grade", help="grade a lab notebook (.ipynb) or module (.py)")
    g.add_argument("lab", help="lab01 ... lab10")
    g.add_argument("submission", help="the notebook or module to grade")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--timeout", type=float, default=None, help="seconds allowed per check (default 120)")
    g.add_argument("--seed", type=int, default=None, help="seed for the random inputs (default: fresh)")
    g.set_defaults(fn=cmd_grade)
    from inferlab.report import add_arguments as add_report_arguments, cmd_report

    r = sub.add_parser("report", help="a learner's progress over the labs (HTML + JSON), or a class CSV")
    add_report_arguments(r)
    r.set_defaults(fn=cmd_report)
    from inferlab.interview.cli import add_parser as add_interview_parser

    add_interview_parser(sub)
    from inferlab.serve import add_parser as add_serve_parser

    add_serve_parser(sub)
    from inferlab.classroom.autograde import add_parser as add_autograde_parser

    add_autograde_parser(sub)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
