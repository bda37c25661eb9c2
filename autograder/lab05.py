"""lab05 checks: ring collectives from point-to-point, a tensor-parallel MLP, two formulas.

The distributed checks run the submission on real gloo ranks through trusted probes in
inferlab/grading/probes/collectives.py (`grade_collective`, `grade_tp_mlp`): one launch per world size, every
case on the same process group. In the ranks the probe counts the bytes each rank sends
and receives (at the ProcessGroup's send/recv, however the submission reached them) and
makes every collective raise inside the ring functions; for tp_mlp it counts all-reduces.
Expected values are computed here, in float64, from the inputs sent.
"""
import math

import torch

from inferlab.grading import CheckFailure, Checks, assert_close, assert_equal, exception_names, require
from inferlab.grading.asserts import is_close, raises
from inferlab.grading.probes import collectives

checks = Checks("lab05")

DTYPES = (torch.float32, torch.float16)
PROBE_TIMEOUT = 30.0


# ----------------------------------------------------------------------------- helpers


def _launch_failure(e: BaseException, what: str) -> CheckFailure | None:
    """A failed launch (a rank raised, died or deadlocked) as a message that teaches; None otherwise."""
    names = exception_names(e)
    if not ({"RankError", "LaunchTimeout"} & set(names)):
        return None
    text = getattr(e, "message", None) or str(e)
    first = text.splitlines()[0] if text else ""
    if "failed: NotImplementedError" in first:
        return CheckFailure(f"{what}: not implemented yet ({first})")
    if "not allowed here" in text:
        return CheckFailure(f"{what}: {text.splitlines()[0]}\n(the graded ring functions may only use "
                            "dist.send/recv/isend/irecv; collectives are refused while they run)")
    lines = text.splitlines()
    return CheckFailure(f"{what}: {lines[0]}\n" + "\n".join(lines[1:])[-1500:])


def _probe(sub, what: str, fn, *args):
    try:
        return sub.probe(fn, *args, PROBE_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - the grader's own troubles (ChildTimeout...) pass through
        failure = _launch_failure(e, what)
        if failure is None:
            raise
        raise failure from None


def _ranks(p: int) -> str:
    return "1 rank" if p == 1 else f"{p} ranks"


def _numels(p: int) -> list[int]:
    """1, 7, 1000 and p*k + r with r = p - 1 (a remainder whenever p > 1)."""
    return sorted({1, 7, 1000, 13 * p + max(p - 1, 0)})


def _inputs(rng, p: int, shape, dtype) -> list[torch.Tensor]:
    return [torch.randn(shape, generator=rng).to(dtype) for _ in range(p)]


def _sum_tolerance(xs, dtype):
    """(atol, rtol) for a p-term sum in `dtype` against float64: (p-1) roundings of partial sums."""
    if dtype == torch.float16:
        bound = sum(x.double().abs() for x in xs).max().item()
        return len(xs) * 2.0 ** -10 * bound + 1e-3, 2e-3
    return 1e-4 * len(xs), 1e-4


def _check_all_reduce_case(xs, outs, p, dtype, label):
    ref = sum(x.double() for x in xs)  # float64 reference of the sum
    atol, rtol = _sum_tolerance(xs, dtype)
    for r, o in enumerate(outs):
        ctx = f"{label}, rank {r} of {p}"
        res = o["result"]
        require(isinstance(res, torch.Tensor), f"ring_all_reduce ({ctx}) returned {type(res).__name__}, "
                "expected the reduced tensor")
        require(res.dtype == dtype, f"ring_all_reduce ({ctx}) returned dtype {res.dtype}, expected {dtype}")
        assert_close(res, ref, name="ring_all_reduce result", dtype=dtype, atol=atol, rtol=rtol, context=ctx)
        assert_close(o["input_after"], ref, name="the input tensor after ring_all_reduce (it sums in place)",
                     dtype=dtype, atol=atol, rtol=rtol, context=ctx)


def _run_collective(sub, rng, fn_name, p, shapes, dtypes=DTYPES):
    """One launch of `fn_name` on p ranks for every (shape, dtype): (cases, (shape, dtype)s, per-rank outputs)."""
    cases, meta = [], []
    for shape in shapes:
        for dtype in dtypes:
            cases.append(_inputs(rng, p, shape, dtype))
            meta.append((shape, dtype))
    out = _probe(sub, f"{fn_name} on {_ranks(p)}", collectives.grade_collective, fn_name, p, cases)
    return cases, meta, out


def _label(shape, dtype) -> str:
    return f"shape {tuple(shape)}, {str(dtype).replace('torch.', '')}"


# ----------------------------------------------------------------------------- task 1 · ring_all_reduce


@checks.check(group="task1", points=1, category="systems", visible=True)
def ring_all_reduce_on_two_ranks(sub, rng):
    """ring_all_reduce on 2 ranks sums in place: shapes (6,), (1,), (3, 5), float32."""
    cases, meta, out = _run_collective(sub, rng, "ring_all_reduce", 2, [(6,), (1,), (3, 5)], dtypes=(torch.float32,))
    for xs, (shape, dtype), outs in zip(cases, meta, out):
        _check_all_reduce_case(xs, outs, 2, dtype, _label(shape, dtype))


@checks.check(group="task1", points=3, category="systems")
def ring_all_reduce_matches_all_reduce(sub, rng):
    """ring_all_reduce equals the sum for p in {1,2,3,4}, numel in {1, 7, 1000, p*k+r}, fp32/fp16."""
    for p in (1, 2, 3, 4):
        shapes = [(n,) for n in _numels(p)] + [(3, 5)]
        cases, meta, out = _run_collective(sub, rng, "ring_all_reduce", p, shapes)
        for xs, (shape, dtype), outs in zip(cases, meta, out):
            _check_all_reduce_case(xs, outs, p, dtype, _label(shape, dtype))


@checks.check(group="task1", points=2, category="systems", kind="performance", visible=True)
def ring_all_reduce_sends_ring_bytes(sub, rng):
    """Each rank sends at most 2(p-1)/p * nbytes + 64p bytes (p = 3, 4; numel 7, 1000, 1003)."""
    for p in (3, 4):
        cases, meta, out = _run_collective(sub, rng, "ring_all_reduce", p, [(7,), (1000,), (1003,)])
        for xs, (shape, dtype), outs in zip(cases, meta, out):
            _check_all_reduce_case(xs, outs, p, dtype, _label(shape, dtype))
            nbytes = xs[0].numel() * xs[0].element_size()
            bound = 2 * (p - 1) / p * nbytes + 64 * p
            worst = max(range(p), key=lambda r: outs[r]["sent"])
            sent = outs[worst]["sent"]
            require(sent <= bound,
                    f"ring_all_reduce ({_label(shape, dtype)}, {p} ranks): rank {worst} sent {sent} bytes "
                    f"({outs[worst]['sends']} sends) for a {nbytes}-byte tensor; a ring sends at most "
                    f"2(p-1)/p * N + 64p = {bound:.0f} bytes: 2(p-1) chunks of about N/p each "
                    "(reduce-scatter, then all-gather), never the whole tensor to every rank")


@checks.check(group="task1", points=1, category="systems", kind="integrity")
def ring_all_reduce_uses_point_to_point_only(sub, rng):
    """On 4 ranks: no collective is called, every rank sends and receives point-to-point."""
    cases, meta, out = _run_collective(sub, rng, "ring_all_reduce", 4, [(64,)], dtypes=(torch.float32,))
    outs = out[0]
    _check_all_reduce_case(cases[0], outs, 4, torch.float32, "shape (64,), float32")
    for r, o in enumerate(outs):
        require(not o["refused"], f"rank {r} called {o['refused']}: only point-to-point is allowed")
        require(o["sent"] > 0 and o["received"] > 0,
                f"rank {r} sent {o['sent']} and received {o['received']} bytes through "
                "send/recv/isend/irecv: the sum must travel point-to-point around the ring")


# ----------------------------------------------------------------------------- task 2 · ring_reduce_scatter


def _check_reduce_scatter(sub, rng, p, shapes, dtypes):
    cases, meta, out = _run_collective(sub, rng, "ring_reduce_scatter", p, shapes, dtypes)
    for xs, (shape, dtype), outs in zip(cases, meta, out):
        total = sum(x.double() for x in xs).flatten()
        expected = torch.tensor_split(total, p)
        atol, rtol = _sum_tolerance(xs, dtype)
        for r, o in enumerate(outs):
            ctx = f"{_label(shape, dtype)}, rank {r} of {p}: chunk {r} of tensor_split(sum.flatten(), {p})"
            res = o["result"]
            require(isinstance(res, torch.Tensor), f"ring_reduce_scatter ({ctx}) returned {type(res).__name__}")
            require(res.dtype == dtype, f"ring_reduce_scatter ({ctx}) returned dtype {res.dtype}, expected {dtype}")
            assert_close(res.reshape(-1) if res.numel() == expected[r].numel() else res, expected[r],
                         name="ring_reduce_scatter result", dtype=dtype, atol=atol, rtol=rtol, context=ctx)
            sent_bound = (p - 1) / p * xs[0].numel() * xs[0].element_size() + 64 * p
            require(o["sent"] <= sent_bound,
                    f"ring_reduce_scatter ({ctx}): rank {r} sent {o['sent']} bytes, a ring sends at most "
                    f"(p-1)/p * N + 64p = {sent_bound:.0f}")


@checks.check(group="task2", points=1, category="systems", visible=True)
def ring_reduce_scatter_on_two_ranks(sub, rng):
    """ring_reduce_scatter on 2 ranks: shapes (6,), (7,), (1,), (3, 5), float32."""
    _check_reduce_scatter(sub, rng, 2, [(6,), (7,), (1,), (3, 5)], (torch.float32,))


@checks.check(group="task2", points=2, category="systems")
def ring_reduce_scatter_matches_reference(sub, rng):
    """ring_reduce_scatter: rank r gets chunk r of the sum, p in {1,3,4}, awkward numel, fp32/fp16."""
    for p in (1, 3, 4):
        _check_reduce_scatter(sub, rng, p, [(n,) for n in _numels(p)] + [(3, 5)], DTYPES)


# ----------------------------------------------------------------------------- task 3 · ring_all_gather


def _check_all_gather(sub, rng, p, shapes, dtypes):
    cases, meta, out = _run_collective(sub, rng, "ring_all_gather", p, shapes, dtypes)
    for xs, (shape, dtype), outs in zip(cases, meta, out):
        expected = torch.cat(xs, dim=0)
        for r, o in enumerate(outs):
            ctx = f"chunks of {_label(shape, dtype)}, rank {r} of {p}: torch.cat(chunks of ranks 0..{p - 1}, dim=0)"
            assert_equal(o["result"], expected, name="ring_all_gather result", context=ctx)


@checks.check(group="task3", points=1, category="systems", visible=True)
def ring_all_gather_on_two_ranks(sub, rng):
    """ring_all_gather on 2 ranks: chunks (3,), (1,), (2, 5), float32."""
    _check_all_gather(sub, rng, 2, [(3,), (1,), (2, 5)], (torch.float32,))


@checks.check(group="task3", points=2, category="systems")
def ring_all_gather_matches_reference(sub, rng):
    """ring_all_gather concatenates in rank order, p in {1,3,4}, chunks (1,), (7,), (250,), (3, 5), fp32/fp16."""
    for p in (1, 3, 4):
        _check_all_gather(sub, rng, p, [(1,), (7,), (250,), (3, 5)], DTYPES)


# ----------------------------------------------------------------------------- task 4 · tp_mlp


def _mlp_cases(rng, shapes):
    cases = []
    for x_shape, d, h, d_out in shapes:
        cases.append((torch.randn(x_shape, generator=rng), torch.randn(d, h, generator=rng) / math.sqrt(d),
                      torch.randn(h, d_out, generator=rng) / math.sqrt(h)))
    return cases


def _run_tp(sub, rng, p, shapes):
    cases = _mlp_cases(rng, shapes)
    out = _probe(sub, f"tp_mlp on {_ranks(p)}", collectives.grade_tp_mlp, p, cases)
    for (x, w_up, w_down), outs in zip(cases, out):
        ref = torch.nn.functional.gelu(x.double() @ w_up.double()) @ w_down.double()
        for r, o in enumerate(outs):
            ctx = f"x {tuple(x.shape)}, w_up {tuple(w_up.shape)}, w_down {tuple(w_down.shape)}, rank {r} of {p}"
            assert_close(o["result"], ref, name="tp_mlp", dtype=torch.float32, context=ctx)
    return cases, out


@checks.check(group="task4", points=1, category="practice", visible=True)
def tp_mlp_on_two_ranks(sub, rng):
    """tp_mlp on 2 ranks equals gelu(x @ w_up) @ w_down (x (4, 8), h = 12)."""
    _run_tp(sub, rng, 2, [((4, 8), 8, 12, 8)])


@checks.check(group="task4", points=2, category="practice")
def tp_mlp_matches_unsharded(sub, rng):
    """tp_mlp equals the float64 unsharded MLP for p in {1,3,4}, h not divisible by p, 3-D x."""
    for p in (1, 3, 4):
        _run_tp(sub, rng, p, [((5, 8), 8, 10, 6), ((2, 3, 16), 16, 33, 16), ((1, 4), 4, 7, 3)])


@checks.check(group="task4", points=2, category="practice", kind="integrity", visible=True)
def tp_mlp_makes_one_all_reduce_of_sharded_partials(sub, rng):
    """On 4 ranks: exactly one all-reduce per forward, nothing else sent, and the ranks' partials differ."""
    for p in (2, 4):
        cases, out = _run_tp(sub, rng, p, [((6, 8), 8, 20, 8), ((3, 16), 16, 9, 5)])
        for (x, w_up, w_down), outs in zip(cases, out):
            ctx = f"tp_mlp on {p} ranks, w_up {tuple(w_up.shape)}"
            for r, o in enumerate(outs):
                n_dist = o["calls"].get("all_reduce", 0)
                n_ring = o["ring_calls"]
                require(not o["refused"], f"{ctx}: rank {r} called {o['refused']}; only one all-reduce is needed")
                require(n_dist + n_ring == 1,
                        f"{ctx}: rank {r} made {n_dist} dist.all_reduce and {n_ring} ring_all_reduce calls; "
                        "a column-sharded w_up and row-sharded w_down need exactly one all-reduce, of the "
                        "(..., d_out) partial output (an all-reduce before the gelu means w_up was split by rows)")
                if n_dist == 1:
                    require(o["sent"] == 0, f"{ctx}: rank {r} also sent {o['sent']} bytes point-to-point")
                red = o["reduced"]
                require(len(red) == 1 and red[0].numel() == x[..., :1].numel() * w_down.shape[1],
                        f"{ctx}: rank {r} all-reduced {[t.numel() for t in red]} elements; expected the partial "
                        f"output of {x[..., :1].numel() * w_down.shape[1]} elements")
            partials = [o["reduced"][0].double() for o in outs]
            require(any(not torch.allclose(partials[0], q) for q in partials[1:]),
                    f"{ctx}: every rank all-reduced the same partial: each rank should compute only its own "
                    "shard (columns of w_up, rows of w_down), not the whole MLP divided by p")


# ----------------------------------------------------------------------------- task 5 · pipeline_bubble_fraction


@checks.check(group="task5", points=1, category="knowledge", visible=True)
def bubble_fraction_examples(sub, rng):
    """pipeline_bubble_fraction(4, 8) = 3/11, (8, 8) = 7/15, (2, 1) = 1/2."""
    for p, m in ((4, 8), (8, 8), (2, 1)):
        got = sub.pipeline_bubble_fraction(p, m)
        want = (p - 1) / (m + p - 1)
        require(is_close(got, want), f"pipeline_bubble_fraction({p}, {m}) = {got!r}, expected (p-1)/(m+p-1) = {want:.6g}")


@checks.check(group="task5", points=1, category="knowledge")
def bubble_fraction_edge_cases(sub, rng):
    """One stage: no bubble; one micro-batch: (p-1)/p; large m; bad arguments raise ValueError naming them."""
    m_big = int(torch.randint(100, 10_000, (1,), generator=rng))
    for p, m in ((1, 1), (1, 64), (5, 1), (16, 1), (3, 7), (64, m_big)):
        got = sub.pipeline_bubble_fraction(p, m)
        want = (p - 1) / (m + p - 1)
        require(is_close(got, want), f"pipeline_bubble_fraction({p}, {m}) = {got!r}, expected {want:.6g}")
    raises("ValueError", sub.pipeline_bubble_fraction, 0, 4, match="num_stages",
                  what="pipeline_bubble_fraction(0, 4)")
    raises("ValueError", sub.pipeline_bubble_fraction, 4, 0, match="num_microbatches",
                  what="pipeline_bubble_fraction(4, 0)")


# ----------------------------------------------------------------------------- task 6 · allreduce_time


def _ring(n, p, a, b):
    return 0.0 if p == 1 else 2 * (p - 1) * a + 2 * (p - 1) / p * n * b


def _rd(n, p, a, b):
    return math.log2(p) * (a + n * b)


@checks.check(group="task6", points=1, category="knowledge", visible=True)
def allreduce_time_ring_example(sub, rng):
    """Ring, 1 GiB on 8 ranks, alpha 5 µs, 100 GB/s: 2*7*alpha + 2*7/8*N*beta."""
    n, p, a, b = 2**30, 8, 5e-6, 1 / 100e9
    got = sub.allreduce_time(n, p, a, b)
    want = _ring(n, p, a, b)
    require(is_close(got, want), f"allreduce_time({n}, {p}, {a}, {b}) = {got!r}, expected 2(p-1) alpha + "
            f"2(p-1)/p N beta = {want:.6g} s")


@checks.check(group="task6", points=2, category="knowledge")
def allreduce_time_edge_cases(sub, rng):
    """Ring and recursive doubling on several sizes; p = 1 costs 0; non-power-of-two p raises naming world_size."""
    a = float(torch.empty(1).uniform_(1e-6, 2e-5, generator=rng))
    b = 1 / float(torch.empty(1).uniform_(1e10, 5e11, generator=rng))
    for n in (0, 1, 4096, 2**20, 3 * 2**28):
        for p in (1, 2, 3, 6, 8, 64):
            got = sub.allreduce_time(n, p, a, b)
            require(is_close(got, _ring(n, p, a, b)),
                    f"allreduce_time({n}, {p}, {a:.3g}, {b:.3g}) = {got!r}, expected {_ring(n, p, a, b):.6g} (ring)")
        for p in (1, 2, 8, 64):
            got = sub.allreduce_time(n, p, a, b, algorithm="recursive_doubling")
            require(is_close(got, _rd(n, p, a, b)),
                    f"allreduce_time({n}, {p}, ..., 'recursive_doubling') = {got!r}, expected "
                    f"log2(p) (alpha + N beta) = {_rd(n, p, a, b):.6g}")
    raises("ValueError", sub.allreduce_time, 1024, 6, a, b, algorithm="recursive_doubling",
                  match="world_size", what="allreduce_time(1024, 6, ..., 'recursive_doubling')")
    raises("ValueError", sub.allreduce_time, 1024, 0, a, b, match="world_size",
                  what="allreduce_time(1024, 0, ...)")
    raises("ValueError", sub.allreduce_time, 1024, 4, a, b, algorithm="tree", match="algorithm",
                  what="allreduce_time(..., algorithm='tree')")
