"""Collectives counted: bytes each rank sends, collective calls seen or refused (lab05, lab06).

`CommWatch` patches torch.distributed inside one rank. The probes `grade_collective` and
`grade_tp_mlp` are called by autograder/lab05.py through `sub.probe(collectives.grade_..., ...)`:
`ns` is the submission's namespace (in the sandboxed child, or a learner's globals). Each makes
one launch (`inferlab.launch`), runs every case on the same process group, and returns plain
data; the checks compute the expected values in the grader's own process.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from inferlab.launch import call_outside, counting_ring, launch


P2P_METHODS = ("send", "recv", "recv_anysource")
PG_COLLECTIVES = ("allreduce", "allreduce_coalesced", "allgather", "allgather_coalesced",
                  "allgather_into_tensor_coalesced", "_allgather_base", "all_gather_single",
                  "all_gather_single_coalesced", "reduce_scatter", "reduce_scatter_single",
                  "reduce_scatter_single_coalesced", "reduce_scatter_tensor_coalesced",
                  "_reduce_scatter_base", "broadcast", "alltoall", "alltoall_base", "all_to_all_single",
                  "reduce", "gather", "scatter", "barrier", "monitored_barrier")
DIST_COLLECTIVES = ("all_reduce", "all_reduce_coalesced", "all_gather", "all_gather_into_tensor",
                    "_all_gather_base", "all_gather_coalesced", "all_gather_object", "reduce_scatter",
                    "reduce_scatter_tensor", "reduce_scatter_single", "all_gather_single", "_reduce_scatter_base", "broadcast", "broadcast_object_list",
                    "all_to_all", "all_to_all_single", "reduce", "gather", "gather_object", "scatter",
                    "scatter_object_list", "barrier", "monitored_barrier")
FUNCTIONAL_COLLECTIVES = ("all_reduce", "all_reduce_inplace", "all_reduce_coalesced", "all_gather_tensor",
                          "all_gather_tensor_autograd", "all_gather_into_tensor_coalesced",
                          "reduce_scatter_tensor", "reduce_scatter_tensor_autograd",
                          "reduce_scatter_tensor_coalesced", "all_to_all_single", "all_to_all_single_autograd",
                          "broadcast", "permute_tensor")


class CollectiveRefused(RuntimeError):
    """A graded function called a collective where only point-to-point is allowed."""


def _nbytes(t) -> int:
    if not isinstance(t, torch.Tensor):
        return 0
    return int(torch.Tensor.numel(t)) * int(torch.Tensor.element_size(t))


class CommWatch:
    """In one rank: count bytes sent/received point-to-point and collective calls; refuse some.

    Patches the ProcessGroup methods (every torch.distributed call goes through them, however
    the submission imported it), the `torch.distributed` functions and the functional
    collectives. `allow` names the collectives that may run (counted), all others raise.
    """

    def __init__(self, allow=(), refuse_p2p: bool = False) -> None:
        self.allow = set(allow)
        self.refuse_p2p = refuse_p2p
        self.sent = self.received = self.sends = self.recvs = 0
        self.calls: dict[str, int] = {}
        self.refused: list[str] = []
        self.active = False
        self._saved: list = []

    def _patch(self, owner, name, new) -> None:
        if not hasattr(owner, name):
            return
        # The class's own attribute: getattr on a pybind11 class gives a bare builtin that, set back,
        # would no longer bind `self`.
        self._saved.append((owner, name, vars(owner).get(name, getattr(owner, name))))
        setattr(owner, name, new)

    def _refuse(self, what: str):
        self.refused.append(what)
        raise CollectiveRefused(f"{what} is not allowed here: use point-to-point "
                                "send/recv/isend/irecv only" if not self.allow else
                                f"{what} is not allowed here: the only collective allowed is all_reduce")

    def __enter__(self):
        pg_cls = torch._C._distributed_c10d.ProcessGroup
        watch = self

        def p2p(name, orig):
            def wrapper(pg, tensors, *a, **k):
                if watch.active:
                    if watch.refuse_p2p:
                        watch._refuse(f"point-to-point {name}")
                    n = sum(_nbytes(t) for t in tensors)
                    if name == "send":
                        watch.sent += n
                        watch.sends += 1
                    else:
                        watch.received += n
                        watch.recvs += 1
                return orig(pg, tensors, *a, **k)
            return wrapper

        def coll(label, orig):
            def wrapper(*a, **k):
                if watch.active:
                    if label in watch.allow:
                        watch.calls[label] = watch.calls.get(label, 0) + 1
                        watch.active = False  # one count per user-level call
                        try:
                            return orig(*a, **k)
                        finally:
                            watch.active = True
                    watch.calls[label] = watch.calls.get(label, 0) + 1
                    watch._refuse(label)
                return orig(*a, **k)
            return wrapper

        for name in P2P_METHODS:
            if hasattr(pg_cls, name):
                self._patch(pg_cls, name, p2p(name, getattr(pg_cls, name)))
        for name in PG_COLLECTIVES:
            if hasattr(pg_cls, name):
                label = "all_reduce" if name == "allreduce" else f"ProcessGroup.{name}"
                self._patch(pg_cls, name, coll(label, getattr(pg_cls, name)))
        import torch.distributed.distributed_c10d as c10d

        for name in DIST_COLLECTIVES:
            for owner in (dist, c10d):
                if hasattr(owner, name):
                    self._patch(owner, name, coll(name if name == "all_reduce" else f"torch.distributed.{name}",
                                                  getattr(owner, name)))
        try:
            import torch.distributed._functional_collectives as fc

            for name in FUNCTIONAL_COLLECTIVES:
                if hasattr(fc, name):
                    self._patch(fc, name, coll(f"functional {name}", getattr(fc, name)))
        except Exception:  # noqa: BLE001
            pass
        return self

    def __exit__(self, *exc):
        self.active = False
        for owner, name, orig in reversed(self._saved):
            setattr(owner, name, orig)
        self._saved = []
        return False

    def watching(self):
        return _Active(self)

    def stats(self) -> dict:
        return {"sent": self.sent, "received": self.received, "sends": self.sends, "recvs": self.recvs,
                "calls": dict(self.calls), "refused": list(self.refused)}


class _Active:
    def __init__(self, watch: CommWatch) -> None:
        self.watch = watch

    def __enter__(self):
        self.watch.sent = self.watch.received = self.watch.sends = self.watch.recvs = 0
        self.watch.calls, self.watch.refused = {}, []
        self.watch.active = True
        return self.watch

    def __exit__(self, *exc):
        self.watch.active = False
        return False


def _lookup(ns, name: str):
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"the submission does not define `{name}`")
    return fn


def _graded_collective_rank(fn, fn_name: str, cases: list) -> list:
    """On one rank: call fn on this rank's input of every case, with collectives refused."""
    rank = dist.get_rank()
    out = []
    with CommWatch() as watch:
        for case in cases:
            x = case[rank].clone()
            keep = x.clone()
            with watch.watching():
                try:
                    result = call_outside(fn, (x,), {}, None)
                except CollectiveRefused as e:
                    raise CollectiveRefused(f"{fn_name}: {e}") from None
            out.append({"result": result, "input_after": x, "input_changed": not torch.equal(x, keep),
                        **watch.stats()})
    return out


def grade_collective(ns, fn_name: str, world_size: int, cases: list, timeout: float = 30.0) -> list:
    """Run `ns[fn_name]` on `world_size` gloo ranks for every case (a list of per-rank tensors).

    Returns, per case, per rank: {"result", "input_after", "input_changed", "sent", "received",
    "sends", "recvs", "calls", "refused"}. Any collective inside the call raises.
    """
    fn = _lookup(ns, fn_name)
    per_rank = launch(_graded_collective_rank, world_size, fn, fn_name, cases, backend="gloo",
                      timeout=timeout, start_method="fork")
    return [[per_rank[r][i] for r in range(world_size)] for i in range(len(cases))]


def _graded_tp_rank(ns, fn, cases: list) -> list:
    """On one rank: tp_mlp on every case; count all-reduces (dist or the submission's ring)."""
    ring = ns.get("ring_all_reduce")
    seen = {"ring_calls": 0, "reduced": [], "on": False}
    if callable(ring):
        ns["ring_all_reduce"] = counting_ring(ring, seen)  # this rank's copy of the namespace (a fork)
    out = []
    with CommWatch(allow=("all_reduce",)) as watch:
        orig_allreduce = torch._C._distributed_c10d.ProcessGroup.allreduce
        saved_allreduce = vars(torch._C._distributed_c10d.ProcessGroup)["allreduce"]  # restored as the class held it

        def recording_allreduce(pg, tensors, *a, **k):
            if seen["on"]:
                seen["reduced"].append(torch.cat([t.detach().reshape(-1).cpu().clone() for t in tensors]))
            return orig_allreduce(pg, tensors, *a, **k)

        torch._C._distributed_c10d.ProcessGroup.allreduce = recording_allreduce
        try:
            for x, w_up, w_down in cases:
                seen["ring_calls"], seen["reduced"], seen["on"] = 0, [], True
                with watch.watching():
                    result = call_outside(fn, (x.clone(), w_up.clone(), w_down.clone()), {}, None)
                seen["on"] = False
                out.append({"result": result, "ring_calls": seen["ring_calls"],
                            "reduced": [t.reshape(-1) for t in seen["reduced"]], **watch.stats()})
        finally:
            torch._C._distributed_c10d.ProcessGroup.allreduce = saved_allreduce
    return out


def grade_tp_mlp(ns, world_size: int, cases: list, timeout: float = 30.0) -> list:
    """Run `ns["tp_mlp"]` on `world_size` gloo ranks for every (x, w_up, w_down) case.

    Returns, per case, per rank: {"result", "ring_calls", "reduced" (the tensors all-reduced,
    flattened), "sent", "received", "calls", "refused"}. Collectives other than all_reduce raise.
    """
    fn = _lookup(ns, "tp_mlp")
    per_rank = launch(_graded_tp_rank, world_size, ns, fn, cases, backend="gloo", timeout=timeout,
                      start_method="fork")
    return [[per_rank[r][i] for r in range(world_size)] for i in range(len(cases))]
