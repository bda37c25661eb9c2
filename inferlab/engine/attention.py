"""Attention functions for the model runner: `attention_fn(q, kv, info) -> out`, q and out (T, H, D).

`q` packs the batch's query tokens sequence after sequence (`info.query_lens`); each sequence's
queries are its last `query_len` positions and see every cached position up to their own
(`info.context_lens` tokens in all, this step's included: they are written before attention).
`torch_paged_attention` is the plain default; `decode_kernel_attention(kernel)` plugs in a
lab03-style paged decode kernel for all-decode batches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def torch_paged_attention(q: torch.Tensor, kv, info) -> torch.Tensor:
    """Causal GQA attention over each sequence's gathered paged KV: q (T, H, D) -> (T, H, D)."""
    H = q.shape[1]
    out = torch.empty_like(q)
    start = 0
    for table, q_len, ctx in zip(info.block_tables, info.query_lens, info.context_lens):
        k, v = kv.gather(table, ctx)  # (ctx, Hkv, D) each
        group = H // k.shape[1]
        k = k.transpose(0, 1).repeat_interleave(group, dim=0)  # (H, ctx, D): head h reads kv head h // group
        v = v.transpose(0, 1).repeat_interleave(group, dim=0)  # (H, ctx, D)
        qi = q[start:start + q_len].transpose(0, 1)  # (H, q_len, D)
        mask = torch.ones(q_len, ctx, dtype=torch.bool, device=q.device).tril(ctx - q_len)  # query j at ctx-q_len+j
        out[start:start + q_len] = F.scaled_dot_product_attention(qi, k, v, attn_mask=mask).transpose(0, 1)
        start += q_len
    return out


def decode_kernel_attention(kernel, fallback=torch_paged_attention):
    """An attention_fn running `kernel(q (B, H, D), k_cache, v_cache, block_tables, context_lens)` on decode batches."""
    def attention(q: torch.Tensor, kv, info) -> torch.Tensor:
        if not info.is_decode:
            return fallback(q, kv, info)
        return kernel(q, kv.k_cache, kv.v_cache, info.block_table_tensor(), info.context_lens_tensor())  # (B, H, D)
    return attention
