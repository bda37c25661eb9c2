"""EngineConfig: the sizes of one engine (KV blocks, batch budgets), validated on construction."""
from __future__ import annotations

import dataclasses


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """How much KV memory the engine has and how much work one step may do."""

    num_blocks: int = 64  # KV blocks in the pool (each holds block_size tokens of every layer)
    block_size: int = 16  # tokens per KV block
    max_num_seqs: int = 8  # running requests at most
    max_num_batched_tokens: int = 256  # prefill tokens + decodes in one step at most
    enable_prefix_caching: bool = False  # reuse full blocks of identical prompt prefixes

    def __post_init__(self):
        for name in ("num_blocks", "block_size", "max_num_seqs", "max_num_batched_tokens"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.enable_prefix_caching, bool):
            raise TypeError(f"enable_prefix_caching must be a bool, got {type(self.enable_prefix_caching).__name__}")

    def blocks_for(self, num_tokens: int) -> int:
        """KV blocks that hold `num_tokens` slots: ceil(num_tokens / block_size)."""
        return -(-num_tokens // self.block_size)
