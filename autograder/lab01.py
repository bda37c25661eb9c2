"""lab01 · Inference basics: every check, visible and hidden (syllabus §1, SPEC §lab01).

Expected values are computed here, in the grader's process, in float64 from the
inputs the submission received. Sampling is tested as distributions (total
variation distance with a bound that a correct sampler exceeds with probability
< 1e-9), never draw by draw. Performance is the course model's `tokens_processed`.
"""
from __future__ import annotations


import torch

from inferlab import models
from inferlab.grading import CheckFailure, Checks, answers, assert_close, assert_equal, inputs, require
from inferlab.grading import probes
from inferlab.grading.asserts import distribution, integer, number, raises

checks = Checks("lab01")

NEG_INF = float("-inf")
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
H100 = dict(peak_flops=989e12, peak_bandwidth=3.35e12)  # dense bf16 FLOP/s, HBM3 bytes/s (spec sheet)


# ----------------------------------------------------------------------------- helpers


def _check_attention(sub, q, k, v, mask=None, sm_scale=None, context="", **tol):
    """Call the submission's attention and compare with the float64 reference at q's dtype."""
    kwargs = {} if sm_scale is None else {"sm_scale": sm_scale}
    out = sub.attention(q, k, v, mask=mask, **kwargs)
    expected, _ = answers.attention(q, k, v, mask, sm_scale=sm_scale)
    if isinstance(out, torch.Tensor) and out.dtype != q.dtype:
        raise CheckFailure(f"attention ({context}): output dtype {out.dtype}, expected q's dtype {q.dtype}")
    if isinstance(out, torch.Tensor) and out.is_floating_point() and not torch.isfinite(out).all():
        bad = tuple(int(i) for i in (~torch.isfinite(out)).nonzero()[0])
        raise CheckFailure(f"attention ({context}): non-finite output at index {bad} (got {out[bad].item()}); "
                           "subtract each row's max before exp, and give fully masked rows zeros, not NaN")
    assert_close(out, expected, dtype=q.dtype, name="attention", context=context, **tol)


def _check_filtered(out, logits, keep, context):
    """out must equal logits where keep, and -inf elsewhere."""
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"top_k_top_p_filter ({context}): expected a tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(logits.shape):
        raise CheckFailure(f"top_k_top_p_filter ({context}): shape {tuple(out.shape)}, expected {tuple(logits.shape)}")
    if out.dtype != logits.dtype:
        raise CheckFailure(f"top_k_top_p_filter ({context}): dtype {out.dtype}, expected {logits.dtype} (the input's)")
    kept = ~torch.isneginf(out)
    if not torch.equal(kept, keep):
        idx = tuple(int(i) for i in (kept != keep).nonzero()[0])
        row = idx[:-1]
        want = keep[row].nonzero().flatten().tolist()
        got = kept[row].nonzero().flatten().tolist()
        raise CheckFailure(f"top_k_top_p_filter ({context}): row {row} keeps tokens {got}, expected {want} "
                           f"(first difference at token {idx[-1]}; logits of the row: "
                           f"{[round(x, 4) for x in logits[row].tolist()][:20]})")
    if not torch.equal(out[keep], logits[keep]):
        raise CheckFailure(f"top_k_top_p_filter ({context}): kept logits must be returned unchanged")


def _top_p_keep(logits64, p):
    """Keep mask of top-p over the last dim (float64), and the smallest distance of p to a cumulative sum."""
    probs = torch.softmax(logits64, -1)
    sp, order = torch.sort(probs, -1, descending=True)
    cum = torch.cumsum(sp, -1)
    before = cum - sp
    drop = before >= p
    drop[..., 0] = False
    keep = ~torch.zeros_like(drop).scatter(-1, order, drop)
    margin = (cum - p).abs().amin(-1)
    return keep & torch.isfinite(logits64), margin


def _check_distribution(tokens, probs, n, context):
    """tokens (n,) drawn from probs (V,) float64 (a seeded total-variation test, see asserts.distribution)."""
    distribution(tokens, probs, n, f"sample_next ({context})", law="softmax(filter(logits / T))")


def _spread_logits(rng, V):
    """Logits spread evenly over [-4, 4] in random order (no ties), plus a little noise."""
    base = torch.linspace(-4.0, 4.0, V, dtype=torch.float64)
    base = base[torch.randperm(V, generator=rng)]
    return (base + 0.05 * torch.rand(V, generator=rng, dtype=torch.float64)).to(torch.float32)


def _prompt(rng, length):
    return torch.randint(0, answers.course_model().config.vocab_size, (length,), generator=rng).tolist()


def _as_tokens(out, n, what):
    if not isinstance(out, (list, tuple)):
        raise CheckFailure(f"{what}: expected a list of {n} ints, got {type(out).__name__}")
    out = list(out)
    if len(out) != n or not all(isinstance(t, int) and not isinstance(t, bool) for t in out):
        raise CheckFailure(f"{what}: expected a list of {n} ints (the new tokens only), got {out!r:.200}")
    return out


def _generate(sub, model, prompt, n, what, **kwargs):
    return _as_tokens(sub.generate(model, prompt, n, **kwargs), n, what)


def _check_greedy(sub, model, prompt, n, use_cache, label):
    what = f"generate({label}, max_new_tokens={n}, use_cache={use_cache})"
    model.tokens_processed = 0
    # Counted twice: by the model itself and by a wrapper on layer 0 that the submission cannot reach.
    run = sub.probe(probes.counted_call, "generate", model, prompt, n, use_cache=use_cache)
    out = _as_tokens(run["result"], n, what)
    assert_equal(out, answers.greedy_tokens(prompt, n), name=what,
                 context="vs greedy_reference (full recomputation, argmax)")
    require(not run["tampered"], f"{what}: the model's code was modified during the call; positions cannot be counted")
    require(run["tokens"] == run["own_tokens"],
            f"{what}: layer 0 saw {run['tokens']} positions but model.tokens_processed moved by {run['own_tokens']}: "
            "leave the counter alone and call the model's own layers")
    return run["tokens"]


# ----------------------------------------------------------------------------- task 1 · causal_mask


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def causal_mask_square(sub, rng):
    """causal_mask(n, n) is lower triangular (bool), n in 1, 4, 17."""
    for n in (1, 4, 17):
        assert_equal(sub.causal_mask(n, n), answers.causal_mask(n, n), name=f"causal_mask({n}, {n})")


@checks.check(group="task1", points=2, category="knowledge", visible=True)
def causal_mask_rectangular(sub, rng):
    """causal_mask(n_q, n_k): the queries are the last n_q of n_k positions (decode: n_q = 1)."""
    sizes = [(1, 1), (1, 9), (3, 17), (16, 17), (17, 129), (129, 130)]
    n_k = int(torch.randint(2, 200, (1,), generator=rng))
    sizes.append((int(torch.randint(1, n_k, (1,), generator=rng)), n_k))
    for n_q, n_k in sizes:
        assert_equal(sub.causal_mask(n_q, n_k), answers.causal_mask(n_q, n_k), name=f"causal_mask({n_q}, {n_k})",
                     context="query i may see key j iff j <= i + (n_k - n_q)")


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def causal_mask_rejects_bad_sizes(sub, rng):
    """causal_mask raises ValueError naming n_q / n_k for n_q > n_k or sizes < 1."""
    out = sub.causal_mask(2, 3)  # a valid call first
    require(isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 3), f"causal_mask(2, 3) gave {out!r}")
    raises("ValueError", sub.causal_mask, 5, 3, names=("n_q", "n_k"), what="causal_mask(5, 3)")
    raises("ValueError", sub.causal_mask, 0, 3, names=("n_q",), what="causal_mask(0, 3)")
    raises("ValueError", sub.causal_mask, 1, 0, names=("n_k", "n_q"), what="causal_mask(1, 0)")
    raises("ValueError", sub.causal_mask, -2, -1, names=("n_q", "n_k"), what="causal_mask(-2, -1)")


# ----------------------------------------------------------------------------- task 2 · attention


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def attention_matches_reference_small(sub, rng):
    """attention equals float64 softmax(q kᵀ · scale) v on small fp32 inputs, causal and with sm_scale."""
    q, k, v = inputs.qkv(rng, 1, 2, 5, 5, 8, torch.float32)
    _check_attention(sub, q, k, v, context="B=1 H=2 N=5 D=8 fp32, no mask")
    _check_attention(sub, q, k, v, mask=answers.causal_mask(5, 5), context="causal 5x5 mask")
    q, k, v = inputs.qkv(rng, 2, 1, 3, 7, 4, torch.float32)
    _check_attention(sub, q, k, v, mask=answers.causal_mask(3, 7), sm_scale=0.3, context="Nq=3 Nk=7, sm_scale=0.3")


@checks.check(group="task2", points=3, category="knowledge")
def attention_matches_float64_across_dtypes(sub, rng):
    """attention vs float64 for fp32/fp16/bf16, awkward Nq/Nk (1, 17, 129), causal masks and sm_scale."""
    cases = [  # B, H, Nq, Nk, D, causal, sm_scale
        (1, 1, 1, 1, 8, False, None),
        (2, 3, 17, 17, 16, True, None),
        (1, 2, 1, 129, 64, False, None),
        (2, 1, 17, 129, 24, True, 0.3),
        (1, 2, 129, 129, 32, True, None),
        (3, 2, 5, 17, 17, False, 1.7),  # logits of std ~7: float32 only (half precision rounds them by ~1%)
    ]
    for dtype in DTYPES:
        for B, H, Nq, Nk, D, causal, scale in cases:
            if dtype != torch.float32 and scale is not None and scale * D ** 0.5 > 2:
                continue
            q, k, v = inputs.qkv(rng, B, H, Nq, Nk, D, dtype)
            mask = answers.causal_mask(Nq, Nk) if causal else None
            _check_attention(sub, q, k, v, mask=mask, sm_scale=scale,
                             context=f"{str(dtype)[6:]} B={B} H={H} Nq={Nq} Nk={Nk} D={D} causal={causal} "
                                     f"sm_scale={scale}")


@checks.check(group="task2", points=2, category="knowledge", visible=True)
def attention_broadcasts_masks(sub, rng):
    """Bool masks of shapes (Nk,), (Nq, Nk), (B, 1, 1, Nk), (1, H, Nq, Nk), (B, H, Nq, Nk) broadcast."""
    B, H, Nq, Nk, D = 2, 3, 17, 33, 16
    q, k, v = inputs.qkv(rng, B, H, Nq, Nk, D, torch.float32)
    for shape in ((Nk,), (Nq, Nk), (B, 1, 1, Nk), (1, H, Nq, Nk), (B, 1, Nq, 1), (B, H, Nq, Nk)):
        mask = torch.rand(shape, generator=rng) < 0.6
        always = int(torch.randint(0, shape[-1], (1,), generator=rng))
        mask[..., always] = True  # every row keeps at least one key
        _check_attention(sub, q, k, v, mask=mask, context=f"mask of shape {shape}")


@checks.check(group="task2", points=2, category="knowledge", visible=True)
def attention_stable_at_logits_1e4(sub, rng):
    """Logits of magnitude 1e4 (both signs) give the exact softmax: subtract the row max before exp."""
    B, H, Nq, Nk, D = 1, 2, 17, 33, 16  # D ** -0.5 = 0.25: every logit below is exact in float32
    q = torch.randint(-4, 5, (B, H, Nq, D), generator=rng).float() / 4
    k = torch.randint(-4, 5, (B, H, Nk, D), generator=rng).float() / 4
    v = torch.randn(B, H, Nk, D, generator=rng)
    sign = torch.where(torch.rand(B, H, Nq, generator=rng) < 0.5, -1.0, 1.0)
    q[..., 0] = 200.0 * sign  # logits = 0.25 * (±200 * 200 + small) = ±1e4 + O(1)
    k[..., 0] = 200.0
    _check_attention(sub, q, k, v, context="logits ±1e4, fp32, no mask")
    _check_attention(sub, q, k, v, mask=answers.causal_mask(Nq, Nk), context="logits ±1e4, fp32, causal mask")


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def attention_fully_masked_rows_give_zeros(sub, rng):
    """A query row whose keys are all masked returns zeros (no NaN); other rows are unchanged."""
    for dtype in (torch.float32, torch.bfloat16):
        B, H, Nq, Nk, D = 2, 2, 17, 9, 8
        q, k, v = inputs.qkv(rng, B, H, Nq, Nk, D, dtype)
        mask = torch.rand(B, 1, Nq, Nk, generator=rng) < 0.7
        mask[..., 0] = True
        rows = torch.randperm(Nq, generator=rng)[:5]
        mask[0, :, rows, :] = False  # five fully masked query rows in batch 0
        mask[1, :, -1, :] = False  # and the last row of batch 1
        _check_attention(sub, q, k, v, mask=mask, context=f"{str(dtype)[6:]}, some rows fully masked")
    q, k, v = inputs.qkv(rng, 1, 1, 1, 4, 8, torch.float32)
    _check_attention(sub, q, k, v, mask=torch.zeros(4, dtype=torch.bool), context="every key masked")


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def attention_rejects_bad_input(sub, rng):
    """attention raises ValueError/TypeError naming q, k, v or mask for mismatched shapes and bad masks."""
    q, k, v = inputs.qkv(rng, 1, 2, 5, 6, 8, torch.float32)
    _check_attention(sub, q, k, v, context="a valid call")
    raises("ValueError", sub.attention, q[0], k, v, names=("q",), what="attention(q of shape (2, 5, 8), ...)")
    raises("ValueError", sub.attention, q, k, v[:, :, :5], names=("k", "v"), what="attention(k with Nk=6, v with Nk=5)")
    raises("ValueError", sub.attention, q[..., :4], k, v, names=("q", "k"), what="attention(q with D=4, k with D=8)")
    raises("ValueError", sub.attention, q, k, v, mask=torch.ones(3, 4, dtype=torch.bool), names=("mask",),
            what="attention(mask of shape (3, 4) for (1, 2, 5, 6))")
    raises(("ValueError", "TypeError"), sub.attention, q, k, v, mask=torch.ones(5, 6), names=("mask",),
            what="attention(mask of dtype float32)")


# ----------------------------------------------------------------------------- task 3 · top-k / top-p


@checks.check(group="task3", points=1, category="practice", visible=True)
def filter_top_k_and_top_p_small(sub, rng):
    """top_k_top_p_filter on small hand cases: top-k, top-p keeping the token that crosses p, both."""
    x = torch.tensor([2.0, 1.0, 0.5, -1.0])  # probabilities 0.609, 0.224, 0.136, 0.030
    t = torch.tensor
    _check_filtered(sub.top_k_top_p_filter(x, top_k=2), x, t([True, True, False, False]), "top_k=2")
    _check_filtered(sub.top_k_top_p_filter(x, top_p=0.8), x, t([True, True, False, False]),
                    "top_p=0.8: 0.609 < 0.8 <= 0.609 + 0.224")
    _check_filtered(sub.top_k_top_p_filter(x, top_p=0.5), x, t([True, False, False, False]), "top_p=0.5")
    _check_filtered(sub.top_k_top_p_filter(x), x, t([True] * 4), "no filter")
    perm = torch.randperm(4, generator=rng)
    _check_filtered(sub.top_k_top_p_filter(x[perm], top_k=3), x[perm], t([True, True, True, False])[perm],
                    f"top_k=3 on {x[perm].tolist()}")


@checks.check(group="task3", points=2, category="practice")
def top_k_exact_sets(sub, rng):
    """top-k keeps exactly the k largest (no ties) on batched logits, V in 1, 17, 129, k in 1..V+3."""
    for shape in ((1,), (17,), (3, 17), (2, 5, 129)):
        V = shape[-1]
        logits = torch.randn(shape, generator=rng)
        for k in sorted({1, 2, min(7, V), V, V + 3, int(torch.randint(1, V + 1, (1,), generator=rng))}):
            rank = logits.argsort(-1, descending=True).argsort(-1)
            _check_filtered(sub.top_k_top_p_filter(logits, top_k=k), logits, rank < k, f"shape {shape}, top_k={k}")
    logits = torch.randn(4, 17, generator=rng, dtype=torch.float64)
    rank = logits.argsort(-1, descending=True).argsort(-1)
    _check_filtered(sub.top_k_top_p_filter(logits, top_k=5), logits, rank < 5, "float64 logits, top_k=5")


@checks.check(group="task3", points=1, category="practice", visible=True)
def top_k_ties(sub, rng):
    """With ties at the k-th value top-k keeps every larger logit and k, or all, of the tied ones."""
    cases = [([3.0, 1.0, 3.0, 2.0, 3.0], 2), ([5.0, 4.0, 4.0, 4.0, 1.0], 2), ([1.0, 1.0, 1.0, 1.0], 1),
             ([0.0, 2.0, 2.0, 1.0, 1.0, 1.0, -1.0], 4)]
    rows = torch.randint(0, 4, (6, 17), generator=rng).float()
    cases += [(r.tolist(), int(torch.randint(1, 17, (1,), generator=rng))) for r in rows]
    for values, k in cases:
        x = torch.tensor(values)
        out = sub.top_k_top_p_filter(x, top_k=k)
        ctx = f"logits {values}, top_k={k}"
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
            raise CheckFailure(f"top_k_top_p_filter ({ctx}): expected a tensor of shape {tuple(x.shape)}")
        kept = ~torch.isneginf(out)
        kth = x.sort(descending=True).values[k - 1]
        above, tied = x > kth, x == kth
        ok = bool((kept & ~(above | tied)).sum() == 0 and (above & ~kept).sum() == 0)
        ok = ok and int(kept.sum()) in (k, int((above | tied).sum()))
        require(ok, f"top_k_top_p_filter ({ctx}): kept tokens {kept.nonzero().flatten().tolist()}; expected every "
                    f"logit > {kth:g} and either k={k} tokens in all or every logit == {kth:g} as well")
        require(torch.equal(out[kept], x[kept]), f"top_k_top_p_filter ({ctx}): kept logits must be unchanged")


@checks.check(group="task3", points=2, category="practice")
def top_p_exact_sets(sub, rng):
    """top-p keeps the smallest most-probable set reaching p, the crossing token included, at least one."""
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    perm = torch.randperm(4, generator=rng)
    x = probs.log()[perm].float()
    for p, n_keep in ((1e-9, 1), (0.45, 1), (0.55, 2), (0.79, 2), (0.81, 3), (0.96, 4), (1.0, 4)):
        keep = torch.zeros(4, dtype=torch.bool)
        keep[perm.argsort()[:n_keep]] = True  # the n_keep most probable, in x's order
        _check_filtered(sub.top_k_top_p_filter(x, top_p=p), x, keep,
                        f"probabilities {probs[perm].tolist()}, top_p={p}")
    for shape in ((17,), (6, 17), (2, 3, 129)):
        logits = torch.randn(shape, generator=rng) * 1.5
        if len(shape) == 2:
            logits[0, :3] = NEG_INF  # tokens already removed stay removed
        for p in (0.3, 0.62, 0.9, float(torch.rand(1, generator=rng)) * 0.98 + 0.01):
            keep, margin = _top_p_keep(logits.double(), p)
            clear = margin > 1e-4  # rows where p is not within float error of a cumulative sum
            out = sub.top_k_top_p_filter(logits, top_p=p)
            if isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(logits.shape):
                _check_filtered(out[clear], logits[clear], keep[clear], f"shape {shape}, top_p={p:.4f}")
            else:
                _check_filtered(out, logits, keep, f"shape {shape}, top_p={p:.4f}")


@checks.check(group="task3", points=1, category="practice", visible=True)
def top_k_then_top_p(sub, rng):
    """Both filters: top-k first, then top-p over the renormalised top-k probabilities."""
    probs = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    perm = torch.randperm(4, generator=rng)
    x = probs.log()[perm].float()
    # top-2 renormalised: 0.571, 0.429. top_p=0.55 keeps one; top-p before top-k would keep two.
    keep = torch.zeros(4, dtype=torch.bool)
    keep[perm.argsort()[:1]] = True
    _check_filtered(sub.top_k_top_p_filter(x, top_k=2, top_p=0.55), x, keep,
                    f"probabilities {probs[perm].tolist()}, top_k=2, top_p=0.55")
    # top-3 renormalised: 0.444, 0.333, 0.222; top_p=0.7 keeps two (0.444 < 0.7 <= 0.778).
    keep = torch.zeros(4, dtype=torch.bool)
    keep[perm.argsort()[:2]] = True
    _check_filtered(sub.top_k_top_p_filter(x, top_k=3, top_p=0.7), x, keep,
                    f"probabilities {probs[perm].tolist()}, top_k=3, top_p=0.7")
    logits = torch.randn(5, 33, generator=rng) * 2
    for k, p in ((5, 0.6), (9, 0.85), (1, 0.3), (33, 0.5)):
        kth = logits.topk(k, -1).values[..., -1:]
        after_k = logits.double().masked_fill(logits < kth, NEG_INF)
        keep, margin = _top_p_keep(after_k, p)
        clear = margin > 1e-4
        out = sub.top_k_top_p_filter(logits, top_k=k, top_p=p)
        if isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(logits.shape):
            out, logits_c, keep = out[clear], logits[clear], keep[clear]
        else:
            logits_c = logits
        _check_filtered(out, logits_c, keep, f"random (5, 33) logits, top_k={k}, top_p={p}")


@checks.check(group="task3", points=1, category="practice", visible=True)
def filter_rejects_bad_args(sub, rng):
    """top_k_top_p_filter raises ValueError/TypeError naming top_p, top_k or logits for bad arguments."""
    x = torch.randn(2, 9, generator=rng)
    rank = x.argsort(-1, descending=True).argsort(-1)
    _check_filtered(sub.top_k_top_p_filter(x, top_k=3), x, rank < 3, "a valid call, top_k=3")
    raises("ValueError", sub.top_k_top_p_filter, x, top_p=1.5, names=("top_p",), what="top_k_top_p_filter(top_p=1.5)")
    raises("ValueError", sub.top_k_top_p_filter, x, top_p=-0.2, names=("top_p",), what="top_k_top_p_filter(top_p=-0.2)")
    raises(("TypeError", "ValueError"), sub.top_k_top_p_filter, x, top_k=2.5, names=("top_k",),
            what="top_k_top_p_filter(top_k=2.5)")
    raises(("TypeError", "ValueError"), sub.top_k_top_p_filter, [1.0, 2.0], top_k=1, names=("logits",),
            what="top_k_top_p_filter(a list)")


# ----------------------------------------------------------------------------- task 4 · sample_next


@checks.check(group="task4", points=1, category="practice", visible=True)
def sample_greedy_argmax(sub, rng):
    """temperature 0 (the default) returns the argmax of each row as a LongTensor of shape (...)."""
    logits = torch.randn(4, 17, generator=rng)
    assert_equal(sub.sample_next(logits), logits.argmax(-1), name="sample_next(logits (4, 17))")
    assert_equal(sub.sample_next(logits, temperature=0.0), logits.argmax(-1), name="sample_next(temperature=0.0)")
    row = torch.randn(17, generator=rng)
    assert_equal(sub.sample_next(row), row.argmax(), name="sample_next(logits (17,))", context="a 0-d LongTensor")


@checks.check(group="task4", points=1, category="practice", visible=True)
def sample_greedy_ties_and_shapes(sub, rng):
    """Greedy picks the lowest index on ties; shapes (V,), (1, V), (2, 3, V); fp32/bf16; filters ignored."""
    V = 17
    logits = torch.randn(2, 3, V, generator=rng)
    for b in range(2):
        for h in range(3):
            idx = torch.randperm(V, generator=rng)[: 2 + b + h]
            logits[b, h, idx] = logits[b, h].max() + 1.0  # several tied maxima
    expected = logits.argmax(-1)  # torch.argmax: the first maximal index
    assert_equal(sub.sample_next(logits), expected, name="sample_next((2, 3, 17) with tied maxima)")
    assert_equal(sub.sample_next(logits.bfloat16()), logits.bfloat16().argmax(-1),
                 name="sample_next(bfloat16 logits with ties)")
    assert_equal(sub.sample_next(logits, 0.0, 5, 0.5), expected, name="sample_next(temperature=0, top_k=5, top_p=0.5)")
    assert_equal(sub.sample_next(logits[:1, 0]), expected[:1, 0], name="sample_next((1, 17))")
    assert_equal(sub.sample_next(torch.zeros(V)), torch.tensor(0), name="sample_next(all-equal row)")


@checks.check(group="task4", points=2, category="practice", visible=True)
def sample_follows_temperature_softmax(sub, rng):
    """20000 draws at temperatures 0.5, 1 and 2.5 follow softmax(logits / T) (total-variation bound)."""
    n, V = 20000, 17
    logits = _spread_logits(rng, V)
    for T in (0.5, 1.0, 2.5):
        g = torch.Generator().manual_seed(inputs.seed(rng))
        tokens = sub.sample_next(logits.expand(n, V).contiguous(), temperature=T, generator=g)
        _check_distribution(tokens, torch.softmax(logits.double() / T, -1), n, f"temperature={T}, {n} rows")


@checks.check(group="task4", points=2, category="practice", visible=True)
def sample_follows_filtered_softmax(sub, rng):
    """Draws with top_k or top_p follow the renormalised softmax of the kept tokens, never a removed one."""
    n, V = 20000, 17
    logits = _spread_logits(rng, V)
    g = torch.Generator().manual_seed(inputs.seed(rng))
    tokens = sub.sample_next(logits.expand(n, V).contiguous(), temperature=1.0, top_k=4, generator=g)
    kth = logits.topk(4).values[-1]
    probs = torch.softmax(logits.double().masked_fill(logits < kth, NEG_INF), -1)
    _check_distribution(tokens, probs, n, "temperature=1, top_k=4")
    # Probabilities 0.30, 0.25, 0.20, 0.10, ... : top_p=0.7 keeps three (0.55 < 0.7 <= 0.75).
    head = torch.tensor([0.30, 0.25, 0.20, 0.10], dtype=torch.float64)
    p = torch.cat([head, torch.full((V - 4,), 0.15 / (V - 4), dtype=torch.float64)])
    perm = torch.randperm(V, generator=rng)
    x = p.log()[perm].float()
    g = torch.Generator().manual_seed(inputs.seed(rng))
    tokens = sub.sample_next(x.expand(n, V).contiguous(), temperature=1.0, top_p=0.7, generator=g)
    keep = torch.zeros(V, dtype=torch.bool)
    keep[perm.argsort()[:3]] = True
    probs = torch.where(keep, p[perm], torch.zeros(V, dtype=torch.float64))
    _check_distribution(tokens, probs / probs.sum(), n, "temperature=1, top_p=0.7 over probabilities 0.3, 0.25, 0.2, ...")


@checks.check(group="task4", points=1, category="practice", visible=True)
def sample_reproducible_with_generator(sub, rng):
    """The same generator seed gives the same tokens; another seed gives other tokens."""
    n, V = 64, 17
    logits = torch.randn(n, V, generator=rng)
    seed = inputs.seed(rng)
    a = sub.sample_next(logits, temperature=3.0, generator=torch.Generator().manual_seed(seed))
    b = sub.sample_next(logits, temperature=3.0, generator=torch.Generator().manual_seed(seed))
    c = sub.sample_next(logits, temperature=3.0, generator=torch.Generator().manual_seed(seed + 1))
    assert_equal(a, b, name="sample_next(temperature=3, two generators with one seed)",
                 context="draw with the generator argument")
    require(isinstance(c, torch.Tensor) and not torch.equal(a, c),
            "sample_next: two different generator seeds gave the same 64 draws at temperature 3; "
            "draw with the generator argument")


@checks.check(group="task4", points=1, category="practice", visible=True)
def sample_rejects_bad_temperature(sub, rng):
    """sample_next raises ValueError naming temperature for a negative temperature."""
    logits = torch.randn(3, 17, generator=rng)
    assert_equal(sub.sample_next(logits, temperature=0.0), logits.argmax(-1), name="sample_next (a valid call)")
    raises("ValueError", sub.sample_next, logits, temperature=-0.5, names=("temperature",), what="sample_next(temperature=-0.5)")
    raises("ValueError", sub.sample_next, logits, temperature=-1, names=("temperature",), what="sample_next(temperature=-1)")


# ----------------------------------------------------------------------------- task 5 · generate


@checks.check(group="task5", points=1, category="practice", visible=True)
def generate_greedy_small(sub, rng):
    """Greedy generate with the KV cache equals the model's greedy reference on one prompt."""
    from inferlab.models import encode

    model = sub.make(models.load, "target")
    _check_greedy(sub, model, encode("A decode step"), 12, True, "encode('A decode step')")


@checks.check(group="task5", points=3, category="practice")
def generate_greedy_matches_reference(sub, rng):
    """Greedy tokens equal greedy_reference with and without the cache, random prompts of 2..33 tokens."""
    model = sub.make(models.load, "target")
    for P, n in ((2, 9), (17, 8), (29, 4)):
        prompt = _prompt(rng, P)
        for use_cache in (True, False):
            _check_greedy(sub, model, prompt, n, use_cache, f"random prompt of {P} tokens")
    prompt = _prompt(rng, 6)
    what = "generate(prompt as a 1-D LongTensor)"
    out = _generate(sub, model, torch.tensor(prompt), 6, what)
    assert_equal(out, answers.greedy_tokens(prompt, 6), name=what)


@checks.check(group="task5", points=1, category="practice")
def generate_prompt_of_length_one(sub, rng):
    """A one-token prompt works with and without the cache (prefill of 1, then decode)."""
    model = sub.make(models.load, "target")
    for _ in range(3):
        prompt = _prompt(rng, 1)
        for use_cache in (True, False):
            _check_greedy(sub, model, prompt, 7, use_cache, f"prompt {prompt}")
    prompt = _prompt(rng, 1)
    assert_equal(_generate(sub, model, prompt, 1, "generate(one token, max_new_tokens=1)"), answers.greedy_tokens(prompt, 1),
                 name=f"generate({prompt}, max_new_tokens=1)")


@checks.check(group="task5", points=2, category="practice")
def generate_sampling_uses_seed_and_filters(sub, rng):
    """seed makes sampling reproducible; different seeds differ; top_k=1 or a tiny top_p is greedy."""
    model = sub.make(models.load, "target")
    prompt, n = _prompt(rng, 5), 10
    seed = int(torch.randint(0, 2**31, (1,), generator=rng))
    a = _generate(sub, model, prompt, n, "generate(temperature=50, seed=s)", temperature=50.0, seed=seed)
    b = _generate(sub, model, prompt, n, "generate(temperature=50, seed=s)", temperature=50.0, seed=seed)
    assert_equal(a, b, name="generate(temperature=50, seed=s) twice", context="one seed must give one output")
    others = [_generate(sub, model, prompt, n, "generate(temperature=50)", temperature=50.0, seed=seed + i)
              for i in (1, 2)]
    require(any(o != a for o in others),
            f"generate(temperature=50) gave {a} for three different seeds: is temperature passed to sample_next?")
    greedy = _generate(sub, model, prompt, n, "generate(temperature=0)")
    assert_equal(_generate(sub, model, prompt, n, "generate(top_k=1)", temperature=5.0, top_k=1, seed=seed),
                 greedy, name="generate(temperature=5, top_k=1)", context="top-k 1 leaves only the argmax")
    assert_equal(_generate(sub, model, prompt, n, "generate(top_p=1e-6)", temperature=5.0, top_p=1e-6, seed=seed),
                 greedy, name="generate(temperature=5, top_p=1e-6)", context="a tiny top-p keeps only the argmax")


@checks.check(group="task5", points=1, category="practice", visible=True)
def generate_rejects_bad_input(sub, rng):
    """generate raises ValueError naming prompt_ids / max_new_tokens before running the model."""
    model = sub.make(models.load, "target")
    cfg = answers.course_model().config
    prompt = _prompt(rng, 3)
    _generate(sub, model, prompt, 2, "generate (a valid call)")
    bad = [(([], 3), ("prompt_ids",), "generate(prompt_ids=[])"),
           (([1, cfg.vocab_size], 3), ("prompt_ids",), f"generate(prompt_ids with token {cfg.vocab_size})"),
           ((prompt, -1), ("max_new_tokens",), "generate(max_new_tokens=-1)"),
           ((prompt, cfg.max_seq_len), ("max_new_tokens", "prompt_ids", "max_seq_len"),
            f"generate(3-token prompt, max_new_tokens={cfg.max_seq_len} > max_seq_len - 3)")]
    for (p, n), names, what in bad:
        model.tokens_processed = 0
        raises("ValueError", sub.generate, model, p, n, names=names, what=what)
        require(model.tokens_processed == 0,
                f"{what}: the model processed {model.tokens_processed} positions before the error; validate first")


# ----------------------------------------------------------------------------- task 5 · performance


@checks.check(group="task5_perf", points=1, category="systems", kind="performance", visible=True)
def generate_cache_counts_small(sub, rng):
    """With the cache, n new tokens after a P-token prompt process P + n - 1 positions (tokens_processed)."""
    from inferlab.models import encode

    model = sub.make(models.load, "target")
    prompt, n = encode("A decode step"), 6
    count = _check_greedy(sub, model, prompt, n, True, "encode('A decode step')")
    P = len(prompt)
    require(count == P + n - 1, f"generate(prompt of {P}, max_new_tokens={n}, use_cache=True) processed {count} "
                                f"positions (model.tokens_processed); expected {P + n - 1} = the prompt once + one "
                                "per decode step (the last new token is never fed back)")


@checks.check(group="task5_perf", points=3, category="systems", kind="performance")
def generate_processes_each_token_once(sub, rng):
    """tokens_processed = P + n - 1 with the cache; without it at least n*P + n(n-1)/2 (full recompute)."""
    model = sub.make(models.load, "target")
    P_big = int(torch.randint(9, 40, (1,), generator=rng))
    for P, n in ((1, 1), (1, 6), (17, 1), (P_big, 9), (5, 17)):
        prompt = _prompt(rng, P)
        count = _check_greedy(sub, model, prompt, n, True, f"random prompt of {P} tokens")
        require(count == P + n - 1,
                f"generate(prompt of {P}, max_new_tokens={n}, use_cache=True) processed {count} positions "
                f"(model.tokens_processed); expected {P + n - 1} = the prompt once + one per decode step")
    P, n = 5, 6
    prompt = _prompt(rng, P)
    count = _check_greedy(sub, model, prompt, n, False, f"random prompt of {P} tokens")
    least = n * P + n * (n - 1) // 2
    require(count >= least, f"generate(prompt of {P}, max_new_tokens={n}, use_cache=False) processed {count} "
                            f"positions; without the cache every step recomputes the sequence: >= {least}")


# ----------------------------------------------------------------------------- task 6 · formulas


@checks.check(group="task6", points=1, category="systems", visible=True)
def kv_cache_bytes_llama2_7b(sub, rng):
    """Llama-2-7B (32 layers, 32 KV heads, head_dim 128) fp16: 512 KiB per token, 2 GiB at 4096 tokens."""
    integer(sub.kv_cache_bytes(32, 32, 128, 1), 524_288, "kv_cache_bytes(32, 32, 128, seq_len=1)")
    integer(sub.kv_cache_bytes(32, 32, 128, 4096), 2 * 2**30, "kv_cache_bytes(32, 32, 128, 4096)")
    integer(sub.kv_cache_bytes(32, 32, 128, 2048, batch_size=8, dtype_bytes=2), 8 * 2**30,
                "kv_cache_bytes(32, 32, 128, 2048, batch_size=8)")


@checks.check(group="task6", points=1, category="systems")
def kv_cache_bytes_gqa_and_random(sub, rng):
    """kv_cache_bytes for Llama-2-70B (GQA, 8 KV heads), OPT-13B, fp32/int8 and random shapes."""
    cases = [((80, 8, 128, 4096), {}, 1_342_177_280),  # Llama-2-70B, one 4k sequence, fp16
             ((40, 40, 128, 2048), {"batch_size": 4}, 6_710_886_400),  # OPT-13B
             ((32, 32, 128, 4096), {"dtype_bytes": 4}, 4 * 2**30),
             ((80, 8, 128, 1), {"batch_size": 1, "dtype_bytes": 1}, 163_840)]
    for _ in range(3):
        L, Hkv, D, N, B, b = (int(torch.randint(1, hi, (1,), generator=rng)) for hi in (97, 65, 257, 33000, 65, 5))
        cases.append(((L, Hkv, D, N), {"batch_size": B, "dtype_bytes": b}, 2 * L * Hkv * D * N * B * b))
    for args, kwargs, expected in cases:
        what = "kv_cache_bytes(" + ", ".join([str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]) + ")"
        integer(sub.kv_cache_bytes(*args, **kwargs), expected, what)


@checks.check(group="task6", points=1, category="systems", visible=True)
def matmul_cost_hand_cases(sub, rng):
    """matmul_cost = (2mnk, (mk + kn + mn) * dtype_bytes) for decode, prefill, awkward and random shapes."""
    cases = [((1, 4096, 4096), 2, (33_554_432, 33_570_816)),  # a decode GEMV of Llama-2-7B, fp16
             ((2048, 4096, 4096), 2, (68_719_476_736, 67_108_864)),  # a 2048-token prefill
             ((17, 129, 1), 4, (4_386, 9_356))]
    for _ in range(3):
        m, n, k, b = (int(torch.randint(1, hi, (1,), generator=rng)) for hi in (9000, 9000, 9000, 5))
        cases.append(((m, n, k), b, (2 * m * n * k, (m * k + k * n + m * n) * b)))
    for (m, n, k), b, expected in cases:
        what = f"matmul_cost({m}, {n}, {k}, dtype_bytes={b})"
        out = sub.matmul_cost(m, n, k, dtype_bytes=b)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailure(f"{what}: expected a tuple (flops, bytes), got {out!r}")
        integer(out[0], expected[0], what + " flops")
        integer(out[1], expected[1], what + " bytes (read A and B, write C)")


@checks.check(group="task6", points=1, category="systems", visible=True)
def roofline_time_hand_cases(sub, rng):
    """roofline_time = max(flops / peak_flops, bytes / peak_bandwidth) on H100 decode/prefill and random cases."""
    cases = [(33_554_432, 33_570_816, 989e12, 3.35e12),  # decode GEMV: memory time wins
             (68_719_476_736, 67_108_864, 989e12, 3.35e12),  # prefill GEMM: compute time wins
             (1e9, 0, 1e12, 1e9), (0, 1e6, 1e12, 1e9)]
    for _ in range(4):
        f, b = (float(torch.rand(1, generator=rng)) * 10 ** int(torch.randint(6, 13, (1,), generator=rng))
                for _ in range(2))
        cases.append((f, b, 989e12, 3.0e12))
    for f, b, pf, pb in cases:
        number(sub.roofline_time(f, b, pf, pb), max(f / pf, b / pb),
               f"roofline_time(flops={f:.6g}, bytes={b:.6g}, peak_flops={pf:g}, peak_bandwidth={pb:g})", unit="s")


@checks.check(group="task6", points=1, category="systems", visible=True)
def is_memory_bound_prefill_vs_decode(sub, rng):
    """Decode GEMV and small batches are memory-bound on an H100; large prefills are not."""
    cases = []
    for m in (1, 8, 64, 129, 1024, 2048, 8192):
        f, b = 2 * m * 4096 * 4096, (m * 4096 + 4096 * 4096 + m * 4096) * 2
        cases.append((f"a ({m}, 4096) @ (4096, 4096) fp16 matmul", f, b, b / H100["peak_bandwidth"] > f / H100["peak_flops"]))
    for _ in range(6):
        b = float(torch.randint(1, 10**9, (1,), generator=rng))
        ratio = float(torch.exp(torch.randn(1, generator=rng) * 2)) * (1.05 if torch.rand(1, generator=rng) < 0.5 else 0.95)
        f = b * 989e12 / 3.35e12 * ratio  # intensity a random factor away from the ridge, never on it
        cases.append((f"flops={f:.6g}, bytes={b:.6g}", f, b, b / 3.35e12 > f / 989e12))
    for label, f, b, expected in cases:
        out = sub.is_memory_bound(f, b, **H100)
        if not isinstance(out, (bool, int)) or isinstance(out, int) and out not in (0, 1):
            raise CheckFailure(f"is_memory_bound({label}): expected a bool, got {out!r}")
        require(bool(out) == expected, f"is_memory_bound({label}) on an H100 (989 TFLOP/s, 3.35 TB/s): got {out}, "
                                       f"expected {expected} (intensity {f / b:.1f} FLOP/byte, ridge 295.2)")


@checks.check(group="task6", points=1, category="systems", visible=True)
def formulas_reject_bad_input(sub, rng):
    """kv_cache_bytes, matmul_cost, roofline_time, is_memory_bound raise ValueError naming a bad argument."""
    out = sub.kv_cache_bytes(2, 2, 4, 8)  # a valid call first
    require(isinstance(out, int), f"kv_cache_bytes(2, 2, 4, 8): expected an int, got {out!r}")
    raises("ValueError", sub.kv_cache_bytes, 0, 32, 128, 4096, names=("num_layers",), what="kv_cache_bytes(num_layers=0, ...)")
    raises("ValueError", sub.kv_cache_bytes, 32, 32, 128, -1, names=("seq_len",), what="kv_cache_bytes(seq_len=-1)")
    raises("ValueError", sub.kv_cache_bytes, 32, 32, 128, 16, batch_size=0, names=("batch_size",),
            what="kv_cache_bytes(batch_size=0)")
    raises("ValueError", sub.matmul_cost, 0, 4, 4, names=("m",), what="matmul_cost(0, 4, 4)")
    raises("ValueError", sub.matmul_cost, 4, 4, -4, names=("k",), what="matmul_cost(4, 4, -4)")
    raises("ValueError", sub.roofline_time, 1e9, 1e6, 0, 3e12, names=("peak_flops",), what="roofline_time(peak_flops=0)")
    raises("ValueError", sub.is_memory_bound, 1e9, 1e6, 989e12, -1.0, names=("peak_bandwidth",),
            what="is_memory_bound(peak_bandwidth=-1)")
