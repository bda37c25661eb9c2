"""lab09 benchmark: the same kernels timed five ways, and an A/A vs A/B bootstrap interval.

    PYTHONPATH=. python benchmarks/lab09_bench.py [--reps 50]

Ways of timing one call (median of the repetitions, µs):
  wall          perf_counter around the call, no synchronisation: measures the launch on a GPU
  wall+sync     perf_counter around the call and a torch.cuda.synchronize(): launch + work + sync
  events        CUDA events around the call (inputs warm in L2)
  events+flush  CUDA events, a 256 MiB buffer written between repetitions (the L2 is cold)
  lab09 bench   the lab's reference `bench` (warm-up, CUDA events, median)
On a CPU only the first two rows mean anything and they agree. On a GPU the card's ceilings are
measured first (a 1 GiB device-to-device copy, bytes read + written; an 8192^3 bf16 matmul on
random data) and each row's GB/s or TFLOP/s is given against them. Then `speedup_ci` on an A/A
pair (the same kernel twice: the interval must hold 1) and on an A/B pair (fp32 vs bf16
matmul: a real speed-up).
"""
from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import bench as common_bench, copy_bandwidth, header, load_solution


def wall(fn, reps, sync):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args()
    ns = load_solution("lab09")
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    print(header("lab09 · timing methods", dev))
    ceil_gbps = ceil_tflops = None
    if cuda:
        ceil_gbps = copy_bandwidth() / 1e9
        m = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)  # random data: zeros run faster
        t = common_bench(lambda: m @ m, warmup=3, rep=10)["median"]
        ceil_tflops = 2 * 8192 ** 3 / t / 1e12
        del m
        print(f"ceilings: copy {ceil_gbps:.0f} GB/s (read + write), bf16 matmul 8192^3 {ceil_tflops:.0f} TFLOP/s")
    N = 4096 if cuda else 512
    cases = {  # name: (fn, bytes moved, flops)
        # 1 read of 2 x 4M fp32 + 1 write of 4M fp32: 48 MiB (fits a 50 MiB L2 only in part)
        "add 4M fp32": (lambda a=torch.randn(4 << 20, device=dev), b=torch.randn(4 << 20, device=dev): a + b,
                        3 * 4 * (4 << 20), 4 << 20),
        # (m, k) @ (k, n), m = n = k = N (4096 bf16 on a GPU, 512 fp32 on a CPU): 2 N^3 FLOPs, 3 N^2 elements
        "matmul": (lambda x=torch.randn(N, N, device=dev, dtype=torch.bfloat16 if cuda else torch.float32): x @ x,
                   3 * (2 if cuda else 4) * N * N, 2 * N ** 3),
        "tiny add 1K": (lambda a=torch.randn(1024, device=dev): a + 1, 2 * 4 * 1024, 1024),
    }
    reps = args.reps if cuda else max(5, args.reps // 10)
    print(f"{'case':14} {'wall':>10} {'wall+sync':>10} {'events':>10} {'ev+flush':>10} {'lab09':>10}   (µs, median)")
    for name, (fn, nbytes, flops) in cases.items():
        for _ in range(3):
            fn()
        row = [median(wall(fn, reps, False)), median(wall(fn, reps, True))]
        if cuda:
            row += [common_bench(fn, rep=reps)["median"], common_bench(fn, rep=reps, flush_l2=True)["median"]]
        else:
            row += [float("nan"), float("nan")]
        row.append(ns["bench"](fn, warmup=3, rep=reps)["median"])
        cells = " ".join(f"{t * 1e6:10.1f}" for t in row)
        best = row[3] if cuda else row[1]
        rate = f"{nbytes / best / 1e9:7.1f} GB/s {flops / best / 1e12:7.2f} TFLOP/s"
        if cuda:
            rate += f" ({nbytes / best / 1e9 / ceil_gbps:.0%} of copy, {flops / best / 1e12 / ceil_tflops:.0%} of matmul)"
        print(f"{name:14} {cells}   {rate} ({'events+flush' if cuda else 'wall+sync'})")
    if cuda:
        x = torch.randn(4096, 4096, device=dev)
        xb = x.bfloat16()
        runs = {"A": lambda: x @ x, "A'": lambda: x @ x, "B": lambda: xb @ xb}
        samples = {k: [] for k in runs}
        for _ in range(30):  # interleaved A A' B A A' B ...: a clock change hits all three
            for k, fn in runs.items():
                samples[k].append(common_bench(fn, warmup=1, rep=5)["median"])
        lo, hi = ns["speedup_ci"](samples["A"], samples["A'"])
        print(f"A/A  fp32 matmul vs itself:   speed-up 95% CI ({lo:.3f}, {hi:.3f})  must hold 1")
        lo, hi = ns["speedup_ci"](samples["A"], samples["B"])
        print(f"A/B  fp32 -> bf16 matmul:     speed-up 95% CI ({lo:.3f}, {hi:.3f})")


if __name__ == "__main__":
    main()
