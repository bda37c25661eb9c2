"""Engine: an LLM serving engine on the course model — `step()` = schedule -> run -> post-process.

    engine = Engine(load("target"), num_blocks=64, block_size=16, max_num_seqs=8, max_num_batched_tokens=256)
    outputs = engine.generate([prompt_ids, ...], max_new_tokens=32)   # greedy, one list per prompt
    engine.stats()["peak_blocks_used"], engine.records()               # counts, lab06 request records

Requests can also arrive while others run (`add_request`, then `step()` until `has_unfinished()`
is False). Paged KV lives in one `KVCache` per layer; the `Scheduler` decides each step's batch
(continuous batching, chunked prefill, preemption by recomputation, optional prefix caching);
the `ModelRunner` runs it with a pluggable attention function.
"""
from __future__ import annotations

import itertools
import time

import torch

from inferlab.engine.config import EngineConfig
from inferlab.engine.kv_cache import KVCache
from inferlab.engine.model_runner import ModelRunner
from inferlab.engine.sampler import make_generator, sample
from inferlab.engine.scheduler import Scheduler
from inferlab.engine.sequence import Sequence


class Engine:
    """Continuous-batching engine over a paged KV cache; `Engine(model, config)` or `Engine(model, **config_fields)`."""

    def __init__(self, model, config: EngineConfig | None = None, *, attention_fn=None, clock=time.perf_counter,
                 kv_dtype: torch.dtype = torch.float32, **config_fields):
        self.config = config if config is not None else EngineConfig(**config_fields)
        self.model = model
        self.clock = clock
        device = next(model.parameters()).device
        kv_cache = KVCache.for_model(model.config, self.config.num_blocks, self.config.block_size, kv_dtype, device)
        self.runner = ModelRunner(model, kv_cache, attention_fn)
        self.scheduler = Scheduler.from_config(self.config)
        self._ids = itertools.count()
        self._generators: dict = {}
        self._stats = dict(steps=0, tokens_processed=0, prefill_tokens=0, decode_tokens=0, peak_blocks_used=0)

    # ------------------------------------------------------------------ requests

    def add_request(self, prompt_ids, max_new_tokens: int, *, request_id=None, arrival: float | None = None,
                    temperature: float = 0.0, seed: int | None = None, stop_token_ids=()):
        """Queue one request; returns its id. Bad input raises ValueError naming the argument."""
        prompt = self._check_prompt(prompt_ids, "prompt_ids")
        self._check_max_new(max_new_tokens, len(prompt), "max_new_tokens")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        request_id = next(self._ids) if request_id is None else request_id
        seq = Sequence(request_id, prompt, max_new_tokens, arrival=self.clock() if arrival is None else arrival,
                       temperature=temperature, seed=seed, stop_token_ids=stop_token_ids)
        self.scheduler.add_sequence(seq)  # may refuse: never fits, or a duplicate id
        self._generators[request_id] = make_generator(seed)
        return request_id

    def has_unfinished(self) -> bool:
        """True while some request waits or runs."""
        return self.scheduler.has_unfinished()

    def sequence(self, request_id) -> Sequence:
        """The record of one request (tokens, status, blocks, timings)."""
        return self.scheduler.seqs[request_id]

    # ------------------------------------------------------------------ one step

    def step(self) -> list[Sequence]:
        """Schedule one batch, run the model on it, take its tokens; returns the requests that finished."""
        plan = self.scheduler.schedule()
        if not plan.scheduled:
            assert not self.has_unfinished(), "the scheduler ran nothing while requests wait"
            return []
        self.runner.copy_blocks(plan.copies)
        ids, positions, info = self.runner.prepare(plan.scheduled)  # (T,), (T,)
        logits = self.runner.forward(ids, positions, info)  # (T, V)
        last = torch.tensor(info.query_lens).cumsum(0) - 1  # (B,): each sequence's last new token
        tokens = []
        for (seq, n), row in zip(plan.scheduled, logits[last.to(logits.device)]):
            produces = seq.num_cached_tokens + n >= seq.num_prefill_tokens
            tokens.append(sample(row, seq.temperature, self._generators[seq.seq_id]) if produces else None)
        stats = self._stats
        stats["steps"] += 1
        stats["tokens_processed"] += len(ids)
        stats["prefill_tokens"] += sum(plan.prefill.values())
        stats["decode_tokens"] += len(plan.decode)
        stats["peak_blocks_used"] = max(stats["peak_blocks_used"], self.scheduler.block_manager.num_used_blocks)
        return self.scheduler.postprocess(plan, tokens, now=self.clock())

    def generate(self, prompts, max_new_tokens) -> list[list[int]]:
        """Greedy new tokens for each prompt (`max_new_tokens`: an int or one per prompt)."""
        prompts = list(prompts)
        counts = list(max_new_tokens) if isinstance(max_new_tokens, (list, tuple)) else [max_new_tokens] * len(prompts)
        if len(counts) != len(prompts):
            raise ValueError(f"max_new_tokens has {len(counts)} entries for {len(prompts)} prompts")
        for i, (p, m) in enumerate(zip(prompts, counts)):  # check everything before queueing anything
            prompt = self._check_prompt(p, f"prompts[{i}]")
            self._check_max_new(m, len(prompt), f"max_new_tokens[{i}]")
            need = self.config.blocks_for(len(prompt) + m)
            if need > self.config.num_blocks:
                raise ValueError(f"prompts[{i}] can never fit: {len(prompt)} + max_new_tokens {m} tokens need {need} "
                                 f"blocks, num_blocks is {self.config.num_blocks}")
        ids = [self.add_request(p, m) for p, m in zip(prompts, counts)]
        while self.has_unfinished():
            self.step()
        return [self.sequence(i).output_ids for i in ids]

    # ------------------------------------------------------------------ what happened

    def stats(self) -> dict:
        """Counts so far: steps, tokens_processed, prefill/decode tokens, peak_blocks_used, preemptions, prefix hits."""
        bm = self.scheduler.block_manager
        return dict(self._stats, preemptions=self.scheduler.num_preemptions,
                    prefix_hit_tokens=self.scheduler.num_prefix_hit_tokens,
                    blocks_used=bm.num_used_blocks, num_blocks=bm.num_blocks)

    def records(self, request_ids=None) -> list[dict]:
        """lab06 request records {"arrival", "token_times"} of the given (default: finished) requests."""
        ids = self.scheduler.finished() if request_ids is None else request_ids
        return [self.sequence(i).record() for i in ids]

    # ------------------------------------------------------------------ argument checks

    def _check_prompt(self, prompt_ids, name: str) -> list[int]:
        if isinstance(prompt_ids, torch.Tensor):
            prompt_ids = prompt_ids.tolist()
        prompt = list(prompt_ids)
        if not prompt:
            raise ValueError(f"{name} is empty; a prompt needs at least one token")
        vocab = self.model.config.vocab_size
        bad = [t for t in prompt if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab]
        if bad:
            raise ValueError(f"{name} holds {bad[0]!r}, not a token id in [0, {vocab})")
        return prompt

    def _check_max_new(self, m, prompt_len: int, name: str) -> None:
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"{name} must be an int >= 1, got {m!r}")
        if prompt_len + m > self.model.config.max_seq_len:
            raise ValueError(f"{name}: {prompt_len} prompt tokens + {m} exceed the model's "
                             f"max_seq_len={self.model.config.max_seq_len}")
