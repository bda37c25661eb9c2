"""lab01 checks (work in progress)."""
import torch
from inferlab.grading import Checks, CheckFailure, assert_equal, expect_raises

checks = Checks("lab01")


def _ref_mask(n_q, n_k):
    i = torch.arange(n_q)[:, None]
    j = torch.arange(n_k)[None, :]
    return j <= i + (n_k - n_q)


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def causal_mask_square(sub, rng):
    """causal_mask(n, n) is lower triangular."""
    for n in (1, 4, 17):
        assert_equal(sub.causal_mask(n, n), _ref_mask(n, n), name="causal_mask", context=f"n_q=n_k={n}")


@checks.check(group="task1", points=2, category="knowledge")
def causal_mask_rectangular(sub, rng):
    """causal_mask(n_q, n_k) with the queries the last n_q positions; bad sizes raise."""
    for n_q, n_k in ((1, 1), (1, 9), (3, 17), (129, 130)):
        assert_equal(sub.causal_mask(n_q, n_k), _ref_mask(n_q, n_k), name="causal_mask", context=f"({n_q}, {n_k})")
    expect_raises("ValueError", sub.causal_mask, 5, 3, match="n_q", what="causal_mask(5, 3)")
