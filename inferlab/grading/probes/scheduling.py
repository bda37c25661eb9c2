"""A scheduler's probes: drive many workloads through a lab07-style `Scheduler` in one request.

    run_workloads(ns, workloads)        new Scheduler(*sizes) per workload; add each request before
                                        its step, step until done; the plans as plain data
    run_on(ns, scheduler, requests)     the same on an existing scheduler object

A workload is `(sizes, requests)`: sizes `(max_num_seqs, max_num_batched_tokens, num_blocks,
block_size)`, requests `(req_id, prompt_len, max_new_tokens, step)`. The answer per workload is
`{"plans": [{"prefill", "decode", "preempted"}, ...], "finished": [...]}` or `{"error": text}`;
the grader checks the plans against the rules (`inferlab.engine.invariants`).
"""
from __future__ import annotations


STALL = 50  # steps in a row that run nothing while requests are unfinished: a scheduler that waits forever


def _drive(scheduler, requests, max_steps: int) -> dict:
    pending = sorted(enumerate(requests), key=lambda ir: (ir[1][3], ir[0]))
    plans, idle = [], 0
    while pending or scheduler.has_unfinished():
        s = len(plans)
        if s >= max_steps:
            return {"error": f"still unfinished after {max_steps} steps", "plans": plans[-5:]}
        if idle >= STALL and scheduler.has_unfinished():
            return {"error": f"stalled: {STALL} steps in a row ran nothing while requests wait or run "
                             f"(step {s}; a request never finishes)", "plans": plans[-3:]}
        while pending and pending[0][1][3] <= s:
            rid, prompt_len, max_new, _ = pending.pop(0)[1]
            scheduler.add(rid, prompt_len, max_new)
        plan = scheduler.step()
        plans.append({"prefill": {k: v for k, v in dict(plan.prefill).items()},
                      "decode": list(plan.decode), "preempted": list(plan.preempted)})
        idle = idle + 1 if not (plans[-1]["prefill"] or plans[-1]["decode"] or plans[-1]["preempted"]) else 0
    return {"plans": plans, "finished": list(scheduler.finished())}


def _steps_bound(requests) -> int:
    return 50 + 20 * sum(p + m for _, p, m, _ in requests) + 2 * max((r[3] for r in requests), default=0)


def run_workloads(ns, workloads) -> list:
    """One fresh `Scheduler(*sizes)` per workload (see the module docstring)."""
    cls = ns.get("Scheduler")
    if cls is None:
        raise NameError("the submission does not define `Scheduler`")
    out = []
    for sizes, requests in workloads:
        try:
            out.append(_drive(cls(*sizes), requests, _steps_bound(requests)))
        except Exception as e:  # noqa: BLE001 - the submission's error is the answer
            out.append({"error": f"{type(e).__name__}: {e}"[:500]})
    return out


def run_on(ns, scheduler, requests) -> dict:
    """Drive an existing scheduler object through `requests`."""
    try:
        return _drive(scheduler, requests, _steps_bound(requests))
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"[:500]}
