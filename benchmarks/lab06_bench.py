"""lab06 benchmark: KV-transfer bandwidth between two processes, then TTFT/TPOT of colocated vs
disaggregated serving of the course model on a bursty workload, same machine, same run.

    PYTHONPATH=. python benchmarks/lab06_bench.py                 # NCCL with >= 2 GPUs, else gloo on CPU
    PYTHONPATH=. python benchmarks/lab06_bench.py --requests 40 --rate 8 --json out.json

1. Transfer: rank 0 sends a float32 tensor of `n` tokens' KV of the course model (2 KiB per
   token: 2 x 4 layers x 2 KV heads x 32 x 4 bytes) to rank 1 (`dist.send`/`recv`, NCCL or gloo);
   wall clock on the receiver from a barrier to the end of the receive (synchronised), median of
   the repetitions; next to it a local copy of the same bytes (`dst.copy_(src)`, read + write) on
   the sender's device. GB/s = bytes / time (the copy: 2 x bytes / time).
2. Serving: the same requests (gamma inter-arrivals, CV^2 = 4; prompts 16..400 tokens, 8..32 new
   tokens), released at their arrival times, served
   - colocated: 2 replicas of the course engine (`inferlab.engine`: continuous batching with
     chunked prefill, paged KV), requests alternating between them;
   - disaggregated: the lab's reference `run_disaggregated` with 1 prefill + 1 decode worker.
   Both use two worker processes (GPUs when there are two). TTFT and TPOT percentiles and
   goodput under the SLOs (`--ttft-slo`, `--tpot-slo`) from lab06's request records.
"""
from __future__ import annotations

import os

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast stays off on the lent machines
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import header, percentile, solution_cells  # noqa: E402
from inferlab import disagg_sim, models  # noqa: E402
from inferlab.launch import launch  # noqa: E402

KV_BYTES_PER_TOKEN = 2 * 4 * 2 * 32 * 4


def load_solution_module():
    """The reference as an importable module (spawned NCCL ranks import the router and workers by name)."""
    import importlib
    import tempfile

    folder = tempfile.mkdtemp(prefix="lab06-solution-")
    Path(folder, "lab06_solution.py").write_text("\n\n".join(solution_cells("lab06")), encoding="utf-8")
    sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = folder + os.pathsep + os.environ.get("PYTHONPATH", "")
    return vars(importlib.import_module("lab06_solution"))


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= 2 else "gloo"


# ----------------------------------------------------------------------------- 1 · transfer bandwidth


def _transfer_rank(sizes, reps):
    rank = dist.get_rank()
    dev = f"cuda:{rank}" if dist.get_backend() == "nccl" else "cpu"

    def sync():
        if dev != "cpu":
            torch.cuda.synchronize(dev)

    out = []
    for nbytes in sizes:
        x = torch.ones(nbytes // 4, device=dev)
        times, copies = [], []
        for i in range(reps + 2):
            dist.barrier()
            sync()
            t0 = time.perf_counter()
            if rank == 0:
                dist.send(x, 1)
            else:
                dist.recv(x, 0)
            sync()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        if rank == 0:
            y = torch.empty_like(x)
            for i in range(reps + 2):
                sync()
                t0 = time.perf_counter()
                y.copy_(x)
                sync()
                if i >= 2:
                    copies.append(time.perf_counter() - t0)
        out.append({"bytes": nbytes, "p2p": percentile(times, 50), "copy": percentile(copies, 50) if copies else None})
    return out


def transfer_table(max_mib: int, reps: int) -> list[dict]:
    sizes = sorted({KV_BYTES_PER_TOKEN * n for n in (16, 128, 512)} | {1 << k for k in range(20, 31) if (1 << k) <= max_mib << 20})
    res = launch(_transfer_rank, 2, sizes, reps, backend=_backend(), timeout=600)
    rows = []
    print(f"\n1 · KV transfer, 2 ranks over {_backend()}: rank 0 -> rank 1, median of {reps}")
    print(f"{'bytes':>12} {'tokens of KV':>13} {'p2p ms':>9} {'p2p GB/s':>9} {'local copy GB/s':>16}")
    for snd, rcv in zip(res[0], res[1]):
        n = snd["bytes"]
        row = {"bytes": n, "p2p_s": rcv["p2p"], "p2p_GBps": n / rcv["p2p"] / 1e9,
               "copy_GBps": 2 * n / snd["copy"] / 1e9}
        rows.append(row)
        print(f"{n:>12} {n // KV_BYTES_PER_TOKEN:>13} {rcv['p2p'] * 1e3:>9.3f} {row['p2p_GBps']:>9.2f} "
              f"{row['copy_GBps']:>16.2f}")
    return rows


# ----------------------------------------------------------------------------- 2 · serving


def _engine_rank(prompts, max_new, arrivals):
    """One colocated replica: the course engine serving its share of the requests, released on time."""
    from inferlab.engine.kv_cache import KVCache
    from inferlab.engine.model_runner import ModelRunner
    from inferlab.engine.scheduler import Scheduler
    from inferlab.engine.sequence import Sequence

    torch.set_grad_enabled(False)
    rank, world = dist.get_rank(), dist.get_world_size()
    dev = f"cuda:{rank}" if dist.get_backend() == "nccl" else "cpu"
    model = models.load("target").to(dev)
    sched = Scheduler(max_num_seqs=32, max_num_batched_tokens=512, num_blocks=1024, block_size=16)
    runner = ModelRunner(model, KVCache.for_model(model.config, 1024, 16, device=dev))
    mine = [i for i in range(len(prompts)) if i % world == rank]
    seqs, t0 = {}, time.time()
    dist.barrier()
    t0 = time.time()
    while len(sched.finished()) < len(mine):
        now = time.time() - t0
        while mine and len(seqs) < len(mine) and arrivals[mine[len(seqs)]] <= now:
            i = mine[len(seqs)]
            seqs[i] = Sequence(i, prompts[i], max_new, arrival=arrivals[i])
            sched.add_sequence(seqs[i])
        plan = sched.schedule()
        if not plan.scheduled:
            time.sleep(0.001)
            continue
        runner.copy_blocks(plan.copies)
        ids, pos, info = runner.prepare(plan.scheduled)
        logits = runner.forward(ids, pos, info)  # (T, V)
        last = torch.tensor(info.query_lens).cumsum(0) - 1
        toks = logits[last.to(logits.device)].argmax(-1).tolist()
        sched.postprocess(plan, toks, time.time() - t0)
    return {i: (s.output_ids, s.record()) for i, s in seqs.items()}


def _summary(records, ttft_slo, tpot_slo, goodput):
    ttft = [r["token_times"][0] - r["arrival"] for r in records]
    tpot = [(r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
            for r in records if len(r["token_times"]) > 1]
    return {"ttft_p50": percentile(ttft, 50), "ttft_p90": percentile(ttft, 90), "tpot_p50": percentile(tpot, 50),
            "tpot_p90": percentile(tpot, 90), "goodput": goodput(records, ttft_slo, tpot_slo)}


def serving_table(n, rate, ttft_slo, tpot_slo, seed=0) -> dict:
    ns = load_solution_module()
    reqs = disagg_sim.bursty_workload(n, rate, prompt_len=(16, 400), output_len=(8, 32), seed=seed)
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, 512, (r.prompt_len,), generator=g).tolist() for r in reqs]
    arrivals = [r.arrival for r in reqs]
    max_new = 16
    out = {}
    res = launch(_engine_rank, 2, prompts, max_new, arrivals, backend=_backend(), timeout=600)
    merged = {}
    for part in res:
        merged.update(part)
    colo_tokens = [merged[i][0] for i in range(n)]
    out["colocated (2 engine replicas)"] = _summary([merged[i][1] for i in range(n)], ttft_slo, tpot_slo,
                                                     ns["goodput"])
    tokens, records = ns["run_disaggregated"](prompts, max_new, 1, 1, arrivals=arrivals, return_records=True,
                                              num_blocks=256)
    out["disaggregated (1 prefill + 1 decode)"] = _summary(records, ttft_slo, tpot_slo, ns["goodput"])
    same = tokens == colo_tokens
    model = models.load("target")
    greedy = all(t == models.greedy_reference(model, p, max_new) for t, p in zip(tokens, prompts))
    out["tokens_equal_greedy"] = greedy
    print(f"\n2 · serving {n} requests, {rate}/s bursty, {max_new} new tokens, SLOs TTFT <= {ttft_slo} s, "
          f"TPOT <= {tpot_slo} s (same tokens both ways: {same}; "
          f"disaggregated equal to greedy generation: {greedy})")
    print(f"{'':38} {'TTFT p50':>9} {'TTFT p90':>9} {'TPOT p50':>9} {'TPOT p90':>9} {'goodput':>8}")
    for name, s in [(k, v) for k, v in out.items() if isinstance(v, dict)]:
        print(f"{name:38} {s['ttft_p50'] * 1e3:>7.1f}ms {s['ttft_p90'] * 1e3:>7.1f}ms {s['tpot_p50'] * 1e3:>7.1f}ms "
              f"{s['tpot_p90'] * 1e3:>7.1f}ms {s['goodput']:>6.2f}/s")
    return {"rows": out, "same_tokens": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mib", type=int, default=None, help="largest transfer (default 1024 on GPUs, 64 on CPU)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rate", type=float, default=6.0)
    ap.add_argument("--ttft-slo", type=float, default=1.0)
    ap.add_argument("--tpot-slo", type=float, default=0.1)
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()
    gpu = _backend() == "nccl"
    print(header("lab06 · KV transfer and disaggregated serving", "cuda:0" if gpu else "cpu"))
    result = {"transfer": transfer_table(args.max_mib or (1024 if gpu else 64), args.reps),
              "serving": serving_table(args.requests, args.rate, args.ttft_slo, args.tpot_slo)}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
