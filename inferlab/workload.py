"""Seeded KV-cache access traces that look like a serving day, and the drivers that replay them.

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

The `run_*` drivers replay operations against a lab04 object in the process that
holds it (the grader calls them through `sub.make`), one call for a whole sequence.
"""
from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass

import torch

__all__ = ["Request", "chat_trace", "block_keys", "lookups", "make_block", "fill_policy", "churn_policy",
           "run_policy_ops", "run_cache_ops", "run_lookups", "tiers_of"]


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


# ----------------------------------------------------------------------------- drivers


def make_block(key: int, version: int = 0, shape=(2, 4), dtype=torch.float32) -> torch.Tensor:
    """A block whose values are a pure function of (key, version): a wrong block is always noticed."""
    seed = int.from_bytes(hashlib.blake2b(f"{key}/{version}".encode(), digest_size=8).digest(), "little") >> 1
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g).to(dtype)


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - the submission may raise anything; report it by name
        return ("raise", type(e).__name__)


def run_policy_ops(policy, ops: list[tuple]) -> list[tuple]:
    """Apply ops ("insert"|"access"|"remove", key) / ("evict",) / ("len",) / ("contains", key); outcomes."""
    out = []
    for op in ops:
        name = op[0]
        if name == "len":
            out.append(_outcome(lambda: int(len(policy))))
        elif name == "contains":
            out.append(_outcome(lambda k: bool(k in policy), op[1]))
        elif name == "evict":
            out.append(_outcome(policy.evict))
        else:
            r = _outcome(getattr(policy, name), op[1])
            out.append(("ok", None) if r[0] == "ok" else r)
    return out


def fill_policy(ns, class_name: str, n: int):
    """A new policy of the submission's class `class_name` holding keys 0..n-1."""
    policy = ns[class_name]()
    for k in range(n):
        policy.insert(k)
    return policy


def churn_policy(policy, n: int, num_ops: int, seed: int) -> int:
    """`num_ops` calls (access, evict + re-insert, remove + re-insert) on a policy holding keys 0..n-1.

    Every victim and removed key goes straight back in, so the policy holds keys 0..n-1 after
    each round and the call can be repeated on the same policy.
    """
    rng = random.Random(seed)
    for i in range(num_ops):
        r = i % 4
        if r < 2:
            policy.access(rng.randrange(n))
        elif r == 2:
            policy.insert(policy.evict())
        else:
            k = rng.randrange(n)
            policy.remove(k)
            policy.insert(k)
    return num_ops


def run_cache_ops(cache, ops: list[tuple], keys: list, shape=(2, 4), dtype=torch.float32) -> list[dict]:
    """Apply ("put", key, version) / ("get", key) to a tiered cache; after each: result, tiers, stats."""
    out = []
    for op in ops:
        rec: dict = {}
        try:
            if op[0] == "put":
                cache.put(op[1], make_block(op[1], op[2], shape, dtype))
            else:
                got = cache.get(op[1])
                rec["got"] = None if got is None else got.detach().to("cpu")
        except Exception as e:  # noqa: BLE001
            rec["raise"] = f"{type(e).__name__}: {e}"[:300]
            out.append(rec)
            break
        rec["tiers"] = [cache.tier_of(k) for k in keys]
        rec["stats"] = cache.stats()
        out.append(rec)
    return out


def run_lookups(cache, keys: list, shape=(2, 4), dtype=torch.float32) -> dict:
    """A prefix cache serving a trace: get each block, put it on a miss; hits and wrong blocks."""
    hits, wrong = [], 0
    for k in keys:
        got = cache.get(k)
        if got is None:
            hits.append(False)
            cache.put(k, make_block(k, 0, shape, dtype))
        else:
            hits.append(True)
            wrong += not torch.equal(got.detach().to("cpu"), make_block(k, 0, shape, dtype))
    return {"hits": hits, "wrong": wrong, "stats": cache.stats()}


def tiers_of(cache, keys: list) -> list:
    """`cache.tier_of(k)` for every key, in one call."""
    return [cache.tier_of(k) for k in keys]
