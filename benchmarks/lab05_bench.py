"""lab05 benchmark: the reference ring collectives checked against torch.distributed, and a
bus-bandwidth table of the isend/irecv ring all-reduce next to the backend's all_reduce.

    python benchmarks/lab05_bench.py                      # every GPU through NCCL (>= 2), else 4 gloo ranks on CPU
    python benchmarks/lab05_bench.py --world-size 8 --iters 20
    torchrun --nproc-per-node 8 benchmarks/lab05_bench.py

busbw = 2 (p-1)/p × bytes / time (NCCL's convention: comparable to one link's bandwidth
whatever p). Both columns are timed in the same run on the same ranks; each time is the
slowest rank's median over `iters` runs after warm-up. Sizes: 1 MiB .. 1 GiB on GPUs,
4 KiB .. 1 MiB on CPU (gloo over loopback TCP, so the table only shows the method).
"""
from __future__ import annotations

import os

# NVLink SHARP / multicast off (the machines' multicast objects are not to be used).
os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inferlab.launch import launch  # noqa: E402
from inferlab.notebook import parse_percent  # noqa: E402


def load_reference() -> dict:
    """The lab's reference solution: the code cells of solutions/lab05/lab05.src.py (test cells left out)."""
    nb = parse_percent((ROOT / "solutions" / "lab05" / "lab05.src.py").read_text(encoding="utf-8"))
    ns = {"__name__": "lab05_reference"}  # not __main__: the lab's demo cells stay quiet
    for cell in nb.cells:
        if cell.cell_type == "code" and "check_here(" not in cell.source:
            exec(compile(cell.source, "<lab05 reference>", "exec"), ns)  # noqa: S102 - our own code
    return ns


REF = load_reference()


def _device():
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def check_reference() -> list[str]:
    """On every rank: the reference collectives and tp_mlp against torch.distributed; returns failures."""
    r, p, dev = dist.get_rank(), dist.get_world_size(), _device()
    g = torch.Generator().manual_seed(1234 + r)
    bad = []
    for numel in (1, 7, 1000, 13 * p + max(p - 1, 0), 1 << 16):
        for dtype in (torch.float32, torch.float16):
            x = torch.randn(numel, generator=g).to(dtype).to(dev)
            want = x.clone()
            dist.all_reduce(want)
            got = REF["ring_all_reduce"](x.clone())
            tol = 1e-4 if dtype == torch.float32 else 4e-3 * p
            if not torch.allclose(got.float(), want.float(), rtol=tol, atol=tol):
                bad.append(f"ring_all_reduce numel {numel} {dtype}")
            chunk = REF["ring_reduce_scatter"](x.clone())
            if not torch.allclose(chunk.float(), torch.tensor_split(want, p)[r].float(), rtol=tol, atol=tol):
                bad.append(f"ring_reduce_scatter numel {numel} {dtype}")
            parts = [torch.empty_like(x) for _ in range(p)]
            dist.all_gather(parts, x)
            if not torch.equal(REF["ring_all_gather"](x.clone()), torch.cat(parts)):
                bad.append(f"ring_all_gather numel {numel} {dtype}")
    gw = torch.Generator().manual_seed(99)  # the same weights on every rank
    xs, w_up, w_down = torch.randn(6, 64, generator=gw), torch.randn(64, 250, generator=gw) / 8, \
        torch.randn(250, 64, generator=gw) / 16
    ref = F.gelu(xs.double() @ w_up.double()) @ w_down.double()
    out = REF["tp_mlp"](xs.to(dev), w_up.to(dev), w_down.to(dev))
    if not torch.allclose(out.double().cpu(), ref, rtol=1e-3, atol=1e-3):
        bad.append("tp_mlp")
    return bad


def _time(fn, x, iters, warmup, dev) -> float:
    """Slowest rank's median seconds of fn(x)."""
    for _ in range(warmup):
        fn(x)
    _sync(dev)
    ts = []
    for _ in range(iters):
        dist.barrier()
        _sync(dev)
        t0 = time.perf_counter()
        fn(x)
        _sync(dev)
        ts.append(time.perf_counter() - t0)
    t = torch.tensor([statistics.median(ts)], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def bench_rank(sizes: list[int], iters: int, warmup: int) -> dict:
    """On every rank: check the reference, then time the ring and the backend's all_reduce per size."""
    dev = _device()
    bad = check_reference()
    rows = []
    for nbytes in sizes:
        x = torch.randn(nbytes // 4, device=dev)  # float32
        t_ring = _time(REF["ring_all_reduce"], x, iters, warmup, dev)
        t_lib = _time(dist.all_reduce, x, iters, warmup, dev)
        rows.append((nbytes, t_ring, t_lib))
        del x
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return {"failures": bad, "rows": rows, "backend": dist.get_backend(), "device": name,
            "world_size": dist.get_world_size()}


def busbw(nbytes: int, p: int, seconds: float) -> float:
    """GB/s: 2 (p-1)/p × bytes / time."""
    return 2 * (p - 1) / p * nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def table(res: dict) -> str:
    p, lib = res["world_size"], res["backend"]
    lines = [f"lab05 all-reduce on {p} × {res['device']} ({lib}); busbw = 2(p-1)/p × bytes / time",
             f"{'size':>9} | {'ring ms':>9} {'ring busbw GB/s':>16} | {lib + ' ms':>9} {lib + ' busbw GB/s':>17} | "
             f"{lib}/ring",
             "-" * 84]
    for nbytes, t_ring, t_lib in res["rows"]:
        size = f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"
        lines.append(f"{size:>9} | {t_ring * 1e3:9.3f} {busbw(nbytes, p, t_ring):16.2f} | {t_lib * 1e3:9.3f} "
                     f"{busbw(nbytes, p, t_lib):17.2f} | {t_ring / t_lib:6.2f}x")
    status = "all reference checks passed" if not res["failures"] else f"FAILED: {res['failures']}"
    lines.append(f"reference vs torch.distributed: {status}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    under_torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    default_p = int(os.environ["WORLD_SIZE"]) if under_torchrun else (gpus if gpus >= 2 else 4)
    ap.add_argument("--world-size", type=int, default=default_p)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--start-method", choices=("fork", "spawn"), default=None,
                    help="how the launcher starts ranks (default: fork with gloo, spawn with NCCL)")
    ap.add_argument("--max-bytes", type=int, default=None, help="largest message (default 1 GiB on GPU, 1 MiB on CPU)")
    args = ap.parse_args(argv)
    on_gpu = gpus >= 2 and args.world_size <= gpus
    lo, hi = (1 << 20, 1 << 30) if on_gpu else (1 << 12, 1 << 20)
    hi = args.max_bytes or hi
    sizes = []
    n = lo
    while n <= hi:
        sizes.append(n)
        n *= 4
    iters = args.iters or (20 if on_gpu else 5)
    results = launch(bench_rank, args.world_size, sizes, iters, args.warmup, timeout=900 if on_gpu else 120,
                     start_method=args.start_method)
    if not under_torchrun or int(os.environ.get("RANK", "0")) == 0:
        print(table(results[0]))
    return 1 if results[0]["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
