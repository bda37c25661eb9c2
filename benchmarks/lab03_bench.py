"""lab03 benchmark: paged decode attention bandwidth vs SDPA on contiguous KV vs the card's copy bandwidth.

    python benchmarks/lab03_bench.py            # the table (needs a CUDA GPU)
    python benchmarks/lab03_bench.py --sweep    # also try kernel configurations at the largest case

Runs the reference solution of lab03 (the code cells of solutions/lab03/lab03.src.py). Per case,
timed in the same run (benchmarks/common.py: CUDA events, L2 flushed, median of the repetitions):
- paged:   the public `paged_attention`, called as a learner calls it (argument checks included),
           over a paged cache with a random (non-contiguous) block table;
- kernel:  the same with the argument checks replaced by shape arithmetic (the kernel alone;
           a column beside the public one, never in its place);
- split:   the public `paged_attention_split_kv` (partition 512), at batch 1 only;
- SDPA:    torch scaled_dot_product_attention on the same KV laid out contiguously, (B, H_kv, L, D),
           with the G = H / H_kv query heads of each KV head as G query rows (GQA without copying KV);
- copy:    a device-to-device copy of 1 GiB, bytes read + written per second (the card's ceiling).
Byte arithmetic, per decode step: KV read = B * L * H_kv * D * 2 (K and V) * 2 bytes (fp16); q and the
output are B * H * D * 2 bytes each (negligible). Bandwidth = KV bytes read / median time.
The gap between `paged` and `kernel` is the cost of the argument checks (value checks on device
tensors synchronise the device).
Model shape: H = 32, H_kv = 8, D = 128 (Llama-3-8B), fp16.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inferlab  # noqa: E402,F401  first: sets TRITON_INTERPRET=1 when there is no GPU
from benchmarks.common import bench as time_call  # noqa: E402
from benchmarks.common import copy_bandwidth as copy_ceiling  # noqa: E402
from benchmarks.common import header, load_solution  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

H, H_KV, D = 32, 8, 128
CASES = [(b, ctx) for b in (1, 4, 16, 64, 256) for ctx in (1024, 4096, 32768)]  # issue 14: 1 x 1k ... 256 x 32k
BLOCK_SIZES = (16,)
PARTITION = 512
DEVICE = "cuda"


def bench(fn, rep=50, full=False):
    """Median seconds per call (CUDA events, L2 flushed between calls); --smoke: one wall-clock call.
    full=True: the whole summary (median, p10, p90, host: the time for the call to return on the host)."""
    if DEVICE == "cpu":  # the interpreter: the numbers mean nothing
        t = time_call(fn, warmup=0, rep=1, device="cpu")
    else:
        t = time_call(fn, warmup=5, rep=rep, flush_l2=True, device=DEVICE)
    return t if full else t["median"]


def copy_bandwidth() -> float:
    """Bytes read + written per second by a 1 GiB device-to-device copy (the card's ceiling)."""
    return copy_ceiling(DEVICE, 1 << 30 if DEVICE == "cuda" else 1 << 17)


def make_case(b, ctx, bs, gen):
    """A paged cache holding B contexts of `ctx` tokens in shuffled blocks, and the same KV contiguous."""
    nb = math.ceil(ctx / bs)
    num_blocks = b * nb
    k_cache = torch.randn(num_blocks, bs, H_KV, D, device=DEVICE, dtype=torch.float16, generator=gen)
    v_cache = torch.randn(num_blocks, bs, H_KV, D, device=DEVICE, dtype=torch.float16, generator=gen)
    perm = torch.randperm(num_blocks, device=DEVICE, generator=gen)
    block_tables = perm.view(b, nb).to(torch.int32)  # (B, max_blocks), non-contiguous blocks
    context_lens = torch.full((b,), ctx, dtype=torch.int32, device=DEVICE)
    q = torch.randn(b, H, D, device=DEVICE, dtype=torch.float16, generator=gen)
    # Contiguous copy for SDPA: (B, H_kv, L, D).
    k = k_cache[block_tables.long()].reshape(b, nb * bs, H_KV, D)[:, :ctx].transpose(1, 2).contiguous()
    v = v_cache[block_tables.long()].reshape(b, nb * bs, H_KV, D)[:, :ctx].transpose(1, 2).contiguous()
    return q, k_cache, v_cache, block_tables, context_lens, k, v


def fast_checks(ns):
    """The graded functions with the value checks (a device sync) replaced by shape-only arithmetic."""
    def check(q, k_cache, v_cache, block_tables, context_lens, sm_scale):
        b, h, d = q.shape
        return b, h, d, k_cache.shape[2], k_cache.shape[1], d ** -0.5 if sm_scale is None else sm_scale

    ns["_check_paged_args"] = check


def sdpa_decode(q, k, v):
    """GQA decode through SDPA: the G query heads of a KV head are G query rows. (B, H, D)."""
    b = q.shape[0]
    qg = q.view(b, H_KV, H // H_KV, D)  # (B, H_kv, G, D)
    return F.scaled_dot_product_attention(qg, k, v).reshape(b, H, D)


def run(args) -> None:
    global DEVICE, CASES, BLOCK_SIZES, H, H_KV, D, PARTITION
    if args.smoke:  # tiny sizes through the Triton interpreter: checks that the script runs, times nothing
        DEVICE, CASES, BLOCK_SIZES, H, H_KV, D, PARTITION = "cpu", [(1, 96), (3, 40)], (16,), 8, 2, 16, 32
    elif not torch.cuda.is_available():
        print("lab03_bench: no CUDA device; this benchmark times GPU kernels (--smoke runs it tiny on the CPU).")
        return
    ns = load_solution("lab03")
    paged, split = ns["paged_attention"], ns["paged_attention_split_kv"]  # public: what a learner calls
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    dev = header("lab03 paged decode") if DEVICE == "cuda" else "CPU (Triton interpreter, --smoke)"
    # Correctness first, through the graded (checking) functions, on a small case.
    q, kc, vc, bt, lens, k, v = make_case(3, 1000, 16, gen)
    ref = sdpa_decode(q, k, v).float()
    err = (paged(q, kc, vc, bt, lens).float() - ref).abs().max().item()
    err_s = (split(q, kc, vc, bt, lens, partition_size=PARTITION).float() - ref).abs().max().item()
    print(f"check vs SDPA (B=3, L=1000): max abs error paged {err:.2e}, split {err_s:.2e}")
    kns = load_solution("lab03")  # a second copy whose argument checks are shape arithmetic only
    fast_checks(kns)
    kernel_only = kns["paged_attention"]
    copy_bw = copy_bandwidth()
    print(f"{dev}; copy bandwidth (read + write) {copy_bw / 1e12:.2f} TB/s")
    print(f"H={H}, H_kv={H_KV}, D={D}, fp16; TB/s = KV bytes read per second; %copy = of the copy bandwidth; "
          "paged and split are the public functions")
    head = (f"{'B':>4} {'ctx':>6} {'bs':>3} {'KV MiB':>7} | {'paged us':>9} {'TB/s':>5} {'%copy':>6} | "
            f"{'kernel us':>9} {'%copy':>6} | "
            f"{'split us':>9} {'TB/s':>5} {'%copy':>6} | {'SDPA us':>8} {'TB/s':>5} {'%copy':>6} | {'paged/SDPA':>10} "
            f"{'splits':>6} {'host us':>7}")
    print(head)
    print("-" * len(head))
    for b, ctx in CASES:
        for bs in BLOCK_SIZES:
            q, kc, vc, bt, lens, k, v = make_case(b, ctx, bs, gen)
            # one read of K and V: B * L * H_kv * D * 2 (K and V) * 2 bytes (fp16)
            kv_bytes = b * ctx * H_KV * D * 2 * 2
            out = paged(q, kc, vc, bt, lens)
            ref = sdpa_decode(q, k, v)
            bad = (out.float() - ref.float()).abs().max().item()
            s_p = bench(lambda: paged(q, kc, vc, bt, lens), full=True)
            t_p = s_p["median"]
            n_split = ns["_choose_split"](b, H_KV, bt.shape[1] * bs, q.device)[0]  # what paged_attention picked
            t_k = bench(lambda: kernel_only(q, kc, vc, bt, lens))
            t_s = bench(lambda: sdpa_decode(q, k, v))
            t_x = bench(lambda: split(q, kc, vc, bt, lens, partition_size=PARTITION)) if b == 1 else None
            bw = lambda t: kv_bytes / t  # noqa: E731
            xs = (f"{t_x * 1e6:9.1f} {bw(t_x) / 1e12:5.2f} {bw(t_x) / copy_bw:6.1%}" if t_x else f"{'-':>9} {'':5} {'':6}")
            print(f"{b:4d} {ctx:6d} {bs:3d} {kv_bytes / 2**20:7.0f} | {t_p * 1e6:9.1f} {bw(t_p) / 1e12:5.2f} "
                  f"{bw(t_p) / copy_bw:6.1%} | {t_k * 1e6:9.1f} {bw(t_k) / copy_bw:6.1%} | {xs} | {t_s * 1e6:8.1f} {bw(t_s) / 1e12:5.2f} {bw(t_s) / copy_bw:6.1%} | "
                  f"{t_s / t_p:10.2f} {n_split:6d} {s_p['host'] * 1e6:7.1f}" + (f"   (max err {bad:.1e})" if bad > 1e-2 else ""))
            del q, kc, vc, bt, lens, k, v
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
    print("targets: paged (public) >= 0.95x SDPA at every B x ctx, >= 70% of copy at B=1, 32k (issue 14); "
          "splits = partitions per context paged_attention chose (1 = no split); host = time for the call to return")
    if args.sweep:
        sweep(ns, gen, copy_bw)


def sweep(ns, gen, copy_bw) -> None:
    """Try BLOCK_N / num_warps / num_stages (the lab's PAGED_CONFIG) through the public paged_attention."""
    cases = ((256, 2048), (1, 32768)) if DEVICE == "cuda" else ((3, 40), (1, 96))
    default = ns["PAGED_CONFIG"]
    for b, ctx in cases:
        q, kc, vc, bt, lens, k, v = make_case(b, ctx, 16, gen)
        kv_bytes = b * ctx * H_KV * D * 2 * 2
        print(f"\nsweep: B={b}, ctx={ctx}, bs=16, public paged_attention (PAGED_CONFIG default {default})")
        grid = ((32, 64, 128), (2, 4, 8), (1, 2, 3)) if DEVICE == "cuda" else ((32, 64), (4,), (2,))
        for block_n in grid[0]:
            for warps in grid[1]:
                for stages in grid[2]:
                    ns["PAGED_CONFIG"] = (block_n, warps, stages)
                    try:
                        t = bench(lambda: ns["paged_attention"](q, kc, vc, bt, lens), rep=30)
                    except Exception as e:  # noqa: BLE001 - out of shared memory etc.
                        print(f"  BLOCK_N {block_n:3d} warps {warps} stages {stages}: {type(e).__name__}")
                        continue
                    print(f"  BLOCK_N {block_n:3d} warps {warps} stages {stages}: {t * 1e6:8.1f} us "
                          f"{kv_bytes / t / 1e12:5.2f} TB/s {kv_bytes / t / copy_bw:6.1%}")
        ns["PAGED_CONFIG"] = default
        del q, kc, vc, bt, lens, k, v
        if DEVICE == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", action="store_true", help="also time kernel configurations")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU through the Triton interpreter")
    run(p.parse_args())
