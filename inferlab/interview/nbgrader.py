"""nbgrader's autograde of lab10: who submitted, and the grader's notes beside each written answer.

`InterviewNotes` runs first among the autograde preprocessors (nbgrader_config.py).
For lab10 it tells the checks which candidate submitted (nbgrader's student id, a
trusted fact, so a notebook claiming someone else's interview is graded as its
submitter's), and inserts after each written answer a note for the formgrader:
the model answer, the key points, what each band sounds like and the §9 band
descriptors of its category. The candidate never had these; they appear in the
graded copy (and so in the feedback, after grading).
"""
from __future__ import annotations

import os
import re

from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor

from inferlab.interview import grade
from inferlab.interview.generate import LAB
from inferlab.interview.keys import SAMPLE, KeyStore


def grader_note(item) -> str:
    from inferlab.interview.sections import BAND_ORDER, BANDS, CATEGORIES

    q = item.question
    cat_en, cat_zh, _ = CATEGORIES[item.category]
    lines = [f"**For the grader · 评分参考** ({item.slot}, {item.points:g} points, {cat_en} · {cat_zh})", "",
             f"Model answer · 参考答案: {q.model_answer}", "", "Key points · 要点:"]
    lines += [f"- {p}" for p in q.key_points]
    lines += ["", "| band | sounds like | §9 descriptor |", "| --- | --- | --- |"]
    share = {"excellent": "90-100%", "good": "80-89%", "fair": "70-79%", "poor": "below 70%"}
    for b in BAND_ORDER:
        en, zh = BANDS[item.category][b]
        lines.append(f"| {b} ({share[b]}) | {q.sounds[b]} | {en} · {zh} |")
    return "\n".join(lines)


class InterviewNotes(NbGraderPreprocessor):
    """For lab10: trust nbgrader's student id, and add the grader's notes to the written answers."""

    def preprocess(self, nb, resources):
        meta = resources.get("nbgrader", {})
        if meta.get("assignment") != LAB:
            grade.set_trusted(None)
            return nb, resources
        student = meta.get("student")
        course = os.getcwd()
        grade.set_trusted(student, course)
        store = KeyStore(course)
        who = student if student and student != SAMPLE and store.has(student) else None
        if who is None and _declared(nb) == SAMPLE:
            who = SAMPLE
        if who is None:
            return nb, resources
        try:
            iv = grade._load(who, course)
        except Exception as e:  # noqa: BLE001 - notes are help for the grader, never a reason to stop grading
            self.log.warning("interview notes unavailable for %s: %s", who, e)
            return nb, resources
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            gid = str(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
            slot = gid[len(LAB) + 1:]
            if cell.cell_type == "markdown" and slot.startswith("w") and cell.metadata["nbgrader"].get("grade"):
                note = new_markdown_cell(grader_note(iv.item(slot)))
                note.pop("id", None)
                note.metadata["inferlab"] = {"grader_note": slot}
                cells.append(note)
        nb.cells = cells
        return nb, resources


def _declared(nb) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = re.search(r'^CANDIDATE\s*=\s*["\']([^"\']+)["\']', cell.source, flags=re.M)
            if m:
                return m.group(1)
    return None
