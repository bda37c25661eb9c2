"""Grading: checks written once, run in a learner's kernel or in the sandboxed grader."""
from inferlab.grading.checks import (  # noqa: F401
    TOLERANCES, Check, CheckFailure, Checks, assert_close, assert_equal, exception_names, expect_raises,
    load_checks, require,
)


def check_here(lab, group, ns, hidden=False, seed=None):
    """Run one task's checks on this notebook's definitions (see inferlab.grading.local)."""
    from inferlab.grading.local import check_here as _check_here

    return _check_here(lab, group, ns, hidden=hidden, seed=seed)


def grade(lab, path, **kwargs):
    """Grade a submission file in a sandboxed child (see inferlab.grading.runner)."""
    from inferlab.grading.runner import grade as _grade

    return _grade(lab, path, **kwargs)
