"""Tests of the instrumented interpreter: exact byte counts, dot FLOPs, out-of-bounds checks, the bf16 dot fix."""
import inferlab  # noqa: F401  (sets TRITON_INTERPRET=1 before the kernels below are decorated, when no GPU)

import pytest
import torch
import triton
import triton.language as tl

from inferlab import memtrace
from inferlab.memtrace import OutOfBoundsAccess, fix_interpreter_bf16_dot, trace

pytestmark = pytest.mark.skipif(not memtrace.interpreter_active(),
                                reason="memtrace needs the Triton interpreter (TRITON_INTERPRET=1)")

if memtrace.interpreter_active():
    from triton.runtime.interpreter import GridExecutor, InterpreterBuilder

PATCHED = ["create_masked_load", "create_masked_store", "create_atomic_rmw", "create_atomic_cas", "create_dot",
           "set_grid_dim"]


@triton.jit
def copy_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=mask), mask=mask)


@triton.jit
def copy_no_mask_kernel(x_ptr, y_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs))  # bug on purpose: no mask


@triton.jit
def read_twice_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(x_ptr + offs, mask=mask)
    b = tl.load(x_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, a + b, mask=mask)


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                  BK: tl.constexpr):
    # K is constexpr: triton 3.6's interpreter cannot range() over a runtime int with numpy >= 2.4
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        kk = k0 + rk
        a = tl.load(a_ptr + rm[:, None] * K + kk[None, :], mask=(rm[:, None] < M) & (kk[None, :] < K), other=0.0)
        b = tl.load(b_ptr + kk[:, None] * N + rn[None, :], mask=(kk[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, S: tl.constexpr):
    r = tl.arange(0, S)
    a = tl.load(a_ptr + r[:, None] * S + r[None, :])
    b = tl.load(b_ptr + r[:, None] * S + r[None, :])
    tl.store(c_ptr + r[:, None] * S + r[None, :], tl.dot(a, b))


@triton.jit
def add_rows_kernel(q_ptr, k_ptr, o_ptr, stride_q, stride_k, D: tl.constexpr):
    row = tl.program_id(0)
    d = tl.arange(0, D)
    q = tl.load(q_ptr + row * stride_q + d)
    k = tl.load(k_ptr + row * stride_k + d)
    tl.store(o_ptr + row * D + d, q + k)


@triton.jit
def histogram_kernel(x_ptr, hist_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    v = tl.load(x_ptr + offs, mask=mask, other=0)
    tl.atomic_add(hist_ptr + v, 1, mask=mask)


def copy(x: torch.Tensor, block: int = 128) -> torch.Tensor:
    """y = x through copy_kernel."""
    y = torch.empty_like(x)
    copy_kernel[(triton.cdiv(x.numel(), block),)](x, y, x.numel(), BLOCK=block)
    return y


def matmul(a: torch.Tensor, b: torch.Tensor, block: int = 16) -> torch.Tensor:
    """(M, K) @ (K, N) -> (M, N) float32 through matmul_kernel."""
    (M, K), N = a.shape, b.shape[1]
    c = torch.empty(M, N)
    matmul_kernel[(triton.cdiv(M, block), triton.cdiv(N, block))](a, b, c, M, N, K, BM=block, BN=block, BK=block)
    return c


def originals() -> dict:
    return {name: InterpreterBuilder.__dict__[name] for name in PATCHED} | {
        name: GridExecutor.__dict__[name] for name in ("__call__", "_init_args_hst")}


# ----------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("n", [1, 17, 129, 1000])
def test_masked_copy_counts_exactly_the_bytes_inside_the_mask(n):
    x = torch.randn(n)
    with trace() as t:
        y = copy(x)
    assert torch.equal(y, x)
    (launch,) = t.launches
    xs, ys = launch.args["x_ptr"], launch.args["y_ptr"]
    # 1 read and 1 write of 4 bytes per element; the masked-off lanes of the last block cost nothing
    assert t.bytes_loaded == t.bytes_stored == 4 * n, t.summary()
    assert (xs.bytes_loaded, xs.bytes_stored, ys.bytes_loaded, ys.bytes_stored) == (4 * n, 0, 0, 4 * n)
    assert xs.loads == ys.stores == launch.num_programs == triton.cdiv(n, 128)
    assert xs.elements_loaded == n and xs.nbytes == 4 * n and xs.read_factor == 1.0
    assert t.loaded_from(x) == t.stored_to(y) == 4 * n
    assert t.loaded_from(y) == t.stored_to(x) == 0
    assert (ys.store_counts() == 1).all(), "every element of y is written exactly once"
    assert launch.kernel == launch.name == "copy_kernel" and launch.grid == (triton.cdiv(n, 128), 1, 1)
    assert launch.scalars == {"n": n, "BLOCK": 128}


def test_reading_the_input_twice_shows_twice_its_size():
    x = torch.randn(300)
    y = torch.empty_like(x)
    with trace() as t:
        read_twice_kernel[(3,)](x, y, 300, BLOCK=128)
    xs = t.launches[0].args["x_ptr"]
    assert xs.bytes_loaded == 2 * 4 * 300 and xs.read_factor == 2.0 and xs.loads == 2 * 3
    assert (xs.load_counts() == 2).all()
    assert "2.0x its size" in t.summary()
    assert torch.equal(y, 2 * x)


def test_tiled_matmul_flops_and_loads_follow_the_tile_arithmetic():
    M, N, K, B = 64, 48, 32, 16
    a, b = torch.randn(M, K), torch.randn(K, N)
    with trace() as t:
        c = matmul(a, b, block=B)
    torch.testing.assert_close(c, a @ b, atol=1e-4, rtol=1e-4)
    args = t.launches[0].args
    assert t.dot_flops == 2 * M * N * K
    assert t.launches[0].dots == (M // B) * (N // B) * (K // B)
    assert args["a_ptr"].bytes_loaded == (N // B) * M * K * 4  # each row panel of A is read by N/B programs
    assert args["b_ptr"].bytes_loaded == (M // B) * K * N * 4  # each column panel of B by M/B programs
    assert args["c_ptr"].bytes_stored == M * N * 4 and t.bytes_stored == M * N * 4
    assert (args["a_ptr"].load_counts() == N // B).all()


def test_matmul_on_ragged_shapes_counts_masked_bytes_but_padded_flops():
    M, N, K, B = 40, 24, 40, 16
    a, b = torch.randn(M, K), torch.randn(K, N)
    with trace() as t:
        c = matmul(a, b, block=B)
    torch.testing.assert_close(c, a @ b, atol=1e-4, rtol=1e-4)
    cd = triton.cdiv
    assert t.loaded_from(a) == cd(N, B) * M * K * 4 and t.loaded_from(b) == cd(M, B) * K * N * 4
    assert t.dot_flops == 2 * (cd(M, B) * B) * (cd(N, B) * B) * (cd(K, B) * B)  # tl.dot works on whole tiles


def test_atomics_count_as_a_load_and_a_store_of_each_active_lane():
    x = torch.randint(0, 4, (50,), dtype=torch.int32)
    hist = torch.zeros(4, dtype=torch.int32)
    with trace() as t:
        histogram_kernel[(2,)](x, hist, 50, BLOCK=32)
    assert torch.equal(hist, torch.bincount(x, minlength=4).int())
    hs = t.launches[0].args["hist_ptr"]
    assert hs.bytes_loaded == hs.bytes_stored == 50 * 4 and hs.loads == hs.stores == 2
    assert hs.store_counts().sum() == 50


# ----------------------------------------------------------------------------- attribution


def test_overlapping_views_of_one_buffer_are_told_apart_element_by_element():
    N, D = 8, 16
    qkv = torch.randn(N, 3, D)
    q, k = qkv[:, 0], qkv[:, 1]  # (N, D) each, row stride 3*D: their address ranges interleave
    o = torch.empty(N, D)
    with trace() as t:
        add_rows_kernel[(N,)](q, k, o, q.stride(0), k.stride(0), D=D)
    assert torch.equal(o, q + k)
    args = t.launches[0].args
    assert args["q_ptr"].bytes_loaded == args["k_ptr"].bytes_loaded == N * D * 4, t.summary()
    assert t.loaded_from(q) == t.loaded_from(k) == N * D * 4
    assert t.loaded_from(qkv) == 2 * N * D * 4 and t.loaded_from(qkv[:, 2]) == 0
    assert (args["k_ptr"].load_counts() == 1).all()


def test_loaded_from_a_slice_counts_only_the_bytes_inside_it():
    x = torch.randn(1000)
    with trace() as t:
        copy(x)
    assert t.loaded_from(x[:100]) == 400 and t.loaded_from(x[500:]) == 2000


def test_a_copy_made_by_the_caller_is_found_with_include_copies():
    x = torch.randn(100)
    with trace() as t:
        copy(x.clone())  # a wrapper that copies (e.g. a .contiguous() of a strided tensor)
    assert t.loaded_from(x) == 0
    assert t.loaded_from(x, include_copies=True) == 400
    assert t.launches[0].args["x_ptr"].bytes_loaded == 400


def test_attribution_survives_the_interpreter_copying_arguments_to_host_buffers(monkeypatch):
    # With device tensors the interpreter runs on host copies; simulate that on CPU with clones.
    init = GridExecutor._init_args_hst

    def init_with_copies(self, args_dev, kwargs):
        args_hst, kwargs_hst = init(self, args_dev, kwargs)
        return [a.clone() if isinstance(a, torch.Tensor) else a for a in args_hst], kwargs_hst

    monkeypatch.setattr(GridExecutor, "_init_args_hst", init_with_copies)
    x = torch.randn(129)
    with trace() as t:
        y = copy(x)
    assert torch.equal(y, x) and not t.oob
    assert t.launches[0].args["x_ptr"].bytes_loaded == t.loaded_from(x) == 129 * 4
    assert t.stored_to(y) == 129 * 4


# ----------------------------------------------------------------------------- out of bounds


def test_missing_mask_raises_before_touching_memory():
    buf = torch.randn(100)
    x = buf[10:27]  # n = 17 inside a larger buffer, so the overrun reads real memory that is no argument
    y = torch.zeros(17)
    with pytest.raises(OutOfBoundsAccess, match=r"copy_no_mask_kernel.*load of 15 lane.*'x_ptr'"):
        with trace():
            copy_no_mask_kernel[(1,)](x, y, BLOCK=32)
    assert (y == 0).all(), "the failing load must stop the kernel before its store"


def test_missing_mask_with_record_skips_the_bad_lanes_and_lists_them():
    out = torch.zeros(100)
    x, y = torch.randn(100)[10:27], out[10:27]
    with trace(on_oob="record") as t:
        copy_no_mask_kernel[(1,)](x, y, BLOCK=32)
    assert [(e.op, e.lanes, e.nearest, e.offset) for e in t.oob] == [("load", 15, "x_ptr", 68),
                                                                       ("store", 15, "y_ptr", 68)]
    assert torch.equal(y, x) and (out[27:] == 0).all(), "the out-of-bounds lanes must not be stored"
    assert t.bytes_loaded == t.bytes_stored == 17 * 4
    assert "OOB" in t.summary()


# ----------------------------------------------------------------------------- the context


def test_the_context_restores_the_interpreter_and_counts_nothing_outside():
    before = originals()
    x = torch.randn(64)
    with trace() as t:
        copy(x)
        assert originals() != before
    assert originals() == before
    copy(x)
    assert len(t.launches) == 1


def test_an_exception_inside_the_context_restores_the_interpreter():
    before = originals()
    with pytest.raises(ValueError):
        with trace():
            copy(torch.randn(8))
            raise ValueError("boom")
    assert originals() == before
    with pytest.raises(OutOfBoundsAccess):
        with trace():
            copy_no_mask_kernel[(1,)](torch.randn(100)[:3], torch.zeros(100)[50:53], BLOCK=4)
    assert originals() == before


def test_nested_traces_both_count_and_restore_in_order():
    before = originals()
    x = torch.randn(10)
    with trace() as outer:
        copy(x)
        with trace() as inner:
            copy(x)
        copy(x)
    assert (len(outer.launches), len(inner.launches)) == (3, 1)
    assert outer.bytes_loaded == 3 * 40 and inner.bytes_loaded == 40
    assert originals() == before
    with inner:  # a finished trace can be entered again and keeps adding
        copy(x)
    assert len(inner.launches) == 2


def test_trace_refuses_to_run_without_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        with trace():
            pass


# ----------------------------------------------------------------------------- the bf16 dot fix


def run_dot(dtype: torch.dtype) -> tuple[torch.Tensor, float]:
    """A 32x32 tl.dot in `dtype` and its max error against a float64 matmul of the same inputs."""
    torch.manual_seed(0)
    a, b = torch.randn(32, 32).to(dtype), torch.randn(32, 32).to(dtype)
    c = torch.empty(32, 32)
    dot_kernel[(1,)](a, b, c, S=32)
    return c, (c.double() - a.double() @ b.double()).abs().max().item()


def test_the_interpreter_bf16_dot_is_garbage_without_the_fix_and_right_with_it(monkeypatch):
    fixed = InterpreterBuilder.create_dot
    assert getattr(fixed, "_inferlab_bf16_fix", False), "importing inferlab.memtrace applies the fix"
    _, err = run_dot(torch.bfloat16)
    assert err < 1e-4, f"bf16 dot with the fix: max error {err} (fp32 accumulation expected)"
    monkeypatch.setattr(InterpreterBuilder, "create_dot", fixed.__wrapped__)
    _, err = run_dot(torch.bfloat16)
    assert err > 1.0, f"this Triton's interpreter got bf16 tl.dot right (max error {err}): the fix may go"


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_the_fix_leaves_fp16_and_fp32_dots_unchanged(monkeypatch, dtype):
    c_fixed, err = run_dot(dtype)
    assert err < 1e-3
    monkeypatch.setattr(InterpreterBuilder, "create_dot", InterpreterBuilder.create_dot.__wrapped__)
    c_plain, _ = run_dot(dtype)
    assert torch.equal(c_fixed, c_plain)


def test_the_fix_is_idempotent_and_traced_bf16_dots_are_right_and_counted():
    assert fix_interpreter_bf16_dot() is False
    assert not getattr(InterpreterBuilder.create_dot.__wrapped__, "_inferlab_bf16_fix", False)
    with trace() as t:
        assert fix_interpreter_bf16_dot() is False
        _, err = run_dot(torch.bfloat16)
    assert err < 1e-4 and t.dot_flops == 2 * 32 ** 3
    assert t.launches[0].args["a_ptr"].bytes_loaded == 32 * 32 * 2
