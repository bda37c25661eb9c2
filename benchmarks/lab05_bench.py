"""lab05 benchmark: the reference collectives checked against torch.distributed, then the bus
bandwidth of the isend/irecv ring all-reduce next to the backend's own all_reduce, same run.

    PYTHONPATH=. python benchmarks/lab05_bench.py                 # every GPU through NCCL (>= 2), else 2 gloo ranks
    PYTHONPATH=. python benchmarks/lab05_bench.py --world-size 4 --variants --json out.json
    torchrun --nproc-per-node 8 benchmarks/lab05_bench.py

What is timed: the lab's public `ring_all_reduce(x)` exactly as a learner calls it, and
`dist.all_reduce(x)`, on float32 tensors of 1 MiB .. 1 GiB (CPU: 4 KiB .. 1 MiB, gloo over
loopback TCP, which only shows the method). Two clocks (benchmarks/common.py):
- *stream* (the table's bandwidth): calls back to back, each bracketed by CUDA events, median
  and p10/p90 of the repetitions, slowest rank — how nccl-tests times, and what a sequence of
  layers sees: the Python of call i+1 runs while the GPU works on call i;
- *isolated*: synchronise, call, synchronise, on a wall clock — what one call costs when its
  result is needed at once (host overhead, launches and synchronisation all exposed);
- *gpu*: each call enqueued behind a 2 ms spin kernel, so its events time the GPU work alone
  (what the call would cost with a free host, e.g. replayed from a CUDA graph): a column
  beside the public timing, never in its place.
`host` is the time for the call to return on the host; when it is above the stream time the
GPU waits for Python (the ring's fixed cost).
busbw = 2 (p-1)/p × bytes / time (NCCL's convention: comparable to one link's speed for any p).
`--variants` adds ring variants (pipelined slices on two streams, the Python layer bypassed, a
one-step swap for p = 2) and the grouped send/recv exchange the ring is built from: the
experiments behind lab05/NOTES.md.
"""
from __future__ import annotations

import os

# NVLink SHARP / multicast stay off on the lent machines; the launcher's ranks inherit these.
os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import bench, card, device_time, latency, load_solution, versions  # noqa: E402
from inferlab.launch import launch  # noqa: E402

REF = load_solution("lab05")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# ----------------------------------------------------------------------------- correctness


def _sum64(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum over ranks, sum over ranks of |x|) of x in float64, through torch.distributed."""
    s, a = x.double().contiguous(), x.double().abs().contiguous()  # (NCCL wants contiguous tensors)
    dist.all_reduce(s)
    dist.all_reduce(a)
    return s, a


def _bound(dtype, abs_sum, p) -> torch.Tensor:
    """Rounding allowed: p - 1 additions and the final rounding, each <= eps/2 relative to Σ|x_r|."""
    eps = torch.finfo(dtype).eps
    return p * eps * abs_sum + (1e-6 if dtype == torch.float32 else 1e-3)


def check_reference() -> list[str]:
    """On every rank: the reference ring collectives and tp_mlp against torch.distributed; a list of failures."""
    r, p, dev = dist.get_rank(), dist.get_world_size(), _device()
    g = torch.Generator().manual_seed(1234 + r)
    lines = []
    shapes = [(1,), (7,), (1000,), (13 * p + p - 1,), (1 << 16,), (1_000_003,), (7, 13, 5)]
    for shape in shapes:
        for dname in ("fp32", "bf16"):
            dtype = DTYPES[dname]
            x = torch.randn(*shape, generator=g).to(dtype).to(dev)
            s64, a64 = _sum64(x)
            bound = _bound(dtype, a64, p)
            want = x.clone()
            dist.all_reduce(want)  # NCCL / gloo's answer
            got = x.clone()
            ret = REF["ring_all_reduce"](got)
            err = (got.double() - s64).abs()
            err_lib = (want.double() - s64).abs().max().item()
            ok = ret is got and bool((err <= bound).all())
            lines.append(("ring_all_reduce", shape, dname, ok, err.max().item(), err_lib))
            # reduce-scatter: this rank's chunk of the sum; the input unchanged
            x_before = x.clone()
            chunk = REF["ring_reduce_scatter"](x)
            want_c = torch.tensor_split(s64.flatten(), p)[r]
            b_c = torch.tensor_split(bound.flatten(), p)[r]
            err_c = (chunk.double() - want_c).abs()
            ok = chunk.shape == want_c.shape and bool((err_c <= b_c).all()) and torch.equal(x, x_before)
            lines.append(("ring_reduce_scatter", shape, dname, ok, err_c.max().item() if err_c.numel() else 0.0,
                          float("nan")))
            # all-gather: bitwise equal to dist.all_gather
            parts = [torch.empty_like(x) for _ in range(p)]
            dist.all_gather(parts, x)
            ok = torch.equal(REF["ring_all_gather"](x.clone()), torch.cat(parts))
            lines.append(("ring_all_gather", shape, dname, ok, 0.0 if ok else float("inf"), 0.0))
    # a non-contiguous tensor reduced in place
    xt = torch.randn(33, 17, generator=g).to(dev).t()
    s64, a64 = _sum64(xt)
    REF["ring_all_reduce"](xt)
    err = (xt.double() - s64).abs()
    lines.append(("ring_all_reduce", "(17,33) transposed", "fp32", bool((err <= _bound(torch.float32, a64, p)).all()),
                  err.max().item(), float("nan")))
    # tp_mlp against the unsharded float64 MLP; odd hidden size so shards differ by one unit
    gw = torch.Generator().manual_seed(99)  # the same weights and input on every rank
    for dname, tol in (("fp32", 1e-4), ("bf16", 2e-2)):
        dtype = DTYPES[dname]
        xs = torch.randn(5, 3, 96, generator=gw)
        w_up, w_down = torch.randn(96, 389, generator=gw) / 10, torch.randn(389, 80, generator=gw) / 20
        ref = F.gelu(xs.double() @ w_up.double()) @ w_down.double()
        out = REF["tp_mlp"](xs.to(dev, dtype), w_up.to(dev, dtype), w_down.to(dev, dtype))
        rel = ((out.double().cpu() - ref).norm() / ref.norm()).item()
        lines.append(("tp_mlp", (5, 3, 96, 389, 80), dname, out.shape == ref.shape and rel <= tol, rel, float("nan")))
    return lines


# ----------------------------------------------------------------------------- variants (--variants)


def exchange_half(x: torch.Tensor) -> torch.Tensor:
    """One grouped send + receive of N/p bytes with the neighbours: the ring's building block."""
    n = x.numel() // dist.get_world_size()
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    return REF["ring_exchange"](x.view(-1)[:n], out)


def ring_sliced(tensor: torch.Tensor, slices: int = 4) -> torch.Tensor:
    """The ring with every chunk cut in `slices` pieces and the adds on a second stream (p = 2 only):
    the reduce-scatter of slice s+1 runs on NCCL's stream while slice s is added."""
    p = dist.get_world_size()
    if p != 2 or tensor.device.type != "cuda":
        return REF["ring_all_reduce"](tensor)
    r = dist.get_rank()
    flat = tensor.view(-1)
    mine, theirs = torch.tensor_split(flat, 2)[r], torch.tensor_split(flat, 2)[1 - r]
    mine_s, theirs_s = torch.tensor_split(mine, slices), torch.tensor_split(theirs, slices)
    incoming = torch.empty_like(mine)
    inc_s = torch.tensor_split(incoming, slices)
    main, add = torch.cuda.current_stream(), _side_stream(tensor.device)
    add.wait_stream(main)
    peer = 1 - r
    pending = []
    for s in range(slices):
        ops = [dist.P2POp(dist.isend, theirs_s[s], peer), dist.P2POp(dist.irecv, inc_s[s], peer)]
        works = dist.batch_isend_irecv(ops)
        with torch.cuda.stream(add):
            for w in works:
                w.wait()  # the add stream waits for this slice's exchange
            mine_s[s].add_(inc_s[s])
            ev = torch.cuda.Event()
            ev.record(add)
        pending.append(ev)
        if s >= 1:  # all-gather of the previous slice, once it is summed
            _gather_slice(mine_s[s - 1], theirs_s[s - 1], peer, pending[s - 1])
    _gather_slice(mine_s[-1], theirs_s[-1], peer, pending[-1])
    incoming.record_stream(add)
    return tensor


_STREAMS: dict = {}


def _side_stream(device):
    if str(device) not in _STREAMS:
        _STREAMS[str(device)] = torch.cuda.Stream(device)
    return _STREAMS[str(device)]


def _gather_slice(mine, theirs, peer, ready) -> None:
    torch.cuda.current_stream().wait_event(ready)
    for w in dist.batch_isend_irecv([dist.P2POp(dist.isend, mine, peer), dist.P2POp(dist.irecv, theirs, peer)]):
        w.wait()


def swap_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """p = 2 only: swap whole tensors in one grouped exchange and add (recursive doubling's one step).
    The same N bytes per rank as the ring's two half-size steps, one latency term instead of two."""
    if dist.get_world_size() != 2:
        return REF["ring_all_reduce"](tensor)
    flat = tensor.view(-1)
    other = torch.empty_like(flat)
    REF["ring_exchange"](flat, other)
    flat += other  # a + b == b + a exactly: both ranks hold the same bits
    return tensor


def ring_direct(tensor: torch.Tensor) -> torch.Tensor:
    """The reference's algorithm with the Python layer of torch.distributed bypassed (ProcessGroup's own
    send/recv inside one coalescing group per step): how much of the fixed cost is that layer."""
    pg = dist.group.WORLD
    r, p = dist.get_rank(), dist.get_world_size()
    flat = tensor.view(-1)
    chunks = list(torch.tensor_split(flat, p))
    dev = tensor.device

    def exchange(send, recv):
        pg._start_coalescing(dev)
        pg.send([send], (r + 1) % p, 0)
        pg.recv([recv], (r - 1) % p, 0)
        pg._end_coalescing(dev).wait()

    for step in range(p - 1):
        si, ri = (r - step - 1) % p, (r - step - 2) % p
        incoming = torch.empty_like(chunks[ri])
        exchange(chunks[si], incoming)
        chunks[ri] += incoming
    for step in range(p - 1):
        exchange(chunks[(r - step) % p], chunks[(r - step - 1) % p])
    return tensor


# ----------------------------------------------------------------------------- timing on the ranks


def _stats_over_ranks(t: dict, dev) -> dict:
    """The slowest rank's median, p10, p90 and host time."""
    v = torch.tensor([t["median"], t["p10"], t["p90"], t["host"]], dtype=torch.float64, device=dev)
    dist.all_reduce(v, op=dist.ReduceOp.MAX)
    m, p10, p90, host = v.tolist()
    return {"median": m, "p10": p10, "p90": p90, "host": host}


def _time(fn, nbytes: int, dev, rep: int, warmup: int) -> dict:
    """Stream and isolated times of fn(x) for a fresh float32 x of `nbytes`, slowest rank."""
    out = {}
    for mode, clock in (("stream", bench), ("isolated", latency), ("gpu", device_time)):
        x = torch.randn(nbytes // 4, device=dev)  # values double at each call: 2^(warmup+rep) stays finite
        dist.barrier()
        _sync(dev)
        kw = {} if clock is bench else {"before": dist.barrier}  # one-call clocks: ranks start together
        t = clock(lambda: fn(x), warmup=warmup, rep=rep, device=dev, **kw)
        out[mode] = _stats_over_ranks(t, dev)
        del x
    return out


def bench_rank(sizes: list[int], rep: int, warmup: int, variants: bool) -> dict:
    """On every rank: check the reference, then time every size."""
    dev = _device()
    checks = check_reference()
    fns = {"ring": REF["ring_all_reduce"], "lib": dist.all_reduce}
    if variants:
        fns.update({"ring_sliced4": ring_sliced, "ring_direct": ring_direct, "swap_p2": swap_all_reduce,
                    "exchange": exchange_half})
    rows = []
    for nbytes in sizes:
        row = {"bytes": nbytes}
        for name, fn in fns.items():
            try:
                row[name] = _time(fn, nbytes, dev, rep if nbytes < (256 << 20) else max(10, rep // 2), warmup)
            except Exception as e:  # noqa: BLE001 - a variant that cannot run here is reported, not fatal
                row[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
                _sync(dev)
        rows.append(row)
    soft = versions()
    if dev.type == "cuda":
        soft += " · NCCL " + ".".join(map(str, torch.cuda.nccl.version()))
    return {"checks": checks, "rows": rows, "backend": dist.get_backend(), "card": card(dev),
            "world_size": dist.get_world_size(), "versions": soft}


# ----------------------------------------------------------------------------- report


def busbw(nbytes: int, p: int, seconds: float) -> float:
    """GB/s: 2 (p-1)/p × bytes / time."""
    return 2 * (p - 1) / p * nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def table(res: dict) -> str:
    p, lib = res["world_size"], res["backend"]
    fails = [c for c in res["checks"] if not c[3]]
    lines = [f"lab05 ring all-reduce vs {lib} all_reduce · {p} x {res['card']} · {res['versions']}",
             "busbw = 2(p-1)/p x bytes / median time (GB/s); stream = back-to-back calls, each timed by CUDA events "
             "(wall clock on CPU), slowest rank; isolated = sync, call, sync; host = time for the call to return",
             f"{'size':>8} | {'ring ms':>8} {'[p10-p90]':>17} {'busbw':>7} {'host ms':>8} {'isol ms':>8} "
             f"{'gpu ms':>7} | {lib + ' ms':>8} {'busbw':>7} {'isol ms':>8} {'gpu ms':>7} | {'ring/' + lib:>9} "
             f"{'gpu-only':>8}",
             "-" * 132]
    for row in res["rows"]:
        n, ring, nc = row["bytes"], row["ring"], row["lib"]
        if "error" in ring or "error" in nc:
            lines.append(f"{_size(n):>8} | {ring.get('error', '')} {nc.get('error', '')}")
            continue
        rs, ns_ = ring["stream"], nc["stream"]
        # each rank sends and receives 2 (p-1)/p x bytes (reduce-scatter, then all-gather)
        bw_r, bw_n = busbw(n, p, rs["median"]), busbw(n, p, ns_["median"])
        lines.append(f"{_size(n):>8} | {rs['median'] * 1e3:8.3f} [{rs['p10'] * 1e3:7.3f}-{rs['p90'] * 1e3:7.3f}] "
                     f"{bw_r:7.1f} {rs['host'] * 1e3:8.3f} {ring['isolated']['median'] * 1e3:8.3f} "
                     f"{ring['gpu']['median'] * 1e3:7.3f} | {ns_['median'] * 1e3:8.3f} {bw_n:7.1f} "
                     f"{nc['isolated']['median'] * 1e3:8.3f} {nc['gpu']['median'] * 1e3:7.3f} | {bw_r / bw_n:8.1%} "
                     f"{nc['gpu']['median'] / ring['gpu']['median']:8.1%}")
    extra = [k for k in res["rows"][0] if k not in ("bytes", "ring", "lib")] if res["rows"] else []
    if extra:
        lines += ["", "variants (stream busbw GB/s, host ms in brackets; 'exchange' = one grouped send+recv of "
                  "bytes/p, busbw of that exchange alone):",
                  f"{'size':>8} | " + " | ".join(f"{k:>22}" for k in ["ring"] + extra)]
        for row in res["rows"]:
            cells = []
            for k in ["ring"] + extra:
                v = row[k]
                if "error" in v:
                    cells.append(f"{'error':>22}")
                    continue
                s = v["stream"]
                nb = row["bytes"] // p * (2 * (p - 1)) if k == "exchange" else row["bytes"]
                bw = nb / s["median"] / 1e9 if k == "exchange" else busbw(row["bytes"], p, s["median"])
                cells.append(f"{bw:9.1f} ({s['host'] * 1e3:6.3f} ms)  ")
            lines.append(f"{_size(row['bytes']):>8} | " + " | ".join(cells))
        errs = {k: row[k]["error"] for row in res["rows"][:1] for k in extra if "error" in row[k]}
        for k, e in errs.items():
            lines.append(f"  {k}: {e}")
    n_ok = sum(c[3] for c in res["checks"])
    lines.append(f"\nreference vs torch.distributed: {n_ok}/{len(res['checks'])} checks passed "
                 f"(ring_all_reduce, ring_reduce_scatter, ring_all_gather: shapes "
                 f"{sorted({str(c[1]) for c in res['checks'] if c[0] == 'ring_all_reduce'})}, fp32 + bf16; "
                 f"tp_mlp fp32 + bf16)")
    worst = {}
    for name, shape, dname, ok, err, err_lib in res["checks"]:
        key = (name, dname)
        worst[key] = max(worst.get(key, (0.0, 0.0)), (err, err_lib if err_lib == err_lib else 0.0))
    for (name, dname), (err, err_lib) in sorted(worst.items()):
        what = "relative error (norm)" if name == "tp_mlp" else "max |error|"
        lines.append(f"  {name:20} {dname}: {what} vs float64 {err:.3g}"
                     + (f" ({lib}: {err_lib:.3g})" if name == "ring_all_reduce" else ""))
    for c in fails:
        lines.append(f"  FAILED {c[0]} shape {c[1]} {c[2]}: error {c[4]:.3g}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    under_torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    default_p = int(os.environ["WORLD_SIZE"]) if under_torchrun else (gpus if gpus >= 2 else 2)
    ap.add_argument("--world-size", type=int, default=default_p)
    ap.add_argument("--rep", type=int, default=None, help="timed repetitions per size (default 40 GPU, 5 CPU)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-bytes", type=int, default=None, help="smallest message (default 1 MiB GPU, 4 KiB CPU)")
    ap.add_argument("--max-bytes", type=int, default=None, help="largest message (default 1 GiB GPU, 1 MiB CPU)")
    ap.add_argument("--variants", action="store_true", help="also time the ring variants and the bare exchange")
    ap.add_argument("--json", default=None, help="write the raw results here")
    args = ap.parse_args(argv)
    on_gpu = gpus >= 2 and args.world_size <= gpus
    lo, hi = (1 << 20, 1 << 30) if on_gpu else (1 << 12, 1 << 20)
    lo, hi = args.min_bytes or lo, args.max_bytes or hi
    sizes = []
    while lo <= hi:
        sizes.append(lo)
        lo *= 2
    rep = args.rep or (40 if on_gpu else 5)
    results = launch(bench_rank, args.world_size, sizes, rep, args.warmup, args.variants,
                     timeout=900 if on_gpu else 300)
    if not under_torchrun or int(os.environ.get("RANK", "0")) == 0:
        res = results[0]
        print(table(res))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    return 0 if all(c[3] for c in results[0]["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
