"""lab10 · the mock interview: generation, the answer key's secrecy, grading through both front doors, the report.

One nbgrader course (fixture `room`) serves every end-to-end test: five candidates
(one per track answered correctly, one of them late, and a blank one) are
generated, submitted, autograded once, hand-graded through the gradebook, and
graded again through `inferlab interview grade`.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from classroom import Classroom
from conftest import ROOT
from inferlab.cli import main
from inferlab.interview import answers as A
from inferlab.interview import bank, generate
from inferlab.interview.keys import KeyStore, Record
from inferlab.interview.sections import section_minutes

RELEASED = "2026-12-01T09:00:00Z"
ON_TIME = "2026-12-01 10:20:00 UTC"
LATE = "2026-12-01 12:00:00 UTC"          # due 10:30, 90 minutes late: two started hours, 20%
CANDIDATES = {"alice": ("rd", "new-grad", ON_TIME), "bob": ("eng", "experienced", LATE),
              "carol": ("research", "new-grad", ON_TIME), "dave": ("arch", "experienced", ON_TIME),
              "erin": ("rd", "experienced", ON_TIME)}
BLANK = "erin"
MACHINE_POINTS = 10 * bank.SLOT_POINTS + 10.0


def new(course: Path, candidate: str, track: str, level: str = "new-grad", seed: int = 987654321, *extra) -> int:
    return main(["interview", "--course", str(course), "new", "--candidate", candidate, "--track", track,
                 "--level", level, "--seed", str(seed), "--released", RELEASED, *extra])


def answered(iv, src: Path, out: Path, starts: bool = True) -> Path:
    """The candidate's notebook filled in from the generator's own answer key (a scripted correct candidate)."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("lab10_a"):
            slot = "q" + gid[len("lab10_a"):]
            cell.source = f"{slot} = {iv.item(slot).expected!r}"
        elif gid == "lab10_task":
            cell.source = iv.item("code").question.cell.source
        elif gid.startswith("lab10_w"):
            cell.source = "Prefill is compute-bound, decode memory-bound; here is how I would reason about it..."
        m = re.match(r"start_section\((\d+)\)", cell.source)
        if m and starts:
            n = int(m.group(1))
            when = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=10 * (n - 1))
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"section {n} started at {when.isoformat()}\n")]
    nbformat.write(nb, out)
    return out


# ----------------------------------------------------------------------------- generation (fast)


def test_formulas_follow_the_spec():
    assert A.kv_cache_bytes(32, 32, 128, 4096) == 2 * 32 * 32 * 128 * 4096 * 2
    assert A.pipeline_bubble_fraction(4, 12) == pytest.approx(3 / 15)
    assert A.microbatches_for_bubble(4, 0.2) == 12 and A.pipeline_bubble_fraction(4, 12) <= 0.2 < A.pipeline_bubble_fraction(4, 11)
    assert A.expected_accepted_tokens(0.8, 4) == pytest.approx((1 - 0.8 ** 5) / 0.2) and A.expected_accepted_tokens(1, 4) == 5
    assert A.max_concurrent_sequences(80 * 2**30, 14e9, 524288, 4096) == int((80 * 2**30 * 0.9 - 14e9) // (524288 * 4096))
    assert A.max_concurrent_sequences(10, 100, 1, 1) == 0
    assert A.allreduce_time(1e6, 4, 1e-6, 1e-9) == pytest.approx(6e-6 + 1.5e6 * 1e-9)
    assert A.allreduce_time(1e6, 1, 1e-6, 1e-9) == 0.0
    recs = [{"arrival": 0.0, "token_times": [0.2, 0.3, 0.4]}, {"arrival": 0.1, "token_times": [0.9]}]
    assert A.ttft(recs[0]) == pytest.approx(0.2) and A.tpot(recs[0]) == pytest.approx(0.1) and A.tpot(recs[1]) is None
    assert A.goodput(recs, 0.5, 0.2) == pytest.approx(1 / 0.9) and A.goodput([], 1, 1) == 0.0
    assert A.policy_hits(list("ABACBD"), 2, "lru") == 1 and A.policy_hits(list("ABACBD"), 2, "fifo") == 2
    assert A.policy_hits(list("AABCA"), 2, "lfu") == 2     # A (used twice) survives C; LRU would have evicted it
    assert A.kv_memory_waste([10, 20], 40, 16) == {"contiguous": pytest.approx(1 - 30 / 80), "paged": pytest.approx(1 - 30 / 48)}


def test_section_minutes_follow_the_outline_and_the_track():
    for track in ("rd", "eng", "research", "arch"):
        for minutes in (60, 90, 120):
            m = section_minutes(track, minutes)
            assert sorted(m) == list(range(1, 9)) and sum(m.values()) == minutes
    assert section_minutes("arch", 90)[6] > section_minutes("research", 90)[6]
    assert section_minutes("research", 90)[7] > section_minutes("rd", 90)[7]


def test_same_seed_same_interview_other_candidate_other_numbers(tmp_path):
    store = KeyStore(tmp_path)
    secret = store.secret(create=True)
    a = generate.plan(Record.new("ann", "rd", seed=5, released=RELEASED), secret)
    a2 = generate.plan(Record.new("ann", "rd", seed=5, released=RELEASED), secret)
    b = generate.plan(Record.new("ben", "rd", seed=5, released=RELEASED), secret)
    assert generate.notebook_text(a) == generate.notebook_text(a2)
    assert [i.params for i in a.items] == [i.params for i in a2.items]
    differ = [s for s in bank.SLOTS if a.item(s).params != b.item(s).params]
    assert differ == list(bank.SLOTS), f"same numbers for two candidates in {set(bank.SLOTS) - set(differ)}"
    other_seed = generate.plan(Record.new("ann", "rd", seed=6, released=RELEASED), secret)
    assert generate.notebook_text(other_seed) != generate.notebook_text(a)


def test_the_track_sets_the_mix():
    secret = bytes(32)                                   # fixed: the draw below is deterministic
    mix = {t: [] for t in ("research", "arch")}
    for t in mix:
        for i in range(40):
            iv = generate.plan(Record.new(f"c{i}", t, seed=i, released=RELEASED), secret)
            mix[t] += [iv.item("q09").key, iv.item("w4").key, iv.item("w3").key, iv.item("w2").key]
    frontier = ("future_directions", "speculative")
    assert sum(mix["research"].count(k) for k in frontier) > sum(mix["arch"].count(k) for k in frontier) + 5
    design = ("ecommerce_service", "pd_disagg", "tp_vs_pp")
    assert sum(mix["arch"].count(k) for k in design) > sum(mix["research"].count(k) for k in design) + 5


@pytest.mark.parametrize("key", range(4))
def test_candidate_notebook_holds_no_expected_value_no_seed_no_secret(tmp_path, key):
    """Four fixed course keys (20 interviews): a question whose answer is one of its own numbers
    shows up here, and no run depends on the luck of a fresh key."""
    keyfile = tmp_path / ".inferlab" / "interview" / "secret.key"
    keyfile.parent.mkdir(parents=True)
    keyfile.write_text(bytes((key * 37 + i) % 256 for i in range(32)).hex() + "\n")
    for cand, (track, level, _) in CANDIDATES.items():
        assert new(tmp_path, cand, track, level) == 0
        path = tmp_path / ".inferlab" / "interview" / "release" / cand / "lab10.ipynb"
        text = path.read_text(encoding="utf-8")
        iv = generate.load(cand, tmp_path)
        assert "987654321" not in text and KeyStore(tmp_path).secret().hex() not in text
        nb = nbformat.read(path, as_version=4)
        answer_cells = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("lab10_a")]
        assert len(answer_cells) == 10 and all(s.split("#")[0].split("=", 1)[1].strip() == "None" for s in answer_cells)
        for item in (i for i in iv.items if i.kind == "quant"):
            e = item.expected
            forms = {str(int(round(e)))} if item.question.exact else {repr(e), *(f"{e:.{d}g}" for d in (3, 4, 5, 6, 8))}
            for f in forms:
                if len(f.replace(".", "").replace("-", "").lstrip("0")) < 4:
                    continue            # up to three digits occur by chance (an arrival at 0.615 s); the answer cells hold none
                hit = re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", text)
                assert hit is None, f"{cand} {item.slot}: expected value {f} appears in the notebook"
        assert "BEGIN SOLUTION" not in text and "model answer" not in text.lower()
        written = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("lab10_w")]
        assert written == ["YOUR ANSWER HERE"] * 4


def test_bad_arguments_get_a_clear_error(tmp_path, capsys):
    for argv, needle in [
        (["--candidate", "../x", "--track", "rd"], "candidate must be"),
        (["--candidate", "x", "--track", "rd", "--minutes", "5"], "minutes must be"),
        (["--candidate", "x", "--track", "rd", "--seed", "-1"], "seed must be"),
        (["--candidate", "sample", "--track", "rd"], "reserved"),
        (["--candidate", "x", "--track", "rd", "--released", "yesterday"], "released must be"),
    ]:
        assert main(["interview", "--course", str(tmp_path), "new", *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as e:
        main(["interview", "new", "--candidate", "x", "--track", "pm"])
    assert e.value.code == 2 and "invalid choice: 'pm'" in capsys.readouterr().err
    assert new(tmp_path, "x", "rd") == 0
    capsys.readouterr()
    assert new(tmp_path, "x", "rd") == 2 and "already has an interview" in capsys.readouterr().err
    assert main(["interview", "--course", str(tmp_path), "guide", "nobody"]) == 2
    assert "no interview for candidate 'nobody'" in capsys.readouterr().err
    assert main(["interview", "--course", str(tmp_path), "grade", "x", str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_guide_reads_as_an_interviewers_sheet(tmp_path, capsys):
    new(tmp_path, "gus", "arch", "experienced")
    capsys.readouterr()
    assert main(["interview", "--course", str(tmp_path), "guide", "gus"]) == 0
    text = capsys.readouterr().out
    iv = generate.load("gus", tmp_path)
    for needle in ("CONFIDENTIAL", "§1 ·", "§8 ·", "EXPECTED", "DEEPER", "SHALLOWER", "MODEL ANSWER", "excellent", "poor",
                   "技术深度控制", "Experienced"):
        assert needle in text, needle
    assert text.index("[q01]") < text.index("[q10]")
    assert str(iv.item("q01").expected) in text or f"{iv.item('q01').expected:.6g}" in text


def test_practice_mode_gives_feedback_after_each_answer(tmp_path, monkeypatch, capsys):
    from inferlab.grading import check_here
    from inferlab.grading.local import TaskNotPassing

    assert new(tmp_path, "pat", "research", "new-grad", 3, "--practice") == 0
    monkeypatch.setenv("INFERLAB_COURSE", str(tmp_path))
    iv = generate.load("pat", tmp_path)
    text = (tmp_path / ".inferlab/interview/release/pat/lab10.ipynb").read_text()
    assert "start_section(" not in text and "Practice mode" in text and iv.record.due is None
    ns = {"CANDIDATE": "pat", "q05": iv.item("q05").expected + 1}
    with pytest.raises(TaskNotPassing):
        check_here("lab10", "q05", ns)
    said = capsys.readouterr()
    assert "not yet" in said.out + said.err
    ns["q05"] = iv.item("q05").expected
    check_here("lab10", "q05", ns)
    assert "right" in capsys.readouterr().out


def test_sample_source_is_the_generators_sample():
    assert (ROOT / "solutions" / "lab10" / "lab10.src.py").read_text(encoding="utf-8") == generate.sample_source(), \
        "run: python -c 'from inferlab.interview.generate import sample_source; ...' (see solutions/lab10/NOTES.md)"


# ----------------------------------------------------------------------------- end to end (one course)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    base = tmp_path_factory.mktemp("interview")
    room = Classroom(base, ["lab10"])
    room.release("lab10")
    notebooks = {}
    for cand, (track, level, when) in CANDIDATES.items():
        assert new(room.root, cand, track, level) == 0
        src = room.root / ".inferlab" / "interview" / "release" / cand / "lab10.ipynb"
        iv = generate.load(cand, room.root)
        nb = src if cand == BLANK else answered(iv, src, base / f"{cand}.ipynb")
        room.submit(cand, "lab10", nb, timestamp=when)
        notebooks[cand] = room.root / "submitted" / cand / "lab10" / "lab10.ipynb"
    out = room.autograde("lab10")
    assert out.returncode == 0, out.stderr[-3000:]
    room.notebooks = notebooks
    return room


@pytest.mark.slow
def test_nbgrader_grades_every_track_full_blank_zero_late_penalised(room):
    scores = room.scores()
    for cand in CANDIDATES:
        got = scores[(cand, "lab10")]
        expected = 0.0 if cand == BLANK else MACHINE_POINTS * (0.8 if cand == "bob" else 1.0)
        assert got == pytest.approx(expected), (cand, got, room.autograded_notebook(cand, "lab10").read_text()[-3000:])
    graded = nbformat.read(room.autograded_notebook("dave", "lab10"), as_version=4)
    notes = [c.source for c in graded.cells if c.metadata.get("inferlab", {}).get("grader_note")]
    assert len(notes) == 4 and all("Model answer" in n and "excellent" in n and "§9" in n for n in notes)


@pytest.mark.slow
def test_inferlab_interview_grade_agrees_with_nbgrader(room, capsys):
    for cand in ("alice", "bob", "carol", "dave", BLANK):
        assert main(["interview", "--course", str(room.root), "grade", cand, str(room.notebooks[cand]), "--json",
                     "--seed", "1"]) == 0
        rep = json.loads(capsys.readouterr().out)
        machine = sum(q["points"] for q in rep["questions"] if q["kind"] != "written")
        assert machine == (0.0 if cand == BLANK else MACHINE_POINTS), rep["questions"]
        assert rep["rubric"]["provisional"] and all(q["status"] == "pending" for q in rep["questions"] if q["kind"] == "written")
        if cand == "bob":
            assert rep["seconds_late"] == 90 * 60 and rep["points"]["late_penalty"] == pytest.approx(0.2 * MACHINE_POINTS)


@pytest.mark.slow
def test_hand_grades_round_trip_through_the_gradebook_into_the_report(room, capsys):
    from nbgrader.api import Gradebook

    marks = {"w1": 5.0, "w2": 4.0, "w3": 3.5, "w4": 2.0}
    with Gradebook(f"sqlite:///{room.root / 'gradebook.db'}") as gb:
        for slot, score in marks.items():
            gb.find_grade(f"lab10_{slot}", "lab10", "lab10", "alice").manual_score = score
        gb.find_comment(f"lab10_w4", "lab10", "lab10", "alice").manual_comment = "knows the idea, not the acceptance rule"
        gb.db.commit()
    assert main(["interview", "--course", str(room.root), "report", "alice"]) == 0
    out = capsys.readouterr().out
    rep = json.loads((room.root / ".inferlab/interview/reports/alice.report.json").read_text())
    assert not rep["rubric"]["provisional"]
    by_slot = {q["slot"]: q for q in rep["questions"]}
    assert {s: by_slot[s]["points"] for s in marks} == marks
    assert by_slot["w4"]["comment"] == "knows the idea, not the acceptance rule"
    cats = rep["categories"]
    assert cats["frontier"]["earned"] == bank.SLOT_POINTS + 2.0 and cats["frontier"]["possible"] == bank.SLOT_POINTS + 5.0
    expected = (40 * (6 + 5) / 11 + 30 * (8 + 4) / 13 + 20 * (4 + 10 + 3.5) / 19.0 + 10 * 4 / 7) / 100 * 100
    assert rep["rubric"]["score"] == pytest.approx(expected, abs=0.01) and rep["rubric"]["band"] == "excellent"
    assert [s["used_minutes"] for s in rep["sections"]][:7] == [10.0] * 7      # starts 10 minutes apart
    assert rep["sections"][7]["used_minutes"] == 10.0                            # §8 10:10 .. submitted 10:20
    assert any(g["section"] == 7 and "07" in g["notebook"] for g in rep["gaps"])
    assert "alice" in out and "revisit" in out
    html = (room.root / ".inferlab/interview/reports/alice.report.html").read_text()
    HTMLParser().feed(html)
    for needle in ("<!DOCTYPE html>", "Knowledge", "知识掌握程度", "Time per section", "revisit", "excellent"):
        assert needle in html
    # the late candidate: nbgrader's penalty, in the report
    assert main(["interview", "--course", str(room.root), "report", "bob", "--json"]) == 0
    bob = json.loads(capsys.readouterr().out)
    assert bob["points"]["late_penalty"] == pytest.approx(0.2 * MACHINE_POINTS)
    assert bob["rubric"]["provisional"] and bob["rubric"]["after_penalty"] == pytest.approx(80.0)
