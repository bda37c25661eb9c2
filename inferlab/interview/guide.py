"""The interviewer's sheet: questions in order with timings, expected answers, follow-ups and bands."""
from __future__ import annotations

from inferlab.interview.generate import Interview
from inferlab.interview.sections import BAND_ORDER, BANDS, CATEGORIES, LEVEL_NAMES, SECTIONS, TRACK_NAMES

GUIDANCE = (
    ("Control the depth", "技术深度控制", "adjust the depth to the candidate; avoid the overly academic"),
    ("Tie theory to scenarios", "实践结合", "ground each question in a concrete serving scenario"),
    ("Ask for the reasoning", "思路引导", "have the candidate think aloud; credit the method, not only the number"),
    ("Allow other views", "开放讨论", "a different, well-argued answer is welcome; probe it instead of correcting it"),
)

QUANT_BANDS = {
    "excellent": "right number, unprompted derivation, says what the number implies for the system",
    "good": "right number or a slip fixed on a nudge; derivation clear",
    "fair": "right method but an arithmetic or unit error not caught",
    "poor": "no method; guesses a number",
}


def sheet(iv: Interview) -> str:
    r = iv.record
    track, track_zh, stresses = TRACK_NAMES[r.track]
    level, level_zh = LEVEL_NAMES[r.level]
    out = [f"INTERVIEWER'S SHEET · 面试官用表 — candidate {r.candidate}",
           f"track {track} ({track_zh}): stress {stresses}; level {level} ({level_zh}); {r.minutes} minutes"
           + ("; practice mode (no clock)" if r.practice else f"; released {r.released}, due {r.due}"),
           "CONFIDENTIAL: expected answers. Do not share with the candidate.", "",
           "How to run it (syllabus §10.1):"]
    out += [f"  - {en} · {zh}: {how}" for en, zh, how in GUIDANCE]
    if r.level == "new-grad":
        out.append("  - New graduate (§10.2): expect solid fundamentals and learning ability, not production "
                   "experience; look for problem-solving instinct and awareness of trends. Use the shallower follow-ups first.")
    else:
        out.append("  - Experienced: expect numbers from their own systems; use the deeper follow-ups and push on trade-offs.")
    out.append("")
    clock = 0
    for s in iv.sections():
        sec = SECTIONS[s]
        m = iv.minutes.get(s, 0)
        out += [f"§{s} · {sec.en} · {sec.zh}   [{clock:>3}-{clock + m:>3} min, {m} min]", "-" * 78]
        clock += m
        for item in (i for i in iv.items if i.section == s):
            out += _item(item) + [""]
    out += ["Scoring (syllabus §9): " + ", ".join(f"{v[0]} {v[2]}%" for v in CATEGORIES.values())
            + "; bands excellent >= 90, good >= 80, fair >= 70, poor below."]
    return "\n".join(out) + "\n"


def _item(item) -> list[str]:
    title = f"{item.title[0]} · {item.title[1]}"
    head = f"  [{item.slot}] {title}  ({item.points:g} points, {item.category})"
    if item.kind == "quant":
        k = item.question
        en, zh = k.ask(item.params)
        lines = [head, f"    Q: {en}", f"       {zh}",
                 f"    EXPECTED: {int(round(item.expected)) if k.exact else f'{item.expected:.6g}'} {k.unit}  "
                 f"(accepts {k.tolerance_text()})",
                 f"    WORKING: {k.working(item.params)}"]
        deeper, shallower, bands = k.deeper, k.shallower, QUANT_BANDS
    elif item.kind == "code":
        t = item.question
        lines = [head, f"    TASK: implement {', '.join(t.task.defines)} as in {t.lab} "
                       f"(checks: {', '.join(f'{t.lab}.{g}' for g in t.groups)}; 3 points example, 7 hidden).",
                 "    WATCH FOR: tests before code? edge cases (empty, one element, bad input) handled and named "
                 "in the error? complexity stated?"]
        deeper = ("What is the complexity of each call, and how would you prove it with a measurement?",
                  "How would this code change on a GPU or across processes?")
        shallower = ("Walk me through one call on a tiny example.",)
        bands = {"excellent": "all hidden checks pass; clean, explains complexity and edge cases",
                 "good": "example passes, one edge case missed", "fair": "works on the example only",
                 "poor": "does not run"}
    else:
        q = item.question
        lines = [head, f"    Q: {q.prompt[0]}", f"       {q.prompt[1]}"]
        lines += [f"    HARDER (experienced): {q.harder[0]}",
                  f"    MODEL ANSWER: {q.model_answer}", "    KEY POINTS: " + "; ".join(q.key_points)]
        deeper, shallower, bands = q.deeper, q.shallower, q.sounds
    lines += [f"    DEEPER: {d}" for d in deeper] + [f"    SHALLOWER: {d}" for d in shallower]
    lines.append("    SOUNDS LIKE:")
    for b in BAND_ORDER:
        lines.append(f"      {b:9} {bands[b]}  (§9: {BANDS[item.category][b][0]})")
    return lines
