"""One candidate's interview: the plan (which question fills each slot, with which numbers) and its notebook.

`plan(record, secret)` is the only place expected values come from; the grader
calls it again with the key store's secret. `notebook_text(interview, answers=False)`
writes the candidate's notebook in the course's percent format: questions and
empty answer cells, no expected values, no seed. With `answers=True` it writes the
sample interview's source (`solutions/lab10/lab10.src.py`), answers inside
solution regions, the way every lab's source is written.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from inferlab.interview import bank, coding, written
from inferlab.interview.keys import SAMPLE, SAMPLE_RECORD, SAMPLE_SECRET, KeyStore, Record, stream
from inferlab.interview.sections import LEVEL_NAMES, SECTIONS, TRACK_NAMES, section_minutes

LAB = "lab10"


@dataclass(frozen=True)
class Item:
    """One graded place of the interview."""

    slot: str                 # q01..q10, code, w1..w4
    kind: str                 # quant, code, written
    section: int
    category: str
    points: float
    question: object          # bank.Kind, coding.ResolvedTask or written.Written
    params: dict | None = None
    expected: float | None = None

    @property
    def key(self) -> str:
        q = self.question
        return q.task.key if self.kind == "code" else q.key

    @property
    def title(self) -> tuple[str, str]:
        return self.question.task.title if self.kind == "code" else self.question.title


@dataclass(frozen=True)
class Interview:
    record: Record
    items: tuple[Item, ...]
    minutes: dict            # section -> planned minutes

    def item(self, slot: str) -> Item:
        return next(i for i in self.items if i.slot == slot)

    def sections(self) -> list[int]:
        return sorted({i.section for i in self.items} | set(self.minutes))


def _weighted(rng, options, weight):
    total = sum(weight(o) for o in options)
    x = rng.random() * total
    for o in options:
        x -= weight(o)
        if x <= 0:
            return o
    return options[-1]


def draw_choices(record: Record, secret: bytes) -> dict:
    """Which kind, written question and coding task fill each slot (the track weights the draw)."""
    t = record.track
    out = {}
    for slot in bank.SLOTS:
        out[slot] = _weighted(stream(secret, record, f"kind:{slot}"), bank.kinds_for(slot),
                              lambda k: k.weights.get(t, 1.0)).key
    for slot in written.WRITTEN_SLOTS:
        out[slot] = _weighted(stream(secret, record, f"written:{slot}"), written.questions_for(slot),
                              lambda q: q.weights.get(t, 1.0)).key
    tasks = coding.available(record.level)
    if not tasks:
        raise RuntimeError("no coding task is available (no lab source with an autograder)")
    out["code"] = _weighted(stream(secret, record, "code"), tasks, lambda c: c.weights.get(t, 1.0)).key
    return out


def plan(record: Record, secret: bytes) -> Interview:
    """The whole interview of `record`, expected values included (grader side only)."""
    choices = record.choices or draw_choices(record, secret)
    items = []
    for slot, (section, category) in bank.SLOTS.items():
        kind = bank.KINDS[choices[slot]]
        params = kind.make(stream(secret, record, f"params:{slot}"), record.level)
        items.append(Item(slot, "quant", section, category, bank.SLOT_POINTS, kind, params, kind.answer(params)))
    task = coding.resolve(coding.TASKS[choices["code"]])
    items.append(Item("code", "code", task.task.section, "practice", coding.EXAMPLE_POINTS + coding.HIDDEN_POINTS, task))
    for slot, category in written.WRITTEN_SLOTS.items():
        q = written.QUESTIONS[choices[slot]]
        items.append(Item(slot, "written", q.section, category, written.WRITTEN_POINTS, q))
    order = {"quant": 0, "code": 1, "written": 2}
    items.sort(key=lambda i: (i.section, order[i.kind], i.slot))
    return Interview(dataclasses.replace(record, choices=choices), tuple(items),
                     section_minutes(record.track, record.minutes))


def load(candidate: str, course=None) -> Interview:
    """The interview on record for `candidate` in the course's key store (the sample needs none)."""
    if candidate == SAMPLE:
        return plan(SAMPLE_RECORD, SAMPLE_SECRET)
    store = KeyStore(course)
    return plan(store.load(candidate), store.secret())


# ----------------------------------------------------------------------------- the notebook

def _md(text: str) -> str:
    return "\n".join(("# " + line) if line else "#" for line in text.strip("\n").splitlines())


def _answer_hint(item: Item) -> str:
    k = item.question
    return f"{k.unit}; graded {k.tolerance_text()}"


def _section_heading(iv: Interview, s: int) -> str:
    sec = SECTIONS[s]
    when = "" if iv.record.practice else f" (about {iv.minutes[s]} minutes · 约{iv.minutes[s]}分钟)"
    return f"## §{s} · {sec.en} · {sec.zh}{when}"


def _header(iv: Interview) -> str:
    r = iv.record
    track, track_zh, stresses = TRACK_NAMES[r.track]
    level, level_zh = LEVEL_NAMES[r.level]
    clock = ("**Practice mode** · 练习模式: no clock; run each answer's check cell for feedback right away."
             if r.practice else
             f"**{r.minutes} minutes** · {r.minutes}分钟, released {r.released}, due {r.due} (UTC). "
             "Late work loses 10% of its score per started hour.")
    total = sum(i.points for i in iv.items)
    return f"""# {LAB} · Mock interview · 模拟面试

Candidate · 候选人 **{r.candidate}** · track · 岗位 **{track} ({track_zh})**: {stresses} · level · 级别 **{level} ({level_zh})**

{clock}

How it works · 说明
- Sections follow the interview outline §1-§8. {'' if r.practice else 'When you start a section, run its clock cell (`start_section(N)`): the report shows the time you spent on each.'}
- **Quantitative questions** (2 points each): assign a number to the named variable (`q04 = ...`); compute it in
  the cell if you like. The unit and the tolerance are stated with each question.
- **Coding task** (10 points): the course lab's own checks grade it, 3 points for the example check you can run,
  7 for hidden checks on fresh inputs.
- **Written questions** (5 points each): answer in the markdown cell, graded by the interviewer on the syllabus §9
  bands. Structure, numbers and trade-offs count; "I don't know, but here is how I'd find out" beats a guess.
- Do not edit or delete the check cells; they are restored before grading. {total:g} points in all."""


def notebook_text(iv: Interview, answers: bool = False) -> str:
    """The interview as percent-format text (the candidate's, or with answers the sample's source)."""
    r = iv.record
    out = ["# %% [markdown]", _md(_header(iv)), "",
           "# %%",
           "import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 when there is no GPU, before triton is imported",
           "",
           "import math",
           "",
           "import torch",
           "import triton",
           "import triton.language as tl",
           "",
           "from inferlab.grading import check_here",
           "from inferlab.interview.clock import start_section",
           "",
           f'CANDIDATE = "{r.candidate}"',
           f'CODING_TASK = "{iv.item("code").key}"',
           ""]
    current = None
    for item in iv.items:
        if item.section != current:
            current = item.section
            out += ["# %% [markdown]", _md(_section_heading(iv, current)), ""]
            if not r.practice:
                out += ["# %%", f"start_section({current})", ""]
        out += _item_cells(item, answers, r.level)
    out += ["# %% [markdown]", _md("## Done · 完成\n\nSave the notebook and submit it. Nothing in it is graded "
                                   "before you submit, whatever the check cells print.")]
    return "\n".join(out).rstrip("\n") + "\n"


def _item_cells(item: Item, answers: bool, level: str) -> list[str]:
    en_title, zh_title = item.title
    if item.kind == "quant":
        k = item.question
        en, zh = k.ask(item.params)
        name = item.slot
        head = f"### {name.upper()} · {en_title} · {zh_title} ({item.points:g} points · {item.category})"
        md = f"{head}\n\n{en}\n\n{zh}\n\nAnswer: `{name} = ...` ({_answer_hint(item)})."
        if answers:
            body = ["### BEGIN SOLUTION", f"{name} = {item.expected:.12g}  # {k.working(item.params)}", "### END SOLUTION"]
        else:
            body = [f"{name} = None  # your answer: {k.unit}"]
        return ["# %% [markdown]", _md(md), "",
                f"# %% [solution id={LAB}_a{name[1:]}]", *body, "",
                f"# %% [test id={LAB}_{name} points={item.points:g} category={item.category}]",
                f'check_here("{LAB}", "{name}", globals())', ""]
    if item.kind == "code":
        t = item.question
        head = (f"### Coding task · {en_title} · {zh_title} ({item.points:g} points · {item.category}; "
                f"from {t.lab}, graded by its checks)")
        md = (f"{head}\n\nImplement the names below as the course lab asks (its text follows). Run the check cell "
              f"for the example check; hidden checks grade it after you submit.\n\n"
              + t.description.replace("## ", "#### "))
        cells = ["# %% [markdown]", _md(md), ""]
        for n, src in enumerate(t.given):
            what = f"set-up of {t.lab}" if n == 0 else "the course's reference, not graded here"
            cells += ["# %%", f"# Given ({what}):", coding.reference(src), ""]
        src = t.cell.source if answers else coding.stub(t.cell.source, f"{LAB} · coding task")
        cells += [f"# %% [solution id={LAB}_task]", src, "",
                  f"# %% [test id={LAB}_code points={item.points:g} category={item.category}]",
                  f'check_here("{LAB}", "code", globals())', ""]
        return cells
    q = item.question
    en, zh = q.prompt
    if level == "experienced":
        en, zh = f"{en} {q.harder[0]}", f"{zh}{q.harder[1]}"
    md = f"### {item.slot.upper()} · {en_title} · {zh_title} ({item.points:g} points · {item.category}, graded by the interviewer)\n\n{en}\n\n{zh}"
    return ["# %% [markdown]", _md(md), "",
            f"# %% [written id={LAB}_{item.slot} points={item.points:g} category={item.category}]",
            _md(q.model_answer if answers else "YOUR ANSWER HERE"), ""]


def write_notebook(iv: Interview, path: Path) -> Path:
    """The candidate's notebook (.ipynb), built from its percent text like every course notebook."""
    import nbformat

    from inferlab.notebook import parse_percent

    text = notebook_text(iv, answers=False)
    nb = parse_percent(text, f"<interview {iv.record.candidate}>")
    nb.metadata["inferlab"] = {"lab": LAB, "candidate": iv.record.candidate, "track": iv.record.track,
                               "level": iv.record.level, "practice": iv.record.practice}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path



def sample_source() -> str:
    """`solutions/lab10/lab10.src.py`: the sample interview, answered (a test keeps the file equal to this)."""
    return notebook_text(load(SAMPLE), answers=True)
