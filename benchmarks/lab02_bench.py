"""lab02 benchmark: the reference FlashAttention kernel vs torch SDPA (flash backend), forward, on one GPU.

    python benchmarks/lab02_bench.py                      # fp16+bf16, D 64+128, N 1k..16k, causal and not
    python benchmarks/lab02_bench.py --dtypes fp16 --dims 128 --seqlens 4096 8192

The kernel is not copied here: the lab is written once, in solutions/lab02/lab02.src.py, and this
script runs the code cells of the built solution notebook (test cells left out, exactly as the
grader reads them) to get `flash_attention`, the public function a learner calls (its argument
checks included). Before timing, each configuration is checked against SDPA (o) and a float32
reference (lse, first batch and head). Both are timed in the same run with benchmarks/common.py's
`bench` (CUDA events, L2 flushed between calls, median of the repetitions; p10-p90 printed).

FLOPs (the usual FlashAttention convention, forward only): 4 · B · H · N² · D (two matmuls of
2 N² D each); causal counts half. B · N = 16384 tokens and H · D = 2048, as in the FA2 paper.
Bytes (ideal, for reference): Q, K, V read and O written once = 4 · B · H · N · D · 2 bytes.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inferlab  # noqa: E402,F401 - before triton: sets TRITON_INTERPRET=1 when there is no GPU
from benchmarks.common import bench, header, load_solution, tflops  # noqa: E402

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
# Issue 14's target on H200 for D=128, N >= 4096: public flash_attention / SDPA-flash, and >= 600 TFLOP/s at the best shape.
TARGET = {False: 1.5, True: 1.5}
TARGET_TFLOPS = 600


def load_reference() -> dict:
    """Run the solution's code cells; return their namespace (flash_attention, attention_reference...)."""
    return load_solution("lab02", ROOT)


def sdpa_flash(q, k, v, causal):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def check(flash_attention, q, k, v, causal) -> str:
    """Compare with SDPA (o, all heads) and a float32 reference (lse, batch 0 head 0); raise if off."""
    o, lse = flash_attention(q, k, v, causal=causal)
    o_ref = sdpa_flash(q, k, v, causal)
    tol = 2e-2 if q.dtype == torch.bfloat16 else 4e-3
    err_o = (o.float() - o_ref.float()).abs().max().item()
    s = (q[0, 0].float() @ k[0, 0].float().T) * q.shape[-1] ** -0.5  # (N, N) float32
    if causal:
        s = s.masked_fill(~torch.ones_like(s, dtype=torch.bool).tril(), -math.inf)
    err_lse = (lse[0, 0] - torch.logsumexp(s, dim=-1)).abs().max().item()
    del s
    if not (err_o <= tol and err_lse <= 1e-2) or o.dtype != q.dtype or lse.dtype != torch.float32:
        raise AssertionError(f"reference kernel disagrees: max |o - sdpa| {err_o:.3g} (tol {tol}), "
                             f"max |lse - ref| {err_lse:.3g}, dtypes {o.dtype}/{lse.dtype}")
    return f"{err_o:.1e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=sorted(DTYPES))
    ap.add_argument("--dims", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--seqlens", nargs="+", type=int, default=[1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--causal", nargs="+", default=["no", "yes"], choices=["no", "yes"])
    ap.add_argument("--tokens", type=int, default=16384, help="B * N")
    ap.add_argument("--hidden", type=int, default=2048, help="H * D")
    args = ap.parse_args(argv)

    if not torch.cuda.is_available():
        print("lab02_bench: no CUDA device; this benchmark times GPU kernels (the lab's checks count bytes on CPU).")
        return 0
    ns = load_reference()
    flash_attention = ns["flash_attention"]
    print(header("lab02 FlashAttention forward, public flash_attention vs SDPA-flash"))
    print(f"B*N = {args.tokens} tokens, H*D = {args.hidden}; TFLOP/s = 4·B·H·N²·D / time (causal: half)\n")
    head = (f"{'dtype':>5} {'D':>4} {'causal':>6} {'N':>6} {'B':>3} {'H':>3} | {'ref ms':>8} {'ref TF/s':>8} | "
            f"{'sdpa ms':>8} {'sdpa TF/s':>9} | {'ratio':>6} {'max|do|':>8} {'ref p10-p90 ms':>15}  target")
    print(head)
    print("-" * len(head))
    misses = []
    best_tf = 0.0
    for dname in args.dtypes:
        dtype = DTYPES[dname]
        for d in args.dims:
            for causal in (c == "yes" for c in args.causal):
                for n in args.seqlens:
                    b, h = max(1, args.tokens // n), max(1, args.hidden // d)
                    torch.manual_seed(0)
                    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=dtype) for _ in range(3))
                    err = check(flash_attention, q, k, v, causal)
                    s_ref = bench(lambda: flash_attention(q, k, v, causal=causal), warmup=10, rep=50, flush_l2=True)
                    s_sdpa = bench(lambda: sdpa_flash(q, k, v, causal), warmup=10, rep=50, flush_l2=True)
                    t_ref, t_sdpa = s_ref["median"] * 1e3, s_sdpa["median"] * 1e3  # ms
                    # two matmuls of 2·N²·D FLOPs per (batch, head): Q·Kᵀ and P·V; causal computes half
                    flops = 4 * b * h * n * n * d * (0.5 if causal else 1.0)
                    tf_ref, tf_sdpa = tflops(flops, s_ref["median"]), tflops(flops, s_sdpa["median"])
                    ratio = tf_ref / tf_sdpa
                    best_tf = max(best_tf, tf_ref)
                    mark = ""
                    if d == 128 and n >= 4096:
                        ok = ratio >= TARGET[causal]
                        mark = f">= {TARGET[causal]:.2f}x {'met' if ok else 'MISSED'}"
                        if not ok:
                            misses.append((dname, d, causal, n, ratio))
                    print(f"{dname:>5} {d:>4} {str(causal):>6} {n:>6} {b:>3} {h:>3} | {t_ref:>8.3f} {tf_ref:>8.1f} | "
                          f"{t_sdpa:>8.3f} {tf_sdpa:>9.1f} | {ratio:>5.2f}x {err:>8} "
                          f"{s_ref['p10'] * 1e3:>7.3f}-{s_ref['p90'] * 1e3:<7.3f}  {mark}", flush=True)
                    del q, k, v
    if "HOPPER_CONFIGS" in ns:  # the fixed configuration table of the Hopper path (no autotuning)
        print("\nHopper path configs, (padded D, causal) -> (BLOCK_M, BLOCK_N, warps, stages):", ns["HOPPER_CONFIGS"])
    cache = getattr(ns["_tuned_flash_kernel"](), "cache", {})
    if cache:
        print("teaching-kernel autotune choices (key: N bucket, D, causal):")
        for key, cfg in list(cache.items())[:40]:
            print(f"  {key[:3]}: {cfg}")
    print(f"best {best_tf:.0f} TFLOP/s (target >= {TARGET_TFLOPS})")
    print(f"\n{len(misses)} configuration(s) below the target ratio (D=128, N>=4096)" if misses
          else "\nall D=128, N>=4096 configurations meet the target ratio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
