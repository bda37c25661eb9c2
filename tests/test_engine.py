"""The course engine (inferlab.engine): block manager, paged KV, model runner, scheduler rules, engine."""
from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferlab.engine import (
    BlockManager, Engine, EngineConfig, KVCache, ModelRunner, ScheduleViolation, Scheduler, Sequence,
    check_plans, check_scheduler, decode_kernel_attention, find_violation, run_workload,
)
from inferlab.engine.invariants import PlanRecord
from inferlab.models import greedy_reference, load

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def target():
    return load("target")


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("field, value, error", [
    ("num_blocks", 0, ValueError), ("block_size", -1, ValueError), ("max_num_seqs", 1.5, TypeError),
    ("max_num_batched_tokens", True, TypeError)])
def test_config_names_the_bad_argument(field, value, error):
    with pytest.raises(error, match=field):
        EngineConfig(**{field: value})


# ----------------------------------------------------------------------------- block manager

# Ops on a pool: ("add", prompt), ("grow", i, n), ("fork", i), ("free", i). Tokens come from {0, 1}
# so identical prefixes (prefix-cache hits) are common.
_ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.integers(0, 1), min_size=1, max_size=12)),
    st.tuples(st.just("grow"), st.integers(0, 9), st.integers(1, 7)),
    st.tuples(st.just("fork"), st.integers(0, 9)),
    st.tuples(st.just("free"), st.integers(0, 9))), max_size=40)


@FAST
@given(num_blocks=st.integers(1, 10), block_size=st.integers(1, 4), caching=st.booleans(), ops=_ops,
       seed=st.integers(0, 2**16))
def test_block_manager_keeps_its_books_and_every_sequence_reads_its_own_tokens(num_blocks, block_size, caching,
                                                                                 ops, seed):
    bm = BlockManager(num_blocks, block_size, enable_prefix_caching=caching)
    rng = random.Random(seed)
    content = [[None] * block_size for _ in range(num_blocks)]  # which token each slot holds
    live: list[Sequence] = []

    def write(seq, n):
        """The model's part: write tokens [cached, cached + n) at their slots, after the block copies."""
        for p in range(seq.num_cached_tokens, seq.num_cached_tokens + n):
            content[seq.block_table[p // block_size]][p % block_size] = seq.token_ids[p]
        seq.num_cached_tokens += n
        bm.cache_full_blocks(seq)

    for op in ops:
        if op[0] == "add":
            seq = Sequence(len(live), op[1], 8)
            n = seq.prompt_len - bm.num_prefix_hit_tokens(seq)
            free = bm.num_free_blocks
            if bm.can_allocate(seq, n):
                bm.allocate(seq, n)
                write(seq, n)
                live.append(seq)
            else:
                assert bm.num_free_blocks == free and not seq.block_table
        elif live and op[0] == "grow":
            seq, n = live[op[1] % len(live)], op[2]
            seq.token_ids += [rng.randrange(2) for _ in range(seq.num_cached_tokens + n - seq.num_tokens)]
            if bm.can_append(seq, n):
                for src, dst in bm.append(seq, n):
                    content[dst] = list(content[src])
                write(seq, n)
            else:
                assert bm.blocks_needed(seq, n) > bm.num_free_blocks
        elif live and op[0] == "fork":
            parent = live[op[1] % len(live)]
            child = Sequence(len(live), parent.token_ids[:parent.num_cached_tokens], 8)
            bm.fork(parent, child)
            live.append(child)
        elif live and op[0] == "free":
            bm.deallocate(live.pop(op[1] % len(live)))
        bm.check_invariants(live)
        assert bm.num_free_blocks + len({b for s in live for b in s.block_table}) == num_blocks
        for seq in live:
            assert len(seq.block_table) == bm.blocks_for(seq.num_cached_tokens)
            got = [content[seq.block_table[p // block_size]][p % block_size] for p in range(seq.num_cached_tokens)]
            assert got == seq.token_ids[:seq.num_cached_tokens], f"{seq} reads another sequence's tokens"
    for seq in live:
        bm.deallocate(seq)
    assert bm.num_free_blocks == num_blocks and set(bm.ref_counts) == {0}


def test_prefix_cache_reuses_full_blocks_and_leaves_one_token_to_run():
    bm = BlockManager(8, 4, enable_prefix_caching=True)
    a = Sequence("a", list(range(10)), 4)
    bm.allocate(a, 10)
    a.num_cached_tokens = 10
    bm.cache_full_blocks(a)
    b = Sequence("b", list(range(8)) + [99, 98], 4)  # shares two full blocks with a
    assert bm.num_prefix_hit_tokens(b) == 8
    c = Sequence("c", list(range(8)), 4)  # all cached: the last block is recomputed for its logits
    assert bm.num_prefix_hit_tokens(c) == 4
    bm.deallocate(a)  # freed blocks keep their keys until handed out again
    bm.allocate(b, 2)
    assert b.block_table[:2] == a.block_table[:2] if a.block_table else b.num_cached_tokens == 8
    assert bm.ref_counts[b.block_table[0]] == 1 and bm.num_used_blocks == 3


# ----------------------------------------------------------------------------- paged KV and the runner


def test_kv_cache_write_then_gather_returns_tokens_in_position_order():
    kv = KVCache(num_blocks=6, block_size=4, num_kv_heads=2, head_dim=3)
    table = [5, 0, 3]
    k, v = torch.randn(11, 2, 3), torch.randn(11, 2, 3)
    kv.write(kv.slot_mapping(table, 0, 7), k[:7], v[:7])
    kv.write(kv.slot_mapping(table, 7, 11), k[7:], v[7:])
    gk, gv = kv.gather(table, 11)
    assert torch.equal(gk, k) and torch.equal(gv, v)
    assert kv.slot_mapping(table, 4, 6).tolist() == [0, 1]


def test_runner_logits_equal_the_model_in_chunks_and_decodes(target):
    torch.manual_seed(0)
    ids = torch.randint(0, 512, (1, 23))
    ref = target(ids)[0]  # (23, V)
    kv = KVCache.for_model(target.config, num_blocks=8, block_size=4)
    runner = ModelRunner(target, kv)
    seq = Sequence(0, ids[0].tolist(), 1)
    bm = BlockManager(8, 4)
    bm.allocate(seq, 0)
    got = []
    for n in (9, 1, 6, 7):  # chunked prefill, a single token, more chunks
        bm.append(seq, n)
        got.append(runner.forward(*runner.prepare([(seq, n)])))
        seq.num_cached_tokens += n
    err = (torch.cat(got) - ref).abs().max().item()
    assert err < 1e-4, f"chunked logits differ from model(ids) by {err}"


def test_a_decode_kernel_plugs_in_for_decode_batches(target):
    calls = []

    def kernel(q, k_cache, v_cache, block_tables, context_lens):  # a lab03-style decode kernel in torch
        calls.append(tuple(q.shape))
        out = []
        for b in range(q.shape[0]):
            n, bs = int(context_lens[b]), k_cache.shape[1]
            rows = [int(block_tables[b, p // bs]) * bs + p % bs for p in range(n)]
            k = k_cache.flatten(0, 1)[rows].repeat_interleave(q.shape[1] // k_cache.shape[2], 1)  # (n, H, D)
            v = v_cache.flatten(0, 1)[rows].repeat_interleave(q.shape[1] // k_cache.shape[2], 1)
            w = torch.softmax(torch.einsum("hd,nhd->hn", q[b], k) / q.shape[-1] ** 0.5, -1)
            out.append(torch.einsum("hn,nhd->hd", w, v))
        return torch.stack(out)  # (B, H, D)

    prompts = [[5, 6, 7], [9, 8, 7, 6, 5, 4, 3]]
    engine = Engine(target, num_blocks=8, block_size=4, max_num_seqs=2, max_num_batched_tokens=16,
                    attention_fn=decode_kernel_attention(kernel))
    assert engine.generate(prompts, 4) == [greedy_reference(target, p, 4) for p in prompts]
    assert calls and all(shape == (2, 4, 32) for shape in calls)


# ----------------------------------------------------------------------------- the engine


def _prompts(seed, n, lo, hi, shared=0):
    rng = random.Random(seed)
    prefix = [rng.randrange(512) for _ in range(shared)]
    return [prefix + [rng.randrange(512) for _ in range(rng.randint(lo, hi))] for _ in range(n)]


def test_engine_equals_greedy_generation_with_preemptions(target):
    prompts = _prompts(1, 5, 1, 30)
    engine = Engine(target, num_blocks=10, block_size=4, max_num_seqs=4, max_num_batched_tokens=16)
    target.tokens_processed = 0
    out = engine.generate(prompts, [8, 3, 8, 1, 6])
    assert out == [greedy_reference(target, p, m) for p, m in zip(prompts, [8, 3, 8, 1, 6])]
    stats = engine.stats()
    assert stats["preemptions"] > 0, "the KV must be tight enough to force a preemption"
    assert stats["peak_blocks_used"] <= 10 and stats["blocks_used"] == 0
    assert stats["tokens_processed"] == stats["prefill_tokens"] + stats["decode_tokens"]
    # every prompt once, every output but the last once, plus the recomputation after preemptions
    assert stats["tokens_processed"] >= sum(map(len, prompts)) + (8 + 3 + 8 + 1 + 6) - 5 + 1
    records = engine.records()
    assert len(records) == 5 and all(r["token_times"] == sorted(r["token_times"]) for r in records)
    assert sorted(len(r["token_times"]) for r in records) == [1, 3, 6, 8, 8]


def test_engine_prefix_caching_reuses_shared_prompt_blocks(target):
    prompts = _prompts(2, 4, 1, 9, shared=13)
    engine = Engine(target, num_blocks=24, block_size=4, max_num_seqs=2, max_num_batched_tokens=32,
                    enable_prefix_caching=True)
    target.tokens_processed = 0
    out = engine.generate(prompts, 5)
    counted = target.tokens_processed
    assert out == [greedy_reference(target, p, 5) for p in prompts]
    stats = engine.stats()
    assert stats["prefix_hit_tokens"] == 2 * 12, stats  # the first two run together; the next two reuse 3 blocks
    expected = sum(map(len, prompts)) + 4 * 4 - stats["prefix_hit_tokens"]
    assert stats["tokens_processed"] == expected == counted


def test_engine_requests_arrive_while_others_run_and_keep_their_timings(target):
    clock = iter(range(1000))
    engine = Engine(target, num_blocks=16, block_size=4, max_num_seqs=4, max_num_batched_tokens=16,
                    clock=lambda: float(next(clock)))
    a = engine.add_request([1, 2, 3], 4)
    engine.step()
    b = engine.add_request([4, 5], 2, temperature=0.0)
    while engine.has_unfinished():
        engine.step()
    assert engine.sequence(a).output_ids == greedy_reference(target, [1, 2, 3], 4)
    assert engine.sequence(b).output_ids == greedy_reference(target, [4, 5], 2)
    rec = engine.sequence(b).record()
    assert rec["arrival"] < rec["token_times"][0] and len(rec["token_times"]) == 2


@pytest.mark.parametrize("call, match", [
    (lambda e: e.add_request([], 3), "prompt_ids"),
    (lambda e: e.add_request([1, 512], 3), "prompt_ids"),
    (lambda e: e.add_request([1], 0), "max_new_tokens"),
    (lambda e: e.add_request([1] * 40, 30), "can never fit"),
    (lambda e: e.generate([[1], []], 2), r"prompts\[1\]")])
def test_engine_refuses_bad_requests_and_changes_nothing(target, call, match):
    engine = Engine(target, num_blocks=16, block_size=4)
    with pytest.raises(ValueError, match=match):
        call(engine)
    assert not engine.has_unfinished() and not engine.scheduler.seqs


# ----------------------------------------------------------------------------- scheduler and its rules


@st.composite
def _workloads(draw):
    bs, num_blocks = draw(st.integers(1, 4)), draw(st.integers(1, 12))
    config = EngineConfig(num_blocks=num_blocks, block_size=bs, max_num_seqs=draw(st.integers(1, 4)),
                          max_num_batched_tokens=draw(st.integers(1, 16)))
    cap = num_blocks * bs  # prompt_len + max_new_tokens must fit in the blocks
    requests = []
    for i in range(draw(st.integers(1, 8))):
        p = draw(st.integers(1, max(1, min(20, cap - 1))))
        m = draw(st.integers(1, max(1, min(8, cap - p))))
        if p + m <= cap:
            requests.append((f"r{i}", p, m, draw(st.integers(0, 6))))
    return config, requests


@FAST
@given(_workloads())
def test_reference_scheduler_obeys_every_rule_on_random_workloads(workload):
    config, requests = workload
    scheduler = Scheduler(config.max_num_seqs, config.max_num_batched_tokens, config.num_blocks, config.block_size)
    check_scheduler(scheduler, config, requests, strict=True)
    scheduler.block_manager.check_invariants()
    assert scheduler.block_manager.num_free_blocks == config.num_blocks


def _hand(config, requests, plans, finished=None, strict=False):
    plans = [PlanRecord(*p) if i % 2 else dict(zip(("prefill", "decode", "preempted"), p))  # both plan forms
             for i, p in enumerate(plans)]
    return find_violation(config, requests, plans, finished, strict)


CFG = EngineConfig(num_blocks=4, block_size=2, max_num_seqs=2, max_num_batched_tokens=4)
REQS = [("a", 3, 2), ("b", 2, 2)]
# The reference's plans: a's prompt and b's first token; a's last decode and b's prompt end; b's decode.
GOOD = [({"a": 3, "b": 1}, [], []), ({"b": 1}, ["a"], []), ({}, ["b"], [])]


def test_invariants_accept_the_reference_schedule():
    assert _hand(CFG, REQS, GOOD, ["a", "b"], strict=True) is None
    plans, finished = run_workload(Scheduler.from_config(CFG), REQS)
    assert [(p.prefill, p.decode, p.preempted) for p in plans] == GOOD and finished == ["a", "b"]


@pytest.mark.parametrize("plans, finished, strict, match", [
    ([({"a": 3, "b": 2}, [], []), ({}, ["a", "b"], [])], None, False, "max_num_batched_tokens"),
    ([({"b": 2}, [], []), ({"a": 3}, ["b"], [])], None, False, "FCFS"),
    ([({"a": 3}, ["a"], [])], None, False, "appears twice"),
    ([({"a": 2}, [], []), ({}, ["a"], [])], None, False, "still prefilling"),
    ([({"a": 3}, [], []), ({"b": 2}, [], [])], None, False, "never finished"),
    (GOOD, ["b", "a"], False, "finishing order"),
    ([({"a": 3}, [], []), ({"b": 2}, ["a"], []), ({}, ["b"], [])], None, True, "'b' waits though"),
    ([GOOD[0], ({}, [], []), GOOD[1], GOOD[2]], None, True, "ran nothing"),
    ([({"a": 3, "b": 1}, [], []), ({}, ["a"], []), ({"b": 1}, [], []), ({}, ["b"], [])], None, True, "left out"),
])
def test_invariants_name_the_broken_rule(plans, finished, strict, match):
    problem = _hand(CFG, REQS, plans, finished, strict)
    assert problem is not None and match in problem, problem


def test_invariants_catch_a_preempted_request_that_loses_its_outputs():
    cfg = EngineConfig(num_blocks=3, block_size=2, max_num_seqs=2, max_num_batched_tokens=8)
    requests = [("a", 2, 3), ("b", 2, 3)]
    good = [({"a": 2, "b": 2}, [], []), ({}, ["a"], ["b"]), ({}, ["a"], []), ({"b": 3}, [], []), ({}, ["b"], [])]
    assert _hand(cfg, requests, good, ["a", "b"], strict=True) is None
    plans, _ = run_workload(Scheduler.from_config(cfg), requests)
    assert [(p.prefill, p.decode, p.preempted) for p in plans] == good
    lost = good[:3] + [({"b": 2}, [], []), ({}, ["b"], []), ({}, ["b"], [])]  # re-prefills the prompt alone
    assert "still prefilling" in _hand(cfg, requests, lost)
    older = [({"a": 2, "b": 2}, [], []), ({}, ["b"], ["a"])]
    assert "preempt the newest first" in _hand(cfg, requests, older, strict=True)


@pytest.mark.parametrize("field", ["max_num_batched_tokens", "max_num_seqs", "num_blocks"])
def test_invariants_catch_a_scheduler_that_exceeds_a_limit_by_one(field):
    config = EngineConfig(num_blocks=5, block_size=2, max_num_seqs=2, max_num_batched_tokens=5)
    looser = EngineConfig(**{**config.__dict__, field: getattr(config, field) + 1})
    requests = [(i, 3 + i % 3, 3) for i in range(6)]
    plans, finished = run_workload(Scheduler.from_config(looser), requests)
    problem = find_violation(config, requests, plans, finished)
    assert problem is not None and field in problem, problem
    assert find_violation(looser, requests, plans, finished, strict=True) is None


def test_scheduler_preempts_the_newest_and_chunks_long_prompts():
    s = Scheduler(max_num_seqs=3, max_num_batched_tokens=4, num_blocks=5, block_size=2)
    s.add("a", 6, 3)
    s.add("b", 1, 3)
    plans = [s.step() for _ in range(5)]
    assert [p.prefill for p in plans] == [{"a": 4}, {"a": 2, "b": 1}, {}, {}, {"b": 3}]  # a's prompt in 2 chunks
    assert [p.decode for p in plans] == [[], [], ["a", "b"], ["a"], []]
    assert plans[3].preempted == ["b"]  # b, the newest, needs a block and none is free: it goes
    assert s.finished() == ["a", "b"] and not s.has_unfinished()  # b recomputed prompt + 2 outputs at once


def test_scheduler_refuses_what_can_never_fit_and_changes_nothing():
    s = Scheduler(2, 8, 3, 4)
    with pytest.raises(ValueError, match="never fit"):
        s.add("x", 10, 3)  # ceil(13 / 4) = 4 > 3 blocks
    with pytest.raises(ValueError, match="prompt_len"):
        s.add("y", 0, 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        s.add("y", 2, 0)
    s.add("z", 9, 3)  # 12 tokens: exactly 3 blocks
    with pytest.raises(ValueError, match="req_id"):
        s.add("z", 1, 1)
    assert list(s.seqs) == ["z"] and s.step().prefill == {"z": 8}


def test_check_scheduler_raises_a_readable_violation():
    config = EngineConfig(num_blocks=4, block_size=2, max_num_seqs=1, max_num_batched_tokens=4)
    with pytest.raises(ScheduleViolation, match="max_num_seqs=1"):
        check_scheduler(Scheduler(2, 4, 4, 2), config, [("a", 2, 2), ("b", 2, 2)])
    plans, finished = run_workload(Scheduler(1, 4, 4, 2), [("a", 2, 2), ("b", 2, 2)])
    check_plans(config, [("a", 2, 2), ("b", 2, 2)], plans, finished, strict=True)
