"""Scheduler invariants: replay any scheduler's plans against the lab07 rules and name the first broken one.

Works on token counts alone and on duck-typed plans (`.prefill` dict, `.decode` list,
`.preempted` list, or a dict with those keys), so it checks the reference, a learner's
scheduler, one behind a proxy, or plans recorded as plain data.
The rules (SPEC lab07), replayed step by step from the plans:
- ids: every id in a plan was added before the step; an id appears in at most one of
  prefill / decode / preempted; prefill counts are ints >= 1;
- preemption: only running requests; they give back every block, keep their outputs and must
  later prefill prompt + outputs (recomputation); not run again in the same step;
- prefill: a waiting request is admitted by it; no more than the (new) prompt's remaining tokens;
- decode: only running requests whose (new) prompt is complete and that still owe tokens;
- budgets: prefill tokens + decodes <= max_num_batched_tokens; running <= max_num_seqs;
  sum of ceil(slots / block_size) over running requests <= num_blocks after the step;
- FCFS: a request is admitted only when every request that arrived before it runs or finished;
- the end: every request finished, `finished()` lists them in the order they finished.
`strict=True` adds the reference's work-conserving rules (for known-wrong schedulers that obey
the budgets but waste them): every step with unfinished requests runs something; a running
request left out of a step (not preempted) means the token budget was used up; preemption takes
the newest running requests; after a step without preemption the oldest waiting request could
not have been admitted (no request slot, no token, or too few free blocks for its first chunk).
"""
from __future__ import annotations

import collections
import dataclasses


class ScheduleViolation(AssertionError):
    """A scheduler's plans broke a rule; the message says which, at which step, and the state."""


@dataclasses.dataclass
class PlanRecord:
    """A plan's three public fields, copied (safe to keep after the scheduler moves on)."""

    prefill: dict
    decode: list
    preempted: list

    @classmethod
    def of(cls, plan) -> "PlanRecord":
        """Copy a duck-typed plan (attributes, or a dict with the keys "prefill", "decode", "preempted")."""
        if isinstance(plan, dict):
            return cls(dict(plan["prefill"]), list(plan["decode"]), list(plan["preempted"]))
        return cls(dict(plan.prefill), list(plan.decode), list(plan.preempted))


@dataclasses.dataclass
class _Req:
    rid: object
    order: int  # arrival rank
    prompt_len: int
    max_new: int
    arrival: int  # the step before which it is added
    status: str = "unseen"  # unseen, waiting, running, finished
    target: int = 0  # tokens of the (new) prompt
    processed: int = 0  # of the (new) prompt, since the last admission
    slots: int = 0  # tokens in its cache
    outputs: int = 0
    finished_at: int | None = None


def _requests(requests) -> dict:
    """The workload's requests by id, ranked by arrival (step, then position in the list)."""
    reqs = {}
    ranked = sorted(enumerate(requests), key=lambda ir: (_arrival(ir[1]), ir[0]))
    for order, (_, r) in enumerate(ranked):
        rid, prompt_len, max_new = r[:3]
        assert rid not in reqs, f"request id {rid!r} appears twice in the workload"
        reqs[rid] = _Req(rid, order, prompt_len, max_new, _arrival(r), target=prompt_len)
    return reqs


def _arrival(request) -> int:
    return request[3] if len(request) > 3 else 0


def find_violation(config, requests, plans, finished=None, strict: bool = False) -> str | None:
    """The first rule `plans` break (a readable message), or None; `requests` are (id, prompt_len, max_new[, step])."""
    bs, reqs = config.block_size, _requests(requests)
    blocks = lambda r: -(-r.slots // bs)  # noqa: E731
    for s, plan in enumerate(plans):
        plan = PlanRecord.of(plan)
        where = f"step {s} (plan: prefill={plan.prefill}, decode={plan.decode}, preempted={plan.preempted})"
        for r in reqs.values():
            if r.status == "unseen" and r.arrival <= s:
                r.status = "waiting"
        listed = list(plan.prefill) + plan.decode + plan.preempted
        for rid in listed:
            if rid not in reqs or reqs[rid].status == "unseen":
                return f"{where}: request {rid!r} was never added (or not yet)"
        if len(set(listed)) != len(listed):
            return f"{where}: a request appears twice in one plan (prefill, decode and preempted are disjoint)"
        for rid, n in plan.prefill.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                return f"{where}: prefill[{rid!r}] = {n!r}; expected a number of prompt tokens >= 1"
        # preemption
        for rid in plan.preempted:
            r = reqs[rid]
            if r.status != "running":
                return f"{where}: preempted {rid!r}, which is {r.status}, not running"
            r.status, r.slots, r.processed, r.target = "waiting", 0, 0, r.prompt_len + r.outputs
        # admissions and prefill chunks
        admitted = [rid for rid in plan.prefill if reqs[rid].status == "waiting"]
        for rid, n in plan.prefill.items():
            r = reqs[rid]
            if r.status not in ("waiting", "running"):
                return f"{where}: prefill of {rid!r}, which is {r.status}"
            if r.processed + n > r.target:
                return (f"{where}: prefill of {n} tokens for {rid!r}, but only {r.target - r.processed} of its "
                        f"prompt remain ({r.target} = prompt {r.prompt_len} + {r.outputs} outputs kept, "
                        f"{r.processed} done)")
            r.status = "running"
        for rid in admitted:
            older = [o.rid for o in reqs.values() if o.status == "waiting" and o.order < reqs[rid].order]
            if older:
                return f"{where}: admitted {rid!r} while {older} arrived earlier and still wait (FCFS)"
        for rid in plan.decode:
            r = reqs[rid]
            if r.status != "running" or r.processed < r.target:
                state = r.status if r.status != "running" else f"still prefilling ({r.processed}/{r.target})"
                return f"{where}: decode of {rid!r}, which is {state}"
        # budgets
        tokens = sum(plan.prefill.values()) + len(plan.decode)
        if tokens > config.max_num_batched_tokens:
            return f"{where}: {tokens} tokens > max_num_batched_tokens={config.max_num_batched_tokens}"
        running = [r for r in reqs.values() if r.status == "running"]
        if len(running) > config.max_num_seqs:
            return f"{where}: {len(running)} running requests > max_num_seqs={config.max_num_seqs}"
        # the step runs
        for rid, n in plan.prefill.items():
            r = reqs[rid]
            r.processed += n
            r.slots += n
            r.outputs += r.processed == r.target
        for rid in plan.decode:
            reqs[rid].slots += 1
            reqs[rid].outputs += 1
        used = sum(blocks(r) for r in running)
        if used > config.num_blocks:
            return (f"{where}: the running requests need {used} blocks after the step > num_blocks={config.num_blocks} "
                    f"(slots: {({r.rid: r.slots for r in running})}, block size {bs})")
        if strict:
            problem = _strict_violation(config, reqs, plan, running, tokens, used, s)
            if problem:
                return f"{where}: {problem}"
        for r in running:
            if r.outputs == r.max_new:
                r.status, r.finished_at, r.slots = "finished", s, 0
    left = [r.rid for r in reqs.values() if r.status != "finished"]
    if left:
        return f"after {len(plans)} steps, requests {left} never finished"
    if finished is not None:
        finished = list(finished)
        expected = sorted(reqs.values(), key=lambda r: r.finished_at)
        if collections.Counter(finished) != collections.Counter(list(reqs)):
            return f"finished() = {finished}; expected every request once: {[r.rid for r in expected]}"
        steps = [reqs[rid].finished_at for rid in finished]
        if steps != sorted(steps):
            return (f"finished() = {finished} is not in finishing order; they finished at steps "
                    f"{dict(zip(finished, steps))}")
    return None


def _strict_violation(config, reqs, plan, running, tokens, used, s) -> str | None:
    """The reference's work-conserving rules (see the module docstring)."""
    unfinished = [r for r in reqs.values() if r.status in ("waiting", "running")]
    if unfinished and tokens == 0:
        return "ran nothing while requests wait or run"
    ran = set(plan.prefill) | set(plan.decode)
    idle = [r.rid for r in running if r.rid not in ran]
    if idle and tokens < config.max_num_batched_tokens:
        return (f"running {idle} left out with {config.max_num_batched_tokens - tokens} tokens of budget unused "
                f"(and not preempted)")
    if plan.preempted:
        newest_kept = max((r.order for r in running), default=-1)
        early = [rid for rid in plan.preempted if reqs[rid].order < newest_kept]
        if early:
            return f"preempted {early} while a newer request kept running (preempt the newest first)"
        return None
    waiting = sorted((r for r in reqs.values() if r.status == "waiting"), key=lambda r: r.order)
    if waiting and len(running) < config.max_num_seqs and tokens < config.max_num_batched_tokens:
        head = waiting[0]
        chunk = min(head.target, config.max_num_batched_tokens - tokens)
        if -(-chunk // config.block_size) <= config.num_blocks - used:
            return (f"{head.rid!r} waits though a request slot, {config.max_num_batched_tokens - tokens} tokens and "
                    f"{config.num_blocks - used} free blocks (its first {chunk} tokens need "
                    f"{-(-chunk // config.block_size)}) were left")
    return None


def check_plans(config, requests, plans, finished=None, strict: bool = False) -> None:
    """Raise ScheduleViolation with the first broken rule, if any."""
    problem = find_violation(config, requests, plans, finished, strict)
    if problem:
        raise ScheduleViolation(problem)


def run_workload(scheduler, requests, max_steps: int = 10_000) -> tuple[list[PlanRecord], list]:
    """Drive any lab07-style scheduler: add each request before its step, step until done; (plans, finished())."""
    pending = [r for _, r in sorted(enumerate(requests), key=lambda ir: (_arrival(ir[1]), ir[0]))]
    plans: list[PlanRecord] = []
    while pending or scheduler.has_unfinished():
        s = len(plans)
        if s >= max_steps:
            raise ScheduleViolation(f"still unfinished after {max_steps} steps (a request never finishes?)")
        while pending and _arrival(pending[0]) <= s:
            rid, prompt_len, max_new = pending.pop(0)[:3]
            scheduler.add(rid, prompt_len, max_new)
        plans.append(PlanRecord.of(scheduler.step()))
    return plans, list(scheduler.finished())


def check_scheduler(scheduler, config, requests, strict: bool = False, max_steps: int = 10_000) -> list[PlanRecord]:
    """Run `requests` through `scheduler` and check its plans against the rules; returns the plans."""
    plans, finished = run_workload(scheduler, requests, max_steps)
    check_plans(config, requests, plans, finished, strict)
    return plans
