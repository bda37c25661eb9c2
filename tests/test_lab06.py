"""lab06's course code: the serving simulator, the transfer fault injector and meters, the launcher's keep_going."""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist

from inferlab import disagg_sim
from inferlab.launch import RankError, launch
from inferlab.transfer_faults import TransferWatch, _corrupted

PLANS = [{"mode": "colocated", "num_workers": 2, "chunk_size": 128},
         {"mode": "colocated", "num_workers": 1, "chunk_size": 4096},
         {"mode": "disaggregated", "num_prefill": 1, "num_decode": 2, "chunk_size": 512}]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p['mode']}-{p['chunk_size']}")
def test_simulator_serves_every_token_after_its_arrival(plan):
    reqs = disagg_sim.bursty_workload(40, 8.0, output_len=(1, 12), seed=5)
    recs = disagg_sim.simulate(reqs, plan)
    assert len(recs) == len(reqs)
    for r, rec in zip(reqs, recs):
        t = rec["token_times"]
        assert rec["arrival"] == r.arrival and len(t) == r.output_len
        assert t[0] > r.arrival and t == sorted(t)
    assert recs == disagg_sim.simulate(reqs, plan)  # deterministic


def test_simulator_prefill_of_a_lone_request_costs_the_calibrated_time():
    c = disagg_sim.COURSE_COSTS
    rec = disagg_sim.simulate([(0.0, 100, 1)], PLANS[2])[0]
    assert rec["token_times"][0] == pytest.approx(c.prefill_a + 100 * c.prefill_b + 100 ** 2 * c.prefill_c)


def test_chunked_prefill_caps_the_decode_stall():
    """A long prompt arriving mid-decode stretches one token gap by its whole prefill unless chunked."""
    reqs = [(0.0, 16, 30), (0.2, 448, 1)]
    worst = {}
    for chunk in (64, 4096):
        t = disagg_sim.simulate(reqs, {"mode": "colocated", "num_workers": 1, "chunk_size": chunk})[0]["token_times"]
        worst[chunk] = max(b - a for a, b in zip(t, t[1:]))
    assert worst[64] < worst[4096]


def test_simulator_refuses_bad_plans():
    with pytest.raises(ValueError, match="num_decode"):
        disagg_sim.simulate([(0.0, 5, 5)], {"mode": "disaggregated", "num_prefill": 1, "chunk_size": 8})
    with pytest.raises(ValueError, match="mode"):
        disagg_sim.simulate([(0.0, 5, 5)], {"mode": "both", "chunk_size": 8})
    assert len(disagg_sim.all_plans(4, (128, 512))) == 2 * 4


def test_transfer_time_of_the_costs_matches_the_layerwise_formula():
    c = disagg_sim.COURSE_COSTS
    n, pre = 300, 0.05
    t = c.link_latency + c.kv_bytes_per_token * n / (c.num_layers * c.link_bandwidth)
    assert c.transfer_time(n, pre) == pytest.approx(max(t, c.num_layers * t - (c.num_layers - 1) * pre / c.num_layers))


def test_corruption_changes_every_value():
    x = torch.randn(3, 5, 7)
    assert (_corrupted(x) != x).all()


def _ranks_send_floats(n):
    r = dist.get_rank()
    if r == 1:
        for i in range(n):
            dist.send(torch.full((4,), float(i)), 2)
        dist.send(torch.arange(3), 2)  # integers are not KV
        return None
    if r == 2:
        got = []
        for _ in range(n):
            buf = torch.empty(4)
            dist.recv(buf, 1)
            got.append(buf[0].item())
        dist.recv(torch.empty(3, dtype=torch.long), 1)
        return got
    return None


def test_watch_counts_float_sends_per_rank_and_corrupts_the_nth():
    with TransferWatch(num_prefill=1, num_layers=4, corrupt=[(0, 1)]) as watch:
        out = launch(_ranks_send_floats, 3, 3, timeout=30)
    assert out[2][0] == 0.0 and out[2][2] == 2.0 and out[2][1] != 1.0
    counts = watch.counts()
    assert counts[1]["kv_bytes"] == 3 * 16 and counts[1]["kv_sends"] == 3 and counts[1]["faults"] == 1
    assert all(c["kv_sends"] == 0 for c in counts[2:])  # ranks that did nothing are left out


def _one_rank_dies():
    if dist.get_rank() == 1:
        os._exit(3)
    return dist.get_rank()


def test_launch_keep_going_returns_the_dead_rank_as_an_error():
    out = launch(_one_rank_dies, 3, timeout=30, keep_going=True)
    assert out[0] == 0 and out[2] == 2
    assert isinstance(out[1], RankError) and out[1].rank == 1
    with pytest.raises(RankError):
        launch(_one_rank_dies, 2, timeout=30)
