"""lab07 · Continuous batching and speculative decoding: every check, visible and hidden (syllabus §7).

The sampler is tested as a distribution: thousands of seeded calls (the loop runs beside the
submission, `inferlab.grading.probes.speculation`) against the exact law of the acceptance rule,
by a G-test whose p-value must stay above 1e-9 (a right sampler fails with probability < 1e-9;
the draws use fixed seeds, so a verdict never changes between runs). Speculative generation is
counted, not timed: passes and positions of both models against the exact figures for the
accepted lengths seen. The Scheduler's plans are replayed against the SPEC's rules by the course
engine's checker (`inferlab.engine.invariants`) on hundreds of random workloads, plus hand-built
cases whose plans every right scheduler shares.
"""
from __future__ import annotations

import math

import torch

from inferlab import models
from inferlab.engine.config import EngineConfig
from inferlab.engine.invariants import find_violation
from inferlab.grading import CheckFailure, Checks, answers, inputs, raises, require
from inferlab.grading.asserts import number
from inferlab.grading.probes import scheduling, speculation

checks = Checks("lab07")

P_FAIL = 1e-9  # a right answer fails a statistical check with at most this probability
DRAW_SEED = 7_000_001  # the statistical checks' draws: fixed, so a verdict is the same on every run
COST_RATIO = 0.25  # task 5: a draft pass costs this many target passes
ACCEPT_DRAWS, ACCEPT_DRAWS_K1, GENERATE_DRAWS = 4_000, 2_000, 400  # calls per statistical check


# ----------------------------------------------------------------------------- statistics


def chi2_sf(x: float, df: int) -> float:
    """P(chi-square with df degrees of freedom > x): the regularised upper incomplete gamma Q(df/2, x/2)."""
    a, z = df / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    if z < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        n = a
        while term > total * 1e-17:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(-z + a * math.log(z) - math.lgamma(a)))
    b, c, d = z + 1 - a, 1e300, 1 / (z + 1 - a)  # continued fraction for Q (Lentz)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = b + an / c
        c = c if abs(c) > 1e-300 else 1e-300
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return math.exp(-z + a * math.log(z) - math.lgamma(a)) * h


def g_test(counts: dict, probs: dict, n: int, what: str, law: str, label=str) -> float:
    """Observed `counts` of n draws against exact `probs` (cells); fail on a draw of probability 0 or
    a G-test p-value below P_FAIL. Cells of probability below 50/n are pooled. Returns the p-value."""
    for cell, c in counts.items():
        if probs.get(cell, 0.0) <= 0.0:
            raise CheckFailure(f"{what}: the outcome {label(cell)} came up {c} times in {n} draws, but it has "
                               f"probability 0 under {law}")
    pooled_o = pooled_e = 0.0
    g, cells, worst = 0.0, 0, (0.0, None, 0, 0.0)
    for cell, p in probs.items():
        o, e = counts.get(cell, 0), n * p
        if e < 50:
            pooled_o, pooled_e = pooled_o + o, pooled_e + e
            continue
        cells += 1
        g += 2 * o * math.log(o / e) if o else 0.0
        g -= 2 * (o - e)  # zero in total: keeps each term >= 0 for the report
        z = (o - e) / math.sqrt(e)
        if abs(z) > abs(worst[0]):
            worst = (z, cell, o, e)
    if pooled_e > 0:
        cells += 1
        g += (2 * pooled_o * math.log(pooled_o / pooled_e) if pooled_o else 0.0) - 2 * (pooled_o - pooled_e)
    pvalue = chi2_sf(g, max(cells - 1, 1))
    if pvalue < P_FAIL:
        z, cell, o, e = worst
        raise CheckFailure(f"{what}: the {n} draws do not follow {law}: G = {g:.1f} on {cells - 1} degrees of "
                           f"freedom, p = {pvalue:.2g} < {P_FAIL:g}; the largest gap: {label(cell)} came up {o} "
                           f"times, expected {e:.1f}")
    return pvalue


def _draw_seeds(n: int, salt: int) -> list[int]:
    g = torch.Generator().manual_seed(DRAW_SEED + salt)
    return torch.randint(0, 2**62, (n,), generator=g).tolist()


# ----------------------------------------------------------------------------- task 1 · speculative_accept

# A tiny vocabulary with dyadic probabilities (exact in float32 and float64): V = 3, k = 2.
_P = torch.tensor([[2, 5, 1], [1, 3, 4], [3, 2, 3]], dtype=torch.float64) / 8  # target (k+1, V)
_Q = torch.tensor([[4, 2, 2], [3, 3, 2]], dtype=torch.float64) / 8  # draft (k, V)


def accept_law(p: torch.Tensor, q: torch.Tensor) -> dict:
    """Exact probability of every output of the acceptance rule when draft token i ~ q_i.

    An output of length j + 1 is (accepted drafts a_0..a_{j-1}, last token x):
    prod_i min(p_i, q_i)(a_i) * (max(0, p_j - q_j)(x) if j < k else p_k(x))."""
    k, V = q.shape
    law = {}

    def walk(prefix, weight):
        j = len(prefix)
        last = (p[j] - q[j]).clamp(min=0) if j < k else p[k]
        for x in range(V):
            if last[x] > 0:
                law[tuple(prefix) + (x,)] = weight * float(last[x])
        if j < k:
            both = torch.minimum(p[j], q[j])
            for a in range(V):
                if both[a] > 0:
                    walk(prefix + [a], weight * float(both[a]))

    walk([], 1.0)
    return law


def _accept_outputs(sub, p, q, n, salt, what):
    """n calls with the grader's fixed seeds; checks each output's shape; returns their counts."""
    k, V = q.shape
    run = sub.probe(speculation.accept_draws, p, q, _draw_seeds(n, salt), _draw_seeds(n, salt + 1))
    counts: dict = {}
    for i, (drafts, out) in enumerate(zip(run["drafts"], run["outputs"])):
        if not isinstance(out, list) or not 1 <= len(out) <= k + 1 or not all(0 <= t < V for t in out):
            raise CheckFailure(f"{what}: call {i} (draft tokens {drafts}) returned {out!r}; expected a list of "
                               f"1..{k + 1} token ids in [0, {V})")
        if out[:-1] != drafts[:len(out) - 1]:
            raise CheckFailure(f"{what}: call {i} returned {out} for draft tokens {drafts}: every token before the "
                               "last must be an accepted draft token, in order")
        counts[tuple(out)] = counts.get(tuple(out), 0) + 1
    return counts


def _label_output(cell) -> str:
    return f"the output {list(cell)}"


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def accept_certain_cases(sub, rng):
    """Outcomes that are certain: p = q accepts all and adds p_k's one token; p(x) = 0 rejects x; k = 0."""
    V = 5
    perm = torch.randperm(V, generator=rng).tolist()
    one_hot = lambda t: torch.nn.functional.one_hot(torch.tensor(t), V).to(torch.float64)  # noqa: E731
    q = torch.softmax(torch.randn(3, V, generator=rng, dtype=torch.float64), -1)
    drafts = torch.tensor(perm[:3])
    cases = [
        # target = draft on every row, then a one-hot row: all accepted, then that token
        (torch.cat([q, one_hot(perm[3])[None]]), q, drafts, perm[:3] + [perm[3]], "p_i = q_i, p_k one-hot"),
        # the first draft has target probability 0: rejected; the residual is one-hot
        (torch.stack([one_hot(perm[4]), q[1], q[2], q[0]]), q, drafts, [perm[4]],
         "p_0(x_0) = 0, residual one-hot"),
        # first accepted (p_0 = q_0), second has p = 0: rejected, residual one-hot
        (torch.stack([q[0], one_hot(perm[3]), q[2], q[0]]), q, drafts, [perm[0], perm[3]],
         "x_0 certain, p_1(x_1) = 0"),
        (one_hot(perm[2])[None], torch.zeros(0, V, dtype=torch.float64), torch.zeros(0, dtype=torch.long), [perm[2]],
         "k = 0: one token from p_0"),
    ]
    for p, qq, d, expected, label in cases:
        for seed in (0, 1, 2):
            out = sub.speculative_accept(p, qq, d, generator=torch.Generator().manual_seed(seed))
            require(isinstance(out, (list, tuple)) and [int(t) for t in out] == expected,
                    f"speculative_accept ({label}; draft tokens {d.tolist()}): got {out!r}, expected {expected} "
                    "(a list of ints)")


@checks.check(group="task1", points=4, category="knowledge")
def accept_distribution_is_exact(sub, rng):
    """4,000 seeded calls over V = 3, k = 2 (and 2,000 with k = 1): every output's frequency matches the
    rule's exact law (G-test)."""
    n = ACCEPT_DRAWS
    counts = _accept_outputs(sub, _P, _Q, n, 0, "speculative_accept")
    g_test(counts, accept_law(_P, _Q), n, "speculative_accept(p, q, draft tokens ~ q)",
            "min(1, p/q) acceptance, residual normalize(max(0, p - q)) at the first rejection, a bonus token from "
            "p_k after k acceptances", _label_output)
    # the same law must hold when the target row and draft row are equal somewhere and for k = 1
    p1 = torch.tensor([[1, 1, 2, 4], [2, 2, 2, 2]], dtype=torch.float64) / 8
    q1 = torch.tensor([[4, 1, 1, 2]], dtype=torch.float64) / 8
    m = ACCEPT_DRAWS_K1
    counts = _accept_outputs(sub, p1, q1, m, 2, "speculative_accept (k = 1)")
    g_test(counts, accept_law(p1, q1), m, "speculative_accept(p, q, draft token ~ q), k = 1",
            "the acceptance rule", _label_output)


@checks.check(group="task1", points=1, category="knowledge")
def accept_reproducible_with_generator(sub, rng):
    """The same generator seed gives the same tokens; every draw comes from `generator`."""
    V, k = 6, 3
    p = torch.softmax(torch.randn(k + 1, V, generator=rng, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(k, V, generator=rng, dtype=torch.float64), -1)
    seeds = _draw_seeds(24, inputs.randint(rng, 10, 10_000))
    a = sub.probe(speculation.accept_draws, p, q, seeds, seeds)
    torch.manual_seed(inputs.seed(rng))  # a different global state: a right answer does not read it
    b = sub.probe(speculation.accept_draws, p, q, seeds, seeds)
    for i, (x, y) in enumerate(zip(a["outputs"], b["outputs"])):
        require(x == y, f"speculative_accept: two calls with generator=torch.Generator().manual_seed({seeds[i]}) "
                        f"and the same inputs gave {x} and {y}; draw every random number from `generator`")
    require(len({tuple(o) for o in a["outputs"] if isinstance(o, list)}) > 1,
            "speculative_accept: 24 different seeds gave one output every time; the draws should depend on the seed")


@checks.check(group="task1", points=1, category="knowledge")
def accept_rejects_bad_input(sub, rng):
    """ValueError naming target_probs / draft_probs / draft_tokens for wrong shapes and out-of-range tokens."""
    V, k = 4, 2
    p = torch.softmax(torch.randn(k + 1, V, generator=rng, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(k, V, generator=rng, dtype=torch.float64), -1)
    d = torch.tensor([1, 3])
    out = sub.speculative_accept(p, q, d, generator=torch.Generator().manual_seed(0))
    require(isinstance(out, (list, tuple)) and 1 <= len(out) <= k + 1, f"speculative_accept (a valid call) gave {out!r}")
    bad = ("ValueError", "TypeError")
    raises(bad, sub.speculative_accept, p[:k], q, d, names=("target_probs", "draft_probs", "draft_tokens"),
           what="speculative_accept(target_probs with k rows instead of k + 1)")
    raises(bad, sub.speculative_accept, p, q[:, :3], d, names=("draft_probs", "target_probs"),
           what="speculative_accept(draft_probs with V = 3, target_probs V = 4)")
    raises(bad, sub.speculative_accept, p, q, torch.tensor([1, 2, 3]), names=("draft_tokens", "draft_probs"),
           what="speculative_accept(3 draft_tokens for 2 draft rows)")
    raises(bad, sub.speculative_accept, p, q, torch.tensor([1, V]), names=("draft_tokens",),
           what=f"speculative_accept(draft_tokens [1, {V}] with V = {V})")
    raises(bad, sub.speculative_accept, p * 2, q, d, names=("target_probs",),
           what="speculative_accept(target_probs whose rows sum to 2)")


# ----------------------------------------------------------------------------- task 2 · expected_accepted_tokens


def _expected(alpha: float, k: int) -> float:
    return float(k + 1) if alpha == 1 else math.fsum(alpha ** i for i in range(k + 1))


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def expected_tokens_values(sub, rng):
    """expected_accepted_tokens(alpha, k) = (1 - alpha^(k+1)) / (1 - alpha) on a few values; k + 1 at alpha 1."""
    for alpha, k in ((0.8, 4), (0.5, 1), (0.9, 8), (1.0, 5), (0.0, 3)):
        number(sub.expected_accepted_tokens(alpha, k), _expected(alpha, k),
               f"expected_accepted_tokens({alpha}, {k})", rel=1e-9)


@checks.check(group="task2", points=1, category="knowledge")
def expected_tokens_random_and_edges(sub, rng):
    """Random alpha in [0, 1) and k in 0..32 (k = 0: one token), alpha = 1 and alpha = 1 as an int."""
    for _ in range(20):
        alpha = float(torch.rand((), generator=rng, dtype=torch.float64)) * 0.999
        k = inputs.randint(rng, 0, 32)
        number(sub.expected_accepted_tokens(alpha, k), _expected(alpha, k),
               f"expected_accepted_tokens({alpha:.6f}, {k})", rel=1e-9)
    number(sub.expected_accepted_tokens(1, 7), 8.0, "expected_accepted_tokens(1, 7)", rel=1e-12)
    number(sub.expected_accepted_tokens(0.75, 0), 1.0, "expected_accepted_tokens(0.75, 0)", rel=1e-12)


@checks.check(group="task2", points=1, category="knowledge")
def expected_tokens_rejects_bad_input(sub, rng):
    """ValueError/TypeError naming alpha for alpha outside [0, 1], naming k for k < 0 or a non-int k."""
    number(sub.expected_accepted_tokens(0.5, 2), 1.75, "expected_accepted_tokens(0.5, 2)", rel=1e-9)
    bad = ("ValueError", "TypeError")
    raises(bad, sub.expected_accepted_tokens, 1.5, 3, names=("alpha",), what="expected_accepted_tokens(1.5, 3)")
    raises(bad, sub.expected_accepted_tokens, -0.1, 3, names=("alpha",), what="expected_accepted_tokens(-0.1, 3)")
    raises(bad, sub.expected_accepted_tokens, 0.5, -1, names=("k",), what="expected_accepted_tokens(0.5, -1)")
    raises(bad, sub.expected_accepted_tokens, 0.5, 2.5, names=("k",), what="expected_accepted_tokens(0.5, 2.5)")


# ----------------------------------------------------------------------------- task 3 · speculative_generate


def _pair(sub):
    """The course target and draft in the submission's process."""
    return sub.make(models.load, "target"), sub.make(models.load, "draft")


def _prompt(rng, lo=3, hi=14) -> list[int]:
    return torch.randint(0, 512, (inputs.randint(rng, lo, hi),), generator=rng).tolist()


def _unpack(result, n, what):
    """(tokens, stats) with n int tokens and the stats lists, or a CheckFailure."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise CheckFailure(f"{what}: expected (tokens, stats), got {type(result).__name__}")
    tokens, stats = result
    if not isinstance(tokens, (list, tuple)) or len(tokens) != n or \
            not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise CheckFailure(f"{what}: expected a list of exactly {n} ints (the new tokens), got {tokens!r:.200}")
    if not isinstance(stats, dict) or not {"target_calls", "draft_calls", "accepted", "proposed"} <= set(stats):
        raise CheckFailure(f"{what}: stats must be a dict with target_calls, draft_calls, accepted and proposed; "
                           f"got {stats!r:.200}")
    return list(tokens), stats


def _greedy_acceptance(prompt, greedy) -> list[bool]:
    """At temperature 0, h[t]: the draft's argmax after prompt + greedy[:t] is greedy[t] (one draft pass)."""
    draft = answers.course_model("draft")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            logits = draft(torch.tensor([prompt + greedy]))[0, len(prompt) - 1:-1]  # (n, V)
    finally:
        torch.set_num_threads(threads)
    return (logits.argmax(-1) == torch.tensor(greedy)).tolist()


def fixed_k_rounds(h, n, k) -> list[tuple[int, int]]:
    """(proposed, accepted) per round of fixed-k speculative decoding at temperature 0."""
    rounds, t = [], 0
    while t < n:
        kr = min(k, n - t - 1)
        a = 0
        while a < kr and h[t + a]:
            a += 1
        rounds.append((kr, a))
        t += a + 1
    return rounds


def expected_positions(P, rounds) -> tuple[int, int]:
    """Positions each model must run for these (proposed, accepted) rounds, nothing recomputed:
    the target runs its unseen committed tokens plus the proposals; the draft runs its unseen
    committed tokens then one pass per further proposal (the last proposal never runs)."""
    committed, t_cached, d_cached, t_pos, d_pos = P, 0, 0, 0, 0
    for kr, a in rounds:
        t_pos += committed - t_cached + kr
        if kr:
            d_pos += committed - d_cached + kr - 1
            d_cached = committed + min(a, kr - 1)
        t_cached = committed + a
        committed += a + 1
    return t_pos, d_pos


def _check_rounds(run, n, what, k=None, expect_rounds=None):
    """One call's counted passes against its stats: one target pass per round, rounds that make n tokens,
    min(k, owed - 1) proposals with a fixed k, and at temperature 0 the rounds the argmaxes dictate."""
    require(not run["tampered"], f"{what}: the models' code was modified during the call; nothing can be counted")
    tokens, stats = _unpack(run["result"], n, what)
    acc, prop = list(stats["accepted"]), list(stats["proposed"])
    passes = run["passes"]
    R = len(passes["target"])
    require(stats["target_calls"] == R, f"{what}: stats['target_calls'] = {stats['target_calls']}, but the target "
                                        f"ran {R} forward passes")
    require(stats["draft_calls"] == len(passes["draft"]),
            f"{what}: stats['draft_calls'] = {stats['draft_calls']}, but the draft ran {len(passes['draft'])} passes")
    require(len(acc) == len(prop) == R, f"{what}: {R} target passes, but stats list {len(acc)} accepted and "
                                        f"{len(prop)} proposed counts (one per round: one target pass per round)")
    require(all(0 <= a <= kr for a, kr in zip(acc, prop)) and sum(acc) + R == n,
            f"{what}: rounds (proposed, accepted) = {list(zip(prop, acc))} do not make {n} tokens "
            "(each round commits its accepted proposals plus one token)")
    if k is not None:
        owed, want = n, []
        for a in acc:
            want.append(min(k, owed - 1))
            owed -= a + 1
        require(prop == want, f"{what}: proposed per round {prop}; with k={k} a round proposes min(k, tokens owed - 1) "
                              f"= {want}")
    if expect_rounds is not None:
        require(list(zip(prop, acc)) == expect_rounds,
                f"{what}: (proposed, accepted) per round {list(zip(prop, acc))}; at temperature 0 the draft's and "
                f"target's argmaxes give {expect_rounds}")
    return tokens, stats


def _check_positions(run, P, n, what):
    """Both models ran exactly the positions the reported rounds require (wrapper and own counter)."""
    require(not run["tampered"], f"{what}: the models' code was modified during the call; nothing can be counted")
    tokens, stats = _unpack(run["result"], n, what)
    rounds = list(zip(stats["proposed"], stats["accepted"]))
    require(len(rounds) == len(run["passes"]["target"]) and sum(a + 1 for _, a in rounds) == n,
            f"{what}: stats report rounds (proposed, accepted) = {rounds} for {len(run['passes']['target'])} target "
            f"passes and {n} tokens; they cannot be counted")
    t_pos, d_pos = expected_positions(P, rounds)
    for model, want in (("target", t_pos), ("draft", d_pos)):
        got, own = sum(run["passes"][model]), run["own_tokens"][model]
        require(got == want and own == want,
                f"{what}: the {model} ran {got} positions (its tokens_processed moved by {own}); for the rounds "
                f"(proposed, accepted) = {rounds} after a {P}-token prompt it must run exactly {want}: every "
                "position once, rejected proposals rolled back, the last proposal never run by the draft")
    return tokens, stats


@checks.check(group="task3", points=1, category="practice", visible=True)
def generate_greedy_small(sub, rng):
    """At temperature 0, k = 4: 16 tokens equal the target's greedy generation; stats are present."""
    target, draft = _pair(sub)
    prompt = models.encode("The KV cache")
    what = "speculative_generate(target, draft, encode('The KV cache'), 16, k=4)"
    tokens, _ = _unpack(sub.speculative_generate(target, draft, prompt, 16, k=4), 16, what)
    greedy = answers.greedy_tokens(prompt, 16)
    require(tokens == greedy, f"{what}: tokens {tokens}, the target's greedy generation is {greedy}")


@checks.check(group="task3", points=3, category="practice")
def generate_greedy_any_k(sub, rng):
    """At temperature 0, random prompts and every k in 1..8: tokens equal the target's greedy generation."""
    target, draft = _pair(sub)
    for k in range(1, 9):
        prompt = _prompt(rng)
        n = inputs.randint(rng, 1, 20)
        what = f"speculative_generate(prompt of {len(prompt)} tokens, {n}, k={k}, temperature=0)"
        tokens, _ = _unpack(sub.speculative_generate(target, draft, prompt, n, k=k, temperature=0.0), n, what)
        greedy = answers.greedy_tokens(prompt, n)
        if tokens != greedy:
            i = next(i for i, (a, b) in enumerate(zip(tokens, greedy)) if a != b)
            raise CheckFailure(f"{what}: token {i} is {tokens[i]}, the target's greedy generation has {greedy[i]} "
                               f"(got {tokens}, expected {greedy}); roll both caches back to the accepted length")
    _unpack(sub.speculative_generate(target, draft, [5], 0, k=3), 0, "speculative_generate([5], 0, k=3)")


_GEN_PROMPT = "Question:"  # the next token is uncertain (top probability 0.46) and alpha = 0.7: both paths run
_GEN_T = 0.9


def pair_law(prompt, temperature, top=24) -> dict:
    """Exact law of the target's first two sampled tokens (y0, y1) at `temperature`, float64."""
    target = answers.course_model("target")
    with torch.no_grad():
        p0 = torch.softmax(target(torch.tensor([prompt]))[0, -1].double() / temperature, -1)  # (V,)
        firsts = p0.argsort(descending=True)[:top]
        batch = torch.tensor([prompt + [int(y)] for y in firsts])  # (top, P + 1)
        p1 = torch.softmax(target(batch)[:, -1].double() / temperature, -1)  # (top, V)
    law, rest = {}, 1.0
    for y0, row in zip(firsts.tolist(), p1):
        for y1, pr in enumerate((p0[y0] * row).tolist()):
            law[(y0, y1)] = pr
        rest -= float(p0[y0])
    law[("other",)] = max(rest, 0.0)
    return law


@checks.check(group="task3", points=3, category="practice")
def generate_sampled_distribution(sub, rng):
    """At temperature 0.9, k = 1: two tokens (an accepted draft plus the bonus, or a correction then a target
    step) follow the target's own sampling law (G-test)."""
    target, draft = _pair(sub)
    prompt = models.encode(_GEN_PROMPT)
    n = GENERATE_DRAWS
    outs = sub.probe(speculation.generate_draws, target, draft, prompt, 2, 1, _GEN_T, _draw_seeds(n, 11))
    law = pair_law(prompt, _GEN_T)
    counts: dict = {}
    for i, out in enumerate(outs):
        if not isinstance(out, list) or len(out) != 2:
            raise CheckFailure(f"speculative_generate(..., 2, k=1, temperature={_GEN_T}, seed=...): call {i} "
                               f"returned {out!r:.200}; expected 2 tokens")
        cell = (out[0], out[1]) if (out[0], out[1]) in law else ("other",)
        counts[cell] = counts.get(cell, 0) + 1
    g_test(counts, law, n, f"speculative_generate(encode({_GEN_PROMPT!r}), 2, k=1, temperature={_GEN_T})", "the target's sampling softmax(logits / T), token by token",
            lambda c: "a first token outside the 24 likeliest" if c == ("other",) else f"the pair {list(c)}")


@checks.check(group="task3", points=1, category="practice")
def generate_rejects_bad_input(sub, rng):
    """ValueError/TypeError naming the argument: k < 1, max_new_tokens < 0, temperature < 0, empty or
    out-of-vocabulary prompt, too long for max_seq_len."""
    target, draft = _pair(sub)
    _unpack(sub.speculative_generate(target, draft, [1, 2, 3], 2, k=2), 2, "speculative_generate (a valid call)")
    bad = ("ValueError", "TypeError")
    gen = sub.speculative_generate
    raises(bad, gen, target, draft, [1, 2, 3], 4, k=0, names=("k",), what="speculative_generate(..., k=0)")
    raises(bad, gen, target, draft, [1, 2, 3], -1, names=("max_new_tokens",),
           what="speculative_generate(..., max_new_tokens=-1)")
    raises(bad, gen, target, draft, [1, 2, 3], 4, temperature=-0.5, names=("temperature",),
           what="speculative_generate(..., temperature=-0.5)")
    raises(bad, gen, target, draft, [], 4, names=("prompt_ids",), what="speculative_generate(prompt_ids=[])")
    raises(bad, gen, target, draft, [1, 512], 4, names=("prompt_ids",),
           what="speculative_generate(prompt_ids=[1, 512]) with a vocabulary of 512")
    raises(bad, gen, target, draft, [1] * 500, 20, names=("max_new_tokens", "prompt_ids", "max_seq_len"),
           what="speculative_generate(500 prompt tokens, 20 new) with max_seq_len 512")


@checks.check(group="task3_perf", points=2, category="systems", kind="performance")
def generate_one_target_pass_per_round(sub, rng):
    """Counted: one target pass per round, stats honest, rounds of min(k, owed - 1) proposals, and at
    temperature 0 the accepted lengths the models' argmaxes dictate."""
    target, draft = _pair(sub)
    for k in (inputs.randint(rng, 1, 3), inputs.randint(rng, 4, 8)):
        prompt = _prompt(rng)
        n = inputs.randint(rng, 12, 24)
        greedy = answers.greedy_tokens(prompt, n)
        rounds = fixed_k_rounds(_greedy_acceptance(prompt, greedy), n, k)
        what = f"speculative_generate(prompt of {len(prompt)} tokens, {n}, k={k})"
        run = sub.probe(speculation.counted_pair, "speculative_generate", target, draft, prompt, n, k=k)
        _check_rounds(run, n, what, k=k, expect_rounds=rounds)


@checks.check(group="task3_perf", points=3, category="systems", kind="performance")
def generate_positions_nothing_recomputed(sub, rng):
    """Counted: both models run exactly the positions the accepted lengths require (no prefix recomputed,
    rejected proposals rolled back), at temperature 0 and 0.9."""
    target, draft = _pair(sub)
    for temperature in (0.0, 0.0, 0.9):
        prompt = _prompt(rng)
        k = inputs.randint(rng, 1, 8)
        n = inputs.randint(rng, 10, 24)
        what = f"speculative_generate(prompt of {len(prompt)} tokens, {n}, k={k}, temperature={temperature})"
        run = sub.probe(speculation.counted_pair, "speculative_generate", target, draft, prompt, n, k=k,
                        temperature=temperature, seed=inputs.seed(rng))
        _check_positions(run, len(prompt), n, what)


# ----------------------------------------------------------------------------- task 4 · Scheduler


def _config(sizes) -> EngineConfig:
    seqs, budget, blocks, bs = sizes
    return EngineConfig(num_blocks=blocks, block_size=bs, max_num_seqs=seqs, max_num_batched_tokens=budget)


def _run(sub, workloads):
    return sub.probe(scheduling.run_workloads, workloads)


def _workloads(rng, count) -> list:
    """Random workloads: tight and loose budgets (some below max_num_seqs), tiny and large blocks, bursts."""
    out = []
    for i in range(count):
        seqs = inputs.randint(rng, 1, 6)
        budget = inputs.randint(rng, 1, 40) if i % 3 else inputs.randint(rng, 1, 6)
        bs = inputs.randint(rng, 1, 8)
        reqs = []
        for r in range(inputs.randint(rng, 1, 10)):
            reqs.append((r, inputs.randint(rng, 1, 30), inputs.randint(rng, 1, 20), inputs.randint(rng, 0, 15)))
        need = max(-(-(p + m) // bs) for _, p, m, _ in reqs)
        blocks = need + (inputs.randint(rng, 0, need) if i % 2 else inputs.randint(rng, 0, 2))
        out.append(((seqs, budget, blocks, bs), sorted(reqs, key=lambda r: (r[3], r[0]))))
    return out


def _describe(sizes, reqs) -> str:
    s, b, n, bs = sizes
    return (f"Scheduler(max_num_seqs={s}, max_num_batched_tokens={b}, num_blocks={n}, block_size={bs}) with "
            f"requests (id, prompt_len, max_new_tokens, added before step) {reqs}")


def _check_workloads(sub, workloads, strict):
    results = _run(sub, workloads)
    for (sizes, reqs), res in zip(workloads, results):
        if "error" in res:
            raise CheckFailure(f"{_describe(sizes, reqs)}: {res['error']}")
        problem = find_violation(_config(sizes), reqs, res["plans"], res["finished"], strict=strict)
        if problem:
            raise CheckFailure(f"{_describe(sizes, reqs)}: {problem}")


def _plans(sub, sizes, reqs):
    res = _run(sub, [(sizes, reqs)])[0]
    if "error" in res:
        raise CheckFailure(f"{_describe(sizes, reqs)}: {res['error']}")
    return res["plans"], res["finished"]


def _same_plans(got, want, finished, want_finished, sizes, reqs, why):
    for s, (g, w) in enumerate(zip(got, want)):
        gg = (g["prefill"], g["decode"], sorted(g["preempted"], key=str))
        if gg != w:
            raise CheckFailure(f"{_describe(sizes, reqs)}: step {s} planned prefill={g['prefill']}, "
                               f"decode={g['decode']}, preempted={g['preempted']}; expected prefill={w[0]}, "
                               f"decode={w[1]}, preempted={w[2]} ({why})")
    require(len(got) == len(want), f"{_describe(sizes, reqs)}: {len(got)} steps, expected {len(want)} ({why})")
    require(finished == want_finished, f"{_describe(sizes, reqs)}: finished() = {finished}, expected {want_finished}")


@checks.check(group="task4", points=2, category="systems", visible=True)
def scheduler_hand_cases(sub, rng):
    """Chunked prefill across steps, one request slot, decode after the last prompt chunk, opaque req_ids."""
    cases = [
        ((4, 8, 16, 4), [(0, 20, 2, 0)],
         [({0: 8}, [], []), ({0: 8}, [], []), ({0: 4}, [], []), ({}, [0], [])], [0],
         "a 20-token prompt in chunks of the 8-token budget; its last chunk produces the first output"),
        ((1, 16, 8, 4), [("a", 3, 2, 0), ("b", 2, 1, 0)],
         [({"a": 3}, [], []), ({}, ["a"], []), ({"b": 2}, [], [])], ["a", "b"],
         "max_num_seqs=1: 'b' waits for 'a' to finish"),
        ((3, 5, 16, 4), [(0, 3, 3, 0), (1, 4, 2, 0)],
         [({0: 3, 1: 2}, [], []), ({1: 2}, [0], []), ({}, [0, 1], [])], [0, 1],
         "3 + 2 tokens fill the budget of 5; request 1's prompt finishes in the next step"),
    ]
    for sizes, reqs, want, want_finished, why in cases:
        plans, finished = _plans(sub, sizes, reqs)
        _same_plans(plans, want, finished, want_finished, sizes, reqs, why)


@checks.check(group="task4", points=1, category="systems")
def scheduler_refuses_what_never_fits(sub, rng):
    """add refuses ceil((prompt_len + max_new_tokens) / block_size) > num_blocks with ValueError; the
    boundary (== num_blocks) is accepted and runs alone; the refusal changes nothing."""
    bs = inputs.randint(rng, 2, 8)
    blocks = inputs.randint(rng, 2, 6)
    total = blocks * bs
    p = inputs.randint(rng, 1, total - 1)
    s = sub.Scheduler(2, 4 * total, blocks, bs)
    raises("ValueError", s.add, "big", p, total - p + 1,
           what=f"add('big', {p}, {total - p + 1}) with {blocks} blocks of {bs} ({total + 1} slots needed)")
    s.add("fits", p, total - p)
    res = sub.probe(scheduling.run_on, s, [])
    if "error" in res:
        raise CheckFailure(f"after refusing 'big', running 'fits' ({p} + {total - p} tokens, exactly {blocks} "
                           f"blocks): {res['error']}")
    sizes = (2, 4 * total, blocks, bs)
    problem = find_violation(_config(sizes), [("fits", p, total - p, 0)], res["plans"], res["finished"])
    require(problem is None and res["finished"] == ["fits"],
            f"{_describe(sizes, [('fits', p, total - p, 0)])} after a refused add('big', ...): "
            f"{problem or 'finished() = ' + str(res['finished'])}")


@checks.check(group="task4", points=4, category="systems")
def scheduler_rules_on_random_workloads(sub, rng):
    """250 random workloads replayed against the SPEC's rules: budgets, blocks, FCFS, preemption by
    recomputation (outputs kept), every request finishes, finishing order."""
    _check_workloads(sub, _workloads(rng, 250), strict=False)


@checks.check(group="task4", points=2, category="systems")
def scheduler_uses_what_is_free(sub, rng):
    """150 random workloads: running requests served before admission, a running request left out only when
    the budget is spent, the newest preempted first, the queue's head admitted whenever it fits."""
    _check_workloads(sub, _workloads(rng, 150), strict=True)


@checks.check(group="task4", points=1, category="systems")
def scheduler_preempts_the_newest(sub, rng):
    """Three 2-token prompts fill 3 blocks of 2; at the first decode the newest two are preempted (the
    second one by itself), request 0 runs on, and request 1 comes back before 2 with prompt + 1 output."""
    sizes, reqs = (3, 64, 3, 2), [(0, 2, 3, 0), (1, 2, 3, 0), (2, 2, 3, 0)]
    plans, finished = _plans(sub, sizes, reqs)
    problem = find_violation(_config(sizes), reqs, plans, finished)
    require(problem is None, f"{_describe(sizes, reqs)}: {problem}")
    first = plans[0]
    require(first["prefill"] == {0: 2, 1: 2, 2: 2},
            f"{_describe(sizes, reqs)}: step 0 planned {first}; all three 2-token prompts fit (3 blocks)")
    second = plans[1]
    require(second["decode"] == [0] and sorted(second["preempted"]) == [1, 2],
            f"{_describe(sizes, reqs)}: step 1 planned decode={second['decode']}, preempted={second['preempted']}; "
            "request 0's decode needs a block: preempt the newest (2), then 1 needs one too and is itself the "
            "newest: decode=[0], preempted=[2, 1]")
    back = [(s, rid, n) for s, p in enumerate(plans[2:], 2) for rid, n in p["prefill"].items()]
    require([rid for _, rid, _ in back][:2] == [1, 2] and back[0][2] == 3,
            f"{_describe(sizes, reqs)}: re-admissions (step, req, prompt tokens) {back}; request 1 comes back first "
            "(FCFS) and runs its prompt plus its 1 output: 3 tokens")


@checks.check(group="task4", points=1, category="systems")
def scheduler_frees_blocks_when_a_request_finishes(sub, rng):
    """One block: request 1 waits while request 0 runs and is admitted in the step right after 0 finishes."""
    sizes, reqs = (2, 16, 1, 4), [(0, 2, 2, 0), (1, 3, 1, 0)]
    plans, finished = _plans(sub, sizes, reqs)
    _same_plans(plans, [({0: 2}, [], []), ({}, [0], []), ({1: 3}, [], [])], finished, [0, 1], sizes, reqs,
                "request 0 finishes at step 1 and gives its block back; step 2 admits request 1")


def starved_request(sizes, reqs, plans) -> str | None:
    """The first step in which a running request whose prompt is complete (not preempted) was left out
    while the budget went to requests newer than it, or was not used up."""
    budget = sizes[1]
    order = {rid: i for i, (rid, *_) in enumerate(reqs)}
    prompt = {rid: p for rid, p, _, _ in reqs}
    max_new = {rid: m for rid, _, m, _ in reqs}
    target, done, outputs, running = dict(prompt), {r: 0 for r in prompt}, {r: 0 for r in prompt}, set()
    for s, plan in enumerate(plans):
        for rid in plan["preempted"]:
            running.discard(rid)
            target[rid], done[rid] = prompt[rid] + outputs[rid], 0
        ran = set(plan["prefill"]) | set(plan["decode"])
        tokens = {rid: n for rid, n in plan["prefill"].items()}
        tokens.update({rid: 1 for rid in plan["decode"]})
        for rid in sorted(running, key=order.get):
            if rid in ran or done[rid] < target[rid]:
                continue
            newer = sum(n for r, n in tokens.items() if order[r] > order[rid] and r not in plan["decode"])
            if newer or sum(tokens.values()) < budget:
                return (f"step {s}: request {rid!r} has its prompt done and runs, but is left out while "
                        f"{newer} prompt tokens of newer requests ran and {budget - sum(tokens.values())} of the "
                        f"budget stayed unused (plan: prefill={plan['prefill']}, decode={plan['decode']})")
        for rid, n in plan["prefill"].items():
            running.add(rid)
            done[rid] += n
            outputs[rid] += done[rid] == target[rid]
        for rid in plan["decode"]:
            done[rid] += 1
            outputs[rid] += 1
        for rid in list(running):
            if outputs[rid] == max_new[rid]:
                running.discard(rid)
    return None


@checks.check(group="task4", points=1, category="systems")
def scheduler_does_not_starve_decodes(sub, rng):
    """While long prompts keep arriving, a running request whose prompt is done is left out of a step only
    when decodes and older requests used the whole budget (its wait between tokens stays bounded)."""
    budget = inputs.randint(rng, 12, 24)
    sizes = (8, budget, 400, 4)
    reqs = [(i, inputs.randint(rng, 2, 6), 30, 0) for i in range(3)]
    reqs += [(10 + i, inputs.randint(rng, 2 * budget, 3 * budget), 2, 2 + 3 * i) for i in range(6)]
    plans, finished = _plans(sub, sizes, reqs)
    problem = find_violation(_config(sizes), reqs, plans, finished) or starved_request(sizes, reqs, plans)
    require(problem is None, f"{_describe(sizes, reqs)}: {problem}")


@checks.check(group="task4", points=1, category="systems")
def scheduler_rejects_bad_input(sub, rng):
    """ValueError naming the argument for sizes < 1, a duplicate req_id, prompt_len or max_new_tokens < 1;
    a refused add leaves the scheduler as it was."""
    bad = ("ValueError", "TypeError")
    for i, name in enumerate(("max_num_seqs", "max_num_batched_tokens", "num_blocks", "block_size")):
        args = [2, 8, 8, 4]
        args[i] = 0
        raises(bad, sub.Scheduler, *args, names=(name,), what=f"Scheduler({', '.join(map(str, args))})")
    sizes = (2, 8, 8, 4)
    s = sub.Scheduler(*sizes)
    s.add(0, 5, 3)
    raises(bad, s.add, 0, 4, 2, names=("req_id",), what="add(0, 4, 2) after add(0, 5, 3)")
    raises(bad, s.add, 1, 0, 2, names=("prompt_len",), what="add(1, 0, 2)")
    raises(bad, s.add, 1, 4, 0, names=("max_new_tokens",), what="add(1, 4, 0)")
    raises(bad, s.add, 1, -3, 2, names=("prompt_len",), what="add(1, -3, 2)")
    res = sub.probe(scheduling.run_on, s, [(1, 4, 2, 1)])
    want, want_finished = _plans(sub, sizes, [(0, 5, 3, 0), (1, 4, 2, 1)])
    if "error" in res:
        raise CheckFailure(f"after the refused calls: {res['error']}")
    require(res["plans"] == want and res["finished"] == want_finished,
            f"after refused add() calls the scheduler planned {res['plans']}, finished {res['finished']}; a fresh "
            f"one with the same valid requests plans {want}, finished {want_finished}: a refused call must change "
            "nothing")


# ----------------------------------------------------------------------------- task 5 · adaptive k (frontier)


@checks.check(group="task5", points=1, category="frontier", visible=True)
def adaptive_greedy_small(sub, rng):
    """adaptive_speculative_generate at temperature 0 equals the target's greedy generation; stats present."""
    target, draft = _pair(sub)
    prompt = models.encode("A block table")
    what = "adaptive_speculative_generate(target, draft, encode('A block table'), 24)"
    tokens, _ = _unpack(sub.adaptive_speculative_generate(target, draft, prompt, 24), 24, what)
    greedy = answers.greedy_tokens(prompt, 24)
    require(tokens == greedy, f"{what}: tokens {tokens}, the target's greedy generation is {greedy}")


# Prompts of the course's own text, where the draft agrees with the target in stretches (random token ids
# make text the draft cannot follow at all, where no k helps): the grader draws 3 of them.
FRONTIER_PROMPTS = ("The scheduler", "A block table", "Question:", "The KV cache stores", "User:", "Paging",
                    "When a request", "The draft model", "Blocks", "Attention")


@checks.check(group="task5", points=3, category="frontier", kind="performance")
def adaptive_beats_every_fixed_k(sub, rng):
    """Counted on 3 course-text prompts x 40 tokens at temperature 0: target passes + 0.25 x draft passes is
    lower than the best fixed k in 1..8; tokens equal greedy; nothing recomputed."""
    target, draft = _pair(sub)
    n, total, fixed = 40, 0.0, {k: 0.0 for k in range(1, 9)}
    for i in torch.randperm(len(FRONTIER_PROMPTS), generator=rng)[:3].tolist():
        prompt = models.encode(FRONTIER_PROMPTS[i])
        greedy = answers.greedy_tokens(prompt, n)
        h = _greedy_acceptance(prompt, greedy)
        for k in fixed:
            rounds = fixed_k_rounds(h, n, k)
            fixed[k] += len(rounds) + COST_RATIO * sum(kr for kr, _ in rounds)
        what = f"adaptive_speculative_generate(prompt of {len(prompt)} tokens, {n}, cost_ratio={COST_RATIO})"
        run = sub.probe(speculation.counted_pair, "adaptive_speculative_generate", target, draft, prompt, n,
                        cost_ratio=COST_RATIO)
        _check_rounds(run, n, what)
        tokens, _ = _check_positions(run, len(prompt), n, what)
        require(tokens == greedy, f"{what}: tokens {tokens}, the target's greedy generation is {greedy}")
        total += len(run["passes"]["target"]) + COST_RATIO * len(run["passes"]["draft"])
    best = min(fixed, key=fixed.get)
    require(total < fixed[best],
            f"adaptive_speculative_generate: cost {total:.2f} target-pass equivalents (target passes + "
            f"{COST_RATIO} x draft passes) on 3 course-text prompts; the best fixed k ({best}) costs {fixed[best]:.2f} "
            f"(k=1..8: {', '.join(f'{v:.2f}' for v in fixed.values())}): choose k each round from what you see")
