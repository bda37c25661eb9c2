# %% [markdown]
# # lab05 · Collectives and model parallelism · 集合通信与模型并行
#
# Syllabus §5 (跨节点传输与通信优化). You will build the three collectives that tensor
# parallelism lives on, **from point-to-point messages only**, on a real
# `torch.distributed` process group (gloo on CPU here, NCCL on a multi-GPU machine), then
# use an all-reduce to run a tensor-parallel MLP, and finish with the two formulas every
# parallelism plan is sized with: the pipeline bubble and the all-reduce cost model.
#
# | task | graded name | what |
# | --- | --- | --- |
# | 1 | `ring_all_reduce` | reduce-scatter + all-gather around a ring, in place |
# | 2 | `ring_reduce_scatter` | this rank's chunk of the sum |
# | 3 | `ring_all_gather` | every rank's chunk, in rank order |
# | 4 | `tp_mlp` | column-sharded up projection, row-sharded down projection, **one** all-reduce |
# | 5 | `pipeline_bubble_fraction` | `(p-1)/(m+p-1)` |
# | 6 | `allreduce_time` | the alpha-beta model of ring and recursive doubling |
# | 7 | (ungraded) `overlapped_row_parallel_matmul` | hide the all-reduce of chunk i behind chunk i+1 |
#
# Letters: `p` world size (ranks), `r` this rank, `N` bytes of the tensor, `m` micro-batches,
# `alpha` latency per message (s), `beta` seconds per byte (1 / bandwidth).
#
# **How code runs on p ranks.** `inferlab.launch.launch(fn, p, *args)` starts `p` processes
# (forks of this kernel, so functions defined in this notebook work), joins them into one
# process group, runs `fn(*args)` on each and returns the list of per-rank results. Inside
# `fn`, `dist.get_rank()` and `dist.get_world_size()` say who you are. A rank that raises
# stops the launch and you get its traceback; a deadlock stops at the timeout.
# Under `torchrun`, the same call just runs `fn` in the current rank.

# %%
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

import inferlab
from inferlab.launch import launch

# Demo cells run in your kernel, not while the autograder loads the notebook.
DEMO = __name__ == "__main__" and os.environ.get("INFERLAB_AUTOGRADE") != "1"

# %% [markdown]
# ## Point-to-point first
# `dist.send(t, dst)` / `dist.recv(t, src)` block; `dist.isend` / `dist.irecv` return a work
# handle whose `.wait()` blocks. On a ring every rank sends to `(r+1) % p` and receives from
# `(r-1) % p`. If every rank *first* calls the blocking `recv`, nobody sends: deadlock.
# Post the send without blocking (`isend`), then `recv`, then wait for the send — or, as below,
# hand both to `dist.batch_isend_irecv`, which posts them together (on NCCL a send and a receive
# with the *same* peer, as with p = 2, must be grouped like this or they can wait for each other).
#
# Chunks: `torch.tensor_split(flat, p)` cuts `numel` elements into `p` contiguous chunks
# whose sizes differ by at most one (the first `numel % p` chunks get one more). A chunk can
# be empty when `numel < p`: both ends know its size, so both skip it.

# %%
def ring_exchange(send_buf, recv_buf):
    """Send `send_buf` to the right neighbour while receiving `recv_buf` from the left one."""
    r, p = dist.get_rank(), dist.get_world_size()
    if p == 1:
        recv_buf.copy_(send_buf)
        return recv_buf
    ops = []
    if send_buf.numel():
        ops.append(dist.P2POp(dist.isend, send_buf.contiguous(), (r + 1) % p))
    if recv_buf.numel():
        ops.append(dist.P2POp(dist.irecv, recv_buf, (r - 1) % p))
    for req in dist.batch_isend_irecv(ops) if ops else []:
        req.wait()
    return recv_buf


def shift_demo(x):
    out = torch.empty_like(x)
    return ring_exchange(x + dist.get_rank(), out)


if DEMO:
    print(launch(shift_demo, 4, torch.zeros(2)))  # rank r receives r-1's value

# %% [markdown]
# ## Task 1 · ring_all_reduce (lab05 · task 1)
# Ring all-reduce = **reduce-scatter** (p-1 steps: at step s rank r sends chunk `r-s-1` to
# the right and adds the chunk `r-s-2` it receives from the left; after p-1 steps rank r
# holds the full sum of chunk r) then **all-gather** (p-1 steps: pass the finished chunks
# around). Each rank sends `2 (p-1)` chunks of `N/p` bytes: `2 (p-1)/p · N`, independent of p
# for large p — the reason the ring is bandwidth-optimal. The grader counts every byte each
# rank sends and allows at most `2 (p-1)/p · N + 64 p` (chunk sizes differ by one element).
# Only `send/recv/isend/irecv` are allowed inside: any collective raises while graded.
#
# `ring_all_reduce(tensor)` sums `tensor` over all ranks **in place** and returns it; any
# shape, any numel >= 1, any world size >= 1.

# %% [solution id=lab05_ring_all_reduce]
def _ring_reduce_scatter_(chunks):
    """Reduce-scatter in place over `chunks` (views, one per rank): rank r ends with the sum of chunk r."""
    r, p = dist.get_rank(), dist.get_world_size()
    for step in range(p - 1):
        send_i, recv_i = (r - step - 1) % p, (r - step - 2) % p
        incoming = torch.empty_like(chunks[recv_i])
        ring_exchange(chunks[send_i], incoming)
        chunks[recv_i] += incoming


def _ring_all_gather_(chunks):
    """All-gather in place: rank r starts with chunk r, ends with every chunk."""
    r, p = dist.get_rank(), dist.get_world_size()
    for step in range(p - 1):
        send_i, recv_i = (r - step) % p, (r - step - 1) % p
        ring_exchange(chunks[send_i], chunks[recv_i])


def ring_all_reduce(tensor):
    """Sum `tensor` (any shape) over the default group in place with a ring; returns it."""
    ### BEGIN SOLUTION
    p = dist.get_world_size()
    flat = tensor.detach().contiguous().view(-1)  # (numel,), shares storage when contiguous
    if p > 1:
        chunks = list(torch.tensor_split(flat, p))
        _ring_reduce_scatter_(chunks)
        _ring_all_gather_(chunks)
    if flat.data_ptr() != tensor.data_ptr():
        tensor.copy_(flat.view(tensor.shape))
    return tensor
    ### END SOLUTION

# %%
def all_reduce_demo(x):
    x = x * (dist.get_rank() + 1)
    return ring_all_reduce(x)


if DEMO:
    print(launch(all_reduce_demo, 4, torch.ones(7)))  # 1+2+3+4 = 10 everywhere

# %% [test id=lab05_task1]
from inferlab.grading import check_here
check_here("lab05", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · ring_reduce_scatter (lab05 · task 2)
# `ring_reduce_scatter(tensor)` returns this rank's chunk of the sum, the chunks being
# `torch.tensor_split(tensor.flatten(), world_size)`; rank r gets chunk r. It is the first
# half of the ring all-reduce: `(p-1)/p · N` bytes sent per rank. (ZeRO and sequence
# parallelism use it on its own.) Leave the input unchanged.

# %% [solution id=lab05_ring_reduce_scatter]
def ring_reduce_scatter(tensor):
    """This rank's chunk (1-D) of the sum over ranks of `tensor.flatten()`, chunks by tensor_split."""
    ### BEGIN SOLUTION
    r, p = dist.get_rank(), dist.get_world_size()
    flat = tensor.detach().reshape(-1).clone()  # (numel,), a copy: the input stays as it was
    chunks = list(torch.tensor_split(flat, p))
    _ring_reduce_scatter_(chunks)
    return chunks[r].clone()
    ### END SOLUTION

# %% [test id=lab05_task2]
from inferlab.grading import check_here
check_here("lab05", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · ring_all_gather (lab05 · task 3)
# `ring_all_gather(chunk)` returns every rank's chunk (all of the same shape) concatenated
# on dim 0 in rank order: shape `(p * chunk.shape[0], *chunk.shape[1:])`. The second half of
# the ring all-reduce. Tensor parallelism uses it to rebuild a column-sharded activation.

# %% [solution id=lab05_ring_all_gather]
def ring_all_gather(chunk):
    """(p * n, ...) = every rank's (n, ...) chunk, concatenated on dim 0 in rank order."""
    ### BEGIN SOLUTION
    if chunk.dim() == 0:
        raise ValueError("chunk must have at least one dimension (it is concatenated on dim 0)")
    r, p = dist.get_rank(), dist.get_world_size()
    out = chunk.new_empty((p * chunk.shape[0], *chunk.shape[1:]))  # (p*n, ...)
    parts = list(out.chunk(p)) if chunk.shape[0] else [out[:0]] * p
    parts[r].copy_(chunk)
    _ring_all_gather_(parts)
    return out
    ### END SOLUTION

# %% [test id=lab05_task3]
from inferlab.grading import check_here
check_here("lab05", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · tp_mlp (lab05 · task 4)
# Megatron-style tensor parallelism of `gelu(x @ w_up) @ w_down` (x `(..., d)`, w_up `(d, h)`,
# w_down `(h, d_out)`):
# - **column parallel** up projection: rank r keeps the columns `S_r` of `w_up` (a contiguous
#   slice of the h hidden units, e.g. `torch.tensor_split(range(h), p)[r]`) and computes
#   `gelu(x @ w_up[:, S_r])` — gelu is elementwise, so no communication is needed here;
# - **row parallel** down projection: rank r keeps the rows `S_r` of `w_down` and computes a
#   partial output `gelu(x @ w_up[:, S_r]) @ w_down[S_r, :]` of the full shape `(..., d_out)`;
# - **one all-reduce** sums the partials. (Sharding the up projection by rows instead would
#   need a second all-reduce before the gelu — the grader counts.)
#
# Every rank is given the full weights (to keep the exercise small); keep only your shard.
# Use `dist.all_reduce` (or your `ring_all_reduce`) exactly once.

# %% [solution id=lab05_tp_mlp]
def tp_mlp(x, w_up, w_down):
    """(..., d_out) = gelu(x @ w_up) @ w_down with w_up column-sharded, w_down row-sharded, one all-reduce."""
    ### BEGIN SOLUTION
    if w_up.dim() != 2 or x.shape[-1] != w_up.shape[0]:
        raise ValueError(f"w_up must be (d, h) with d = x.shape[-1], got {tuple(w_up.shape)} for x {tuple(x.shape)}")
    if w_down.dim() != 2 or w_down.shape[0] != w_up.shape[1]:
        raise ValueError(f"w_down must be (h, d_out) with h = w_up.shape[1], got {tuple(w_down.shape)}")
    r, p = dist.get_rank(), dist.get_world_size()
    base, extra = divmod(w_up.shape[1], p)       # hidden units split as torch.tensor_split does
    lo = r * base + min(r, extra)
    hi = lo + base + (1 if r < extra else 0)
    w_up_r = w_up[:, lo:hi]                       # (d, h_r)   column shard
    w_down_r = w_down[lo:hi, :]                   # (h_r, d_out) row shard
    partial = F.gelu(x @ w_up_r) @ w_down_r       # (..., d_out), this rank's share of the sum
    dist.all_reduce(partial)
    return partial
    ### END SOLUTION

# %%
def tp_demo(x, w_up, w_down):
    return tp_mlp(x, w_up, w_down)


if DEMO:
    g = torch.Generator().manual_seed(0)
    x, w_up, w_down = torch.randn(3, 8, generator=g), torch.randn(8, 12, generator=g), torch.randn(12, 8, generator=g)
    outs = launch(tp_demo, 4, x, w_up, w_down)
    ref = F.gelu(x.double() @ w_up.double()) @ w_down.double()
    print("max error vs unsharded:", max((o.double() - ref).abs().max().item() for o in outs))

# %% [test id=lab05_task4]
from inferlab.grading import check_here
check_here("lab05", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · pipeline_bubble_fraction (lab05 · task 5)
# A pipeline of `p` stages processing `m` micro-batches (GPipe or 1F1B, equal stage times)
# takes `m + p - 1` slots, of which each stage is busy `m`: the idle fraction, the
# **bubble**, is `(p-1)/(m+p-1)`. One stage has no bubble; one micro-batch leaves each stage
# idle `(p-1)/p` of the time. Bad arguments (not an int >= 1) raise `ValueError` naming the
# argument.

# %% [solution id=lab05_pipeline_bubble_fraction]
def pipeline_bubble_fraction(num_stages, num_microbatches):
    """Idle fraction (p-1)/(m+p-1) of a p-stage pipeline running m micro-batches."""
    ### BEGIN SOLUTION
    for name, v in (("num_stages", num_stages), ("num_microbatches", num_microbatches)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    p, m = num_stages, num_microbatches
    return (p - 1) / (m + p - 1)
    ### END SOLUTION

# %% [test id=lab05_task5]
from inferlab.grading import check_here
check_here("lab05", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · allreduce_time (lab05 · task 6)
# The alpha-beta model: a message of `n` bytes costs `alpha + n * beta`.
# - **ring**: `2 (p-1)` steps, each a message of `N/p` bytes:
#   `2 (p-1) alpha + 2 (p-1)/p · N · beta` — latency grows with p, bandwidth term does not;
# - **recursive doubling** (p a power of two): `log2 p` steps, each exchanging the whole
#   tensor: `log2(p) (alpha + N beta)` — few messages, but the full N on every step:
#   best for small messages, worst for large ones;
# - p = 1 costs 0.
#
# `allreduce_time(nbytes, world_size, alpha, beta, algorithm="ring")`; recursive doubling
# with a world size that is not a power of two, an unknown algorithm, or negative / non-int
# arguments raise `ValueError` naming the argument.

# %% [solution id=lab05_allreduce_time]
def allreduce_time(nbytes, world_size, alpha, beta, algorithm="ring"):
    """Seconds for an all-reduce of `nbytes` on `world_size` ranks under the alpha-beta model."""
    ### BEGIN SOLUTION
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
    for name, v in (("nbytes", nbytes), ("alpha", alpha), ("beta", beta)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    if algorithm not in ("ring", "recursive_doubling"):
        raise ValueError(f"algorithm must be 'ring' or 'recursive_doubling', got {algorithm!r}")
    p = world_size
    if algorithm == "recursive_doubling" and p & (p - 1):
        raise ValueError(f"recursive doubling needs world_size a power of two, got {p}")
    if p == 1:
        return 0.0
    if algorithm == "ring":
        return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta
    return math.log2(p) * (alpha + nbytes * beta)
    ### END SOLUTION

# %% [test id=lab05_task6]
from inferlab.grading import check_here
check_here("lab05", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab05", "task6", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Where the two algorithms cross (NVLink-like numbers: alpha 5 µs, 200 GB/s per direction):

# %%
if DEMO:
    a, b = 5e-6, 1 / 200e9
    for n in (2**10, 2**16, 2**20, 2**24, 2**28):
        ring, rd = allreduce_time(n, 8, a, b), allreduce_time(n, 8, a, b, "recursive_doubling")
        print(f"{n:>10} B  ring {ring * 1e6:9.1f} µs  recursive doubling {rd * 1e6:9.1f} µs")

# %% [markdown]
# ## Task 7 (ungraded, frontier) · overlap communication with compute
# A row-parallel matmul `x_r @ w_r` (each rank holds a slice of the inner dimension) needs an
# all-reduce of its `(M, N)` partial. Cut the M rows into chunks: start the all-reduce of
# chunk i with `dist.all_reduce(..., async_op=True)` (a work handle) and compute chunk i+1
# while it runs; wait for every handle at the end. Compare with the serial version in the
# same run. On a GPU the all-reduce runs on its own stream and hides almost completely
# behind large matmuls; on 2 CPU cores gloo's threads compete with the matmul for the same
# cores, so expect little or nothing here — report what you measure, and why.

# %%
def serial_row_parallel_matmul(x_r, w_r):
    """(M, N) = sum over ranks of x_r @ w_r: compute everything, then one all-reduce."""
    out = x_r @ w_r
    dist.all_reduce(out)
    return out


def overlapped_row_parallel_matmul(x_r, w_r, num_chunks=4):
    """Same result; the all-reduce of row chunk i runs while chunk i+1 is computed."""
    out = torch.empty(x_r.shape[0], w_r.shape[1], dtype=x_r.dtype)
    handles = []
    for rows in torch.tensor_split(torch.arange(x_r.shape[0]), num_chunks):
        if len(rows) == 0:
            continue
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        torch.matmul(x_r[lo:hi], w_r, out=out[lo:hi])
        handles.append(dist.all_reduce(out[lo:hi], async_op=True))
    for h in handles:
        h.wait()
    return out


def overlap_experiment(M, K, N, repeats=3):
    """On every rank: time serial vs overlapped (best of `repeats`), check they agree."""
    r, p = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(r)
    x_r, w_r = torch.randn(M, K // p, generator=g), torch.randn(K // p, N, generator=g)
    times = {}
    for name, fn in (("serial", serial_row_parallel_matmul), ("overlapped", overlapped_row_parallel_matmul)):
        best = float("inf")
        for _ in range(repeats):
            dist.barrier()
            t0 = time.perf_counter()
            y = fn(x_r, w_r)
            best = min(best, time.perf_counter() - t0)
        times[name] = (best, y)
    agree = torch.allclose(times["serial"][1], times["overlapped"][1], rtol=1e-4, atol=1e-3)
    return {"serial_s": times["serial"][0], "overlapped_s": times["overlapped"][0], "agree": agree}


if DEMO:
    res = launch(overlap_experiment, 2, 512, 1024, 1024)
    for r, o in enumerate(res):
        print(f"rank {r}: serial {o['serial_s'] * 1e3:.1f} ms, overlapped {o['overlapped_s'] * 1e3:.1f} ms, "
              f"same result: {o['agree']}")
