"""lab10 · Mock interview: one check per graded slot of the interview (syllabus §10).

Every candidate's notebook has the same slots (q01..q10, the coding task, written
w1..w4 graded by hand); which question fills a slot, its numbers and its expected
value come from the candidate's record in the course's key store (the sample
interview's from its public key), through `inferlab.interview.grade`. The coding
task is graded by the checks of the lab it comes from.
"""
from inferlab.grading import Checks
from inferlab.interview import grade as interview
from inferlab.interview.bank import SLOT_POINTS, SLOTS
from inferlab.interview.coding import EXAMPLE_POINTS, HIDDEN_POINTS

checks = Checks("lab10")


def _slot_checks(slot: str, category: str) -> None:
    def answered(sub, rng):
        interview.check_answered(slot, sub)

    def correct(sub, rng):
        interview.check_slot(slot, sub)

    answered.__name__, answered.__doc__ = f"{slot}_answered", f"{slot} holds a number (no points: the grade is {slot})"
    correct.__name__, correct.__doc__ = slot, f"{slot} equals the expected value within the question's tolerance"
    checks.check(group=slot, points=0, category=category, visible=True)(answered)
    checks.check(group=slot, points=SLOT_POINTS, category=category)(correct)


for _slot, (_section, _category) in SLOTS.items():
    _slot_checks(_slot, _category)


@checks.check(group="code", points=EXAMPLE_POINTS, category="practice", visible=True, timeout=300)
def code_example(sub, rng):
    """The coding task passes its lab's visible check(s)."""
    interview.check_code("example", sub, rng)


@checks.check(group="code", points=HIDDEN_POINTS, category="practice", timeout=300)
def code_hidden(sub, rng):
    """The coding task passes every hidden check of its lab task."""
    interview.check_code("hidden", sub, rng)
