"""lab09's own tests: the test bench's devices and server, the grader's replay against the reference
load generator, the rubric's single implementation, and `inferlab report` (page, JSON, class CSV)."""
from __future__ import annotations

import csv
import json
import math
import random
from html.parser import HTMLParser

import pytest

from conftest import LABS, ROOT, solution_cells
from inferlab.grading.runner import rubric_score
from inferlab.report import band_of, class_csv, class_rows, graded_labs, progress, to_html, write_report
from inferlab.testbench import SimulatedDevice, ToyServer, VirtualClock, audit_durations


def reference_namespace() -> dict:
    ns = {"__name__": "lab09_reference"}  # not __main__: the demo cells stay quiet
    for src in solution_cells("lab09"):
        exec(compile(src, "<lab09 cell>", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def ref():
    return reference_namespace()


# ----------------------------------------------------------------------------- the test bench


def test_simulated_device_times_the_launch_unless_synchronised():
    dev = SimulatedDevice([0.002, 0.003])
    t0 = dev.clock()
    dev.kernel()
    assert dev.clock() - t0 == pytest.approx(dev.launch_s)
    dev.synchronize()
    assert dev.clock() - t0 == pytest.approx(dev.launch_s + 0.002)
    dev.kernel()
    dev.kernel()  # queued behind the previous one
    dev.synchronize()
    assert dev.clock() == pytest.approx(2 * dev.launch_s + 0.002 + 0.003 + 0.002)  # the third launch overlapped
    assert dev.calls == 3 and dev.syncs == 2


def test_audit_durations_are_seeded_and_cold_first():
    a, b = audit_durations(5, 40), audit_durations(5, 40)
    assert a == b and a != audit_durations(6, 40)
    assert min(a[:3]) > 10 * sorted(a[3:])[len(a[3:]) // 2]


def test_virtual_clock_sleep_until_never_goes_back():
    c = VirtualClock(2.0)
    c.sleep_until(1.0)
    assert c.now() == 2.0
    c.sleep_until(3.5)
    assert c.now() == 3.5
    with pytest.raises(ValueError):
        c.sleep(-1)


def test_toy_server_generates_the_course_models_greedy_tokens():
    from inferlab.grading.answers import course_model, greedy_tokens

    clock = VirtualClock()
    server = ToyServer(course_model(), clock)
    prompts = [[5, 17, 300], [42], [7, 7, 7, 7, 9]]
    rids = [server.submit(p, 4) for p in prompts]
    while server.has_work():
        server.step()
    for rid, p in zip(rids, prompts):
        assert server.requests[rid]["tokens"] == greedy_tokens(p, 4)
    steps = [e for e in server.log if e["op"] == "step"]
    assert clock.now() == pytest.approx(steps[-1]["end"])


def test_the_graders_replay_equals_the_reference_load_test(ref):
    from autograder.lab09 import _replay

    rng = random.Random(3)
    prompts = [[rng.randrange(512) for _ in range(rng.randint(2, 9))] for _ in range(12)]
    arrivals = sorted(rng.uniform(0, 0.08) for _ in range(12))
    clock = VirtualClock(7.0)
    recs = ref["load_test"](ToyServer(None, clock), clock, prompts, arrivals, 3)
    scheduled, times = _replay(prompts, arrivals, 3, 7.0)
    assert [r["arrival"] for r in recs] == scheduled
    assert [r["token_times"] for r in recs] == times


def test_reference_latency_summary_equals_the_answer_key(ref):
    from inferlab.grading.answers import latency_summary

    rng = random.Random(0)
    recs = []
    for _ in range(40):
        a = rng.uniform(0, 3)
        t = [a + rng.uniform(0.01, 0.5)]
        for _ in range(rng.randint(0, 6)):
            t.append(t[-1] + rng.uniform(0, 0.1))
        recs.append({"arrival": a, "token_times": t})
    got, want = ref["latency_summary"](recs), latency_summary(recs)
    for k in ("ttft", "tpot", "itl"):
        for p in ("p50", "p90", "p99"):
            assert got[k][p] == pytest.approx(want[k][p], rel=1e-12)
    assert got["output_tokens_per_s"] == pytest.approx(want["output_tokens_per_s"], rel=1e-12)


# ----------------------------------------------------------------------------- the rubric


def test_the_graders_rubric_score_is_the_lab_reference(ref):
    rng = random.Random(1)
    for _ in range(300):
        points = {}
        for c in rng.sample(["knowledge", "systems", "practice", "frontier"], rng.randint(1, 4)):
            possible = rng.choice([0, rng.randint(1, 30)])
            points[c] = (rng.randint(0, possible), possible)
        if not any(p for _, p in points.values()):
            continue
        assert ref["rubric_score"](points) == rubric_score(points)


@pytest.mark.parametrize("points,band", [({"knowledge": (9, 10)}, "excellent"), ({"systems": (8, 10)}, "good"),
                                         ({"practice": (7, 10)}, "fair"), ({"frontier": (6999, 10000)}, "poor")])
def test_rubric_bands_at_the_boundaries(points, band):
    assert rubric_score(points)["band"] == band


def test_rubric_refuses_unknown_categories():
    with pytest.raises(ValueError, match="points"):
        rubric_score({"speed": (1, 1)})


# ----------------------------------------------------------------------------- inferlab report


def _report(lab, tests):
    return {"lab": lab, "score": sum(t[2] for t in tests), "max_score": sum(t[3] for t in tests),
            "tests": [{"id": f"{lab}.{n}", "category": c, "points": e, "max_points": p, "passed": e == p,
                       "message": "" if e == p else f"fix {n}"} for n, c, e, p in tests]}


class _Page(HTMLParser):
    VOID = {"meta", "line", "rect", "br", "img", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.errors, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert not page.errors and not page.stack, (page.errors, page.stack)
    names = {t for t, _ in page.tags}
    assert {"html", "head", "body", "table", "svg"} <= names
    assert "script" not in names, "the page needs no scripts"
    for tag, attrs in page.tags:  # self-contained: nothing fetched from elsewhere
        for key in ("src", "href"):
            assert not attrs.get(key), f"<{tag} {key}={attrs.get(key)!r}>"
    return page


def test_progress_sums_categories_over_labs_and_ranks_what_to_fix():
    reports = [_report("lab01", [("a", "knowledge", 4, 4), ("b", "practice", 0, 3), ("c", "systems", 2, 2)]),
               _report("lab02", [("d", "knowledge", 1, 2), ("e", "frontier", 0, 1)])]
    prog = progress(reports, learner="<Li & Lei>")
    cats = prog["categories"]
    assert cats["knowledge"]["earned"] == 5 and cats["knowledge"]["possible"] == 6
    assert cats["practice"]["band"] == "poor" and cats["systems"]["band"] == "excellent"
    assert prog["overall"] == rubric_score({"knowledge": (5, 6), "systems": (2, 2), "practice": (0, 3),
                                            "frontier": (0, 1)})
    assert [w["id"] for w in prog["weakest"]] == ["lab01.b", "lab02.d", "lab02.e"]
    assert prog["missing"] == [lab for lab in graded_labs() if lab not in ("lab01", "lab02")]
    page = parse_page(to_html(prog))
    text = "".join(page.text)
    assert "<Li & Lei>" in text and "lab01.b" in text and "fix b" in text  # escaped in the page, text intact


def test_band_of_matches_rubric_bands():
    for pct in (0, 69.99, 70, 79.994, 79.996, 80, 90, 100):
        assert band_of(pct) == rubric_score({"knowledge": (pct, 100)})["band"]


def test_write_report_writes_html_and_json(tmp_path):
    prog = progress([_report("lab09", [("x", "practice", 1, 1)])])
    page, data = write_report(prog, tmp_path / "out")
    parse_page(page.read_text(encoding="utf-8"))
    assert json.loads(data.read_text(encoding="utf-8"))["overall"]["band"] == "excellent"


def test_class_rows_one_per_student():
    header, rows = class_rows({"bo": [_report("lab09", [("a", "knowledge", 1, 2), ("b", "systems", 3, 3)])],
                               "ann": [_report("lab01", [("c", "practice", 2, 2)])]})
    table = [dict(zip(header, r)) for r in rows]
    assert [r["student_id"] for r in table] == ["ann", "bo"]
    assert table[1]["lab09_points"] == "4" and table[1]["lab01_points"] == ""
    assert table[1]["knowledge_percent"] == "50.00" and table[1]["knowledge_band"] == "poor"
    assert table[1]["score"] == f"{rubric_score({'knowledge': (1, 2), 'systems': (3, 3)})['score']:.2f}"
    assert table[0]["band"] == "excellent" and table[0]["frontier_percent"] == ""


@pytest.mark.slow
def test_class_csv_from_an_nbgrader_gradebook(tmp_path, monkeypatch):
    """End to end through nbgrader's own Gradebook (creating one runs alembic: slow)."""
    import os
    import sys

    from nbgrader.api import Gradebook

    from inferlab.grading import load_checks

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    db = tmp_path / "gradebook.db"
    groups = load_checks("lab09").groups()
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment("lab09")
        gb.add_notebook("lab09", "lab09")
        for g, items in groups.items():
            gb.add_grade_cell(f"lab09_{g}", "lab09", "lab09", max_score=sum(c.points for c in items), cell_type="code")
        for student in ("ann", "bo"):
            gb.add_student(student)
            gb.add_submission("lab09", student)
        for g, items in groups.items():
            full = sum(c.points for c in items)
            gb.find_grade(f"lab09_{g}", "lab09", "lab09", "ann").auto_score = full
            gb.find_grade(f"lab09_{g}", "lab09", "lab09", "bo").auto_score = full if g != "task1" else 0
        gb.db.commit()
    out = class_csv(str(db), tmp_path / "class.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(out, newline="", encoding="utf-8"))}
    assert set(rows) == {"ann", "bo"}
    assert rows["ann"]["score"] == "100.00" and rows["ann"]["band"] == "excellent"
    total = sum(c.points for c in load_checks("lab09").items)
    t1 = sum(c.points for c in groups["task1"])
    assert float(rows["bo"]["lab09_points"]) == total - t1
    assert rows["bo"]["knowledge_percent"] != "100.00" and rows["bo"]["lab01_points"] == ""
    cats = {}
    for c in load_checks("lab09").items:
        e, p = cats.get(c.category, (0.0, 0.0))
        cats[c.category] = (e + (0 if c.group == "task1" else c.points), p + c.points)
    assert math.isclose(float(rows["bo"]["score"]), rubric_score(cats)["score"], abs_tol=0.005)


@pytest.mark.slow
def test_inferlab_report_on_references_writes_a_page(tmp_path):
    from inferlab.cli import main

    # Two labs keep CI short; every lab's reference is graded by test_nbgrader.py already.
    labs = [lab for lab in ("lab01", "lab09") if lab in graded_labs()]
    subs = [str(ROOT / "solutions" / lab / f"{lab}.ipynb") for lab in labs]
    assert main(["report", *subs, "--out", str(tmp_path), "--name", "reference"]) == 0
    parse_page((tmp_path / "report.html").read_text(encoding="utf-8"))
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [lab["lab"] for lab in data["labs"]] == labs
    assert all(lab["max_score"] > 0 for lab in data["labs"]) and 0 <= data["overall"]["score"] <= 100
    # (each reference's full marks are test_nbgrader.py's business; this test is about the page)


def test_a_correct_solution_written_differently_scores_full_marks(tmp_path):
    from conftest import wrong_submission
    from inferlab.grading.runner import grade

    alt = ROOT / "tests" / "submissions" / "lab09" / "alt_written_differently.py"
    report = grade("lab09", wrong_submission("lab09", alt, tmp_path))
    failed = [f"{t.id}: {t.message}" for t in report.tests if not t.passed]
    assert not failed, "\n".join(failed)
