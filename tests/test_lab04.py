"""lab04's helpers: the trace generator (inferlab.traces), the KV-tier drivers and fault injectors
(inferlab.grading.probes), and the answer keys of the checks (inferlab.grading.answers)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from inferlab import traces
from inferlab.grading.answers import RefCache, RefPolicy, h2o_keep
from inferlab.grading.probes import faults, tiers


def test_chat_trace_is_a_pure_function_of_its_seed():
    a = traces.chat_trace(3, num_requests=50)
    assert a == traces.chat_trace(3, num_requests=50)
    assert a != traces.chat_trace(4, num_requests=50)
    assert {r.kind for r in a} == {"chat", "fewshot", "oneoff"}


def test_block_keys_are_the_same_in_another_process():
    code = "from inferlab import traces; print(traces.block_keys(list(range(40)), 8))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONHASHSEED="123")).stdout.strip()
    assert out == str(traces.block_keys(list(range(40)), 8))


def test_chat_turns_share_their_conversation_prefix():
    trace = traces.chat_trace(0, num_requests=200)
    by_session = {}
    for r in trace:
        if r.kind == "chat":
            by_session.setdefault(r.session, []).append(r)
    multi = [turns for turns in by_session.values() if len(turns) > 1]
    assert multi, "some chat should have several turns"
    for turns in multi:
        for a, b in zip(turns, turns[1:]):
            assert b.token_ids[: len(a.token_ids)] == a.token_ids
            ka, kb = traces.block_keys(a.token_ids, 16), traces.block_keys(b.token_ids, 16)
            assert kb[: len(ka)] == ka


def test_ref_policies_pick_their_victims():
    for kind, victim in (("lru", 3), ("fifo", 1), ("lfu", 3)):
        p = RefPolicy(kind)
        for k in (1, 2, 3):
            p.insert(k)
        p.access(1)
        p.access(2)
        assert p.evict() == victim


def test_ref_cache_promotion_swaps_with_the_top_victim():
    c = RefCache(["a", "b"], [1, 1], "lru")
    c.put(1, 0, 10)
    c.put(2, 0, 10)
    assert (c.tier_of(1), c.tier_of(2)) == ("b", "a")
    assert c.get(1) == (0, 10)
    assert (c.tier_of(1), c.tier_of(2)) == ("a", "b")
    assert c.stats() == {"hits": {"a": 0, "b": 1}, "misses": 0, "bytes_written": {"a": 30, "b": 20}}


def test_h2o_keep_edges():
    assert h2o_keep([1.0, 1.0, 1.0, 0.0], 2, 0) == [0, 1]
    assert h2o_keep([5.0, 1.0, 1.0], 2, 5) == [1, 2]
    assert h2o_keep([5.0, 1.0], 3, 1) == [0, 1]
    assert h2o_keep([5.0, 1.0], 0, 0) == []


def test_churn_keeps_the_key_set():
    class Spy:
        def __init__(self):
            self.keys = set(range(10))
            self.order = list(range(10))

        def access(self, k):
            assert k in self.keys

        def evict(self):
            k = self.order.pop(0)
            self.keys.remove(k)
            return k

        def remove(self, k):
            self.keys.remove(k)
            self.order.remove(k)

        def insert(self, k):
            assert k not in self.keys
            self.keys.add(k)
            self.order.append(k)

    spy = Spy()
    tiers.churn_policy(spy, 10, 101, seed=1)
    assert spy.keys == set(range(10))


def test_faults_damage_what_they_say(tmp_path):
    d = str(tmp_path)
    for n in ("a", "b", "c"):
        (tmp_path / n).write_bytes(bytes(range(200)))
    (tmp_path / "small").write_bytes(b"x")
    assert faults.block_files(d, 100) == ["a", "b", "c"]
    assert faults.truncate_file(d, "a", 0.5) == 100
    offs = faults.flip_bytes(d, "b", 0.5, 2)
    data = (tmp_path / "b").read_bytes()
    assert [data[o] for o in offs] == [255 - o for o in offs]
    faults.delete_file(d, "c")
    assert faults.block_files(d, 150) == ["b"]
    faults.copy_over(d, "b", "a")
    assert (tmp_path / "a").read_bytes() == data
    assert len(faults.add_junk(d, 1, 10)) == 4


def test_make_block_depends_on_key_and_version():
    a = tiers.make_block(5, 0, (3, 4), torch.bfloat16)
    assert torch.equal(a, tiers.make_block(5, 0, (3, 4), torch.bfloat16))
    assert not torch.equal(a, tiers.make_block(5, 1, (3, 4), torch.bfloat16))
    assert not torch.equal(a, tiers.make_block(6, 0, (3, 4), torch.bfloat16))
