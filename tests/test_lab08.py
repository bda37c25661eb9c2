"""lab08's own pieces: the incidents (reproducible, separable, a fix replayed), the reference engine's serving
interface (step reports every token once, abort frees), and the reference diagnosis on fresh incident sets."""
from __future__ import annotations

import pytest

from inferlab import incidents
from inferlab.models import greedy_reference, load
from inferlab.serve.reference import ReferenceEngine


@pytest.fixture(scope="module")
def model():
    return load("target")


def test_an_incident_is_reproducible_and_its_report_hides_the_cause():
    a, b = incidents.draw(3, "prefix_caching_off"), incidents.draw(3, "prefix_caching_off")
    ra, rb = a.report(), b.report()
    assert ra == rb
    assert "cause" not in str(sorted(ra)) and "prefix_caching_off" not in repr(ra)
    assert set(ra["config"]) == set(incidents.TUNABLES)
    assert ra["metrics"]["requests"] == len(a.requests) and ra["trace"]


@pytest.mark.parametrize("kind", incidents.CAUSES)
def test_each_kind_misses_its_slo_and_its_fix_meets_it(kind):
    inc = incidents.draw(17, kind)
    assert incidents.violations(inc.report()["metrics"], inc.slo), f"{kind}: the bad day meets its SLOs"
    for fix in inc.good_fixes:
        assert inc.replay(fix)["meets_slo"], (kind, fix)


def test_a_change_is_one_valid_knob():
    inc = incidents.draw(1, "max_num_seqs_too_low")
    for bad in ({}, {"max_num_seqs": 8, "num_blocks": 9}, {"gpu": 1}, {"max_num_seqs": "8"},
                {"max_num_seqs": 10**6}, {"sampler": "fast"}, [("max_num_seqs", 8)]):
        with pytest.raises(ValueError, match="change"):
            inc.replay(bad)


def test_incident_sets_have_distinct_kinds():
    kinds = [inc.cause for inc in incidents.incident_set(5, 4)]
    assert len(set(kinds)) == 4
    with pytest.raises(ValueError, match="n"):
        incidents.incident_set(5, 0)


def test_reference_engine_reports_each_token_once_and_abort_frees(model):
    eng = ReferenceEngine(model, num_blocks=7, block_size=8, max_num_seqs=3, max_num_batched_tokens=16)
    prompts = [[5, 6, 7, 8, 9, 10, 11], list(range(20, 45)), [3]]
    ids = [eng.add_request(p, 12) for p in prompts]
    got = {i: [] for i in ids}
    fins = {i: 0 for i in ids}
    while eng.has_unfinished():  # tight: preemption happens
        for rid, tok, fin in eng.step():
            got[rid].append(tok)
            fins[rid] += fin
    assert eng.stats()["preemptions"] > 0
    for i, p in zip(ids, prompts):
        assert got[i] == greedy_reference(model, p, 12) and fins[i] == 1
    a = eng.add_request(list(range(30)), 20)
    b = eng.add_request([1, 2], 5)
    for _ in range(3):
        eng.step()
    assert eng.stats()["blocks_used"] > 0
    eng.abort(a)
    eng.abort(b)
    eng.abort(a)  # twice: nothing more
    assert not eng.has_unfinished() and eng.stats()["blocks_used"] == 0 and eng.stats()["aborted"] == 2
    with pytest.raises(ValueError, match="num_blocks"):
        eng.add_request(list(range(60)), 30)


@pytest.mark.slow
def test_the_reference_diagnosis_solves_fresh_incident_sets():
    from benchmarks.common import load_solution

    diagnose = load_solution("lab08")["diagnose"]
    for seed in (11, 12, 13):
        for inc in incidents.incident_set(seed, len(incidents.CAUSES)):
            answer = diagnose(inc.report())
            assert answer["cause"] == inc.cause
            assert inc.replay(answer["change"])["meets_slo"], (inc.cause, answer)
