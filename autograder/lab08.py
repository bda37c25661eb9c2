"""lab08 checks: deployment sizing, the LLMEngine (greedy tokens under preemption and prefix caching,
counted forward passes and token positions, blocks), sampling and stop tokens, the engine behind
the OpenAI-compatible server, and troubleshooting incidents.

The engine runs through trusted probes in the submission's process (`inferlab.serve.grading`):
`run_engine` counts forward passes and token positions with a wrapper on layer 0 the submission
cannot reach, and stops a run that exceeds a bound on forward passes (a deadlock); `exercise_server`
serves the submission's engine with `inferlab.serve` on a loopback port (uvicorn) and talks HTTP
to it. Expected tokens are the course model's greedy full recomputation, here, in the grader's
process; the step bound comes from the course scheduler (`inferlab.engine.Scheduler`, lab07's
rules) run on the same requests. Incidents are drawn here with the check's seed; the submission
sees only the report, and its change is replayed here on the simulated clock.
"""
from __future__ import annotations

import math

import torch

from inferlab import incidents, models
from inferlab.engine import Engine, Scheduler
from inferlab.grading import CheckFailure, Checks, answers, inputs, raises, require
from inferlab.grading.asserts import distribution
from inferlab.serve.grading import exercise_server, run_engine

checks = Checks("lab08")
V = 512  # the course model's vocabulary
MAX_LEN = 512


# ----------------------------------------------------------------------------- helpers


def _prompts(rng, lengths):
    return [torch.randint(0, V, (n,), generator=rng).tolist() for n in lengths]


def _lengths(rng, k, lo, hi):
    return [inputs.randint(rng, lo, hi) for _ in range(k)]


def _run(sub, sizes, jobs, max_calls=2000):
    return sub.probe(run_engine, sizes, jobs, max_calls)


def _ok(ans, what):
    require(not ans.get("tampered"), f"{what}: the model's layer 0 was replaced during the run")
    if "error" in ans:
        raise CheckFailure(f"{what}: {ans['error']}")
    return ans


def _greedy(prompts, counts):
    """The answer key: the course engine's greedy tokens (equal to one-by-one greedy generation, tested in
    tests/test_engine.py), all prompts in one batched run with room for everything."""
    need = sum(-(-(len(p) + m) // 16) for p, m in zip(prompts, counts))
    eng = Engine(answers.course_model(), num_blocks=need + 1, block_size=16, max_num_seqs=max(1, len(prompts)),
                 max_num_batched_tokens=4096)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return eng.generate(prompts, list(counts))
    finally:
        torch.set_num_threads(threads)


def _expect_greedy(tokens, prompts, counts, what):
    require(isinstance(tokens, list) and len(tokens) == len(prompts),
            f"{what}: expected {len(prompts)} token lists, got {str(tokens)[:200]}")
    wants = _greedy(prompts, counts)
    for i, (p, m, got, want) in enumerate(zip(prompts, counts, tokens, wants)):
        if got != want:
            first = next((j for j, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise CheckFailure(f"{what}: request {i} (prompt of {len(p)} tokens, max_new_tokens {m}) got "
                               f"{len(got)} tokens {got[:24]}{'...' if len(got) > 24 else ''}; greedy generation gives "
                               f"{want[:24]}{'...' if len(want) > 24 else ''}; first difference at output token {first}")


def _blocks(n, bs):
    return -(-n // bs)


def _reference_steps(sizes, lengths, counts):
    """Forward passes the lab07 rules take for these requests, all arriving at once."""
    s = Scheduler(sizes["max_num_seqs"], sizes["max_num_batched_tokens"], sizes["num_blocks"], sizes["block_size"])
    for i, (p, m) in enumerate(zip(lengths, counts)):
        s.add(i, p, m)
    steps = 0
    while s.has_unfinished():
        s.step()
        steps += 1
    return steps


def _tight(rng, k=7, bs=8):
    """Prompts, counts and sizes where every request fits alone but not all at once (preemption forced)."""
    lengths = _lengths(rng, k, 3, 40)
    counts = _lengths(rng, k, 6, 20)
    need = [_blocks(p + m, bs) for p, m in zip(lengths, counts)]
    sizes = dict(num_blocks=max(need) + 2, block_size=bs, max_num_seqs=k, max_num_batched_tokens=64)
    return _prompts(rng, lengths), counts, sizes


def _stat(ans, key, what):
    st = ans.get("stats") or {}
    v = st.get(key)
    require(isinstance(v, int) and not isinstance(v, bool),
            f"{what}: stats() must include {key!r} as an int, got {v!r} (stats: {st})")
    return v


# ----------------------------------------------------------------------------- task 1 · sizing


@checks.check(group="task1", points=2, category="knowledge", visible=True)
def sizing_formulas(sub, rng):
    """max_concurrent_sequences and kv_blocks_for_memory on a 7B-on-80GB case and random deployments."""
    gib = 1 << 30
    per_token = 2 * 32 * 8 * 128 * 2
    cases = [(80 * gib, 14 * gib, per_token, 4096, 0.1), (24 * gib, 14 * gib, per_token, 4096, 0.1)]
    for _ in range(4):
        u = torch.rand(5, generator=rng).tolist()
        cases.append((int((8 + u[0] * 150) * gib), int(u[1] * 60 * gib), int(1e4 + u[2] * 1e6),
                      1 + int(u[3] * 32000), round(u[4] * 0.3, 3)))
    for g, w, kv, n, r in cases:
        want = max(0, math.floor((g * (1 - r) - w) / (kv * n)))
        got = sub.max_concurrent_sequences(g, w, kv, n, r)
        require(got == want and isinstance(got, int),
                f"max_concurrent_sequences({g}, {w}, {kv}, {n}, reserve_fraction={r}) = {got!r}, expected "
                f"floor((gpu_bytes * (1 - r) - weight_bytes) / (kv_bytes_per_token * seq_len)) = {want}")
    for _ in range(5):
        u = torch.rand(4, generator=rng).tolist()
        g, w = int((16 + u[0] * 140) * gib), int(u[1] * 40 * gib)
        L, hkv, d = 8 + int(u[2] * 72), (1, 2, 4, 8)[int(u[3] * 4)], (64, 128)[int(u[0] * 2)]
        bs, db, r = (8, 16, 32)[int(u[1] * 3)], (1, 2, 4)[int(u[2] * 3)], round(u[3] * 0.2, 3)
        want = max(0, math.floor((g * (1 - r) - w) / (2 * L * hkv * d * bs * db)))
        got = sub.kv_blocks_for_memory(g, w, L, hkv, d, bs, db, r)
        require(got == want and isinstance(got, int),
                f"kv_blocks_for_memory({g}, {w}, num_layers={L}, num_kv_heads={hkv}, head_dim={d}, block_size={bs}, "
                f"dtype_bytes={db}, reserve_fraction={r}) = {got!r}, expected {want} (a block holds K and V of every "
                f"layer: 2 * {L} * {hkv} * {d} * {bs} * {db} bytes)")


@checks.check(group="task1", points=1, category="knowledge")
def sizing_edge_cases_and_bad_input(sub, rng):
    """Weights larger than the budget give 0; defaults (reserve 0.1, 2 bytes); ValueError naming the argument."""
    gib = 1 << 30
    require(sub.max_concurrent_sequences(16 * gib, 15 * gib, 1000, 100) == 0,
            "max_concurrent_sequences(16 GiB, 15 GiB of weights, ...) should be 0: 90% of 16 GiB < 15 GiB")
    got = sub.max_concurrent_sequences(10**9, 0, 1000, 100)
    require(got == 9000, f"max_concurrent_sequences(1e9, 0, 1000, 100) = {got!r}, expected 9000 (reserve_fraction "
            "defaults to 0.1)")
    got = sub.kv_blocks_for_memory(10**9, 0, 2, 1, 32, 16)
    require(got == math.floor(9e8 / (2 * 2 * 1 * 32 * 16 * 2)),
            f"kv_blocks_for_memory(1e9, 0, 2, 1, 32, 16) = {got!r}, expected {math.floor(9e8 / 4096)} (dtype_bytes "
            "defaults to 2, reserve_fraction to 0.1)")
    require(sub.kv_blocks_for_memory(gib, 2 * gib, 2, 1, 32, 16) == 0, "kv_blocks_for_memory with weights larger "
            "than the memory should be 0")
    raises("ValueError", sub.max_concurrent_sequences, gib, 0, 1000, 0, names=("seq_len",),
           what="max_concurrent_sequences(seq_len=0)")
    raises("ValueError", sub.max_concurrent_sequences, gib, 0, 1000, 10, 1.0, names=("reserve_fraction",),
           what="max_concurrent_sequences(reserve_fraction=1.0)")
    raises("ValueError", sub.kv_blocks_for_memory, gib, 0, 2, 1, 32, 0, names=("block_size",),
           what="kv_blocks_for_memory(block_size=0)")
    raises("ValueError", sub.kv_blocks_for_memory, -gib, 0, 2, 1, 32, 16, names=("gpu_bytes",),
           what="kv_blocks_for_memory(gpu_bytes<0)")


# ----------------------------------------------------------------------------- task 2 · the engine


@checks.check(group="task2", points=2, category="systems", visible=True)
def engine_greedy_tokens(sub, rng):
    """Ample KV: 5 prompts of 1..50 tokens, max_new_tokens one per prompt: the greedy tokens."""
    lengths = [1, inputs.randint(rng, 2, 9), 17, inputs.randint(rng, 20, 40), 50]
    counts = _lengths(rng, 5, 1, 14)
    prompts = _prompts(rng, lengths)
    sizes = dict(num_blocks=64, block_size=8, max_num_seqs=4, max_num_batched_tokens=48)
    ans = _ok(_run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts}])[0],
              f"LLMEngine(**{sizes}).generate(5 prompts of {lengths} tokens, {counts})")
    _expect_greedy(ans["tokens"], prompts, counts, f"generate(prompts of {lengths} tokens, {counts}), {sizes}")


@checks.check(group="task2", points=3, category="systems")
def engine_greedy_tokens_under_preemption(sub, rng):
    """KV tight enough to force preemption (each request fits alone, not all): still the greedy tokens."""
    for bs, k in ((8, 6), (4, 4)):
        prompts, counts, sizes = _tight(rng, k, bs)
        what = f"LLMEngine(**{sizes}).generate({k} prompts of {[len(p) for p in prompts]} tokens, {counts})"
        ans = _ok(_run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts}])[0], what)
        _expect_greedy(ans["tokens"], prompts, counts, what)


@checks.check(group="task2", points=1, category="systems")
def engine_refuses_bad_input(sub, rng):
    """ValueError naming the argument (token outside the vocabulary, a request that can never fit, sizes < 1),
    and a refused generate leaves the engine working."""
    sizes = dict(num_blocks=6, block_size=8, max_num_seqs=2, max_num_batched_tokens=32)
    model = sub.make(models.load, "target")
    raises("ValueError", sub.LLMEngine, model, 0, 8, 2, 32, names=("num_blocks",),
           what="LLMEngine(model, num_blocks=0, ...)")
    eng = sub.LLMEngine(model, **sizes)
    raises("ValueError", eng.generate, [[1, 2, 3], [5, V]], 3, names=("prompts", "prompt_ids", "prompts[1]"),
           what=f"generate with token id {V} (vocabulary {V})")
    raises("ValueError", eng.generate, [[1, 2, 3], list(range(40))], 10,
           names=("prompts", "prompt_ids", "max_new_tokens", "num_blocks", "prompts[1]"),
           what="generate with a request needing 7 blocks of 8 (num_blocks=6)")
    raises("ValueError", eng.generate, [[1, 2, 3]], 0, names=("max_new_tokens",), what="generate(max_new_tokens=0)")
    got = eng.generate([[1, 2, 3]], 4)
    want = _greedy([[1, 2, 3]], [4])[0]
    require(got == [want], f"after refused calls, generate([[1, 2, 3]], 4) = {got}, expected {[want]}: a refused "
            "call must leave nothing queued")


# ----------------------------------------------------------------------------- task 3 · counted


@checks.check(group="task3", points=3, category="systems", kind="performance", visible=True)
def counted_positions_and_steps(sub, rng):
    """Ample KV: positions = Σ prompt + Σ (outputs - 1) exactly; steps within 1.25x (+2) of lab07's rules."""
    k = 8
    lengths, counts = _lengths(rng, k, 4, 40), _lengths(rng, k, 2, 16)
    prompts = _prompts(rng, lengths)
    sizes = dict(num_blocks=128, block_size=8, max_num_seqs=4, max_num_batched_tokens=64)
    what = f"LLMEngine(**{sizes}).generate({k} prompts of {lengths} tokens, {counts})"
    ans = _ok(_run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts}])[0], what)
    _expect_greedy(ans["tokens"], prompts, counts, what)
    want = sum(lengths) + sum(m - 1 for m in counts)
    require(ans["positions"] == want, f"{what}: the model ran {ans['positions']} token positions; the prompts hold "
            f"{sum(lengths)} and decoding feeds back {sum(m - 1 for m in counts)} outputs: expected exactly {want} "
            "(each token once, the KV cache reused)")
    require(_stat(ans, "tokens_processed", what) == ans["positions"],
            f"{what}: stats()['tokens_processed'] = {ans['stats']['tokens_processed']}, counted {ans['positions']}")
    require(_stat(ans, "steps", what) == ans["calls"],
            f"{what}: stats()['steps'] = {ans['stats']['steps']}, counted {ans['calls']} forward passes")
    ref = _reference_steps(sizes, lengths, counts)
    bound = int(1.25 * ref) + 2
    require(ans["calls"] <= bound, f"{what}: {ans['calls']} forward passes; continuous batching under lab07's rules "
            f"takes {ref}; allowed {bound}. Batch every running request's decode with the prompt chunks, and admit "
            "new requests as soon as one finishes")


@checks.check(group="task3", points=3, category="systems", kind="performance")
def counted_recomputation_under_preemption(sub, rng):
    """Tight KV: positions = Σ prompt + Σ (outputs - 1) + recomputed_tokens; max need <= peak blocks <= num_blocks."""
    prompts, counts, sizes = _tight(rng, 6, 8)
    lengths = [len(p) for p in prompts]
    what = f"LLMEngine(**{sizes}).generate(6 prompts of {lengths} tokens, {counts})"
    ans = _ok(_run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts}])[0], what)
    _expect_greedy(ans["tokens"], prompts, counts, what)
    rec = _stat(ans, "recomputed_tokens", what)
    hits = _stat(ans, "prefix_hit_tokens", what)
    base = sum(lengths) + sum(m - 1 for m in counts)
    require(hits == 0, f"{what}: prefix caching is off, yet stats()['prefix_hit_tokens'] = {hits}")
    require(ans["positions"] == base + rec,
            f"{what}: the model ran {ans['positions']} token positions; prompts + fed-back outputs = {base}, plus "
            f"stats()['recomputed_tokens'] = {rec}: expected exactly {base + rec} (a preempted request recomputes "
            "the tokens it had cached, nothing more)")
    bound = sum(p + m for p, m in zip(lengths, counts)) * _stat(ans, "preemptions", what)
    require(0 <= rec <= bound, f"{what}: recomputed_tokens {rec} is not within [0, tokens x preemptions = {bound}]")
    peak = _stat(ans, "peak_blocks_used", what)
    need = max(_blocks(p + m - 1, sizes["block_size"]) for p, m in zip(lengths, counts))
    require(need <= peak <= sizes["num_blocks"], f"{what}: peak_blocks_used = {peak}; expected between the largest "
            f"request's {need} blocks and num_blocks = {sizes['num_blocks']}")


@checks.check(group="task3", points=2, category="systems")
def no_block_held_after_generate(sub, rng):
    """After a generate with preemptions, no block is held: a request needing the whole pool runs next."""
    prompts, counts, sizes = _tight(rng, 6, 8)
    n = sizes["num_blocks"] * sizes["block_size"]
    big = _prompts(rng, [n - 5])[0]
    what = f"LLMEngine(**{sizes}): generate(6 prompts, preempting), then a prompt of {n - 5} tokens + 5 new"
    out = _run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts},
                            {"op": "generate", "prompts": [big], "max_new_tokens": 5}], max_calls=600)
    first = _ok(out[0], what)
    used = _stat(first, "blocks_used", what)
    require(used == 0, f"{what}: stats()['blocks_used'] = {used} after generate returned; every block must be back")
    require(len(out) == 2, f"{what}: the second call did not run")
    second = _ok(out[1], what + " (the second call, which needs every block)")
    _expect_greedy(second["tokens"], [big], [5], what)


# ----------------------------------------------------------------------------- task 4 · prefix caching


@checks.check(group="task4", points=3, category="systems", kind="performance", visible=True)
def prefix_hits_counted(sub, rng):
    """A second round sharing a prefix with the first hits every full block of it; positions drop by exactly that."""
    bs = 8
    shared = _prompts(rng, [inputs.randint(rng, 3, 6) * bs + inputs.randint(rng, 0, bs - 1)])[0]
    tails = _prompts(rng, _lengths(rng, 3, 1, 12))
    for i in range(1, 3):  # different first tail tokens: nothing shared past the common prefix
        while tails[i][0] in (tails[0][0], tails[i - 1][0]):
            tails[i][0] = (tails[i][0] + 1) % V
    first, second = [shared + tails[0]], [shared + tails[1], shared + tails[2]]
    counts = _lengths(rng, 3, 2, 10)
    sizes = dict(num_blocks=64, block_size=bs, max_num_seqs=4, max_num_batched_tokens=64, enable_prefix_caching=True)
    what = (f"LLMEngine(**{sizes}): generate(1 prompt), then generate(2 prompts) sharing its first {len(shared)} "
            "tokens")
    out = _run(sub, sizes, [{"op": "generate", "prompts": first, "max_new_tokens": counts[:1]},
                            {"op": "generate", "prompts": second, "max_new_tokens": counts[1:]}])
    a = _ok(out[0], what)
    require(len(out) == 2, f"{what}: the second call did not run")
    b = _ok(out[1], what)
    _expect_greedy(a["tokens"] + b["tokens"], first + second, counts, what)
    hit_blocks = len(shared) // bs
    want_hits = 2 * hit_blocks * bs
    hits = _stat(b, "prefix_hit_tokens", what) - _stat(a, "prefix_hit_tokens", what)
    require(hits == want_hits, f"{what}: the second call took {hits} tokens from the prefix cache; each of its 2 "
            f"prompts should find the {hit_blocks} full blocks of the shared prefix: {want_hits}")
    want = sum(len(p) for p in second) + sum(m - 1 for m in counts[1:]) - want_hits
    require(b["positions"] == want, f"{what}: the second call ran {b['positions']} positions; expected {want} "
            f"(prompts {sum(len(p) for p in second)} - prefix hits {want_hits} + fed-back outputs)")


@checks.check(group="task4", points=2, category="systems")
def prefix_hits_only_on_equal_prefixes(sub, rng):
    """Equal blocks after different prefixes are not shared; a fully cached prompt still runs a token; under
    preemption with prefix caching: the greedy tokens."""
    bs = 8
    c = _prompts(rng, [2 * bs])[0]
    b0, b1 = _prompts(rng, [bs, bs])
    b1[0] = (b0[0] + 1) % V
    whole = _prompts(rng, [3 * bs])[0]
    prompts = [b0 + c, b1 + c, whole, whole, b0 + c[:bs], c[:bs] + b1]
    counts = _lengths(rng, 6, 2, 8)
    sizes = dict(num_blocks=64, block_size=bs, max_num_seqs=1, max_num_batched_tokens=64, enable_prefix_caching=True)
    what = (f"LLMEngine(**{sizes}).generate(prompts: A+C, B+C (C equal blocks after different first blocks), "
            "P, P again (every block cached), A+C[:8], C[:8]+B (its first block = an earlier second block))")
    ans = _ok(_run(sub, sizes, [{"op": "generate", "prompts": prompts, "max_new_tokens": counts}])[0], what)
    _expect_greedy(ans["tokens"], prompts, counts, what)
    tight_prompts, tight_counts, tight = _tight(rng, 5, 8)
    shared = tight_prompts[0][:16]
    tight_prompts = [shared + p for p in tight_prompts]
    tight_counts = [min(m, 8) for m in tight_counts]
    need = max(_blocks(len(p) + m, 8) for p, m in zip(tight_prompts, tight_counts))
    tight.update(num_blocks=need + 2, enable_prefix_caching=True)
    what = f"LLMEngine(**{tight}).generate(5 prompts sharing 16 tokens, preempting)"
    ans = _ok(_run(sub, tight, [{"op": "generate", "prompts": tight_prompts, "max_new_tokens": tight_counts}])[0], what)
    _expect_greedy(ans["tokens"], tight_prompts, tight_counts, what)
    rec, hits = _stat(ans, "recomputed_tokens", what), _stat(ans, "prefix_hit_tokens", what)
    base = sum(len(p) for p in tight_prompts) + sum(m - 1 for m in tight_counts)
    require(ans["positions"] == base + rec - hits,
            f"{what}: ran {ans['positions']} positions; expected prompts + fed-back outputs ({base}) + "
            f"recomputed_tokens ({rec}) - prefix_hit_tokens ({hits}) = {base + rec - hits}")


# ----------------------------------------------------------------------------- task 5 · sampling, stops


@checks.check(group="task5", points=2, category="practice")
def seeded_sampling(sub, rng):
    """temperature 0.5: 1024 seeded requests' first tokens follow softmax(logits / T) (binned: top 1, 2, 3, the
    rest); a seed gives the same tokens whatever shares the batch, another seed others."""
    T, n = 0.5, 1024
    model = answers.course_model()
    for _ in range(64):  # a prompt whose next token is uncertain at T and clearly sharper than at T = 1
        prompt = _prompts(rng, [5])[0]
        with torch.no_grad():
            logits = model(torch.tensor([prompt]))[0, -1].double()
        order = torch.argsort(logits, descending=True)
        bins = lambda p: torch.cat([p[order[:3]], p[order[3:]].sum()[None]])  # noqa: E731
        probs, flat = bins(torch.softmax(logits / T, -1)), bins(torch.softmax(logits, -1))
        if probs[0] < 0.8 and 0.5 * float((probs - flat).abs().sum()) > 0.25:
            break
    seed0 = inputs.randint(rng, 0, 10**6)
    reqs = [(prompt, 1, {"temperature": T, "seed": seed0 + i}) for i in range(n)]
    sizes = dict(num_blocks=700, block_size=8, max_num_seqs=256, max_num_batched_tokens=1280)
    what = f"add_request(5-token prompt, 1, temperature={T}, seed=s) for {n} seeds"
    ans = _ok(_run(sub, sizes, [{"op": "requests", "requests": reqs}], max_calls=2000)[0], what)
    rank = {int(t): i for i, t in enumerate(order[:3])}
    binned = [rank.get(t[0], 3) if t else 3 for t in ans["tokens"]]
    distribution(torch.tensor(binned, dtype=torch.long), probs, n, what + " (tokens binned: top 1, top 2, top 3, rest)",
                 "softmax(logits / 0.5)")
    sizes = dict(num_blocks=128, block_size=8, max_num_seqs=4, max_num_batched_tokens=64)
    m, T2 = 16, 1.5
    alone = [(prompt, m, {"temperature": T2, "seed": seed0})]
    crowd = [(p, m, {"temperature": T2, "seed": seed0 + 7 + i}) for i, p in enumerate(_prompts(rng, [9, 3, 20]))]
    crowd.insert(1, (prompt, m, {"temperature": T2, "seed": seed0}))
    other = [(prompt, m, {"temperature": T2, "seed": seed0 + 1})]
    out = _run(sub, sizes, [{"op": "requests", "requests": alone},
                                                   {"op": "requests", "requests": crowd},
                                                   {"op": "requests", "requests": other}], max_calls=400)
    a, b, c = (_ok(o, w) for o, w in zip(out, ("a seeded request alone", "the same request among others",
                                                "the same prompt with another seed")))
    require(len(out) == 3, "the seeded runs did not all run")
    require(a["tokens"][0] == b["tokens"][1],
            f"a request with temperature {T2} and seed {seed0} gave {a['tokens'][0]} alone and {b['tokens'][1]} "
            "sharing its batches with 3 others: draw from the request's own generator")
    require(c["tokens"][0] != a["tokens"][0], f"seeds {seed0} and {seed0 + 1} gave the same {m} tokens "
            f"{a['tokens'][0]} at temperature {T2}: the draws do not depend on the seed")


@checks.check(group="task5", points=1, category="practice", visible=True)
def stop_tokens_and_lengths(sub, rng):
    """A stop token ends its request right after it is produced; other requests keep their own max_new_tokens."""
    prompts = _prompts(rng, [7, 12, 4])
    greedy = _greedy(prompts, [12, 12, 12])
    j = inputs.randint(rng, 2, 6)
    stop = greedy[0][j]
    cut = greedy[0].index(stop) + 1
    reqs = [(prompts[0], 12, {"stop_token_ids": [stop]}), (prompts[1], 5, {}), (prompts[2], 12, {"stop_token_ids": [V - 1]
            if V - 1 not in greedy[2] else []})]
    sizes = dict(num_blocks=32, block_size=8, max_num_seqs=3, max_num_batched_tokens=32)
    what = f"add_request(prompt, 12, stop_token_ids=[{stop}]) beside requests of max_new_tokens 5 and 12"
    ans = _ok(_run(sub, sizes, [{"op": "requests", "requests": reqs}])[0], what)
    want = [greedy[0][:cut], greedy[1][:5], greedy[2]]
    require(ans["tokens"] == want, f"{what}: got {ans['tokens']}, expected {want}")
    require(ans["finished_flags"] == [1, 1, 1], f"{what}: step() must report each request finished exactly once "
            f"(on its last token); counted {ans['finished_flags']}")
    require(_stat(ans, "blocks_used", what) == 0, f"{what}: blocks still held after every request finished")


# ----------------------------------------------------------------------------- task 6 · served


SERVE_SIZES = dict(num_blocks=40, block_size=8, max_num_seqs=4, max_num_batched_tokens=48)


def _serve(sub, scenario, prompts, counts, timeout=20.0):
    out = sub.probe(exercise_server, SERVE_SIZES, scenario, prompts, counts, timeout)
    if "error" in out and scenario != "disconnect":
        raise CheckFailure(f"serving the engine: {out['error']}")
    return out


def _served_tokens(res, prompt, m, what):
    require(res.get("status") == 200, f"{what}: HTTP {res.get('status')}: {res.get('body') or res.get('error')}")
    want = _greedy([prompt], [m])[0]
    got = res.get("tokens")
    require(got == want, f"{what}: the client received tokens {got}, greedy generation gives {want}"
            + (f" ({len(got)} of {len(want)}: a token was dropped)" if isinstance(got, list) and len(got) < len(want)
               else ""))


@checks.check(group="task6", points=2, category="practice", visible=True)
def server_streams_the_generated_tokens(sub, rng):
    """Served over HTTP: streamed tokens (one SSE event each) and the non-streamed answer equal greedy generation."""
    prompts, counts = _prompts(rng, [3, 17, 30]), _lengths(rng, 3, 4, 12)
    out = _serve(sub, "stream", prompts, counts)
    for i, (p, m) in enumerate(zip(prompts, counts)):
        _served_tokens(out["stream"][i], p, m, f"POST /v1/completions stream=true, prompt {i} ({len(p)} tokens), "
                       f"max_tokens={m}")
        require(out["stream"][i].get("events") == m, f"stream {i}: {out['stream'][i].get('events')} events for {m} "
                "tokens; one event per token as it is made")
        _served_tokens(out["plain"][i], p, m, f"POST /v1/completions, prompt {i}, max_tokens={m}")
        require(out["stream"][i]["finish_reason"] == "length", f"stream {i}: finish_reason "
                f"{out['stream'][i]['finish_reason']!r}, expected 'length'")


@checks.check(group="task6", points=2, category="practice")
def server_batches_concurrent_clients(sub, rng):
    """Six clients streaming at once, 5 ms apart: all answered with their greedy tokens; later requests join
    running batches (the loop's steps carry several requests)."""
    prompts, counts = _prompts(rng, _lengths(rng, 6, 2, 24)), _lengths(rng, 6, 10, 16)
    out = _serve(sub, "concurrent", prompts, counts)
    for i, (p, m) in enumerate(zip(prompts, counts)):
        _served_tokens(out["results"][i] or {}, p, m, f"concurrent client {i} ({len(p)} tokens, max_tokens {m})")
    spans = out["loop"]["spans"]
    joined = any(a[0] < b[0] <= a[1] for a in spans for b in spans)
    mb = out["loop"]["counters"]["max_batch"]
    require(joined and mb >= 2, f"6 concurrent clients: the largest step produced tokens for {mb} request(s); "
            "requests that arrive while others run must join the running batch")


@checks.check(group="task6", points=2, category="practice")
def server_disconnect_frees_blocks(sub, rng):
    """A client that leaves mid-stream is aborted at once: the engine stops working on it, and a request needing
    the whole pool is served next."""
    n = SERVE_SIZES["num_blocks"] * SERVE_SIZES["block_size"]
    p0, big = _prompts(rng, [inputs.randint(rng, 5, 20), n - 6])
    out = _serve(sub, "disconnect", [p0, big], [200, 4])
    require(out.get("tokens_read", 0) >= 3, f"the streaming client read {out.get('tokens_read')} tokens before "
            f"leaving: {out.get('error') or out.get('status')}")
    left = out["steps_after_leaving"]
    require(out["went_idle"] and left <= 100, f"after the client left (3 of 200 tokens read), the engine ran "
            f"{left} more steps and {'went' if out['went_idle'] else 'did not go'} idle: abort(request_id) must drop "
            "the request at once")
    after = out["after"]
    require(after.get("status") == 200 and after.get("tokens") and len(after["tokens"]) == 4,
            f"then a prompt of {n - 6} tokens + 4 (every block of the pool): {after}; the aborted request's blocks "
            "must be free")


@checks.check(group="task6", points=1, category="practice")
def server_refuses_bad_requests(sub, rng):
    """Requests the engine must refuse (token id outside the vocabulary, one that can never fit the pool) get a
    400 JSON error; malformed bodies too; the server keeps serving."""
    n = SERVE_SIZES["num_blocks"] * SERVE_SIZES["block_size"]
    good = _prompts(rng, [6])[0]
    bodies = [{"model": "inferlab-target", "prompt": good[:3] + [V + 3], "max_tokens": 4, "temperature": 0},
              {"model": "inferlab-target", "prompt": _prompts(rng, [n - 8])[0], "max_tokens": 40, "temperature": 0},
              {"model": "inferlab-target", "max_tokens": 4},
              {"model": "inferlab-target", "prompt": good, "max_tokens": -1}]
    out = _serve(sub, "refuse", bodies + [good], [0, 0, 0, 0, 5], timeout=8.0)
    labels = [f"token id {V + 3} (vocabulary {V})", f"{n - 8} tokens + 40 (the pool holds {n})", "no prompt",
              "max_tokens=-1"]
    for label, ans in zip(labels, out["refused"]):
        st, js = ans.get("status"), ans.get("json")
        require(st == 400 and isinstance(js, dict) and isinstance(js.get("error"), dict)
                and js["error"].get("message"), f"a request with {label}: HTTP {st} {js or ans.get('error')}; "
                "expected 400 with a JSON error (the engine's add_request raises ValueError, changing nothing)")
    _served_tokens(out["after"], good, 5, "a good request after the bad ones")


# ----------------------------------------------------------------------------- task 7 · incidents


def _incidents(rng, n):
    return incidents.incident_set(inputs.randint(rng, 0, 10**6), n)


def _diagnose(sub, inc, what):
    got = sub.diagnose(inc.report())
    require(isinstance(got, dict) and "cause" in got and "change" in got,
            f"{what}: diagnose(report) must return {{'cause': ..., 'change': {{knob: value}}}}, got {got!r}")
    return got


@checks.check(group="task7", points=1, category="practice", visible=True)
def incident_practice(sub, rng):
    """One incident drawn with a fresh seed: the cause named, the change replayed meets the SLOs."""
    inc = _incidents(rng, 1)[0]
    _grade_incident(sub, inc, "incident")


def _grade_incident(sub, inc, what, fix=True):
    got = _diagnose(sub, inc, what)
    require(got["cause"] == inc.cause, f"{what}: diagnose named {got['cause']!r}; the root cause was a different one "
            f"(causes: {', '.join(incidents.CAUSES)}). SLOs {inc.slo}")
    if fix:
        try:
            res = inc.replay(got["change"])
        except ValueError as e:
            raise CheckFailure(f"{what} ({inc.cause}): the change {got['change']!r} is not one valid knob: {e}") from None
        require(res["meets_slo"], f"{what} ({inc.cause}): replayed with {got['change']}: {'; '.join(res['violations'])}")


@checks.check(group="task7", points=3, category="practice")
def incidents_root_cause(sub, rng):
    """Three incidents of different kinds (drawn with a fresh seed): each root cause named from its evidence."""
    for i, inc in enumerate(_incidents(rng, 3)):
        _grade_incident(sub, inc, f"incident {i + 1} of 3", fix=False)


@checks.check(group="task7", points=3, category="practice")
def incidents_fix_meets_slo(sub, rng):
    """Three incidents (fresh seed): the one change returned, replayed on the simulated clock, meets every SLO."""
    for i, inc in enumerate(_incidents(rng, 3)):
        got = _diagnose(sub, inc, f"incident {i + 1} of 3")
        try:
            res = inc.replay(got["change"])
        except ValueError as e:
            raise CheckFailure(f"incident {i + 1} of 3: the change {got['change']!r} is not one valid knob: {e}") from None
        require(res["meets_slo"], f"incident {i + 1} of 3: replayed with {got['change']}: "
                f"{'; '.join(res['violations'])} (SLOs {inc.slo})")
