"""The course model: a tiny Llama-style decoder in one readable file.

RMSNorm pre-norms, rotary position embeddings (RoPE), grouped-query attention
(GQA) and a SwiGLU MLP, as in Llama. Dimension letters used in the comments:

    B batch, T tokens in this call, C hidden size, H query heads,
    Hkv key/value heads, D head dim, V vocab size.

The model is split at the attention so that the labs can own the KV cache:

    x = model.embed(ids)                          # (B, T, C)
    for layer in model.layers:
        q, k, v = layer.qkv(x, positions)         # (B, H, T, D), (B, Hkv, T, D) x2
        attn = <your attention over cached k, v>  # (B, H, T, D)
        x = layer.finish(x, attn)                 # (B, T, C)
    logits = model.logits(x)                      # (B, T, V)

`model(ids)` is the reference: it runs exactly these calls with
`causal_attention` in the middle, recomputing every position. Query head `h`
reads key/value head `h // (H // Hkv)` (the `repeat_interleave` layout of GQA).
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Sizes of one course model; validated on construction."""

    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_seq_len: int
    hidden_size: int  # C; equals num_heads * head_dim in the shipped models
    mlp_hidden_size: int  # width of the SwiGLU MLP
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self):
        for field in ("num_layers", "num_heads", "num_kv_heads", "head_dim", "vocab_size",
                      "max_seq_len", "hidden_size", "mlp_hidden_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{field} must be a positive int, got {value!r}")
        if self.num_heads % self.num_kv_heads != 0:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of "
                             f"num_kv_heads ({self.num_kv_heads})")
        if self.head_dim % 2 != 0:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        if not self.rope_theta > 0:
            raise ValueError(f"rope_theta must be positive, got {self.rope_theta!r}")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be positive, got {self.norm_eps!r}")

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last dim."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def apply_rotary(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate (B, H, T, D) by RoPE at absolute `positions` (T,), rotate-half layout.

    The angles are computed from each position alone, so position p gets the same
    numbers whether it is computed in a prefill of many tokens or a decode of one.
    """
    D = x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, D, 2, device=x.device, dtype=torch.float32) / D)  # (D/2,)
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # (T, D/2)
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1).to(x.dtype)  # (T, D)
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1).to(x.dtype)  # (T, D)
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    rotated = torch.cat([-x2, x1], dim=-1)  # (B, H, T, D)
    return x * cos + rotated * sin


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal GQA attention for a full sequence: q (B, H, T, D), k/v (B, Hkv, T, D) -> (B, H, T, D)."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)  # (B, H, T, D): query head h reads kv head h // group
    v = v.repeat_interleave(group, dim=1)  # (B, H, T, D)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)  # softmax(q k^T / sqrt(D)) v


class DecoderLayer(nn.Module):
    """One transformer block, split into `qkv` (before attention) and `finish` (after)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        C, H, Hkv, D = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim
        self.attn_norm = RMSNorm(C, config.norm_eps)
        self.wq = nn.Linear(C, H * D, bias=False)
        self.wk = nn.Linear(C, Hkv * D, bias=False)
        self.wv = nn.Linear(C, Hkv * D, bias=False)
        self.wo = nn.Linear(H * D, C, bias=False)
        self.mlp_norm = RMSNorm(C, config.norm_eps)
        self.w_gate = nn.Linear(C, config.mlp_hidden_size, bias=False)
        self.w_up = nn.Linear(C, config.mlp_hidden_size, bias=False)
        self.w_down = nn.Linear(config.mlp_hidden_size, C, bias=False)
        self.tokens_processed = 0  # token positions seen by qkv (the model reports layer 0's)

    def qkv(self, x: torch.Tensor, positions: torch.Tensor):
        """Pre-norm and project x (B, T, C) to rotated q (B, H, T, D) and k, v (B, Hkv, T, D)."""
        cfg = self.config
        if x.dim() != 3 or x.shape[-1] != cfg.hidden_size:
            raise ValueError(f"x must be (B, T, {cfg.hidden_size}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        if positions.dim() != 1 or positions.shape[0] != T:
            raise ValueError(f"positions must be a LongTensor of shape ({T},), got {tuple(positions.shape)}")
        if positions.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"positions must be an integer tensor, got {positions.dtype}")
        if positions.device.type == "cpu" and T > 0:  # a range check on CUDA would sync every layer
            lo, hi = int(positions.min()), int(positions.max())
            if lo < 0 or hi >= cfg.max_seq_len:
                raise ValueError(f"positions must be in [0, {cfg.max_seq_len}), got [{lo}, {hi}]")
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, cfg.num_heads, cfg.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = self.wk(h).view(B, T, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = self.wv(h).view(B, T, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        q = apply_rotary(q, positions, cfg.rope_theta)
        k = apply_rotary(k, positions, cfg.rope_theta)
        self.tokens_processed += B * T
        return q, k, v

    def finish(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """Output projection and residual, then the SwiGLU MLP with its pre-norm and residual."""
        cfg = self.config
        B, T = x.shape[0], x.shape[1]
        if attn.shape != (B, cfg.num_heads, T, cfg.head_dim):
            raise ValueError(f"attn must be (B, H, T, D) = {(B, cfg.num_heads, T, cfg.head_dim)}, "
                             f"got {tuple(attn.shape)}")
        attn = attn.transpose(1, 2).reshape(B, T, cfg.num_heads * cfg.head_dim)  # (B, T, H*D)
        x = x + self.wo(attn)  # (B, T, C)
        h = self.mlp_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))  # (B, T, C)


class Llama(nn.Module):
    """A tiny Llama: embed -> layers (qkv, attention, finish) -> logits."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    @property
    def tokens_processed(self) -> int:
        """Token positions passed through layer 0's `qkv` since load or the last reset."""
        return self.layers[0].tokens_processed

    @tokens_processed.setter
    def tokens_processed(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"tokens_processed must be a non-negative int, got {value!r}")
        self.layers[0].tokens_processed = value

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings: ids (B, T) -> x (B, T, C)."""
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a LongTensor, got {type(ids).__name__}")
        if ids.dim() != 2:
            raise ValueError(f"ids must be (B, T), got shape {tuple(ids.shape)}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"ids must be an integer tensor, got {ids.dtype}")
        if ids.device.type == "cpu" and ids.numel() > 0:
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(f"ids must be in [0, {self.config.vocab_size}), got [{lo}, {hi}]")
        return self.tok_embeddings(ids)  # (B, T, C)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Final norm and head: x (B, T, C) -> logits (B, T, V)."""
        return self.lm_head(self.norm(x))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Reference forward: full recomputation with a causal mask, ids (B, T) -> logits (B, T, V)."""
        if isinstance(ids, torch.Tensor) and ids.dim() == 2 and ids.shape[1] > self.config.max_seq_len:
            raise ValueError(f"ids has {ids.shape[1]} tokens, more than max_seq_len={self.config.max_seq_len}")
        x = self.embed(ids)  # (B, T, C)
        positions = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        for layer in self.layers:
            q, k, v = layer.qkv(x, positions)  # (B, H, T, D), (B, Hkv, T, D), (B, Hkv, T, D)
            x = layer.finish(x, causal_attention(q, k, v))  # (B, T, C)
        return self.logits(x)  # (B, T, V)

    def num_parameters(self) -> int:
        """Total parameter count."""
        return sum(p.numel() for p in self.parameters())


def init_weights(model: Llama, seed: int) -> None:
    """GPT-2 style init: N(0, 0.02), residual output projections scaled by 1/sqrt(2 L)."""
    gen = torch.Generator().manual_seed(seed)
    residual_std = 0.02 / math.sqrt(2 * model.config.num_layers)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                std = residual_std if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                p.copy_(torch.randn(p.shape, generator=gen) * std)
