"""lab04 checks: eviction policies, prefix hashes, the tiered cache (memory and disk), int8, H2O.

Every expected value is computed here, in the grader's process, by plain O(n) models of the
SPEC (`answers.RefPolicy`, `answers.RefCache`). Operation sequences run in the submission's process through
the trusted drivers of `inferlab.grading.probes.tiers` (one round trip per sequence); disk faults are
injected there by `inferlab.grading.probes.faults`.
"""
from __future__ import annotations

import random
import time

import torch

from inferlab import traces
from inferlab.grading import Checks, CheckFailure, answers, assert_close, assert_equal, exception_names, inputs, require
from inferlab.grading.probes import faults, tiers
from inferlab.grading.asserts import raises

checks = Checks("lab04")
POLICIES = {"lru": "LRUPolicy", "lfu": "LFUPolicy", "fifo": "FIFOPolicy"}


def _seed(rng) -> int:
    return inputs.seed(rng, 2**31 - 1)


def _expected_outcomes(kind: str, ops: list[tuple]) -> list[tuple]:
    ref = answers.RefPolicy(kind)
    out = []
    for op in ops:
        name = op[0]
        try:
            if name == "len":
                out.append(("ok", len(ref)))
            elif name == "contains":
                out.append(("ok", op[1] in ref.meta))
            elif name == "evict":
                out.append(("ok", ref.evict()))
            else:
                getattr(ref, name)(op[1])
                out.append(("ok", None))
        except (KeyError, ValueError) as e:
            out.append(("raise", type(e).__name__))
    return out


def _valid_ops(kind: str, rnd: random.Random, n_ops: int, universe: list) -> list[tuple]:
    """Random valid ops for policy `kind`, drawn against that kind's model so every op is legal."""
    ref = answers.RefPolicy(kind)
    ops = []
    for _ in range(n_ops):
        present = list(ref.meta)
        absent = [k for k in universe if k not in ref.meta]
        u = rnd.random()
        if (u < 0.35 or not present) and absent:
            op = ("insert", rnd.choice(absent))
            ref.insert(op[1])
        elif u < 0.68 and present:
            op = ("access", rnd.choice(present))
            ref.access(op[1])
        elif u < 0.76 and present:
            op = ("remove", rnd.choice(present))
            ref.remove(op[1])
        elif u < 0.93 and present:
            op = ("evict",)
            ref.evict()
        elif u < 0.97:
            op = ("len",)
        else:
            op = ("contains", rnd.choice(universe))
        ops.append(op)
    return ops


def _compare_outcomes(label: str, ops, got, want):
    for i, (op, g, w) in enumerate(zip(ops, got, want)):
        if tuple(g) != tuple(w):
            recent = ", ".join(f"{o[0]}({o[1]!r})" if len(o) > 1 else f"{o[0]}()" for o in ops[max(0, i - 6):i + 1])
            raise CheckFailure(f"{label}: operation #{i} {op[0]}{op[1:]!r} gave {tuple(g)!r}, expected {tuple(w)!r} "
                               f"(the last operations: {recent})")
    require(len(got) == len(want), f"{label}: {len(got)} outcomes for {len(want)} operations")


def _check_policy(sub, rng, kind: str, n_seqs: int = 3, n_ops: int = 120):
    rnd = random.Random(_seed(rng))
    for s in range(n_seqs):
        universe = list(range(6 + 4 * s)) + ["sys", "turn"]
        ops = _valid_ops(kind, rnd, n_ops, universe)
        policy = getattr(sub, POLICIES[kind])()
        got = sub.make(tiers.run_policy_ops, policy, ops)
        _compare_outcomes(f"{POLICIES[kind]} (sequence {s})", ops, got, _expected_outcomes(kind, ops))


# ----------------------------------------------------------------------------- task 1: policies


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def policies_evict_the_right_victim(sub, rng):
    """A hand-made sequence: LRU, FIFO and LFU each pick their own victim."""
    ops = [("insert", 1), ("insert", 2), ("insert", 3), ("access", 1), ("access", 1), ("access", 2),
           ("evict",), ("insert", 4), ("evict",), ("len",), ("contains", 1)]
    for kind in ("lru", "fifo", "lfu"):
        got = sub.make(tiers.run_policy_ops, getattr(sub, POLICIES[kind])(), ops)
        _compare_outcomes(POLICIES[kind], ops, got, _expected_outcomes(kind, ops))


@checks.check(group="task1", points=2, category="knowledge")
def lru_matches_the_reference_on_random_operations(sub, rng):
    """LRUPolicy equals the reference model on random insert/access/remove/evict sequences."""
    _check_policy(sub, rng, "lru")


@checks.check(group="task1", points=2, category="knowledge", visible=True)
def lfu_matches_the_reference_on_random_operations(sub, rng):
    """LFUPolicy (ties by least recent use) equals the reference model on random sequences."""
    _check_policy(sub, rng, "lfu")
    # Many equal counts: the recency tie-break decides almost every eviction.
    ops = [("insert", k) for k in range(6)] + [("access", k) for k in (4, 2, 0, 5, 3, 1)] + \
          [("evict",)] * 2 + [("access", 0), ("insert", 9), ("evict",), ("evict",)]
    got = sub.make(tiers.run_policy_ops, sub.LFUPolicy(), ops)
    _compare_outcomes("LFUPolicy (equal counts)", ops, got, _expected_outcomes("lfu", ops))


@checks.check(group="task1", points=1, category="knowledge")
def fifo_matches_the_reference_on_random_operations(sub, rng):
    """FIFOPolicy equals the reference model: access never changes the order."""
    _check_policy(sub, rng, "fifo", n_seqs=2)


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def policies_reject_bad_calls_and_stay_unchanged(sub, rng):
    """evict() when empty, access/remove of an absent key: KeyError; a second insert: ValueError; state kept."""
    for kind, cls in POLICIES.items():
        p = getattr(sub, cls)()
        raises("KeyError", p.evict, what=f"{cls}().evict() on an empty policy")
        for k in (3, 1, 2):
            p.insert(k)
        raises("KeyError", p.access, 7, what=f"{cls}.access(7) of an absent key")
        raises("KeyError", p.remove, 7, what=f"{cls}.remove(7) of an absent key")
        raises("ValueError", p.insert, 2, match="key", what=f"{cls}.insert(2) of a key it holds")
        ops = [("len",), ("contains", 3), ("contains", 1), ("contains", 2), ("contains", 7)]
        want = [("ok", 3), ("ok", True), ("ok", True), ("ok", True), ("ok", False)]
        got = sub.make(tiers.run_policy_ops, p, ops)
        _compare_outcomes(f"{cls} after the refused calls", ops, got, want)
        victims = sorted(p.evict() for _ in range(3))
        assert_equal(victims, [1, 2, 3], name=f"{cls}: the three keys evicted after the refused calls")


@checks.check(group="task1_perf", points=2, category="systems", kind="performance")
def policy_calls_cost_the_same_at_1e3_and_1e5_keys(sub, rng):
    """O(1) per call: 2,000 mixed calls on 100,000 keys cost under 10x the same calls on 1,000 keys."""
    seed = _seed(rng)
    for cls in POLICIES.values():
        small = sub.probe(tiers.fill_policy, cls, 1_000)
        large = sub.probe(tiers.fill_policy, cls, 100_000)
        best = {1_000: float("inf"), 100_000: float("inf")}
        for rep in range(6):
            for n, pol in ((1_000, small), (100_000, large)):
                t0 = time.perf_counter()
                sub.make(tiers.churn_policy, pol, n, 2_000, seed + rep)
                best[n] = min(best[n], time.perf_counter() - t0)
            ratio = best[100_000] / best[1_000]
            if rep >= 1 and (ratio < 4 or ratio > 40):
                break  # clearly constant, or clearly not
        require(ratio < 10, f"{cls}: 2,000 calls took {best[100_000] * 1e3:.1f} ms with 100,000 keys and "
                            f"{best[1_000] * 1e3:.1f} ms with 1,000 ({ratio:.0f}x): some call scans the keys "
                            "(list.remove, min over all keys, sorting); every call should be O(1)")


# ----------------------------------------------------------------------------- task 2: prefix hashes


def _tokens(rng, n, vocab=50_000):
    return [int(t) for t in torch.randint(0, vocab, (n,), generator=rng)]


def _as_ints(label, hs, n):
    require(isinstance(hs, list), f"{label}: expected a list of ints, got {type(hs).__name__}")
    require(len(hs) == n, f"{label}: {len(hs)} hashes, expected {n} (one per full block; a partial last block has none)")
    for i, h in enumerate(hs):
        require(isinstance(h, int) and not isinstance(h, bool), f"{label}: hash {i} is {type(h).__name__}, not int")
    return hs


@checks.check(group="task2", points=1, category="systems", visible=True)
def prefix_hashes_one_per_full_block_and_repeatable(sub, rng):
    """One int per full block, the same list on a second call, a partial last block ignored."""
    toks = _tokens(rng, 37)
    a = _as_ints("prefix_block_hashes(37 tokens, 8)", sub.prefix_block_hashes(toks, 8), 4)
    b = sub.prefix_block_hashes(list(toks), 8)
    assert_equal(b, a, name="a second call on the same tokens")
    c = _as_ints("prefix_block_hashes(32 tokens, 8)", sub.prefix_block_hashes(toks[:32], 8), 4)
    assert_equal(c, a, name="the hashes without the 5 tokens of the partial block")


@checks.check(group="task2", points=2, category="systems", visible=True)
def prefix_hashes_chain_every_earlier_block(sub, rng):
    """Changing a token of block j changes hashes j.. and no earlier one; equal blocks at other positions differ."""
    for bs in (1, 3, 16):
        n_blocks = 7 if bs > 1 else 12
        toks = _tokens(rng, n_blocks * bs + (bs - 1))
        base = _as_ints(f"prefix_block_hashes(bs={bs})", sub.prefix_block_hashes(toks, bs), n_blocks)
        require(len(set(base)) == len(base), f"block_size={bs}: two blocks of one prompt got the same hash")
        for j in sorted({0, n_blocks // 2, n_blocks - 1}):
            pos = j * bs + int(torch.randint(0, bs, (1,), generator=rng))
            changed = list(toks)
            changed[pos] = (changed[pos] + 1 + int(torch.randint(0, 999, (1,), generator=rng))) % 50_000
            h = sub.prefix_block_hashes(changed, bs)
            assert_equal(h[:j], base[:j], name=f"bs={bs}: hashes before block {j} after changing token {pos}")
            for i in range(j, n_blocks):
                require(h[i] != base[i], f"block_size={bs}: changing token {pos} (block {j}) left the hash of "
                                         f"block {i} unchanged; block i's hash must depend on every token of blocks 0..i")
    # The same block content after different prefixes is a different cache entry.
    blk = _tokens(rng, 4)
    h = sub.prefix_block_hashes(blk * 3, 4)
    require(len(set(h)) == 3, "three identical blocks in a row got equal hashes: the hash must chain the prefix")
    require(sub.prefix_block_hashes([], 4) == [], "prefix_block_hashes([], 4) should be []")
    require(sub.prefix_block_hashes(blk[:3], 4) == [], "3 tokens with block_size 4 have no full block: expected []")
    raises("ValueError", sub.prefix_block_hashes, blk, 0, match="block_size", what="prefix_block_hashes(t, 0)")


@checks.check(group="task2", points=1, category="systems", timeout=90)
def prefix_hashes_are_the_same_in_another_process(sub, rng):
    """The hashes computed in a second, fresh process (its own hash salt) equal the first process's."""
    toks = _tokens(rng, 64)
    first = _as_ints("prefix_block_hashes", sub.prefix_block_hashes(toks, 16), 4)
    cells = sub.probe(faults.submission_cells)
    if cells is None:  # a learner's kernel: no sandboxed process to compare with
        return
    from inferlab.grading.remote import Child, RemoteSubmission

    other = Child()
    try:
        other.deadline = time.monotonic() + 60
        other.request({"op": "load", "cells": cells})
        second = RemoteSubmission(other).prefix_block_hashes(toks, 16)
    finally:
        other.close()
    assert_equal(second, first, name="the hashes of the same tokens in a new process (use hashlib, not hash())")


# ----------------------------------------------------------------------------- task 3: tiered cache

SMALL = (2, 4)  # the blocks of the model checks: 8 float32 values, 32 bytes


def _run(sub, cache, ops, keys, shape=SMALL, dtype=torch.float32):
    return sub.make(tiers.run_cache_ops, cache, ops, keys, shape, dtype)


def _fmt_op(op):
    return f"put({op[1]}, v{op[2]})" if op[0] == "put" else f"get({op[1]})"


def _compare_cache(label, ops, keys, got, model, nbytes, shape=SMALL, dtype=torch.float32):
    """Replay ops on the model and compare each step's result, tier map and stats."""
    for i, op in enumerate(ops):
        where = f"{label}: after op #{i} {_fmt_op(op)} (ops so far: {', '.join(_fmt_op(o) for o in ops[max(0, i - 5):i + 1])})"
        if i >= len(got):
            raise CheckFailure(f"{where}: the driver stopped early")
        rec = got[i]
        if "raise" in rec:
            raise CheckFailure(f"{where}: your cache raised {rec['raise']}")
        if op[0] == "put":
            model.put(op[1], op[2], nbytes)
        else:
            want = model.get(op[1])
            g = rec.get("got")
            if want is None:
                require(g is None, f"{where}: got a block, expected a miss (None)")
            else:
                require(g is not None, f"{where}: got None, expected the block (version {want[0]})")
                assert_equal(g, tiers.make_block(op[1], want[0], shape, dtype), name=where)
        where_now = [model.tier_of(k) for k in keys]
        if rec["tiers"] != where_now:
            bad = next(j for j in range(len(keys)) if rec["tiers"][j] != where_now[j])
            raise CheckFailure(f"{where}: tier_of({keys[bad]}) is {rec['tiers'][bad]!r}, expected {where_now[bad]!r}")
        st = model.stats()
        if rec["stats"] != st:
            raise CheckFailure(f"{where}: stats() is {rec['stats']}, expected {st}")


def _cache(sub, caps, names=None, policy="lru", disk=None):
    names = names or ["hbm", "dram", "ssd", "tape"][: len(caps)]
    levels = []
    for i, (n, c) in enumerate(zip(names, caps)):
        if disk is not None and i == len(caps) - 1:
            levels.append(sub.Tier(n, c, path=disk))
        else:
            levels.append(sub.Tier(n, c, device="cpu"))
    return sub.TieredKVCache(levels, policy=policy)


@checks.check(group="task3", points=2, category="systems", visible=True)
def tiered_cache_walkthrough(sub, rng):
    """Two tiers of 2 blocks, LRU: puts demote, a lower hit is promoted and swaps with tier 0's victim."""
    ops = [("put", 1, 0), ("put", 2, 0), ("put", 3, 0), ("get", 1), ("get", 3), ("put", 4, 0), ("get", 9),
           ("put", 5, 0), ("get", 2), ("put", 3, 1), ("get", 3)]
    keys = [1, 2, 3, 4, 5, 9]
    got = _run(sub, _cache(sub, [2, 2]), ops, keys)
    _compare_cache("TieredKVCache([hbm 2, dram 2], 'lru')", ops, keys, got, answers.RefCache(["hbm", "dram"], [2, 2], "lru"), 32)


@checks.check(group="task3", points=2, category="systems")
def tiered_cache_hand_traces_per_policy(sub, rng):
    """Three tiers, each policy: demotion chain, drop from the last tier, put replaces, exact stats and bytes."""
    ops = [("put", k, 0) for k in range(1, 8)] + [("get", 1), ("get", 1), ("get", 6), ("put", 2, 1), ("get", 2),
                                                   ("get", 4), ("put", 8, 0), ("get", 5), ("get", 7), ("get", 3),
                                                   ("put", 9, 0), ("get", 6), ("get", 1)]
    keys = list(range(1, 10))
    for policy in ("lru", "lfu", "fifo"):
        got = _run(sub, _cache(sub, [2, 2, 2], policy=policy), ops, keys)
        _compare_cache(f"TieredKVCache([hbm 2, dram 2, ssd 2], {policy!r})", ops, keys, got,
                       answers.RefCache(["hbm", "dram", "ssd"], [2, 2, 2], policy), 32)


def _random_cache_ops(rnd, n_ops, universe):
    ops, version = [], {}
    for _ in range(n_ops):
        k = rnd.choice(universe)
        if rnd.random() < 0.45:
            version[k] = version.get(k, -1) + 1
            ops.append(("put", k, version[k]))
        else:
            ops.append(("get", k))
    return ops


@checks.check(group="task3", points=3, category="systems")
def tiered_cache_matches_the_model_on_random_operations(sub, rng):
    """Random put/get sequences on 1-3 memory tiers, every policy: results, tier_of and stats after every call."""
    rnd = random.Random(_seed(rng))
    for policy, caps in (("lru", [3, 2, 4]), ("lfu", [2, 3, 3]), ("fifo", [2, 3]), ("lru", [1]), ("lfu", [1, 1, 2])):
        universe = list(range(3 * sum(caps) // 2 + 2))
        ops = _random_cache_ops(rnd, 90, universe)
        names = ["hbm", "dram", "ssd"][: len(caps)]
        got = _run(sub, _cache(sub, caps, names, policy), ops, universe)
        _compare_cache(f"TieredKVCache({caps}, {policy!r})", ops, universe, got, answers.RefCache(names, caps, policy), 32)


@checks.check(group="task3", points=1, category="systems", visible=True)
def tiered_cache_rejects_bad_input_and_stays_unchanged(sub, rng):
    """Bad tiers, policy, capacity, block or key raise ValueError/TypeError naming it; the cache is unchanged."""
    raises("ValueError", sub.Tier, "hbm", 0, match="capacity", what="Tier('hbm', 0)")
    raises("ValueError", sub.TieredKVCache, [], match="tiers", what="TieredKVCache([])")
    raises("ValueError", sub.TieredKVCache, [sub.Tier("a", 2), sub.Tier("a", 2)], match="tiers",
                  what="TieredKVCache with two tiers named 'a'")
    raises("ValueError", sub.TieredKVCache, [sub.Tier("a", 2)], policy="mru", match="policy",
                  what="TieredKVCache(tiers, policy='mru')")
    cache = _cache(sub, [1, 2])
    ops = [("put", 1, 0), ("put", 2, 0), ("get", 1)]
    _run(sub, cache, ops, [1, 2])
    before = (cache.stats(), [cache.tier_of(k) for k in (1, 2, 3)])
    raises(("TypeError", "ValueError"), cache.put, 3, [1.0, 2.0], match="block",
           what="put(3, [1.0, 2.0]) (a list, not a tensor)")
    after = (cache.stats(), [cache.tier_of(k) for k in (1, 2, 3)])
    assert_equal(after, before, name="stats and tiers after the refused put")


# ----------------------------------------------------------------------------- task 3: a serving trace


@checks.check(group="task3_trace", points=2, category="practice")
def hit_counts_on_hidden_serving_traces_match_the_reference(sub, rng):
    """Hidden chat/few-shot/one-off traces through [hbm, dram] with LRU and LFU: every hit and miss exact."""
    for policy, caps, bs in (("lru", [24, 64], 16), ("lfu", [16, 48], 8)):
        seed = _seed(rng)
        keys = traces.lookups(traces.chat_trace(seed, num_requests=70), bs)
        model = answers.RefCache(["hbm", "dram"], caps, policy)
        want = []
        for k in keys:
            hit = model.get(k) is not None
            want.append(hit)
            if not hit:
                model.put(k, 0, 32)
        res = sub.make(tiers.run_lookups, _cache(sub, caps, ["hbm", "dram"], policy), keys)
        label = f"trace seed {seed}, {policy}, tiers {caps}, block_size {bs}, {len(keys)} lookups"
        require(res["wrong"] == 0, f"{label}: {res['wrong']} hits returned another block's data")
        if res["hits"] != want:
            i = next(j for j in range(len(want)) if res["hits"][j] != want[j])
            raise CheckFailure(f"{label}: lookup #{i} was a {'hit' if res['hits'][i] else 'miss'}, expected a "
                               f"{'hit' if want[i] else 'miss'}; hit rate {sum(res['hits']) / len(want):.4f}, "
                               f"reference {sum(want) / len(want):.4f}")
        assert_equal(res["stats"], model.stats(), name=f"stats() ({label})")


# ----------------------------------------------------------------------------- task 3: the disk tier

BIG = (2, 4, 16, 32)  # 4,096 values: 8 KB in fp16/bf16, 16 KB in fp32


def _big_block(key, dtype):
    return tiers.make_block(key, 7, BIG, dtype)


def _dtype_of(key):
    return (torch.float16, torch.bfloat16, torch.float32)[key % 3]


def _same_block(label, got, key):
    want = _big_block(key, _dtype_of(key))
    if got is None:
        return False
    if not isinstance(got, torch.Tensor) or got.dtype != want.dtype or tuple(got.shape) != BIG or \
            not torch.equal(got, want):
        raise CheckFailure(f"{label}: get({key}) returned wrong data "
                           f"({getattr(got, 'dtype', type(got).__name__)} {tuple(getattr(got, 'shape', ()))}, "
                           f"expected {want.dtype} {BIG} equal to what was put): a disk block must be verified")
    return True


def _filled_disk_cache(sub, caps, folder, keys):
    """An LRU [hbm, ssd] cache on `folder` holding the big block of every key."""
    cache = _cache(sub, caps, ["hbm", "ssd"], "lru", disk=folder)
    for k in keys:
        cache.put(k, _big_block(k, _dtype_of(k)))
    return cache


def _keys(rng, n):
    ks = set()
    while len(ks) < n:
        ks.add(int(torch.randint(0, 2**62, (1,), generator=rng)))
    ks = sorted(ks)
    return [ks[i] for i in torch.randperm(n, generator=rng).tolist()]


@checks.check(group="task3_disk", points=2, category="practice")
def disk_tier_survives_a_restart(sub, rng):
    """Blocks demoted to a disk tier come back bit-exact (fp16, bf16, fp32), also in a new cache on the folder."""
    folder = sub.make(faults.fresh_folder, "kv-restart-")
    keys = _keys(rng, 12)
    names, caps = ["hbm", "dram", "ssd"], [2, 3, 8]
    cache = _cache(sub, caps, names, "lru", disk=folder)
    model = answers.RefCache(names, caps, "lru")
    for k in keys:
        blk = _big_block(k, _dtype_of(k))
        cache.put(k, blk)
        model.put(k, 7, blk.numel() * blk.element_size())
    on_disk = [k for k in keys if model.tier_of(k) == "ssd"]
    got = cache.get(on_disk[0])
    require(_same_block("the live cache", got, on_disk[0]), f"get({on_disk[0]}) of a block on the disk tier gave None")
    model.get(on_disk[0])
    assert_equal(sub.make(tiers.tiers_of, cache, keys), [model.tier_of(k) for k in keys],
                 name="tier_of of every key")
    assert_equal(cache.stats(), model.stats(), name="stats() with a disk tier")
    files = sub.make(faults.block_files, folder, 8192)
    on_disk = [k for k in keys if model.tier_of(k) == "ssd"]
    require(len(files) == len(on_disk), f"the disk folder holds {len(files)} block files, expected {len(on_disk)} "
                                        "(one file per block on the disk tier; evicted blocks' files removed)")
    fresh = _cache(sub, caps, names, "lru", disk=folder)
    for k in keys:
        got = fresh.get(k)
        found = _same_block("a new cache on the same folder", got, k)
        require(found == (k in on_disk), f"a new cache on the same folder: get({k}) "
                                         f"{'found' if found else 'missed'} a block that was "
                                         f"{'on disk' if k in on_disk else 'only in memory'}")


@checks.check(group="task3_disk", points=2, category="practice", visible=True)
def disk_tier_never_returns_a_damaged_block(sub, rng):
    """Truncated, bit-flipped, deleted and misplaced files and junk are misses; every intact block is recovered."""
    folder = sub.make(faults.fresh_folder, "kv-faults-")
    keys = _keys(rng, 13)
    cache = _filled_disk_cache(sub, [1, 16], folder, keys)
    files = sub.make(faults.block_files, folder, 8192)
    require(len(files) == 12, f"expected 12 block files after 13 puts into [hbm 1, ssd 16], found {len(files)}")
    pick = torch.randperm(12, generator=rng).tolist()[:5]
    f = [files[i] for i in pick]
    sub.make(faults.truncate_file, folder, f[0], 0.5)
    sub.make(faults.flip_bytes, folder, f[1], 0.6, 3)
    sub.make(faults.delete_file, folder, f[2])
    sub.make(faults.copy_over, folder, f[4], f[3])  # f[3] now holds f[4]'s block
    sub.make(faults.add_junk, folder, _seed(rng), 4096)
    fresh = _cache(sub, [1, 16], ["hbm", "ssd"], "lru", disk=folder)
    found = sum(_same_block("a new cache after disk faults", fresh.get(k), k) for k in keys[:-1])
    require(found == 8, f"a new cache found {found} of the 8 intact blocks (12 on disk, 4 damaged); "
                        "every intact block should survive a restart")
    # A live cache: bits rot under it.
    folder2 = sub.make(faults.fresh_folder, "kv-live-")
    live = _filled_disk_cache(sub, [1, 4], folder2, keys[:5])
    files = sub.make(faults.block_files, folder2, 8192)
    require(len(files) == 4, f"expected 4 block files after 5 puts into [hbm 1, ssd 4], found {len(files)}")
    for i, name in enumerate(files):
        if i % 2:
            sub.make(faults.flip_bytes, folder2, name, 0.3 + 0.1 * i, 2)
        else:
            sub.make(faults.truncate_file, folder2, name, 0.9)
    for k in keys[:4]:
        require(not _same_block("a live cache whose files were damaged", live.get(k), k),
                f"get({k}) returned a block whose file was damaged")
    st = live.stats()
    require(st["hits"]["ssd"] == 0 and st["misses"] == 4,
            f"4 gets of damaged disk blocks should be 4 misses and no disk hit; stats() says {st}")


@checks.check(group="task3_disk", points=1, category="practice", visible=True)
def disk_tier_handles_a_vanished_or_wrong_folder(sub, rng):
    """The folder deleted under a live cache gives misses (no crash); a path that is a file is refused."""
    folder = sub.make(faults.fresh_folder, "kv-gone-")
    keys = _keys(rng, 3)
    cache = _filled_disk_cache(sub, [1, 4], folder, keys)
    sub.make(faults.remove_folder, folder)
    for k in keys[:2]:
        try:
            got = cache.get(k)
        except Exception as e:  # noqa: BLE001
            raise CheckFailure(f"get({k}) after the disk folder was deleted raised {exception_names(e)[0]}: {e}; "
                               "a block that cannot be read is a miss") from None
        require(got is None, f"get({k}) after the disk folder was deleted returned data")
    require(cache.stats()["misses"] == 2, f"2 gets of vanished blocks should count 2 misses; stats() says {cache.stats()}")
    path = sub.make(faults.make_file, sub.make(faults.scratch_path, f"not-a-folder-{_seed(rng)}"))

    def on_a_file():
        c2 = sub.TieredKVCache([sub.Tier("hbm", 1), sub.Tier("ssd", 2, path=path)])
        c2.put(1, _big_block(1, torch.float32))
        c2.put(2, _big_block(2, torch.float32))

    raises(("ValueError", "OSError"), on_a_file, what="a disk tier whose path is a regular file (ValueError naming 'path')")


# ----------------------------------------------------------------------------- task 4: longest prefix hit


def _prefix_cache(sub, toks, bs, present):
    hashes = sub.prefix_block_hashes(toks, bs)
    cache = _cache(sub, [64])  # room for every block: only the lookups are under test
    for i in present:
        cache.put(hashes[i], tiers.make_block(i))
    return cache


@checks.check(group="task4", points=1, category="systems", visible=True)
def longest_prefix_hit_counts_cached_blocks(sub, rng):
    """All 4 blocks cached: 4; a prompt that adds a partial block: still 4; nothing cached: 0."""
    toks = _tokens(rng, 32)
    cache = _prefix_cache(sub, toks, 8, range(4))
    assert_equal(sub.longest_prefix_hit(cache, toks, 8), 4, name="longest_prefix_hit (4 of 4 blocks cached)")
    assert_equal(sub.longest_prefix_hit(cache, toks + [1, 2, 3], 8), 4, name="with 3 more tokens")
    assert_equal(sub.longest_prefix_hit(_cache(sub, [2]), toks, 8), 0, name="an empty cache")


@checks.check(group="task4", points=2, category="systems", visible=True)
def longest_prefix_hit_stops_at_the_first_missing_block(sub, rng):
    """A gap, a diverging prompt, a missing first block, a short prompt: only leading blocks count."""
    bs = int(torch.randint(3, 9, (1,), generator=rng))
    toks = _tokens(rng, 8 * bs + 2)
    cache = _prefix_cache(sub, toks, bs, [0, 1, 2, 3, 4, 6, 7])
    assert_equal(sub.longest_prefix_hit(cache, toks, bs), 5, name=f"blocks 0-4, 6, 7 cached (block_size {bs})")
    other = toks[: 2 * bs + 1] + [(t + 1) % 50_000 for t in toks[2 * bs + 1:]]
    assert_equal(sub.longest_prefix_hit(cache, other, bs), 2, name="a prompt that diverges inside block 2")
    cache2 = _prefix_cache(sub, toks, bs, [1, 2, 3])
    assert_equal(sub.longest_prefix_hit(cache2, toks, bs), 0, name="blocks 1-3 cached but not block 0")
    assert_equal(sub.longest_prefix_hit(cache, toks[: bs - 1], bs), 0, name="a prompt shorter than one block")


# ----------------------------------------------------------------------------- task 5: int8


def _check_quant(label, x, dim, q, s):
    nd = x.dim()
    d = dim % nd
    want_s_shape = tuple(1 if i == d else n for i, n in enumerate(x.shape))
    require(isinstance(q, torch.Tensor) and q.dtype == torch.int8,
            f"{label}: q should be an int8 tensor, got {getattr(q, 'dtype', type(q).__name__)}")
    require(tuple(q.shape) == tuple(x.shape), f"{label}: q has shape {tuple(q.shape)}, expected {tuple(x.shape)}")
    require(isinstance(s, torch.Tensor) and tuple(s.shape) == want_s_shape,
            f"{label}: scale has shape {tuple(getattr(s, 'shape', ()))}, expected {want_s_shape} (dim {dim} kept with size 1)")
    require(int(q.min()) >= -127 and int(q.max()) <= 127, f"{label}: q holds {int(q.min())}..{int(q.max())}, outside [-127, 127]")
    x64, q64, s64 = x.double(), q.double(), s.double()
    require(bool(torch.isfinite(s64).all()) and bool((s64 > 0).all()),
            f"{label}: every scale must be finite and > 0 (an all-zero slice may use any positive scale)")
    absmax = x64.abs().amax(dim=d, keepdim=True)
    nz = absmax > 0
    want_s = absmax / 127
    if bool(nz.any()):
        assert_close(s64[nz], want_s[nz], name=f"{label}: scale (absmax / 127 per slice along dim {dim})",
                     atol=0, rtol=2e-6)
    err = (q64 * s64 - x64).abs()
    bound = s64 / 2 * (1 + 1e-5) + 1e-30
    bad = err > bound
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise CheckFailure(f"{label}: |q * scale - x| = {err[idx].item():.4g} at index {idx} exceeds scale / 2 = "
                           f"{(s64.expand_as(x64)[idx] / 2).item():.4g}: q must be x / scale rounded to the nearest integer")
    zero_q = q64.masked_select(~nz.expand_as(q64))
    require(bool((zero_q == 0).all()), f"{label}: an all-zero slice must quantise to zeros")
    top = q64.abs().amax(dim=d, keepdim=True)
    require(bool((top[nz] == 127).all()),
            f"{label}: the largest |x| of each slice should map to +-127 (scale = absmax / 127 per slice)")


@checks.check(group="task5", points=1, category="practice", visible=True)
def quantize_int8_rows(sub, rng):
    """quantize_int8 of a (4, 33) float32 tensor over the last dim: int8, per-row scale, error <= scale / 2."""
    x = torch.randn(4, 33, generator=rng) * 3
    q, s = sub.quantize_int8(x)
    _check_quant("quantize_int8(x (4, 33) float32)", x, -1, q, s)


@checks.check(group="task5", points=3, category="practice", visible=True)
def quantize_int8_every_dim_dtype_and_edge(sub, rng):
    """Awkward shapes, fp32/fp16/bf16, dims 0/1/-1, outlier channels and all-zero slices: the SPEC's bounds."""
    cases = [((129, 64), torch.float16, -1), ((3, 5, 17), torch.float32, 1), ((17, 40), torch.bfloat16, 0),
             ((1, 1), torch.float32, -1), ((2, 3, 7, 24), torch.float16, -1), ((6, 130), torch.float32, -1)]
    for shape, dtype, dim in cases:
        x = torch.randn(*shape, generator=rng)
        if x.shape[-1] > 4:
            x[..., 1] *= 40  # an outlier channel, as keys have
        if x.shape[0] > 2:
            x.select(dim % x.dim(), 0).zero_()  # an all-zero slice along the quantised dim
            x[1] = 0
        x = x.to(dtype)
        q, s = sub.quantize_int8(x, dim=dim)
        _check_quant(f"quantize_int8(x {tuple(shape)} {str(dtype)[6:]}, dim={dim})", x, dim, q, s)


@checks.check(group="task5", points=1, category="practice", visible=True)
def dequantize_int8_is_q_times_scale(sub, rng):
    """dequantize_int8 returns float32 q * scale (broadcast), exactly."""
    q = torch.randint(-127, 128, (5, 9, 12), generator=rng, dtype=torch.int8)
    for sshape in ((5, 9, 1), (1, 9, 12), (5, 1, 12)):
        s = torch.rand(*sshape, generator=rng) + 0.01
        out = sub.dequantize_int8(q, s)
        assert_equal(out, q.float() * s, name=f"dequantize_int8(q (5, 9, 12), scale {sshape})")


@checks.check(group="task5", points=1, category="practice", visible=True)
def quantize_rejects_bad_input(sub, rng):
    """An integer x, an out-of-range dim, a non-int8 q, a scale of the wrong shape: errors naming them."""
    raises("ValueError", sub.quantize_int8, torch.ones(3, 4, dtype=torch.int32), match="x",
                  what="quantize_int8(int32 x)")
    raises("ValueError", sub.quantize_int8, torch.ones(3, 4), dim=2, match="dim", what="quantize_int8(x 2-D, dim=2)")
    raises("ValueError", sub.dequantize_int8, torch.ones(3, 4), torch.ones(3, 1), match="q",
                  what="dequantize_int8(float32 q, scale)")
    raises("ValueError", sub.dequantize_int8, torch.ones(3, 4, dtype=torch.int8), torch.ones(4, 1),
                  match="scale", what="dequantize_int8(q (3, 4), scale (4, 1))")


@checks.check(group="task5_perf", points=2, category="systems", kind="performance", visible=True)
def quantize_kernel_reads_x_once_and_writes_q_and_scale_once(sub, rng):
    """Traced: one Triton pass reads x once, stores exactly q and the scales, no out-of-bounds access."""
    x = (torch.randn(37, 96, generator=rng) * 2).to(torch.float16)
    (q, s), tr = sub.traced("quantize_int8", x)
    _check_quant("traced quantize_int8(x (37, 96) fp16)", x, -1, q, s)
    require(tr.num_launches >= 1, "quantize_int8 launched no Triton kernel (the last dim must be a Triton kernel)")
    require(tr.oob_count == 0, f"out-of-bounds accesses: {tr.oob[:2]}")
    require(tr.result_from_kernel and tr.result_from_kernel[0],
            "q is not what a kernel stored: compute it in the Triton kernel, not in torch")
    nx, nq, ns = x.numel() * 2, q.numel(), s.numel() * s.element_size()
    loaded = tr.input_loaded[0]
    require(nx <= loaded <= nx * 1.05, f"the kernels read {loaded} B of x ({nx} B): read each element exactly once "
                                       "(load whole rows, reduce the absmax in registers, then scale)")
    require(tr.result_stored[0] == nq, f"{tr.result_stored[0]} B stored into q, expected {nq} (1 B per element, once)")
    require(tr.result_stored[1] == ns, f"{tr.result_stored[1]} B stored into scale, expected {ns}: the kernel writes the scales")
    require(tr.bytes_stored == nq + ns, f"the kernels stored {tr.bytes_stored} B in all, expected {nq + ns} (q and scale only)")


# ----------------------------------------------------------------------------- task 6: H2O


def _h2o_case(sub, scores, budget, recent, label=""):
    got = sub.h2o_keep_indices(torch.tensor(scores, dtype=torch.float32), budget, recent)
    want = torch.tensor(answers.h2o_keep(scores, budget, recent), dtype=torch.long)
    require(isinstance(got, torch.Tensor) and got.dtype == torch.long,
            f"h2o_keep_indices should return a LongTensor, got {getattr(got, 'dtype', type(got).__name__)}")
    assert_equal(got, want, name=f"h2o_keep_indices(N={len(scores)}, budget={budget}, recent={recent}){label}")


@checks.check(group="task6", points=1, category="frontier", visible=True)
def h2o_keeps_recent_and_heavy_hitters(sub, rng):
    """scores of 10 positions, budget 5, recent 2: the last 2 plus the 3 highest others, ascending."""
    _h2o_case(sub, [0.1, 0.9, 0.05, 0.3, 0.8, 0.2, 0.7, 0.0, 0.4, 0.6], 5, 2)


@checks.check(group="task6", points=2, category="frontier", visible=True)
def h2o_ties_and_edge_budgets(sub, rng):
    """Ties go to the lower position; N <= budget keeps all; recent >= budget, recent 0, budget 0."""
    for n in (1, 7, 33, 130):
        scores = [float(v) for v in torch.randint(0, 4, (n,), generator=rng)]  # many ties
        for budget, recent in ((n, 3), (n + 5, 0), (max(n // 2, 1), 2), (5, 0), (4, 9), (6, 6), (0, 0), (3, 1)):
            _h2o_case(sub, scores, budget, recent, label=" (ties to the lower position)")


@checks.check(group="task6", points=1, category="frontier", visible=True)
def h2o_rejects_bad_input(sub, rng):
    """A negative budget or recent, or 2-D scores: ValueError naming it."""
    s = torch.rand(8, generator=rng)
    raises("ValueError", sub.h2o_keep_indices, s, -1, 2, match="budget", what="h2o_keep_indices(s, -1, 2)")
    raises("ValueError", sub.h2o_keep_indices, s, 4, -2, match="recent", what="h2o_keep_indices(s, 4, -2)")
    raises("ValueError", sub.h2o_keep_indices, s.view(2, 4), 4, 1, match="scores",
                  what="h2o_keep_indices(2-D scores, 4, 1)")
