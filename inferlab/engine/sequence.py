"""Sequence: one request's record — its tokens, progress through the cache, blocks and timings.

Token layout: `token_ids` is the prompt followed by the outputs. `num_cached_tokens` of them
have their KV in this sequence's blocks (`block_table`). The next step runs the tokens from
`num_cached_tokens` on; the step that runs the last of the first `num_prefill_tokens` tokens
(the prompt, or prompt + outputs after a preemption) produces an output token, and so does
every decode step after it (one token in, one token out).
"""
from __future__ import annotations

import enum
from typing import Hashable


class SequenceStatus(enum.Enum):
    """Where a sequence is: waiting for admission, running, or finished."""

    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class Sequence:
    """One request: tokens, cache progress, block table and timings (arrival, token_times)."""

    def __init__(self, seq_id: Hashable, prompt_ids, max_new_tokens: int, *, arrival: float = 0.0,
                 temperature: float = 0.0, seed: int | None = None, stop_token_ids=()):
        self.seq_id = seq_id
        self.token_ids = [int(t) for t in prompt_ids]  # prompt, then outputs
        self.prompt_len = len(self.token_ids)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.stop_token_ids = tuple(int(t) for t in stop_token_ids)
        self.status = SequenceStatus.WAITING
        self.block_table: list[int] = []  # physical KV block of token positions [i*bs, (i+1)*bs)
        self.num_cached_tokens = 0  # leading tokens whose KV is in block_table
        self.num_prefill_tokens = self.prompt_len  # tokens to run before the next output
        self.num_prefix_hit_tokens = 0  # cached tokens taken from the prefix cache at the last admission
        self.num_preemptions = 0
        self.arrival = float(arrival)
        self.token_times: list[float] = []  # when each output token was produced

    def __repr__(self) -> str:
        return (f"Sequence({self.seq_id!r}, {self.status.value}, tokens={self.num_tokens}, "
                f"cached={self.num_cached_tokens}, blocks={self.block_table})")

    @property
    def num_tokens(self) -> int:
        """Prompt plus output tokens."""
        return len(self.token_ids)

    @property
    def output_ids(self) -> list[int]:
        """The output tokens so far."""
        return self.token_ids[self.prompt_len:]

    @property
    def num_outputs(self) -> int:
        """Output tokens so far."""
        return len(self.token_ids) - self.prompt_len

    @property
    def is_prefilling(self) -> bool:
        """True while some of the (new) prompt has not run yet."""
        return self.num_cached_tokens < self.num_prefill_tokens

    @property
    def num_uncached_tokens(self) -> int:
        """Tokens the model has yet to run before producing the next output."""
        return self.num_tokens - self.num_cached_tokens

    @property
    def is_finished(self) -> bool:
        """Reached max_new_tokens or produced a stop token."""
        if self.num_outputs >= self.max_new_tokens:
            return True
        return self.num_outputs > 0 and self.token_ids[-1] in self.stop_token_ids

    def append_token(self, token_id: int, now: float) -> None:
        """Record one output token produced at time `now`."""
        assert not self.is_prefilling and self.status is SequenceStatus.RUNNING
        self.token_ids.append(int(token_id))
        self.token_times.append(float(now))

    def reset_for_recompute(self) -> None:
        """Preemption by recomputation: drop the cache, keep the outputs; they join the prompt."""
        assert not self.block_table, "give the blocks back before resetting"
        self.num_cached_tokens = 0
        self.num_prefix_hit_tokens = 0
        self.num_prefill_tokens = self.num_tokens
        self.num_preemptions += 1
        self.status = SequenceStatus.WAITING

    def record(self) -> dict:
        """The lab06 request record: {"arrival": seconds, "token_times": [seconds, ...]}."""
        return {"arrival": self.arrival, "token_times": list(self.token_times)}
