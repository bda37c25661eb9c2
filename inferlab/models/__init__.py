"""The course models: `load("target")`, `load("draft")`, the shared tokenizer and the greedy answer key.

Both models are tiny Llama-style decoders trained by `scripts/train_models.py` on
the course's own corpus (`inferlab/models/data/`); their weights and configs ship
in `inferlab/models/weights/`, so nothing is downloaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from inferlab.models.llama import DecoderLayer, Llama, LlamaConfig, causal_attention
from inferlab.models.tokenizer import Tokenizer

NAMES = ("target", "draft")
DATA_DIR = Path(__file__).parent / "data"
WEIGHTS_DIR = Path(__file__).parent / "weights"

__all__ = ["NAMES", "load", "encode", "decode", "greedy_reference", "get_tokenizer",
           "Llama", "LlamaConfig", "DecoderLayer", "causal_attention"]

_tokenizer: Tokenizer | None = None


def get_tokenizer() -> Tokenizer:
    """The shared tokenizer (read once from data/tokenizer.json)."""
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = Tokenizer.from_file(DATA_DIR / "tokenizer.json")
    return _tokenizer


def encode(text: str) -> list[int]:
    """Token ids of `text` for both course models."""
    return get_tokenizer().encode(text)


def decode(ids) -> str:
    """Text of token ids (list of ints or 1-D tensor)."""
    return get_tokenizer().decode(ids)


def load(name: str) -> Llama:
    """A fresh trained course model: eval mode, float32, CPU, no grads, `tokens_processed == 0`."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    config = LlamaConfig(**json.loads((WEIGHTS_DIR / f"{name}.json").read_text()))
    model = Llama(config)
    state = torch.load(WEIGHTS_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({key: value.float() for key, value in state.items()})  # stored as float16
    model.eval()
    model.requires_grad_(False)
    model.tokens_processed = 0
    return model


@torch.no_grad()
def greedy_reference(model: Llama, prompt_ids, max_new_tokens: int) -> list[int]:
    """The answer key: `max_new_tokens` new tokens by greedy full recomputation with `model(ids)`.

    Each step reruns the whole sequence and takes the argmax of the last position's
    logits (lowest index on ties). Returns the new tokens only.
    """
    prompt = [int(i) for i in (prompt_ids.tolist() if isinstance(prompt_ids, torch.Tensor) else prompt_ids)]
    if len(prompt) < 1:
        raise ValueError("prompt_ids must hold at least one token")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    if len(prompt) + max_new_tokens > model.config.max_seq_len:
        raise ValueError(f"prompt_ids ({len(prompt)}) + max_new_tokens ({max_new_tokens}) exceeds "
                         f"max_seq_len={model.config.max_seq_len}")
    device = next(model.parameters()).device
    ids = torch.tensor([prompt], dtype=torch.long, device=device)  # (1, T)
    new = []
    for _ in range(max_new_tokens):
        logits = model(ids)[0, -1]  # (V,)
        token = int(torch.argmax(logits))  # first maximal index on ties
        new.append(token)
        ids = torch.cat([ids, ids.new_tensor([[token]])], dim=1)  # (1, T + 1)
    return new
