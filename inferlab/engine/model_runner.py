"""ModelRunner: one forward pass of the course model over a packed batch, KV in the paged cache.

The batch packs every scheduled sequence's new tokens one after another: `ids` and `positions`
are (T,), `CacheInfo` says where each token's KV goes (`slot_mapping`) and what each sequence
attends to. Built only from the course model's public interface:

    x = model.embed(ids)                         # (1, T, C)
    q, k, v = layer.qkv(x, positions)            # (1, H, T, D), (1, Hkv, T, D) x2
    kv.write(slot_mapping, k, v); attn = attention_fn(q, kv, info)
    x = layer.finish(x, attn)                    # (1, T, C)
    logits = model.logits(x)                     # (1, T, V)
"""
from __future__ import annotations

import dataclasses

import torch

from inferlab.engine.attention import torch_paged_attention
from inferlab.engine.kv_cache import KVCache


@dataclasses.dataclass
class CacheInfo:
    """A packed batch's cache layout: slots of its T tokens, and per sequence table, query and context lengths."""

    slot_mapping: torch.Tensor  # (T,) long: cache slot of each new token
    block_tables: list  # B lists of block ids
    query_lens: list  # B ints, summing to T: new tokens of each sequence
    context_lens: list  # B ints: cached tokens of each sequence once this batch is written

    @property
    def is_decode(self) -> bool:
        """True when every sequence brings exactly one token."""
        return all(n == 1 for n in self.query_lens)

    def block_table_tensor(self) -> torch.Tensor:
        """Block tables as int32 (B, max_blocks), padded with -1."""
        width = max(len(t) for t in self.block_tables)
        rows = [list(t) + [-1] * (width - len(t)) for t in self.block_tables]
        return torch.tensor(rows, dtype=torch.int32, device=self.slot_mapping.device)

    def context_lens_tensor(self) -> torch.Tensor:
        """Context lengths as int32 (B,)."""
        return torch.tensor(self.context_lens, dtype=torch.int32, device=self.slot_mapping.device)


class ModelRunner:
    """Runs the course model over packed batches with a paged KV cache and a pluggable attention function."""

    def __init__(self, model, kv_cache: list[KVCache], attention_fn=None):
        if len(kv_cache) != len(model.layers):
            raise ValueError(f"kv_cache must hold one KVCache per layer ({len(model.layers)}), got {len(kv_cache)}")
        self.model = model
        self.kv_cache = kv_cache
        self.attention_fn = attention_fn or torch_paged_attention
        self.device = next(model.parameters()).device

    def prepare(self, batch) -> tuple[torch.Tensor, torch.Tensor, CacheInfo]:
        """ids (T,), positions (T,) and CacheInfo for `batch`: (sequence, number of new tokens) pairs."""
        ids, positions, slots, tables, q_lens, ctx_lens = [], [], [], [], [], []
        for seq, n in batch:
            start, end = seq.num_cached_tokens, seq.num_cached_tokens + n
            assert n >= 1 and end <= seq.num_tokens, (seq, n)
            ids += seq.token_ids[start:end]
            positions += range(start, end)
            slots.append(self.kv_cache[0].slot_mapping(seq.block_table, start, end))
            tables.append(list(seq.block_table))
            q_lens.append(n)
            ctx_lens.append(end)
        info = CacheInfo(torch.cat(slots).to(self.device), tables, q_lens, ctx_lens)
        as_long = dict(dtype=torch.long, device=self.device)
        return torch.tensor(ids, **as_long), torch.tensor(positions, **as_long), info

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, positions: torch.Tensor, cache_info: CacheInfo) -> torch.Tensor:
        """Logits (T, V) of the packed tokens ids (T,) at positions (T,); their KV is written to the cache."""
        x = self.model.embed(ids[None])  # (1, T, C)
        for layer, kv in zip(self.model.layers, self.kv_cache):
            q, k, v = layer.qkv(x, positions)  # (1, H, T, D), (1, Hkv, T, D), (1, Hkv, T, D)
            kv.write(cache_info.slot_mapping, k[0].transpose(0, 1), v[0].transpose(0, 1))  # (T, Hkv, D)
            attn = self.attention_fn(q[0].transpose(0, 1), kv, cache_info)  # (T, H, D)
            x = layer.finish(x, attn.transpose(0, 1)[None])  # (1, T, C)
        return self.model.logits(x)[0]  # (T, V)

    def copy_blocks(self, copies) -> None:
        """Make the (src, dst) block copies that copy-on-write asked for, in every layer."""
        for src, dst in copies:
            for kv in self.kv_cache:
                kv.copy_block(src, dst)
