"""KVCache: one layer's paged K and V store, `(num_blocks, block_size, num_kv_heads, head_dim)` each.

Token position p of a sequence lives at slot `block_table[p // block_size] * block_size + p % block_size`
of the flattened `(num_blocks * block_size, Hkv, D)` view; `write` scatters new tokens to their
slots, `gather` reads a sequence's first `seq_len` tokens back in order.
"""
from __future__ import annotations

import torch


class KVCache:
    """One layer's paged KV: k_cache and v_cache of shape (num_blocks, block_size, Hkv, D)."""

    def __init__(self, num_blocks: int, block_size: int, num_kv_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device="cpu"):
        shape = (num_blocks, block_size, num_kv_heads, head_dim)
        self.block_size = block_size
        self.k_cache = torch.zeros(shape, dtype=dtype, device=device)  # (N_blocks, bs, Hkv, D)
        self.v_cache = torch.zeros(shape, dtype=dtype, device=device)  # (N_blocks, bs, Hkv, D)

    @classmethod
    def for_model(cls, model_config, num_blocks: int, block_size: int, dtype=torch.float32,
                  device="cpu") -> list["KVCache"]:
        """One KVCache per layer of a course model (`model.config`)."""
        return [cls(num_blocks, block_size, model_config.num_kv_heads, model_config.head_dim, dtype, device)
                for _ in range(model_config.num_layers)]

    def slot_mapping(self, block_table, start: int, end: int) -> torch.Tensor:
        """Slots of positions [start, end) of a sequence with this block table: LongTensor (end - start,)."""
        pos = torch.arange(start, end)  # (T,)
        table = torch.as_tensor(block_table, dtype=torch.long)
        return (table[pos // self.block_size] * self.block_size + pos % self.block_size).to(self.k_cache.device)

    def write(self, slot_mapping: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store k, v (T, Hkv, D) at slots (T,)."""
        assert k.shape == v.shape and k.shape[0] == slot_mapping.shape[0], (k.shape, v.shape, slot_mapping.shape)
        Hkv, D = self.k_cache.shape[2:]
        self.k_cache.view(-1, Hkv, D)[slot_mapping] = k.to(self.k_cache.dtype)  # (N_blocks * bs, Hkv, D)
        self.v_cache.view(-1, Hkv, D)[slot_mapping] = v.to(self.v_cache.dtype)

    def gather(self, block_table, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `seq_len` tokens' (k, v), each (seq_len, Hkv, D), in position order."""
        slots = self.slot_mapping(block_table, 0, seq_len)
        Hkv, D = self.k_cache.shape[2:]
        return self.k_cache.view(-1, Hkv, D)[slots], self.v_cache.view(-1, Hkv, D)[slots]

    def copy_block(self, src: int, dst: int) -> None:
        """Copy one block's K and V (copy-on-write)."""
        self.k_cache[dst] = self.k_cache[src]
        self.v_cache[dst] = self.v_cache[src]
