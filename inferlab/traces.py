"""Workload traces: seeded KV-cache access traces that look like a serving day.

A trace is a list of `Request`s: multi-turn chats that share a few system prompts
(each turn re-sends the whole conversation so far), few-shot prompts built on a
handful of templates, and one-off queries that share nothing. Popularity is skewed
(Zipf) the way real traffic is. `block_keys` turns a request into one key per full
block with a chained hash, so two requests share leading keys exactly when they
share leading blocks of tokens: what a prefix cache sees.

    trace = chat_trace(seed=1, num_requests=300)
    keys = lookups(trace, block_size=16)          # every block lookup, in arrival order

Everything is a pure function of its arguments (Python's `random.Random(seed)` and
`hashlib`), so the same seed gives the same trace in every process.
"""
from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass

__all__ = ["Request", "chat_trace", "block_keys", "lookups"]


@dataclass(frozen=True)
class Request:
    """One prompt sent to the server."""

    kind: str              # "chat", "fewshot" or "oneoff"
    session: int           # chat session id; -1 for the others
    turn: int              # 0-based turn within the session
    token_ids: tuple       # the whole prompt, (T,)


def _tokens(rng: random.Random, n: int, vocab_size: int) -> list[int]:
    return [rng.randrange(vocab_size) for _ in range(n)]


def _zipf(rng: random.Random, n: int, s: float = 1.1) -> int:
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    return rng.choices(range(n), weights=weights)[0]


def chat_trace(seed: int, num_requests: int = 300, *, num_system_prompts: int = 3, num_templates: int = 4,
               vocab_size: int = 4096, p_chat: float = 0.6, p_fewshot: float = 0.25,
               max_active_sessions: int = 8) -> list[Request]:
    """A seeded trace: chats over shared system prompts, few-shot templates, one-off queries."""
    if num_requests < 0:
        raise ValueError(f"num_requests must be >= 0, got {num_requests}")
    rng = random.Random(seed)
    systems = [_tokens(rng, rng.randint(48, 128), vocab_size) for _ in range(num_system_prompts)]
    templates = [_tokens(rng, rng.randint(96, 256), vocab_size) for _ in range(num_templates)]
    active: dict[int, list] = {}       # session -> [context tokens, turns so far, turns planned]
    next_session = 0
    out: list[Request] = []
    while len(out) < num_requests:
        u = rng.random()
        if u < p_chat:
            if active and (len(active) >= max_active_sessions or rng.random() < 0.7):
                sid = rng.choice(sorted(active))
            else:
                sid = next_session
                next_session += 1
                active[sid] = [list(systems[_zipf(rng, num_system_prompts)]), 0, 1 + int(rng.expovariate(1 / 4))]
            ctx, turn, planned = active[sid]
            ctx += _tokens(rng, rng.randint(12, 64), vocab_size)          # the user's new message
            out.append(Request("chat", sid, turn, tuple(ctx)))
            ctx += _tokens(rng, rng.randint(16, 96), vocab_size)          # the model's answer, re-sent next turn
            active[sid][1] = turn + 1
            if turn + 1 >= planned:
                del active[sid]
        elif u < p_chat + p_fewshot:
            t = templates[_zipf(rng, num_templates)]
            out.append(Request("fewshot", -1, 0, tuple(t + _tokens(rng, rng.randint(8, 40), vocab_size))))
        else:
            out.append(Request("oneoff", -1, 0, tuple(_tokens(rng, rng.randint(24, 160), vocab_size))))
    return out


def block_keys(token_ids, block_size: int) -> list[int]:
    """One 63-bit key per full block, chained: key i depends on every token of blocks 0..i."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    prev = struct.pack("<q", block_size)
    keys = []
    toks = list(token_ids)
    for i in range(len(toks) // block_size):
        prev = hashlib.blake2b(prev + struct.pack(f"<{block_size}q", *toks[i * block_size:(i + 1) * block_size]),
                               digest_size=8).digest()
        keys.append(int.from_bytes(prev, "little") >> 1)
    return keys


def lookups(trace: list[Request], block_size: int) -> list[int]:
    """Every block key the trace looks up, request by request."""
    return [k for r in trace for k in block_keys(r.token_ids, block_size)]
