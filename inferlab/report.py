"""A learner's progress across the labs, by the §9 rubric: an HTML page, JSON, and a class CSV.

    inferlab report                                   # grade labs/labNN/labNN.ipynb of every lab
    inferlab report my/lab01.ipynb my/lab03.py g.json --out report/ --name "Li Lei"
    inferlab report --gradebook gradebook.db --csv class.csv          # a whole class from nbgrader
    inferlab report --gradebook gradebook.db --student li --out li/   # one student's page from it

A submission is a lab notebook or module (its lab read from the file name or folder,
`labNN`) or a saved `inferlab grade --json` report. Each is graded by the same runner as
`inferlab grade`; the progress sums earned/possible per §9 category over the labs and
scores it with `rubric_score` (weights 40/30/20/10 renormalised, bands at 90/80/70).
`weakest` lists the failed checks worth the most points first: what to work on next.
The HTML page is self-contained (inline CSS and SVG chart, no scripts, no network).
From a gradebook the finest grain is a test cell (a lab's task), so `weakest` names tasks.
"""
from __future__ import annotations

import csv
import datetime
import html
import json
import re
from pathlib import Path

from inferlab.grading.checks import CATEGORIES
from inferlab.grading.runner import RUBRIC_WEIGHTS, rubric_score

BANDS = ((90, "excellent", "优秀"), (80, "good", "良好"), (70, "fair", "一般"), (0, "poor", "较差"))
CATEGORY_NAMES = {"knowledge": "知识掌握 knowledge", "systems": "系统思维 systems thinking",
                  "practice": "实践应用 practice", "frontier": "前沿技术 frontier"}
_LAB = re.compile(r"(lab\d\d)")


def band_of(percent: float) -> str:
    """The §9 band of a 0..100 score (rounded to 2 decimals first, as rubric_score does)."""
    p = round(percent, 2)
    return next(name for low, name, _ in BANDS if p >= low)


def lab_of(path: Path) -> str:
    """The lab a submission belongs to, from its file name or its folder (labNN)."""
    for part in (path.name, path.parent.name):
        m = _LAB.search(part)
        if m:
            return m.group(1)
    raise ValueError(f"cannot tell the lab of {path}: name the file or its folder labNN")


def graded_labs(root: Path | None = None) -> list[str]:
    """Labs that have checks (autograder/labNN.py)."""
    from inferlab import course_root

    root = Path(root) if root else course_root()
    return sorted(p.stem for p in (root / "autograder").glob("lab[0-9][0-9].py"))


def grade_submissions(paths, timeout: float | None = None, seed: int | None = None) -> list[dict]:
    """`inferlab grade --json` reports of the submissions (graded now, or read when .json)."""
    from inferlab.grading.runner import grade

    out = []
    for p in map(Path, paths):
        if p.suffix == ".json":
            data = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "lab" not in data or "tests" not in data:
                raise ValueError(f"{p}: not an `inferlab grade --json` report")
            out.append(data)
        else:
            out.append(grade(lab_of(p), p, timeout=timeout, seed=seed).to_json())
    return out


def progress(reports: list[dict], learner: str = "", top: int = 8) -> dict:
    """The learner's progress from grade reports (one per lab; a later report of a lab replaces an earlier one)."""
    by_lab = {r["lab"]: r for r in reports}
    totals = {c: [0.0, 0.0] for c in CATEGORIES}
    labs, failed = [], []
    for lab in sorted(by_lab):
        r = by_lab[lab]
        cats = {c: [0.0, 0.0] for c in CATEGORIES}
        for t in r["tests"]:
            cats[t["category"]][0] += t["points"]
            cats[t["category"]][1] += t["max_points"]
            if not t["passed"]:
                failed.append({"lab": lab, "id": t["id"], "category": t["category"], "points": t["max_points"],
                               "message": t.get("message", "").splitlines()[0][:300] if t.get("message") else ""})
        for c, (e, p) in cats.items():
            totals[c][0] += e
            totals[c][1] += p
        present = {c: (e, p) for c, (e, p) in cats.items() if p > 0}
        labs.append({"lab": lab, "score": r["score"], "max_score": r["max_score"],
                     "categories": {c: {"earned": e, "possible": p} for c, (e, p) in present.items()},
                     "rubric": rubric_score(present) if present else {"score": 0.0, "band": "poor"}})
    present = {c: (e, p) for c, (e, p) in totals.items() if p > 0}
    categories = {c: {"earned": round(e, 4), "possible": round(p, 4), "percent": round(100 * e / p, 2),
                      "band": band_of(100 * e / p), "weight": RUBRIC_WEIGHTS[c]} for c, (e, p) in present.items()}
    failed.sort(key=lambda f: (-f["points"], -RUBRIC_WEIGHTS[f["category"]], f["id"]))
    return {"learner": learner, "generated": datetime.datetime.now().isoformat(timespec="seconds"),
            "labs": labs, "categories": categories,
            "overall": rubric_score(present) if present else {"score": 0.0, "band": "poor"},
            "weakest": failed[:top], "missing": [lab for lab in graded_labs() if lab not in by_lab]}


# ----------------------------------------------------------------------------- HTML


def _bar_chart(rows: list[tuple[str, float, str]], width: int = 560, row_h: int = 26) -> str:
    """An inline SVG of horizontal bars (label, percent, band) with lines at 70/80/90."""
    left, right = 150, 60
    plot = width - left - right
    colors = {"excellent": "#2e7d32", "good": "#558b2f", "fair": "#f9a825", "poor": "#c62828"}
    height = row_h * len(rows) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="scores">']
    for mark in (70, 80, 90):
        x = left + plot * mark / 100
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#bbb" stroke-dasharray="3,3"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#666">{mark}</text>')
    for i, (label, pct, band) in enumerate(rows):
        y = i * row_h + 4
        w = plot * max(0.0, min(pct, 100.0)) / 100
        parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">{html.escape(label)}</text>'
                     f'<rect x="{left}" y="{y}" width="{plot}" height="{row_h - 8}" fill="#eee"/>'
                     f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row_h - 8}" fill="{colors[band]}"/>'
                     f'<text x="{left + plot + 6}" y="{y + 15}" font-size="12">{pct:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans CJK SC',sans-serif;max-width:880px;
margin:2em auto;padding:0 1em;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{border-bottom:1px solid #ddd;padding:.35em .5em;
text-align:left}th{background:#f5f5f5}.band{font-weight:600}.excellent{color:#2e7d32}.good{color:#558b2f}
.fair{color:#b8860b}.poor{color:#c62828}.big{font-size:2em;font-weight:700}.muted{color:#666;font-size:.9em}
code{font-size:.9em}"""


def _band_cell(band: str) -> str:
    zh = next(z for _, n, z in BANDS if n == band)
    return f'<span class="band {band}">{band} {zh}</span>'


def to_html(prog: dict) -> str:
    """A self-contained HTML page of a progress dict."""
    e = html.escape
    who = f" · {e(prog['learner'])}" if prog.get("learner") else ""
    ov = prog["overall"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>InferLab progress{who}</title><style>{_CSS}</style></head><body>",
           f"<h1>InferLab progress report · 学习进度{who}</h1>",
           f'<p class="muted">generated {e(prog["generated"])} · §9 rubric: knowledge 40, systems 30, '
           "practice 20, frontier 10, renormalised over the categories graded</p>",
           f'<p><span class="big">{ov["score"]:.1f}</span> / 100 &nbsp; {_band_cell(ov["band"])}</p>',
           "<h2>The four categories · 四项能力</h2>",
           "<table><tr><th>category</th><th>weight</th><th>earned / possible</th><th>%</th><th>band</th></tr>"]
    for c, v in prog["categories"].items():
        out.append(f"<tr><td>{e(CATEGORY_NAMES[c])}</td><td>{v['weight']}%</td><td>{v['earned']:g} / "
                   f"{v['possible']:g}</td><td>{v['percent']:.1f}</td><td>{_band_cell(v['band'])}</td></tr>")
    out.append("</table>")
    rows = [(CATEGORY_NAMES[c].split(" ", 1)[1], v["percent"], v["band"]) for c, v in prog["categories"].items()]
    rows += [(lab["lab"], 100 * lab["score"] / lab["max_score"] if lab["max_score"] else 0.0,
              band_of(100 * lab["score"] / lab["max_score"] if lab["max_score"] else 0.0)) for lab in prog["labs"]]
    out.append(f"<h2>Chart · 图表</h2>{_bar_chart(rows)}")
    out.append("<h2>Labs · 各实验得分</h2><table><tr><th>lab</th><th>points</th><th>§9 score</th><th>band</th>"
               "<th>categories (earned / possible)</th></tr>")
    for lab in prog["labs"]:
        rub = lab["rubric"]
        cats = ", ".join(f"{c} {v['earned']:g}/{v['possible']:g}" for c, v in lab["categories"].items())
        out.append(f"<tr><td>{e(lab['lab'])}</td><td>{lab['score']:g} / {lab['max_score']:g}</td>"
                   f"<td>{rub['score']:.1f}</td><td>{_band_cell(rub['band'])}</td><td>{e(cats)}</td></tr>")
    out.append("</table>")
    if prog.get("missing"):
        out.append(f'<p class="muted">not submitted yet: {e(", ".join(prog["missing"]))}</p>')
    out.append("<h2>Work on next · 下一步</h2>")
    if prog["weakest"]:
        out.append("<table><tr><th>check</th><th>points</th><th>category</th><th>what to fix</th></tr>")
        for w in prog["weakest"]:
            out.append(f"<tr><td><code>{e(w['id'])}</code></td><td>{w['points']:g}</td><td>{e(w['category'])}</td>"
                       f"<td>{e(w['message'])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Every check passes. 全部通过。</p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(prog: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write report.html and report.json into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page, data = out_dir / "report.html", out_dir / "report.json"
    page.write_text(to_html(prog), encoding="utf-8")
    data.write_text(json.dumps(prog, indent=1, ensure_ascii=False), encoding="utf-8")
    return page, data


# ----------------------------------------------------------------------------- nbgrader gradebook


def _db_url(db: str) -> str:
    """A database URL for nbgrader; its `alembic` must be on PATH (the venv's bin, where nbgrader is)."""
    import os
    import sys

    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def gradebook_reports(db: str, student: str) -> list[dict]:
    """One student's grades from nbgrader's gradebook, as grade reports with one 'test' per test cell."""
    from nbgrader.api import Gradebook, MissingEntry

    from inferlab.grading.checks import load_checks

    out = []
    with Gradebook(_db_url(db)) as gb:
        for assignment in gb.assignments:
            lab = assignment.name
            if lab not in graded_labs():
                continue
            try:
                sub = gb.find_submission(lab, student)
            except MissingEntry:
                continue
            groups = load_checks(lab).groups()
            tests = []
            for nb in sub.notebooks:
                for g in nb.grades:
                    group = g.name[len(lab) + 1:] if g.name.startswith(lab + "_") else g.name
                    cat = groups[group][0].category if group in groups else "practice"
                    score = float(g.score or 0.0)
                    tests.append({"id": g.name, "points": score, "max_points": float(g.max_score),
                                  "passed": score >= float(g.max_score), "category": cat,
                                  "message": "" if score >= float(g.max_score) else
                                  f"{score:g} of {float(g.max_score):g} points: run check_here for this task"})
            out.append({"lab": lab, "score": sum(t["points"] for t in tests),
                        "max_score": sum(t["max_points"] for t in tests), "tests": tests})
    return out


def gradebook_students(db: str) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(_db_url(db)) as gb:
        return sorted(s.id for s in gb.students)


def class_rows(reports_by_student: dict) -> tuple[list[str], list[list[str]]]:
    """CSV header and one row per student (grade reports per student): each lab's points, each
    category's percent and band, the §9 score and band."""
    labs = graded_labs()
    header = (["student_id"] + [f"{lab}_points" for lab in labs]
              + [f"{c}_percent" for c in CATEGORIES] + [f"{c}_band" for c in CATEGORIES] + ["score", "band"])
    rows = []
    for student in sorted(reports_by_student):
        prog = progress(reports_by_student[student], learner=student)
        lab_points = {lab["lab"]: lab["score"] for lab in prog["labs"]}
        cats = prog["categories"]
        rows.append([student] + [f"{lab_points[lab]:g}" if lab in lab_points else "" for lab in labs]
                    + [f"{cats[c]['percent']:.2f}" if c in cats else "" for c in CATEGORIES]
                    + [cats[c]["band"] if c in cats else "" for c in CATEGORIES]
                    + [f"{prog['overall']['score']:.2f}", prog["overall"]["band"]])
    return header, rows


def class_csv(db: str, out: Path) -> Path:
    """The class CSV (`class_rows`) of every student in nbgrader's gradebook."""
    header, rows = class_rows({s: gradebook_reports(db, s) for s in gradebook_students(db)})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return out


# ----------------------------------------------------------------------------- the command


def add_arguments(p) -> None:
    p.add_argument("submissions", nargs="*", help="lab notebooks/modules (labNN in the name) or grade --json files; "
                                                  "default: labs/labNN/labNN.ipynb of every lab")
    p.add_argument("--out", default="report", help="folder for report.html and report.json (default: report/)")
    p.add_argument("--name", default="", help="the learner's name on the page")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per check")
    p.add_argument("--seed", type=int, default=None, help="seed for the checks' random inputs")
    p.add_argument("--gradebook", default=None, help="nbgrader gradebook (gradebook.db or a database URL)")
    p.add_argument("--csv", default=None, help="with --gradebook: write the class CSV here")
    p.add_argument("--student", default=None, help="with --gradebook: this student's page")


def cmd_report(args) -> int:
    """`inferlab report`: one learner's page (and JSON), or a class CSV from nbgrader's gradebook."""
    import sys

    from inferlab import course_root
    from inferlab.grading.source import UnreadableSubmission

    try:
        if args.gradebook:
            if args.csv:
                print(f"wrote {class_csv(args.gradebook, Path(args.csv))}")
            if args.student:
                prog = progress(gradebook_reports(args.gradebook, args.student), learner=args.name or args.student)
                page, _ = write_report(prog, Path(args.out))
                print(f"wrote {page} ({prog['overall']['score']:.1f}/100, {prog['overall']['band']})")
            if not (args.csv or args.student):
                print("inferlab report: --gradebook needs --csv FILE and/or --student ID", file=sys.stderr)
                return 2
            return 0
        paths = [Path(p) for p in args.submissions]
        if not paths:
            root = course_root()
            paths = [root / "labs" / lab / f"{lab}.ipynb" for lab in graded_labs(root)
                     if (root / "labs" / lab / f"{lab}.ipynb").exists()]
        for p in paths:
            if not p.exists():
                print(f"inferlab report: {p}: no such file", file=sys.stderr)
                return 2
        prog = progress(grade_submissions(paths, timeout=args.timeout, seed=args.seed), learner=args.name)
    except (UnreadableSubmission, ValueError) as e:
        print(f"inferlab report: {e}", file=sys.stderr)
        return 2
    page, data = write_report(prog, Path(args.out))
    print(f"wrote {page} and {data.name}: {prog['overall']['score']:.1f}/100 ({prog['overall']['band']}) "
          f"over {len(prog['labs'])} lab(s)")
    return 0
