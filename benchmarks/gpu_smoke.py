"""Every lab's reference on CUDA tensors, unchanged: one call per graded name, compared with CPU.

    python benchmarks/gpu_smoke.py        # on a machine with a GPU; prints PASS/FAIL per name

The SPEC promises that graded functions run on CPU tensors (Triton's interpreter) and on CUDA
tensors alike; grading runs on the CPU everywhere, so this script is where the CUDA path of the
reference solutions is exercised.
"""
from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inferlab  # noqa: E402,F401
from benchmarks.common import header, load_solution  # noqa: E402

DEV = "cuda"
results: list[tuple[str, bool, str]] = []


def case(name):
    def wrap(fn):
        try:
            msg = fn() or ""
            results.append((name, True, msg))
        except Exception as e:  # noqa: BLE001
            results.append((name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"))
        return fn
    return wrap


def close(a, b, tol):
    err = (a.detach().double().cpu() - b.detach().double().cpu()).abs().max().item()
    assert err <= tol, f"max error {err:.3g} > {tol}"
    return f"max err {err:.2e}"


def main() -> int:
    g = torch.Generator().manual_seed(0)
    L1, L2, L3, L4 = (load_solution(lab, ROOT) for lab in ("lab01", "lab02", "lab03", "lab04"))

    @case("lab01.attention + causal_mask")
    def _():
        q, k, v = (torch.randn(2, 4, 17, 32, generator=g) for _ in range(3))
        m = L1["causal_mask"](17, 17, device=DEV)
        return close(L1["attention"](q.to(DEV), k.to(DEV), v.to(DEV), m), L1["attention"](q, k, v, m.cpu()), 1e-4)

    @case("lab01.generate (model on CUDA, with cache)")
    def _():
        from inferlab.models import encode, greedy_reference, load

        prompt = encode("The KV cache")
        want = greedy_reference(load("target"), prompt, 16)
        got = L1["generate"](load("target").to(DEV), prompt, 16)
        assert got == want, (got, want)

    @case("lab02.flash_attention fp16/bf16, causal, N=1000")
    def _():
        out = []
        for dt in (torch.float16, torch.bfloat16):
            for causal in (False, True):
                q, k, v = (torch.randn(1, 2, 1000, 64, generator=g) for _ in range(3))
                o, lse = L2["flash_attention"](q.to(DEV, dt), k.to(DEV, dt), v.to(DEV, dt), causal=causal)
                s = (q.double() @ k.double().transpose(-1, -2)) * 64 ** -0.5
                if causal:
                    s = s.masked_fill(torch.ones(1000, 1000, dtype=torch.bool).triu(1), float("-inf"))
                ref = torch.softmax(s, -1) @ v.double()
                out.append(close(o, ref, 2e-2))
                close(lse, torch.logsumexp(s, -1), 1e-2)
        return ", ".join(out)

    @case("lab02.online_softmax + merge_attention")
    def _():
        x = torch.randn(5, 300, generator=g)
        close(L2["online_softmax"](x.to(DEV), block_size=64), torch.softmax(x.double(), -1), 1e-5)
        o, lse = torch.randn(3, 8, generator=g), torch.randn(3, generator=g)
        mo, ml = L2["merge_attention"](o.to(DEV), lse.to(DEV), o.to(DEV), lse.to(DEV))
        return close(mo, o, 1e-5)

    @case("lab03.PagedKVCache + paged_attention on CUDA (GQA 4)")
    def _():
        cache = L3["PagedKVCache"](64, 16, 2, 32, dtype=torch.float16, device=DEV)
        for s, n in ((0, 17), (1, 40)):
            cache.add_sequence(s)
            cache.append(s, torch.randn(n, 2, 32, generator=g).to(DEV, torch.float16),
                         torch.randn(n, 2, 32, generator=g).to(DEV, torch.float16))
        tables = torch.full((2, 4), -1, dtype=torch.int32)
        for s in (0, 1):
            bt = cache.block_table(s)
            tables[s, :len(bt)] = torch.tensor(bt, dtype=torch.int32)
        q = torch.randn(2, 8, 32, generator=g).to(DEV, torch.float16)
        lens = torch.tensor([17, 40], dtype=torch.int32)
        o = L3["paged_attention"](q, cache.k_cache, cache.v_cache, tables.to(DEV), lens.to(DEV))
        outs = []
        for s in (0, 1):
            k, v = cache.gather(s)
            k, v = (t.double().cpu().repeat_interleave(4, dim=1).transpose(0, 1) for t in (k, v))  # (H, T, D)
            p = torch.softmax((q[s].double().cpu()[:, None, :] @ k.transpose(-1, -2)) * 32 ** -0.5, -1)
            outs.append(close(o[s], (p @ v)[:, 0, :], 2e-2))
        return ", ".join(outs)

    @case("lab04.TieredKVCache gpu/cpu(pinned)/disk + quantize_int8 on CUDA")
    def _():
        with tempfile.TemporaryDirectory() as tmp:
            tiers = [L4["Tier"]("gpu", 2, device=DEV), L4["Tier"]("cpu", 2, device="cpu"), L4["Tier"]("disk", 8, path=tmp)]
            cache = L4["TieredKVCache"](tiers, policy="lru")
            blocks = {i: torch.randn(4, 8, generator=g) for i in range(6)}
            for i, b in blocks.items():
                cache.put(i, b.to(DEV))
            where = [cache.tier_of(i) for i in blocks]
            for i, b in blocks.items():
                got = cache.get(i)
                assert got is not None and got.device.type == "cuda", (i, got)
                close(got, b, 0)
        x = torch.randn(33, 100, generator=g)
        q, scale = L4["quantize_int8"](x.to(DEV))
        deq = L4["dequantize_int8"](q, scale)
        assert ((deq.cpu() - x).abs() <= scale.cpu() / 2 + 1e-6).all()
        return f"tiers before gets: {where}"

    width = max(len(n) for n, _, _ in results)
    print(header("GPU smoke"))
    for name, ok, msg in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name:{width}}  {(msg.splitlines() or [''])[0] if ok else ''}")
        if not ok:
            print("      " + msg.replace("\n", "\n      "))
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
