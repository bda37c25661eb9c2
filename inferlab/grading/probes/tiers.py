"""KV-tier drivers: replay operations against a lab04 eviction policy or tiered cache.

Each runs in the process that holds the object (the grader calls them through `sub.make`),
one call for a whole sequence of operations, and returns plain outcomes.
"""
from __future__ import annotations

import hashlib
import random

import torch



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
