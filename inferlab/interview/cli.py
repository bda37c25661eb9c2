"""`inferlab interview new | grade | guide | report`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inferlab.interview.keys import LEVELS, TRACKS


def add_parser(sub) -> None:
    """Add `interview` and its sub-commands to the `inferlab` parser."""
    p = sub.add_parser("interview", help="the mock interview (syllabus §10): new, grade, guide, report")
    p.add_argument("--course", default=None, help="course folder holding .inferlab/ and gradebook.db (default: here)")
    isub = p.add_subparsers(dest="interview_cmd", required=True)

    n = isub.add_parser("new", help="generate one candidate's interview notebook")
    n.add_argument("--candidate", required=True, help="candidate id (nbgrader student id)")
    n.add_argument("--track", required=True, choices=TRACKS, help="rd (R&D), eng, research or arch")
    n.add_argument("--level", default="new-grad", choices=LEVELS)
    n.add_argument("--minutes", type=int, default=90, help="length of the interview (30-240, default 90)")
    n.add_argument("--seed", type=int, default=None, help="same seed, same interview (default: fresh)")
    n.add_argument("--practice", action="store_true", help="self-study: feedback after each answer, no clock")
    n.add_argument("--released", default=None, help="release time, ISO UTC (default: now)")
    n.add_argument("--out", default=None, help="notebook path (default: <course>/.inferlab/interview/release/ID/lab10.ipynb)")
    n.add_argument("--force", action="store_true", help="replace an existing interview of this candidate")
    n.set_defaults(fn=cmd_new)

    g = isub.add_parser("grade", help="grade a candidate's submitted notebook and write the report")
    g.add_argument("candidate")
    g.add_argument("submission")
    g.add_argument("--submitted-at", default=None, help="submission time, ISO UTC (default: nbgrader's timestamp.txt "
                                                        "beside the notebook, else its modification time)")
    g.add_argument("--out", default=None, help="report folder (default: <course>/.inferlab/interview/reports)")
    g.add_argument("--json", action="store_true", help="print the report as JSON")
    g.add_argument("--seed", type=int, default=None, help="seed for the coding task's random inputs")
    g.set_defaults(fn=cmd_grade)

    d = isub.add_parser("guide", help="print the interviewer's sheet")
    d.add_argument("candidate")
    d.set_defaults(fn=cmd_guide)

    r = isub.add_parser("report", help="the final report from nbgrader's gradebook (hand grades included)")
    r.add_argument("candidate")
    r.add_argument("--out", default=None, help="report folder (default: <course>/.inferlab/interview/reports)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(fn=cmd_report)


def _fail(message: str) -> int:
    print(f"inferlab interview: {message}", file=sys.stderr)
    return 2


def cmd_new(args) -> int:
    from inferlab.interview import generate, gradebook
    from inferlab.interview.keys import KeyStore, Record

    try:
        store = KeyStore(args.course)
        record = Record.new(args.candidate, args.track, args.level, args.minutes, args.seed, args.practice,
                            args.released)
        if store.has(args.candidate) and args.candidate != "sample" and not args.force:
            return _fail(f"candidate {args.candidate!r} already has an interview (use --force to replace it)")
        if record.candidate == "sample":
            raise ValueError("candidate 'sample' is reserved for the course's sample interview")
        secret = store.secret(create=True)
        iv = generate.plan(record, secret)
        store.save(iv.record)
    except (ValueError, RuntimeError) as e:
        return _fail(str(e))
    out = Path(args.out) if args.out else store.dir / "release" / record.candidate / "lab10.ipynb"
    generate.write_notebook(iv, out)
    registered = gradebook.register_due(store.course, iv.record)
    print(f"interview for {record.candidate}: track {record.track}, level {record.level}, {record.minutes} min"
          + (", practice" if record.practice else f", due {record.due}"))
    print(f"notebook   {out}")
    print(f"record     {store.dir / (record.candidate + '.json')}  (instructor only)")
    if registered:
        print("gradebook  lab10 due time set for this candidate")
    return 0


def _interview(args, candidate):
    from inferlab.interview.generate import load

    return load(candidate, args.course)


def cmd_guide(args) -> int:
    from inferlab.interview.guide import sheet

    try:
        iv = _interview(args, args.candidate)
    except (LookupError, ValueError) as e:
        return _fail(str(e))
    print(sheet(iv), end="")
    return 0


def cmd_grade(args) -> int:
    import json

    import torch

    from inferlab.grading.source import UnreadableSubmission
    from inferlab.interview import clock, report
    from inferlab.interview.grade import grade_interview, submission_time
    from inferlab.interview.keys import KeyStore

    torch.set_num_threads(1)
    store = KeyStore(args.course)
    try:
        iv = _interview(args, args.candidate)
        when = submission_time(Path(args.submission), args.submitted_at) if Path(args.submission).exists() else None
        result = grade_interview(args.candidate, args.submission, store.course, seed=args.seed)
    except (LookupError, ValueError, UnreadableSubmission) as e:
        return _fail(str(e))
    scores = slot_scores(result)
    for item in iv.items:
        if item.kind == "written":
            scores[item.slot] = (None, "written answer: graded by hand in nbgrader's formgrader "
                                       "(then `inferlab interview report`)")
    rep = report.build(iv, scores, submitted=when, starts=clock.section_starts(args.submission),
                       source=f"inferlab interview grade (seed {result.seed})")
    j, h = report.write(rep, Path(args.out) if args.out else store.dir / "reports")
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
    else:
        print(summary(rep) + f"\nreport     {h}\n           {j}")
    return 0


def slot_scores(result) -> dict:
    """Per slot (points earned, message) from a runner Report of lab10."""
    out: dict = {}
    for t in result.tests:
        e, msgs = out.get(t.group, (0.0, []))
        out[t.group] = (e + t.points, msgs + ([] if t.passed else [t.message]))
    return {g: (e, "\n".join(m) or "ok") for g, (e, m) in out.items()}


def cmd_report(args) -> int:
    import json

    from inferlab.interview import clock, gradebook, report
    from inferlab.interview.keys import KeyStore

    store = KeyStore(args.course)
    try:
        iv = _interview(args, args.candidate)
    except (LookupError, ValueError) as e:
        return _fail(str(e))
    nb = gradebook.results(store.course, args.candidate)
    if nb is None:
        return _fail(f"nbgrader has not graded lab10 of {args.candidate!r} in {store.course} yet "
                     "(nbgrader autograde lab10 first)")
    scores = {}
    for item in iv.items:
        g = nb["cells"].get(f"lab10_{item.slot}")
        if g is None:
            scores[item.slot] = (0.0, "no grade in the gradebook")
        elif item.kind == "written":
            scores[item.slot] = ((g["manual"], "graded by hand") if g["manual"] is not None else
                                 (0.0, "left blank") if not g["needs_manual"] and g["auto"] is not None else
                                 (None, "waiting for the formgrader"))
        else:
            s = g["manual"] if g["manual"] is not None else (g["auto"] or 0.0)
            scores[item.slot] = (float(s), "autograded" + (" (score changed by hand)" if g["manual"] is not None else ""))
    submitted_nb = store.course / "submitted" / args.candidate / "lab10" / "lab10.ipynb"
    rep = report.build(iv, scores, submitted=nb["timestamp"], starts=clock.section_starts(submitted_nb),
                       penalty=nb["late_penalty"], comments=nb["comments"], source="nbgrader gradebook")
    j, h = report.write(rep, Path(args.out) if args.out else store.dir / "reports")
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
    else:
        print(summary(rep) + f"\nreport     {h}\n           {j}")
    return 0


def summary(rep: dict) -> str:
    r, p = rep["rubric"], rep["points"]
    lines = [f"{rep['candidate']}: {r['after_penalty']:.1f}/100 ({r['final_band']})"
             + (" provisional: written answers pending" if r["provisional"] else ""),
             f"  points {p['earned']:g}/{p['possible']:g}, late penalty {p['late_penalty']:g}"]
    for c, v in rep["categories"].items():
        lines.append(f"  {c:9} {v['earned']:g}/{v['possible']:g}")
    for q in rep["questions"]:
        pts = "pending" if q["points"] is None else f"{q['points']:g}"
        lines.append(f"  {q['slot']:5} §{q['section']} {pts:>7}/{q['max_points']:g}  {q['title']}")
    if rep["gaps"]:
        lines.append("  revisit: " + ", ".join(f"§{g['section']} {g['title']} ({g['notebook']})" for g in rep["gaps"]))
    return "\n".join(lines)
