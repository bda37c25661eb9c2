"""Scheduler: continuous batching with chunked prefill and preemption by recomputation (the lab07 rules).

Each `schedule()` builds one step's plan within the budgets, in this order:
1. Running requests, oldest first: a decode takes 1 token; a request still prefilling takes
   the next chunk of its prompt (as much as the token budget leaves). When its blocks do not
   fit, the newest running request is preempted (it gives back every block, keeps its outputs,
   and goes back to the head of the waiting queue to recompute prompt + outputs later), until
   they fit; if the newest is the request itself, it is preempted and the pass stops.
2. If nothing was preempted: waiting requests in arrival order (FCFS, never skipping the head)
   while a request slot, some token budget and the blocks for its first chunk are free.
`postprocess(plan, token_ids)` takes the plan as executed: cached tokens advance, a request
whose prompt is complete gets an output token, a finished one gives back its blocks.
`step()` = both, with placeholder tokens: the lab07 `Scheduler` interface on token counts alone.
Running requests stay in arrival order and are all older than every waiting one.
"""
from __future__ import annotations

import collections
import dataclasses

from inferlab.engine.block_manager import BlockManager
from inferlab.engine.config import EngineConfig
from inferlab.engine.sequence import Sequence, SequenceStatus


@dataclasses.dataclass
class Plan:
    """One step: prompt tokens per request, decoding requests, preempted requests, the batch to run."""

    prefill: dict = dataclasses.field(default_factory=dict)  # req_id -> prompt tokens run this step
    decode: list = dataclasses.field(default_factory=list)  # req_ids running one decode token
    preempted: list = dataclasses.field(default_factory=list)  # req_ids that gave back their blocks
    scheduled: list = dataclasses.field(default_factory=list)  # (Sequence, new tokens) in batch order
    copies: list = dataclasses.field(default_factory=list)  # (src, dst) block copies to make before the run

    @property
    def num_tokens(self) -> int:
        """Tokens the step runs (prefill tokens + decodes)."""
        return sum(n for _, n in self.scheduled)


class Scheduler:
    """The reference continuous-batching scheduler; `Scheduler(max_num_seqs, max_num_batched_tokens, num_blocks, block_size)`."""

    def __init__(self, max_num_seqs: int, max_num_batched_tokens: int, num_blocks: int, block_size: int,
                 enable_prefix_caching: bool = False):
        self.config = EngineConfig(num_blocks=num_blocks, block_size=block_size, max_num_seqs=max_num_seqs,
                                   max_num_batched_tokens=max_num_batched_tokens,
                                   enable_prefix_caching=enable_prefix_caching)
        self.block_manager = BlockManager(num_blocks, block_size, enable_prefix_caching)
        self.waiting: collections.deque[Sequence] = collections.deque()  # arrival order
        self.running: list[Sequence] = []  # arrival order
        self.seqs: dict = {}  # every request ever added, by id
        self._finished: list = []  # req_ids in finishing order
        self.num_preemptions = 0
        self.num_prefix_hit_tokens = 0  # prompt tokens taken from the prefix cache at admissions

    @classmethod
    def from_config(cls, config: EngineConfig) -> "Scheduler":
        """A scheduler with the budgets and blocks of `config`."""
        return cls(config.max_num_seqs, config.max_num_batched_tokens, config.num_blocks, config.block_size,
                   config.enable_prefix_caching)

    # ------------------------------------------------------------------ requests in, results out

    def add(self, req_id, prompt_len: int, max_new_tokens: int) -> None:
        """Queue a request known by its sizes only (token ids are placeholders)."""
        if isinstance(prompt_len, bool) or not isinstance(prompt_len, int) or prompt_len < 1:
            raise ValueError(f"prompt_len must be an int >= 1, got {prompt_len!r}")
        self.add_sequence(Sequence(req_id, [0] * prompt_len, max_new_tokens))

    def add_sequence(self, seq: Sequence) -> None:
        """Queue a request; refuse one that could never fit in the KV blocks (ValueError)."""
        if seq.seq_id in self.seqs:
            raise ValueError(f"req_id {seq.seq_id!r} was already added")
        m = seq.max_new_tokens
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"max_new_tokens must be an int >= 1, got {m!r}")
        if seq.prompt_len < 1:
            raise ValueError("prompt_len must be >= 1 (an empty prompt has nothing to run)")
        need = self.config.blocks_for(seq.prompt_len + m)
        if need > self.config.num_blocks:
            raise ValueError(f"request {seq.seq_id!r} can never fit: prompt_len {seq.prompt_len} + max_new_tokens {m} "
                             f"needs {need} blocks of {self.config.block_size}, num_blocks is {self.config.num_blocks}")
        seq.status = SequenceStatus.WAITING
        self.seqs[seq.seq_id] = seq
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        """True while some request waits or runs."""
        return bool(self.waiting or self.running)

    def finished(self) -> list:
        """Finished req_ids in finishing order."""
        return list(self._finished)

    # ------------------------------------------------------------------ one step

    def step(self) -> Plan:
        """Schedule one step and take it as executed (lab07's interface)."""
        plan = self.schedule()
        self.postprocess(plan, [0] * len(plan.scheduled))
        return plan

    def schedule(self) -> Plan:
        """Choose this step's work within the token budget, the request limit and the KV blocks."""
        plan = Plan()
        budget = self.config.max_num_batched_tokens
        bm = self.block_manager
        i = 0
        while i < len(self.running) and budget > 0:  # 1. running, oldest first
            seq = self.running[i]
            n = min(seq.num_prefill_tokens - seq.num_cached_tokens, budget) if seq.is_prefilling else 1
            while not bm.can_append(seq, n) and self.running[-1] is not seq:
                self._preempt(self.running.pop(), plan)
            if not bm.can_append(seq, n):  # the newest itself: it gives its blocks back and waits
                self._preempt(self.running.pop(), plan)
                break
            plan.copies += bm.append(seq, n)
            self._add_to_plan(plan, seq, n)
            budget -= n
            i += 1
        while (not plan.preempted and self.waiting and budget > 0  # 2. admission, first come first served
               and len(self.running) < self.config.max_num_seqs):
            seq = self.waiting[0]
            n = min(seq.num_prefill_tokens - bm.num_prefix_hit_tokens(seq), budget)
            if not bm.can_allocate(seq, n):
                break
            self.waiting.popleft()
            bm.allocate(seq, n)
            self.num_prefix_hit_tokens += seq.num_prefix_hit_tokens
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            self._add_to_plan(plan, seq, n)
            budget -= n
        return plan

    def postprocess(self, plan: Plan, token_ids, now: float = 0.0) -> list[Sequence]:
        """Take `plan` as run: `token_ids[i]` is the next token of `plan.scheduled[i]`; returns the finished sequences."""
        done = []
        for (seq, n), token in zip(plan.scheduled, token_ids, strict=True):
            seq.num_cached_tokens += n
            self.block_manager.cache_full_blocks(seq)
            if seq.is_prefilling:  # a chunk of the prompt: no output yet
                continue
            seq.append_token(token, now)
            if seq.is_finished:
                self.block_manager.deallocate(seq)
                self.running.remove(seq)
                seq.status = SequenceStatus.FINISHED
                self._finished.append(seq.seq_id)
                done.append(seq)
        return done

    # ------------------------------------------------------------------ helpers

    def _add_to_plan(self, plan: Plan, seq: Sequence, n: int) -> None:
        if seq.is_prefilling:
            plan.prefill[seq.seq_id] = n
        else:
            plan.decode.append(seq.seq_id)
        plan.scheduled.append((seq, n))

    def _preempt(self, seq: Sequence, plan: Plan) -> None:
        """Recomputation: give back every block, keep the outputs, wait at the head of the queue."""
        self.block_manager.deallocate(seq)
        seq.reset_for_recompute()
        self.waiting.appendleft(seq)
        plan.preempted.append(seq.seq_id)
        self.num_preemptions += 1
