"""Grading: checks written once, run in a learner's kernel or in the sandboxed grader.

    checks.py    the registry (`Checks`, points, categories)
    asserts.py   comparisons that teach (`raises`, `assert_close`, `distribution`, ...)
    answers.py   float64 answer keys (attention with lse, paged gather, greedy tokens, serving metrics)
    inputs.py    seeded inputs (awkward sizes, q/k/v, block tables with poisoned slots, traces)
    probes/      trusted code that runs beside the submission, one module per topic
    runner.py · child.py · remote.py · sandbox.py · wire.py   the sandboxed grader
"""
from inferlab.grading.asserts import (  # noqa: F401
    TOLERANCES, CheckFailure, assert_close, assert_equal, exception_names, raises, require,
)
from inferlab.grading.checks import Check, Checks, load_checks  # noqa: F401


def check_here(lab, group, ns, hidden=False, seed=None):
    """Run one task's checks on this notebook's definitions (see inferlab.grading.local)."""
    from inferlab.grading.local import check_here as _check_here

    return _check_here(lab, group, ns, hidden=hidden, seed=seed)


def grade(lab, path, **kwargs):
    """Grade a submission file in a sandboxed child (see inferlab.grading.runner)."""
    from inferlab.grading.runner import grade as _grade

    return _grade(lab, path, **kwargs)
