"""The course engine with the serving interface: `step()` reports each token as it is made, `abort()` frees."""
from __future__ import annotations

from inferlab.engine import Engine
from inferlab.engine.sequence import SequenceStatus


class ReferenceEngine(Engine):
    """`inferlab.engine.Engine` (prefix caching on by default) + `step() -> [(id, token, finished)]` and `abort(id)`.

    Constructed like lab08's `LLMEngine`: `ReferenceEngine(model, num_blocks, block_size, max_num_seqs,
    max_num_batched_tokens, enable_prefix_caching=True)`.
    """

    def __init__(self, model, num_blocks: int = 256, block_size: int = 16, max_num_seqs: int = 16,
                 max_num_batched_tokens: int = 256, enable_prefix_caching: bool = True, **kwargs):
        super().__init__(model, num_blocks=num_blocks, block_size=block_size, max_num_seqs=max_num_seqs,
                         max_num_batched_tokens=max_num_batched_tokens,
                         enable_prefix_caching=enable_prefix_caching, **kwargs)
        self.num_aborted = 0

    def add_request(self, prompt_ids, max_new_tokens: int, *, temperature: float = 0.0, seed=None,
                    stop_token_ids=(), request_id=None, arrival=None):
        prompt = self._check_prompt(prompt_ids, "prompt_ids")
        self._check_max_new(max_new_tokens, len(prompt), "max_new_tokens")
        need = self.config.blocks_for(len(prompt) + max_new_tokens)
        if need > self.config.num_blocks:
            raise ValueError(f"prompt_ids: {len(prompt)} tokens + max_new_tokens {max_new_tokens} need {need} KV "
                             f"blocks; the engine has num_blocks={self.config.num_blocks}")
        return super().add_request(prompt, max_new_tokens, request_id=request_id, arrival=arrival,
                                   temperature=temperature, seed=seed, stop_token_ids=stop_token_ids)

    def step(self):
        before = {s.seq_id: s.num_outputs for s in [*self.scheduler.running, *self.scheduler.waiting]}
        super().step()
        out = []
        for rid, n in before.items():
            seq = self.scheduler.seqs[rid]
            for i in range(n, seq.num_outputs):
                out.append((rid, seq.output_ids[i], seq.status is SequenceStatus.FINISHED and i == seq.num_outputs - 1))
        return out

    def abort(self, request_id) -> None:
        """Drop a waiting or running request; its blocks return to the pool."""
        sched = self.scheduler
        seq = sched.seqs.get(request_id)
        if seq is None or seq.status is SequenceStatus.FINISHED:
            return
        if seq in sched.running:
            sched.running.remove(seq)
        elif seq in sched.waiting:
            sched.waiting.remove(seq)
        sched.block_manager.deallocate(seq)
        seq.status = SequenceStatus.FINISHED
        self._generators.pop(request_id, None)
        self.num_aborted += 1

    def stats(self) -> dict:
        return dict(super().stats(), aborted=self.num_aborted)
