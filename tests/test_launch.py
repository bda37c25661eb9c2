"""The course launcher: ranks of a real gloo process group, from a module or a notebook."""
from __future__ import annotations

import linecache
import os
import time

import pytest
import torch
import torch.distributed as dist

from inferlab.grading.probes.collectives import grade_collective
from inferlab.launch import LaunchTimeout, RankError, _pack, _unpack, launch


def rank_and_sum(x):
    """Importable: every rank adds its rank to x and all-reduces it."""
    y = x + dist.get_rank()
    dist.all_reduce(y)
    return {"rank": dist.get_rank(), "world": dist.get_world_size(), "y": y}


def notebook_namespace(src: str) -> dict:
    """Run `src` the way a Jupyter kernel runs a cell: in `__main__`-like globals, source in linecache."""
    name = "<ipython-input-7-abc>"
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    ns = {"__name__": "__main__"}
    exec(compile(src, name, "exec"), ns)
    return ns


NOTEBOOK_CELL = '''
import torch
import torch.distributed as dist
SCALE = 3

def helper(t):
    return t * SCALE

def ring_shift(x):
    """Send to the right, receive from the left (a notebook-defined function)."""
    r, p = dist.get_rank(), dist.get_world_size()
    out = torch.empty_like(x)
    req = dist.isend(helper(x + r), (r + 1) % p)
    dist.recv(out, (r - 1) % p)
    req.wait()
    return out
'''


def test_importable_function_runs_on_every_rank():
    out = launch(rank_and_sum, 3, torch.ones(2))
    assert [o["rank"] for o in out] == [0, 1, 2]
    assert all(o["world"] == 3 for o in out)
    for o in out:
        assert torch.equal(o["y"], torch.full((2,), 3.0 + 0 + 1 + 2))


def test_notebook_defined_function_runs_on_every_rank():
    ns = notebook_namespace(NOTEBOOK_CELL)
    out = launch(ns["ring_shift"], 4, torch.zeros(3))
    for r, o in enumerate(out):
        assert torch.equal(o, torch.full((3,), 3.0 * ((r - 1) % 4)))


def test_one_rank_and_plain_values():
    assert launch(lambda: dist.get_world_size() * 10, 1) == [10]


def test_a_raising_rank_fails_the_call_with_its_traceback_and_no_hang():
    def fails_on_rank_1(x):
        if dist.get_rank() == 1:
            raise ValueError("rank one is broken")
        dist.recv(x, src=1)  # would wait forever for rank 1
        return x

    t0 = time.monotonic()
    with pytest.raises(RankError) as info:
        launch(fails_on_rank_1, 4, torch.zeros(1), timeout=30)
    assert time.monotonic() - t0 < 10
    e = info.value
    assert e.rank == 1 and e.type_name == "ValueError"
    assert "rank one is broken" in str(e) and "fails_on_rank_1" in e.rank_traceback


def test_a_deadlock_times_out_and_leaves_no_process_behind():
    def everyone_receives(x):
        dist.recv(x, src=(dist.get_rank() + 1) % dist.get_world_size())
        return x

    before = set(os.listdir("/proc")) if os.path.isdir("/proc") else set()
    t0 = time.monotonic()
    # The process group's own timeout (gloo) or the launcher's, whichever fires first.
    # (On a loaded machine the 3 s can also run out while the group forms: any clean failure will do.)
    with pytest.raises((LaunchTimeout, RankError)) as info:
        launch(everyone_receives, 2, torch.zeros(1), timeout=3)
    assert time.monotonic() - t0 < 20
    # Which rank notices first (its own recv timing out, or its peer's connection closing) varies.
    if before:
        children = [p for p in set(os.listdir("/proc")) - before if p.isdigit()
                    and _ppid(int(p)) == os.getpid()]
        assert not children


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_a_rank_that_dies_is_reported():
    def dies(x):
        if dist.get_rank() == 0:
            os._exit(3)
        return x

    with pytest.raises(RankError, match="exited with status 3"):
        launch(dies, 2, torch.zeros(1), timeout=20)


def test_torchrun_environment_runs_in_this_process(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_PORT", str(port))
    try:
        assert launch(lambda: os.getpid(), 1, backend="gloo") == [os.getpid()]
        with pytest.raises(ValueError, match="world_size"):
            launch(lambda: 0, 2)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_spawn_ships_importable_and_notebook_functions():
    assert _pack(rank_and_sum)[0] == "ref"
    ns = notebook_namespace(NOTEBOOK_CELL)
    packed = _pack(ns["ring_shift"])
    assert packed[0] == "source"
    assert packed[1]["modules"] == {"torch": "torch", "dist": "torch.distributed"}
    assert packed[1]["values"] == {"SCALE": 3}
    rebuilt = _unpack(packed)
    assert rebuilt.__name__ == "ring_shift" and rebuilt.__globals__["helper"](torch.ones(1)).item() == 3.0
    out = launch(ns["ring_shift"], 2, torch.zeros(1), start_method="spawn", timeout=60)
    assert [o.item() for o in out] == [3.0, 0.0]


def test_grade_collective_counts_bytes_and_refuses_collectives():
    ns = notebook_namespace(NOTEBOOK_CELL + '''
def cheat(x):
    dist.all_reduce(x)
    return x
''')
    cases = [[torch.zeros(5) for _ in range(3)]]
    out = grade_collective(ns, "ring_shift", 3, cases)
    assert [o["sent"] for o in out[0]] == [20, 20, 20]
    assert [o["received"] for o in out[0]] == [20, 20, 20]
    with pytest.raises(RankError, match="not allowed"):
        grade_collective(ns, "cheat", 2, [[torch.zeros(1), torch.zeros(1)]])
