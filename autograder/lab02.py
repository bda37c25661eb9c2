"""lab02 · FlashAttention: every check, visible and hidden.

Expected values are computed here, in float64, from the very inputs the submission
gets. Kernel calls go through `sub.traced` (the instrumented interpreter, out-of-bounds
lanes recorded and skipped), so a kernel that overruns its tensors gets a deterministic
verdict instead of reading whatever memory lies next to them.
"""
from __future__ import annotations

import math

import torch

from inferlab.grading import TOLERANCES, CheckFailure, Checks, answers, assert_close, inputs, require
from inferlab.grading.asserts import dtype_name, finite, raises

checks = Checks("lab02")

HALF = (torch.float32, torch.float16, torch.bfloat16)
NEG_INF = -math.inf


def _finite(t, name: str, context: str):
    finite(t, name, context, hint="guard -inf - (-inf) (a row or part with no finite entry must give "
                                  "m = -inf / lse = -inf and l = 0 / o = 0)")


def _pair(result, what: str):
    require(isinstance(result, (tuple, list)) and len(result) == 2,
            f"{what} should return a pair (two values), got {type(result).__name__}")
    return result[0], result[1]


# ----------------------------------------------------------------------------- task 1 · softmax_stats


def _check_stats(m, l, x, context):
    m_ref, l_ref = answers.softmax_stats(x)
    _finite(m, "m", context)
    _finite(l, "l", context)
    assert_close(m, m_ref, name="m", dtype=torch.float32, context=context)
    assert_close(l, l_ref, name="l", dtype=torch.float32, context=context)


@checks.check(group="task1", points=1, category="knowledge", visible=True)
def softmax_stats_basic(sub, rng):
    """softmax_stats(x) gives the row max and the sum of exp(x - max) over the last dim."""
    for shape in ((3, 17), (2, 4, 1), (129,)):
        x = inputs.randn(rng, *shape, scale=3.0)
        m, l = _pair(sub.softmax_stats(x), "softmax_stats")
        _check_stats(m, l, x, f"softmax_stats of a float32 {tuple(shape)} tensor")


@checks.check(group="task1", points=2, category="knowledge", visible=True)
def softmax_stats_extreme_rows(sub, rng):
    """Entries of magnitude 1e4, -inf entries and all -inf rows: no overflow, (-inf, 0) for empty rows, no NaN."""
    n = inputs.randint(rng, 20, 140)
    x = inputs.randn(rng, 5, n, scale=1e4)
    x[1, torch.randperm(n, generator=rng)[: n // 2]] = NEG_INF  # half the entries masked
    x[2] = NEG_INF  # every entry masked
    x[3, :] = inputs.randn(rng, n, scale=1.0) - 3e4  # all very negative: exp underflows without the max
    m, l = _pair(sub.softmax_stats(x), "softmax_stats")
    _check_stats(m, l, x, f"5 rows of length {n}: magnitude 1e4, half -inf, all -inf, all near -3e4")
    require(float(m[2]) == NEG_INF and float(l[2]) == 0.0,
            f"softmax_stats of an all -inf row should be (m=-inf, l=0), got ({float(m[2])}, {float(l[2])})")


# ----------------------------------------------------------------------------- task 2 · merge_softmax_stats


def _parts(rng, n: int, k: int) -> list[tuple[int, int]]:
    """k contiguous parts covering [0, n), some of them empty."""
    cuts = sorted(inputs.randint(rng, 0, n) for _ in range(k - 1))
    bounds = [0] + cuts + [n]
    return list(zip(bounds[:-1], bounds[1:]))


def _part_stats(x, lo, hi):
    if hi == lo:  # an empty part
        return (torch.full(x.shape[:-1], NEG_INF, dtype=torch.float32), torch.zeros(x.shape[:-1], dtype=torch.float32))
    m, l = answers.softmax_stats(x[..., lo:hi])
    return m.float(), l.float()


@checks.check(group="task2", points=1, category="knowledge", visible=True)
def merge_stats_two_halves(sub, rng):
    """Merging the stats of the two halves of a row gives the stats of the whole row."""
    x = inputs.randn(rng, 4, 40, scale=5.0)
    ma, la = _part_stats(x, 0, 17)
    mb, lb = _part_stats(x, 17, 40)
    m, l = _pair(sub.merge_softmax_stats(ma, la, mb, lb), "merge_softmax_stats")
    _check_stats(m, l, x, "rows of 40 split at 17")


@checks.check(group="task2", points=2, category="knowledge")
def merge_stats_random_splits(sub, rng):
    """Folding merge_softmax_stats over random splits (empty and all -inf parts included) is exact."""
    for trial in range(4):
        n = inputs.randint(rng, 1, 150)
        x = inputs.randn(rng, 3, n, scale=[1.0, 1e4, 30.0, 1e4][trial])
        if n > 2:
            x[0, : n // 2] = NEG_INF  # a prefix of -inf: the first parts have no finite entry
        x[2] = NEG_INF  # a row with no finite entry at all
        parts = _parts(rng, n, inputs.randint(rng, 2, 6))
        m, l = _part_stats(x, *parts[0])
        for lo, hi in parts[1:]:
            mb, lb = _part_stats(x, lo, hi)
            m, l = _pair(sub.merge_softmax_stats(m, l, mb, lb), "merge_softmax_stats")
        _check_stats(m, l, x, f"rows of {n} split into parts {parts}, folded left to right")
    e_m, e_l = torch.full((2,), NEG_INF), torch.zeros(2)
    m, l = _pair(sub.merge_softmax_stats(e_m, e_l, e_m, e_l), "merge_softmax_stats")
    _finite(m, "m", "merging two empty parts")
    _finite(l, "l", "merging two empty parts")
    require(bool((m == NEG_INF).all()) and bool((l == 0).all()),
            f"merging two empty parts (m=-inf, l=0) should give (-inf, 0), got ({m.tolist()}, {l.tolist()})")


# ----------------------------------------------------------------------------- task 3 · online_softmax


@checks.check(group="task3", points=1, category="knowledge", visible=True)
def online_softmax_matches_softmax(sub, rng):
    """online_softmax equals softmax (float64) for float32 rows and several block sizes."""
    x = inputs.randn(rng, 4, 300, scale=4.0)
    for bs in (128, 7):
        y = sub.online_softmax(x, block_size=bs)
        assert_close(y, answers.softmax(x), name="online_softmax", dtype=torch.float32,
                     context=f"x float32 (4, 300), block_size={bs}")


@checks.check(group="task3", points=2, category="knowledge", visible=True)
def online_softmax_hard_inputs(sub, rng):
    """Magnitude 1e4, -inf entries, all -inf rows (zeros), N in {1, 17, 129}, any block size, x's dtype kept."""
    for n, bs, dtype in ((1, 128, torch.float32), (17, 5, torch.float16), (129, 16, torch.bfloat16),
                         (129, 1000, torch.float32), (17, 1, torch.float32)):
        x = inputs.randn(rng, 4, n, scale=1e4).to(dtype)
        if n > 1:
            x[1, torch.randperm(n, generator=rng)[: n // 2]] = NEG_INF
        x[2] = NEG_INF
        ctx = f"x {dtype_name(dtype)} (4, {n}) of magnitude 1e4 with -inf entries and an all -inf row, block_size={bs}"
        y = sub.online_softmax(x, block_size=bs)
        require(isinstance(y, torch.Tensor) and y.dtype == dtype,
                f"online_softmax ({ctx}): should return x's dtype {dtype_name(dtype)}, got "
                f"{getattr(y, 'dtype', type(y).__name__)}")
        _finite(y, "online_softmax", ctx)
        assert_close(y, answers.softmax(x), name="online_softmax", dtype=dtype, context=ctx)
    raises("ValueError", sub.online_softmax, inputs.randn(rng, 2, 5), block_size=0, match="block_size",
                  what="online_softmax(x, block_size=0)")


# ----------------------------------------------------------------------------- task 4 · merge_attention


def _partial_attention(q, k, v, lo, hi, dtype, rng):
    """Attention of q over keys [lo, hi) in float64, cast to (o in dtype, lse float32); empty: garbage o, -inf."""
    nk = k.shape[-2]
    mask = torch.zeros(nk, dtype=torch.bool)
    mask[lo:hi] = True
    o, lse = answers.attention(q, k, v, key_mask=mask)
    if hi == lo:  # no key: o is whatever a kernel left there; it must not matter
        o = inputs.randn(rng, *o.shape, scale=100.0).double()
    return o.to(dtype), lse.float()


@checks.check(group="task4", points=1, category="systems", visible=True)
def merge_attention_two_halves(sub, rng):
    """Merging attention over the two halves of the keys equals attention over all keys."""
    q, k, v = inputs.randn(rng, 1, 2, 5, 16), inputs.randn(rng, 1, 2, 40, 16), inputs.randn(rng, 1, 2, 40, 16)
    o_a, lse_a = _partial_attention(q, k, v, 0, 23, torch.float32, rng)
    o_b, lse_b = _partial_attention(q, k, v, 23, 40, torch.float32, rng)
    o, lse = _pair(sub.merge_attention(o_a, lse_a, o_b, lse_b), "merge_attention")
    o_ref, lse_ref = answers.attention(q, k, v)
    assert_close(o, o_ref, name="o", dtype=torch.float32, context="keys 0..22 and 23..39, float32")
    assert_close(lse, lse_ref, name="lse", dtype=torch.float32, context="keys 0..22 and 23..39")


@checks.check(group="task4", points=3, category="systems")
def merge_attention_random_splits(sub, rng):
    """Folding merge_attention over random key splits (empty parts, fp32/fp16/bf16) equals full attention."""
    for dtype in HALF:
        nk, d = inputs.randint(rng, 1, 90), [16, 32, 64][inputs.randint(rng, 0, 2)]
        q, k, v = (inputs.randn(rng, 2, 2, 3, d, dtype=dtype), inputs.randn(rng, 2, 2, nk, d, dtype=dtype),
                   inputs.randn(rng, 2, 2, nk, d, dtype=dtype))
        parts = _parts(rng, nk, inputs.randint(rng, 2, 5))
        if all(hi > lo for lo, hi in parts):
            parts = [(0, 0)] + parts  # always one empty part
        o, lse = _partial_attention(q, k, v, *parts[0], dtype, rng)
        for lo, hi in parts[1:]:
            o_b, lse_b = _partial_attention(q, k, v, lo, hi, dtype, rng)
            o, lse = _pair(sub.merge_attention(o, lse, o_b, lse_b), "merge_attention")
        ctx = f"{dtype_name(dtype)}, Nk={nk}, D={d}, key parts {parts} (an empty part: lse=-inf, o garbage)"
        o_ref, lse_ref = answers.attention(q, k, v)
        require(isinstance(o, torch.Tensor) and o.dtype == dtype,
                f"merge_attention ({ctx}): o should keep o_a's dtype {dtype_name(dtype)}, got {getattr(o, 'dtype', o)}")
        _finite(o, "o", ctx)
        assert_close(o, o_ref, name="o", dtype=dtype, context=ctx)
        assert_close(lse, lse_ref, name="lse", dtype=torch.float32, context=ctx)
    o_e, lse_e = inputs.randn(rng, 3, 16, scale=100.0), torch.full((3,), NEG_INF)
    o, lse = _pair(sub.merge_attention(o_e, lse_e, o_e.clone(), lse_e.clone()), "merge_attention")
    _finite(o, "o", "two empty parts")
    require(bool((o == 0).all()) and bool((lse == NEG_INF).all()),
            "merge_attention of two empty parts (lse=-inf) should give o = 0 and lse = -inf, got "
            f"max |o| {float(o.abs().max())}, lse {lse.tolist()}")


@checks.check(group="task4", points=1, category="systems", visible=True)
def merge_attention_rejects_mismatched_shapes(sub, rng):
    """Mismatched o/lse shapes raise ValueError naming the argument (no silent broadcast)."""
    o_a, lse_a = inputs.randn(rng, 2, 3, 16), torch.zeros(2, 3)
    raises("ValueError", sub.merge_attention, o_a, lse_a, inputs.randn(rng, 2, 3, 32), lse_a.clone(), names=("o_a", "o_b"),
                      what="merge_attention(o_a (2,3,16), lse_a, o_b (2,3,32), lse_b)")
    raises("ValueError", sub.merge_attention, o_a, lse_a, o_a.clone(), torch.zeros(2, 1), names=("lse_b",),
                      what="merge_attention(o_a (2,3,16), lse_a (2,3), o_b (2,3,16), lse_b (2,1))")
    raises("ValueError", sub.merge_attention, o_a, torch.zeros(2, 3, 16), o_a.clone(), lse_a.clone(),
                      names=("lse_a",), what="merge_attention(o_a (2,3,16), lse_a (2,3,16), o_b, lse_b)")


# ----------------------------------------------------------------------------- task 5 · flash_attention


def _flash(sub, q, k, v, **kw):
    """Call flash_attention under the instrumented interpreter: (o, lse, trace)."""
    result, tr = sub.traced("flash_attention", q, k, v, **kw)
    o, lse = _pair(result, "flash_attention")
    return o, lse, tr


def _desc(q, k, causal=False, sm_scale=None):
    b, h, nq, d = q.shape
    s = f"{dtype_name(q.dtype)} B={b} H={h} Nq={nq} Nk={k.shape[2]} D={d}, causal={causal}"
    return s + (f", sm_scale={sm_scale:g}" if sm_scale is not None else "")


def _check_o(o, q, o_ref, ctx, tol=None):
    require(isinstance(o, torch.Tensor), f"o ({ctx}): expected a tensor, got {type(o).__name__}")
    require(o.dtype == q.dtype, f"o ({ctx}): should have q's dtype {dtype_name(q.dtype)}, got {dtype_name(o.dtype)}")
    atol, rtol = tol if tol else TOLERANCES[q.dtype]
    assert_close(o, o_ref, name="o", dtype=q.dtype, atol=atol, rtol=rtol, context=ctx)


def _check_flash_o(sub, q, k, v, **kw):
    """flash_attention's o (kw: causal, sm_scale) against float64 attention."""
    o, _, _ = _flash(sub, q, k, v, **kw)
    _check_o(o, q, answers.attention(q, k, v, **kw)[0], _desc(q, k, **kw))


def _check_lse(lse, lse_ref, ctx):
    require(isinstance(lse, torch.Tensor), f"lse ({ctx}): expected a tensor, got {type(lse).__name__}")
    require(lse.dtype == torch.float32, f"lse ({ctx}): should be float32, got {dtype_name(lse.dtype)}")
    assert_close(lse, lse_ref, name="lse (natural log)", dtype=torch.float32, context=ctx)


@checks.check(group="task5", points=2, category="practice", visible=True)
def flash_attention_small(sub, rng):
    """flash_attention (non-causal, float32, N=64, D=32) matches float64 attention: o and lse."""
    q, k, v = inputs.qkv(rng, 1, 2, 64, 64, 32, torch.float32)
    o, lse, _ = _flash(sub, q, k, v)
    o_ref, lse_ref = answers.attention(q, k, v)
    _check_o(o, q, o_ref, _desc(q, k))
    _check_lse(lse, lse_ref, _desc(q, k))


@checks.check(group="task5", points=3, category="practice")
def flash_attention_awkward_sizes(sub, rng):
    """Non-causal o for N in {1, 17, 129}, Nq != Nk, every D, fp32/fp16/bf16, a custom sm_scale."""
    cases = ((1, 1, 16), (17, 17, 32), (17, 129, 16), (129, 17, 64), (33, 70, 128))
    for i, (nq, nk, d) in enumerate(cases):
        dtype = HALF[(i + inputs.randint(rng, 0, 2)) % 3]
        sm_scale = 0.3 if i == 2 else None
        q, k, v = inputs.qkv(rng, 1, 2, nq, nk, d, dtype)
        _check_flash_o(sub, q, k, v, sm_scale=sm_scale)


@checks.check(group="task5", points=2, category="practice")
def flash_attention_causal(sub, rng):
    """Causal o (query i sees keys j <= i) for N in {1, 17, 129} (diagonal included), fp32/fp16/bf16."""
    for i, (n, d) in enumerate(((1, 32), (17, 16), (129, 64), (100, 32))):
        dtype = HALF[(i + inputs.randint(rng, 0, 2)) % 3]
        q, k, v = inputs.qkv(rng, 2, 1, n, n, d, dtype)
        _check_flash_o(sub, q, k, v, causal=True)


@checks.check(group="task5", points=2, category="practice")
def flash_attention_lse(sub, rng):
    """lse is float32 (B, H, Nq), the natural-log log-sum-exp of the scaled scores, causal and not."""
    for nq, nk, d, causal, dtype in ((17, 129, 32, False, torch.float16), (70, 70, 16, True, torch.bfloat16),
                                     (1, 1, 64, True, torch.float32)):
        q, k, v = inputs.qkv(rng, 1, 2, nq, nk, d, dtype)
        _, lse, _ = _flash(sub, q, k, v, causal=causal)
        _, lse_ref = answers.attention(q, k, v, causal=causal)
        _check_lse(lse, lse_ref, _desc(q, k, causal))


# Scores of magnitude 1e4 in float32 carry an absolute rounding error of ~1e-3 (ulp of 1e4), so the
# softmax weights are off by ~0.1 %: o is compared with atol = rtol = 1e-2, still far below what a
# missing max subtraction (inf / NaN) or a missing rescale (weights off by e^100s) gives.
LARGE_LOGIT_TOL = (1e-2, 1e-2)


@checks.check(group="task5", points=1, category="practice")
def flash_attention_large_logits(sub, rng):
    """Scores of magnitude 1e4 (q, k scaled by 100): stable o and lse, causal and not, float32."""
    for n, causal in ((129, False), (70, True)):
        q, k, v = inputs.qkv(rng, 1, 2, n, n, 32, torch.float32, scale=100.0)
        o, lse, _ = _flash(sub, q, k, v, causal=causal)
        o_ref, lse_ref = answers.attention(q, k, v, causal=causal)
        ctx = _desc(q, k, causal) + ", q and k scaled by 100 (scores ~1e4)"
        _finite(o, "o", ctx)
        _check_o(o, q, o_ref, ctx, tol=LARGE_LOGIT_TOL)
        _check_lse(lse, lse_ref, ctx)


@checks.check(group="task5", points=1, category="practice", visible=True)
def flash_attention_rejects_bad_inputs(sub, rng):
    """Unsupported D, causal with Nq != Nk, mismatched shapes or dtypes raise ValueError naming the argument."""
    q, k, v = inputs.qkv(rng, 1, 2, 17, 17, 16, torch.float32)
    q48 = inputs.randn(rng, 1, 2, 17, 48)
    raises("ValueError", sub.flash_attention, q48, q48.clone(), q48.clone(), names=("q", "k", "v", "D", "head_dim"),
                      what="flash_attention with D=48")
    raises("ValueError", sub.flash_attention, q, inputs.randn(rng, 1, 2, 20, 16), inputs.randn(rng, 1, 2, 20, 16), causal=True,
                      names=("causal",), what="flash_attention(q Nq=17, k/v Nk=20, causal=True)")
    raises("ValueError", sub.flash_attention, q, k, inputs.randn(rng, 1, 2, 16, 16), names=("v", "k"),
                      what="flash_attention(q, k (1,2,17,16), v (1,2,16,16))")
    raises("ValueError", sub.flash_attention, q, inputs.randn(rng, 1, 2, 17, 32), inputs.randn(rng, 1, 2, 17, 32),
                      names=("k", "q"), what="flash_attention(q D=16, k/v D=32)")
    raises("ValueError", sub.flash_attention, q, inputs.randn(rng, 1, 3, 17, 16), inputs.randn(rng, 1, 3, 17, 16),
                      names=("k", "q"), what="flash_attention(q H=2, k/v H=3)")
    raises(("ValueError", "TypeError"), sub.flash_attention, q, k.half(), v.half(), names=("k", "v"),
                      what="flash_attention(q float32, k/v float16)")
    raises("ValueError", sub.flash_attention, q[0], k[0], v[0], names=("q",),
                      what="flash_attention with 3-D q (H, N, D)")


# ----------------------------------------------------------------------------- task 5 · performance (counts)


def _correct_first(o, q, k, v, causal, ctx):
    """Performance is graded only for a kernel whose o is right."""
    o_ref, _ = answers.attention(q, k, v, causal=causal)
    try:
        _check_o(o, q, o_ref, ctx)
    except CheckFailure as e:
        raise CheckFailure(f"performance is graded on a correct result; first fix o: {e}") from None


def _bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@checks.check(group="task5_perf", points=2, category="systems", kind="performance", visible=True)
def flash_attention_stores_only_o_and_lse(sub, rng):
    """The kernel's only stores are o and lse, each written once (no Nq x Nk score buffer)."""
    for nq, nk, causal in ((129, 129, True), (40, 129, False)):
        q, k, v = inputs.qkv(rng, 1, 2, nq, nk, 32, torch.float16)
        o, lse, tr = _flash(sub, q, k, v, causal=causal)
        ctx = _desc(q, k, causal)
        _correct_first(o, q, k, v, causal, ctx)
        want = _bytes(o) + _bytes(lse)
        require(tr.num_launches > 0, f"flash_attention ({ctx}) launched no Triton kernel")
        require(tr.bytes_stored == want,
                f"flash_attention ({ctx}): kernels stored {tr.bytes_stored} B; o ({_bytes(o)} B) + lse ({_bytes(lse)} B) "
                f"= {want} B. Store nothing else (scores, partial outputs) and each output element once.\n{tr.summary}")
        require(list(tr.result_stored) == list(tr.result_nbytes),
                f"flash_attention ({ctx}): bytes stored into (o, lse) {list(tr.result_stored)}, expected "
                f"{list(tr.result_nbytes)} (each element exactly once)")


@checks.check(group="task5_perf", points=3, category="systems", kind="performance")
def flash_attention_reads_kv_per_query_block(sub, rng):
    """K and V are read between 1 and ceil(Nq/32) times their size, Q about once (<= 1.25x)."""
    for nq, nk in ((129, 100), (64, 257)):
        q, k, v = inputs.qkv(rng, 1, 2, nq, nk, 32, torch.float16)
        o, lse, tr = _flash(sub, q, k, v)
        ctx = _desc(q, k)
        _correct_first(o, q, k, v, False, ctx)
        limit = math.ceil(nq / 32)
        for i, name in ((0, "Q"), (1, "K"), (2, "V")):
            got, size = tr.input_loaded[i], tr.input_nbytes[i]
            factor = got / size
            if name == "Q":
                require(size <= got <= 1.25 * size,
                        f"flash_attention ({ctx}): Q was read {factor:.2f}x its size; load each Q tile once and keep "
                        f"it on chip (expected 1x, at most 1.25x)")
            else:
                require(size <= got <= limit * size * 1.02,
                        f"flash_attention ({ctx}): {name} was read {factor:.2f}x its size ({got} B of {size} B); "
                        f"with BLOCK_M >= 32 query rows per program it should be read at least once and at most "
                        f"ceil(Nq/32) = {limit} times")


@checks.check(group="task5_perf", points=2, category="systems", kind="performance", visible=True)
def flash_attention_causal_skips_tiles(sub, rng):
    """Causal reads clearly fewer K/V bytes than non-causal: key tiles above the diagonal are skipped."""
    n = 384
    q, k, v = inputs.qkv(rng, 1, 1, n, n, 16, torch.float16)
    o_full, _, tr_full = _flash(sub, q, k, v)
    _correct_first(o_full, q, k, v, False, _desc(q, k))
    o, _, tr = _flash(sub, q, k, v, causal=True)
    _correct_first(o, q, k, v, True, _desc(q, k, True))
    for i, name in ((1, "K"), (2, "V")):
        size = tr.input_nbytes[i]
        full, causal = tr_full.input_loaded[i] / size, tr.input_loaded[i] / size
        nb = max(1, round(full))  # query blocks of the non-causal run: each reads all of K once
        ideal = (nb + 1) / 2  # block j of nb needs only keys up to its last row: (j+1)/nb of K
        limit = (ideal + nb) / 2  # halfway between skipping and not skipping
        require(1.0 <= causal <= limit + 1e-9,
                f"flash_attention (N={n}, causal): {name} read {causal:.2f}x its size vs {full:.2f}x non-causal "
                f"({nb} query blocks). With tiles above the diagonal skipped, about {ideal:.2f}x; expected at most "
                f"{limit:.2f}x (and at least 1x)")


@checks.check(group="task5_perf", points=1, category="systems", kind="performance", visible=True)
def flash_attention_no_out_of_bounds(sub, rng):
    """No load or store outside q, k, v, o, lse for N = 1, 17, 129 and Nq != Nk (mask partial tiles)."""
    for nq, nk, causal in ((17, 17, True), (17, 17, False), (1, 33, False), (129, 129, True), (5, 129, False)):
        q, k, v = inputs.qkv(rng, 1, 1, nq, nk, 16, torch.float32)
        _, _, tr = _flash(sub, q, k, v, causal=causal)
        require(tr.oob_count == 0,
                f"flash_attention ({_desc(q, k, causal)}): {tr.oob_count} out-of-bounds load/store op(s), e.g. "
                f"{tr.oob[0] if tr.oob else ''}. Mask the lanes of the last, partial Q and K/V tiles.")


@checks.check(group="task5_perf", points=1, category="systems", kind="integrity")
def flash_attention_kernel_made_outputs(sub, rng):
    """o and lse are exactly what a Triton kernel stored (no torch/SDPA fallback, no post-processing)."""
    for nq, nk, causal, dtype in ((33, 33, True, torch.float16), (17, 50, False, torch.bfloat16)):
        q, k, v = inputs.qkv(rng, 1, 2, nq, nk, 32, dtype)
        _, _, tr = _flash(sub, q, k, v, causal=causal)
        require(tr.kernel_made_outputs(),
                f"flash_attention ({_desc(q, k, causal)}): the returned (o, lse) are not what a Triton kernel "
                f"stored ({tr.num_launches} launch(es); from a kernel: {list(tr.result_from_kernel)}). Compute "
                f"both inside your kernel and return its output buffers.")
