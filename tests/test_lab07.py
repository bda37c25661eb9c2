"""lab07's own tests: the statistical checks never fail a right sampler and always fail the wrong rules;
the answer keys (the acceptance rule's law, the counted positions) agree with first principles; the
reference Scheduler and the course engine's obey the rules on Hypothesis workloads."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import lab07
from conftest import solution_cells
from inferlab.engine.config import EngineConfig
from inferlab.engine.invariants import find_violation, run_workload
from inferlab.engine.scheduler import Scheduler as EngineScheduler
from inferlab.grading import CheckFailure
from inferlab.grading.local import LocalSubmission

SEEDS = range(200)


@pytest.fixture(scope="module")
def ns():
    """The reference solution's namespace (its code cells run here)."""
    torch.set_num_threads(1)
    namespace: dict = {}
    for cell in solution_cells("lab07"):
        exec(compile(cell, "<lab07>", "exec"), namespace)  # noqa: S102 - the course's own solution
    return namespace


# ----------------------------------------------------------------------------- the statistics


def test_chi2_tail_matches_closed_forms_and_tables():
    for x in (0.1, 1.0, 7.5, 40.0, 120.0):  # df 1: erfc(sqrt(x/2)); df 2: exp(-x/2); df 4: (1 + x/2) exp(-x/2)
        assert math.isclose(lab07.chi2_sf(x, 1), math.erfc(math.sqrt(x / 2)), rel_tol=1e-9)
        assert math.isclose(lab07.chi2_sf(x, 2), math.exp(-x / 2), rel_tol=1e-9)
        assert math.isclose(lab07.chi2_sf(x, 4), (1 + x / 2) * math.exp(-x / 2), rel_tol=1e-9)
    for df, x, tail in ((10, 18.307038, 0.05), (30, 50.892181, 0.01), (72, 92.808879, 0.05), (5, 0.554300, 0.99)):
        assert math.isclose(lab07.chi2_sf(x, df), tail, rel_tol=1e-3), (df, x, lab07.chi2_sf(x, df))


def test_accept_law_is_the_targets_distribution():
    """The exact law of the rule: first token ~ p_0; after an acceptance the next ~ p_1 (the theorem)."""
    law = lab07.accept_law(lab07._P, lab07._Q)
    assert math.isclose(sum(law.values()), 1.0, rel_tol=1e-12)
    first = torch.zeros(3, dtype=torch.float64)
    for out, pr in law.items():
        first[out[0]] += pr
    assert torch.allclose(first, lab07._P[0], atol=1e-12)
    beta = float(torch.minimum(lab07._P[0], lab07._Q[0]).sum())
    second = torch.zeros(3, dtype=torch.float64)
    for out, pr in law.items():
        if len(out) >= 2:
            second[out[1]] += pr
    assert torch.allclose(second / beta, lab07._P[1], atol=1e-12)


def _laws():
    return {"k=2": lab07.accept_law(lab07._P, lab07._Q),
            "k=1": lab07.accept_law(*_K1)}


_K1 = (torch.tensor([[1, 1, 2, 4], [2, 2, 2, 2]], dtype=torch.float64) / 8,
       torch.tensor([[4, 1, 1, 2]], dtype=torch.float64) / 8)


def _counts(law: dict, n: int, g: torch.Generator) -> dict:
    cells = list(law)
    draws = torch.multinomial(torch.tensor([law[c] for c in cells], dtype=torch.float64), n, replacement=True,
                              generator=g)
    return {cells[i]: int(c) for i, c in enumerate(torch.bincount(draws, minlength=len(cells))) if c}


def test_sampler_checks_never_fail_a_right_sampler_across_200_seeds():
    """The G-test's core on 200 independent samples from the exact laws: the smallest p-value stays far
    above the check's threshold (1e-9), so a right answer is never failed."""
    worst = 1.0
    for name, law in _laws().items():
        n = lab07.ACCEPT_DRAWS if name == "k=2" else lab07.ACCEPT_DRAWS_K1
        for seed in SEEDS:
            worst = min(worst, lab07.g_test(_counts(law, n, torch.Generator().manual_seed(seed)), law, n, name, "law"))
    assert worst > 1e-5, worst


def _wrong_rule_outputs(rule: str, p, q, n, g) -> dict:
    """n outputs of a wrong acceptance rule, vectorised (draft tokens drawn from q)."""
    k, V = q.shape
    counts: dict = {}
    drafts = torch.stack([torch.multinomial(q[i], n, replacement=True, generator=g) for i in range(k)], 1)  # (n, k)
    u = torch.rand(n, k, generator=g, dtype=torch.float64)
    for t in range(n):
        out = []
        for i in range(k):
            x = int(drafts[t, i])
            ok = p[i, x] >= q[i, x] if rule == "p >= q" else u[t, i] < min(1.0, float(p[i, x] / q[i, x]))
            if ok:
                out.append(x)
                continue
            residual = (p[i] - q[i]).clamp(min=0)
            if rule == "resample from p":
                out.append(int(torch.multinomial(p[i], 1, generator=g)))
            elif rule == "unnormalised residual":
                v = float(torch.rand((), generator=g, dtype=torch.float64))
                out.append(min(int(torch.searchsorted(residual.cumsum(0), torch.tensor([v], dtype=torch.float64),
                                                      right=True)), V - 1))
            else:
                out.append(int(torch.multinomial(residual, 1, generator=g)))
            break
        else:
            if rule != "no bonus":
                out.append(int(torch.multinomial(p[k], 1, generator=g)))
        counts[tuple(out)] = counts.get(tuple(out), 0) + 1
    return counts


@pytest.mark.parametrize("rule", ["p >= q", "resample from p", "unnormalised residual", "no bonus"])
def test_every_wrong_rule_fails_the_sampler_check(rule):
    """Each listed wrong rule fails the G-test on the check's own sizes, whatever the seed (3 seeds here;
    the p-values are below 1e-30)."""
    law = lab07.accept_law(lab07._P, lab07._Q)
    for seed in range(3):
        counts = _wrong_rule_outputs(rule, lab07._P, lab07._Q, lab07.ACCEPT_DRAWS, torch.Generator().manual_seed(seed))
        with pytest.raises(CheckFailure):
            lab07.g_test(counts, law, lab07.ACCEPT_DRAWS, rule, "the rule's law")


def test_generation_law_check_never_fails_the_exact_law_across_200_seeds():
    law = lab07.pair_law(lab07.models.encode(lab07._GEN_PROMPT), lab07._GEN_T)
    assert math.isclose(sum(law.values()), 1.0, rel_tol=1e-9)
    n = lab07.GENERATE_DRAWS
    worst = min(lab07.g_test(_counts(law, n, torch.Generator().manual_seed(s)), law, n, "pairs", "law") for s in SEEDS)
    assert worst > 1e-5, worst


def test_reference_passes_the_sampler_check_with_other_draw_seeds(ns, monkeypatch):
    """The real reference (not a simulation) under three other fixed draw seeds."""
    sub = LocalSubmission(ns)
    for salt in (1, 2, 3):
        monkeypatch.setattr(lab07, "DRAW_SEED", 9_000_000 + 7919 * salt)
        lab07.accept_distribution_is_exact(sub, torch.Generator().manual_seed(salt))


# ----------------------------------------------------------------------------- counted speculation


def test_expected_positions_match_a_plain_replay():
    """The position formula against a replay of the two caches, one token at a time."""
    def replay(P, rounds):
        t_cache = d_cache = 0
        committed, t_pos, d_pos = P, 0, 0
        for kr, a in rounds:
            if kr:
                d_pos += committed - d_cache  # first draft pass: every unseen committed token
                d_cache = committed
                for _ in range(kr - 1):  # then one pass per proposal but the last
                    d_pos += 1
                    d_cache += 1
                d_cache = min(d_cache, committed + a)
            t_pos += committed - t_cache + kr
            t_cache = committed + a
            committed += a + 1
        return t_pos, d_pos

    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        P = int(torch.randint(1, 20, (1,), generator=g))
        rounds = []
        for _ in range(int(torch.randint(1, 8, (1,), generator=g))):
            kr = int(torch.randint(0, 9, (1,), generator=g))
            rounds.append((kr, int(torch.randint(0, kr + 1, (1,), generator=g))))
        assert lab07.expected_positions(P, rounds) == replay(P, rounds)


def test_fixed_k_rounds_make_exactly_n_tokens():
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        n = int(torch.randint(1, 40, (1,), generator=g))
        h = (torch.rand(n, generator=g) < 0.7).tolist()
        for k in range(1, 9):
            rounds = lab07.fixed_k_rounds(h, n, k)
            assert sum(a + 1 for _, a in rounds) == n
            assert all(kr <= k and a <= kr for kr, a in rounds)


def test_reference_counts_and_tokens_in_process(ns):
    """The reference at temperature 0: greedy tokens and the exact counts for its rounds."""
    target, draft = ns["target"], ns["draft"]
    for k, prompt in ((1, [3, 1, 4]), (5, [7, 7, 2, 9, 11]), (8, [100])):
        target.tokens_processed = draft.tokens_processed = 0
        tokens, stats = ns["speculative_generate"](target, draft, prompt, 17, k=k)
        assert tokens == lab07.answers.greedy_tokens(prompt, 17)
        rounds = list(zip(stats["proposed"], stats["accepted"]))
        assert (target.tokens_processed, draft.tokens_processed) == lab07.expected_positions(len(prompt), rounds)
        assert stats["target_calls"] == len(rounds)


# ----------------------------------------------------------------------------- the Scheduler


@st.composite
def workloads(draw):
    bs = draw(st.integers(1, 8))
    reqs = [(i, draw(st.integers(1, 30)), draw(st.integers(1, 20)), draw(st.integers(0, 12)))
            for i in range(draw(st.integers(1, 8)))]
    need = max(-(-(p + m) // bs) for _, p, m, _ in reqs)
    sizes = (draw(st.integers(1, 6)), draw(st.integers(1, 40)), need + draw(st.integers(0, need)), bs)
    return sizes, sorted(reqs, key=lambda r: (r[3], r[0]))


def _config(sizes):
    s, b, n, bs = sizes
    return EngineConfig(num_blocks=n, block_size=bs, max_num_seqs=s, max_num_batched_tokens=b)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_reference_scheduler_obeys_every_rule(ns, workload):
    sizes, reqs = workload
    plans, finished = run_workload(ns["Scheduler"](*sizes), reqs)
    assert find_violation(_config(sizes), reqs, plans, finished, strict=True) is None
    problem = lab07.starved_request(sizes, reqs, [{"prefill": p.prefill, "decode": p.decode,
                                                   "preempted": p.preempted} for p in plans])
    assert problem is None, problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_the_engines_scheduler_obeys_the_same_rules(workload):
    """The course engine's scheduler (oldest first, not decodes first) passes the same checker: the rules
    do not pin one implementation."""
    sizes, reqs = workload
    plans, finished = run_workload(EngineScheduler(*sizes), reqs)
    assert find_violation(_config(sizes), reqs, plans, finished, strict=True) is None


def test_scheduler_refusal_changes_nothing(ns):
    s = ns["Scheduler"](2, 8, 4, 4)
    s.add("a", 5, 3)
    for args in (("a", 2, 2), ("b", 0, 2), ("b", 4, 0), ("b", 14, 3)):
        with pytest.raises(ValueError):
            s.add(*args)
    plans, finished = run_workload(s, [])
    fresh, fresh_finished = run_workload(ns["Scheduler"](2, 8, 4, 4), [("a", 5, 3, 0)])
    assert [vars(p) for p in plans] == [vars(p) for p in fresh] and finished == fresh_finished == ["a"]
