"""The final report of an interview: per question, the four §9 categories, score and band, time per section,
strengths and gaps naming the course sections to revisit. JSON for tools, one self-contained HTML page for people."""
from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

from inferlab.grading.runner import rubric_score
from inferlab.interview.generate import Interview
from inferlab.interview.keys import parse_time
from inferlab.interview.sections import CATEGORIES, SECTIONS, TRACK_NAMES


def _penalty(fraction_score: float, seconds_late: float, candidate: str) -> float:
    from inferlab.nbgrader_plugins import PerHourPenalty

    return PerHourPenalty().late_submission_penalty(candidate, fraction_score, seconds_late)


def build(iv: Interview, scores: dict, *, submitted: datetime | None = None, starts: dict | None = None,
          penalty: float | None = None, comments: dict | None = None, source: str = "") -> dict:
    """`scores`: slot -> (earned or None when not graded yet, message). `penalty`: points taken for lateness
    (nbgrader's, when it graded); computed here with the course's PerHourPenalty otherwise."""
    r = iv.record
    questions, cats = [], {c: [0.0, 0.0] for c in CATEGORIES}
    by_section: dict[int, list[float]] = {}
    pending = []
    for item in iv.items:
        earned, message = scores.get(item.slot, (0.0, "not graded"))
        q = {"slot": item.slot, "kind": item.kind, "question": item.key, "title": item.title[0],
             "title_zh": item.title[1], "section": item.section, "category": item.category,
             "max_points": item.points, "points": earned, "status": "pending" if earned is None else "graded",
             "message": message}
        if comments and comments.get(f"lab10_{item.slot}"):
            q["comment"] = comments[f"lab10_{item.slot}"]
        questions.append(q)
        if earned is None:
            pending.append(item.slot)
            continue
        cats[item.category][0] += earned
        cats[item.category][1] += item.points
        e, p = by_section.get(item.section, [0.0, 0.0])
        by_section[item.section] = [e + earned, p + item.points]
    raw = sum(v[0] for v in cats.values())
    possible = sum(v[1] for v in cats.values())
    due = parse_time(r.due) if r.due else None
    late = max(0.0, (submitted - due).total_seconds()) if (submitted and due) else 0.0
    if penalty is None:
        penalty = _penalty(raw, late, r.candidate) if not r.practice else 0.0
    rubric = rubric_score({c: tuple(v) for c, v in cats.items()})
    kept = (raw - penalty) / raw if raw > 0 else 1.0
    final = round(rubric["score"] * kept, 2)
    band = "excellent" if final >= 90 else "good" if final >= 80 else "fair" if final >= 70 else "poor"
    strengths, gaps = [], []
    for s in sorted(by_section):
        e, p = by_section[s]
        sec = SECTIONS[s]
        entry = {"section": s, "title": sec.en, "title_zh": sec.zh, "share": round(e / p, 3) if p else 0.0,
                 "notebook": sec.notebook, "lab": sec.lab}
        if p and e / p >= 0.9:
            strengths.append(entry)
        elif p and e / p < 0.7:
            gaps.append(entry)
    return {
        "candidate": r.candidate, "track": r.track, "level": r.level, "minutes": r.minutes, "practice": r.practice,
        "released": r.released, "due": r.due, "submitted": submitted.isoformat() if submitted else None,
        "seconds_late": late, "source": source,
        "questions": questions,
        "categories": {c: {"name": CATEGORIES[c][0], "name_zh": CATEGORIES[c][1], "weight": CATEGORIES[c][2],
                           "earned": v[0], "possible": v[1]} for c, v in cats.items() if v[1] > 0},
        "points": {"earned": raw, "possible": possible, "late_penalty": penalty, "after_penalty": raw - penalty,
                   "pending": pending},
        "rubric": {"score": rubric["score"], "band": rubric["band"], "after_penalty": final, "final_band": band,
                   "provisional": bool(pending)},
        "sections": _times(iv, starts or {}, submitted),
        "strengths": strengths, "gaps": gaps,
    }


def _times(iv: Interview, starts: dict, submitted: datetime | None) -> list[dict]:
    order = sorted(starts)
    out = []
    for s in iv.sections():
        used = None
        if s in starts:
            later = [starts[o] for o in order if starts[o] > starts[s]]
            end = min(later) if later else submitted
            if end is not None:
                used = round((end - starts[s]).total_seconds() / 60.0, 1)
        out.append({"section": s, "title": SECTIONS[s].en, "planned_minutes": iv.minutes.get(s),
                    "started": starts[s].isoformat() if s in starts else None, "used_minutes": used})
    return out


def write(report: dict, folder: Path) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    j = folder / f"{report['candidate']}.report.json"
    h = folder / f"{report['candidate']}.report.html"
    j.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    h.write_text(to_html(report), encoding="utf-8")
    return j, h


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def to_html(r: dict) -> str:
    """One page, no scripts or external files: opens in any browser."""
    track = TRACK_NAMES[r["track"]]
    rub, pts = r["rubric"], r["points"]
    def points(q):
        return "pending" if q["points"] is None else f"{q['points']:g}"

    rows = "".join(
        f"<tr class='{_e(q['status'])}'><td>{_e(q['slot'])}</td><td>§{q['section']}</td><td>{_e(q['title'])}<br>"
        f"<small>{_e(q['title_zh'])}</small></td><td>{_e(q['category'])}</td>"
        f"<td>{points(q)} / {q['max_points']:g}</td>"
        f"<td><pre>{_e(q['message'])}</pre>{'<p>' + _e(q['comment']) + '</p>' if q.get('comment') else ''}</td></tr>"
        for q in r["questions"])
    cats = "".join(f"<tr><td>{_e(c['name'])} · {_e(c['name_zh'])}</td><td>{c['weight']}%</td>"
                   f"<td>{c['earned']:g} / {c['possible']:g}</td><td>{100 * c['earned'] / c['possible']:.0f}%</td></tr>"
                   for c in r["categories"].values())
    secs = "".join(f"<tr><td>§{s['section']} {_e(s['title'])}</td><td>{_e(s['planned_minutes'])}</td>"
                   f"<td>{'—' if s['used_minutes'] is None else s['used_minutes']}</td></tr>" for s in r["sections"])

    def listing(entries, empty):
        if not entries:
            return f"<p>{empty}</p>"
        return "<ul>" + "".join(f"<li>§{g['section']} {_e(g['title'])} · {_e(g['title_zh'])} ({100 * g['share']:.0f}%): "
                                f"revisit <code>{_e(g['notebook'])}</code> and <code>{_e(g['lab'])}</code></li>"
                                for g in entries) + "</ul>"

    late = (f"submitted {_e(r['submitted'])}, {r['seconds_late'] / 60:.0f} minutes late: "
            f"−{pts['late_penalty']:g} points" if r["seconds_late"] > 0 else f"submitted {_e(r['submitted'])}, on time")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Interview report · {_e(r['candidate'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top}}
tr.pending{{background:#fff6d5}}pre{{white-space:pre-wrap;margin:0;font-size:.85em}}.big{{font-size:1.6em}}</style></head>
<body>
<h1>Mock interview report · 模拟面试报告</h1>
<p>Candidate <b>{_e(r['candidate'])}</b> · track {_e(track[0])} ({_e(track[1])}) · level {_e(r['level'])} ·
{r['minutes']} minutes{' · practice' if r['practice'] else ''}</p>
<p class="big">Score {rub['after_penalty']:.1f} / 100 · <b>{_e(rub['final_band'])}</b>{' (provisional: written answers not graded yet)' if rub['provisional'] else ''}</p>
<p>Points {pts['earned']:g} / {pts['possible']:g}; {late}. Rubric before penalty {rub['score']:.1f} ({_e(rub['band'])}).</p>
<h2>Categories (syllabus §9) · 评分类别</h2>
<table><tr><th>category</th><th>weight</th><th>points</th><th>share</th></tr>{cats}</table>
<h2>Strengths · 优势</h2>{listing(r['strengths'], 'none at 90% or more yet')}
<h2>Gaps · 待加强</h2>{listing(r['gaps'], 'no section below 70%')}
<h2>Time per section · 各部分用时 (minutes)</h2>
<table><tr><th>section</th><th>planned</th><th>used</th></tr>{secs}</table>
<h2>Questions · 逐题结果</h2>
<table><tr><th>slot</th><th>§</th><th>question</th><th>category</th><th>points</th><th>notes</th></tr>{rows}</table>
</body></html>
"""
