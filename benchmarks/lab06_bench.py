"""lab06 benchmark: KV-transfer bandwidth between two processes, then TTFT/TPOT of colocated vs
disaggregated serving of the course model on a bursty workload, same machine, same run.

    PYTHONPATH=. python benchmarks/lab06_bench.py                 # NCCL with >= 2 GPUs, else gloo on CPU
    PYTHONPATH=. python benchmarks/lab06_bench.py --requests 40 --rate 8 --json out.json

1. Transfer: rank 0 sends a float32 tensor of `n` tokens' KV of the course model (2 KiB per
   token: 2 x 4 layers x 2 KV heads x 32 x 4 bytes) to rank 1 (`dist.send`/`recv`, NCCL or gloo);
   wall clock on the receiver from a barrier to the end of the receive (synchronised), median of
   the repetitions; next to it a local copy of the same bytes (`dst.copy_(src)`, read + write) on
   the sender's device. GB/s = bytes / time (the copy: 2 x bytes / time). On GPUs a second column
   times each message on the GPU alone: CUDA events on the sender's stream around `dist.send`,
   messages back to back (the NCCL send/recv peak the handoff is compared with).
1b. The lab's handoff code path on synthetic KV of a 7B-like layer (`--synth-layers` 32 layers,
   8 KV heads x 128, bf16: 4 KiB per token per layer) for prompts of `--synth-tokens` tokens:
   rank 0 runs, per layer, the reference's `block_checksums` (to CPU, as the prefill worker does)
   and `_send_layer` (KV over NCCL, checksums over a gloo group, the reference's tags); rank 1
   posts the decode worker's staging receives and verifies every block's checksum. Timed at the
   send (see `_SendClock`): per message, from max(KV ready, previous message done) to its end.
   Reported: KV bytes / sum of message times (the link's rate while the handoff uses it), the
   whole request from layer 0 ready to the last send done, and the receiver's time from the
   barrier to all checksums verified.
2. Serving: the same requests (gamma inter-arrivals, CV^2 = 4; prompts 16..400 tokens, 8..32 new
   tokens), released at their arrival times, served
   - colocated: 2 replicas of the course engine (`inferlab.engine`: continuous batching with
     chunked prefill, paged KV), requests alternating between them;
   - disaggregated: the lab's reference `run_disaggregated` with 1 prefill + 1 decode worker.
   Both use two worker processes (GPUs when there are two). TTFT and TPOT percentiles (p50, p90,
   p99) and goodput under the SLOs (`--ttft-slo`, `--tpot-slo`) from lab06's request records.
   Inside that `run_disaggregated` call the prefill rank's `_send_layer` is wrapped by the same
   `_SendClock` (the wrapper only records CUDA events around the call): the handoff bandwidth of
   the course model's real requests, logged per message (rank 0 -> rank 1 of the KV group).
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
KV_LAYER_BYTES_PER_TOKEN = KV_BYTES_PER_TOKEN // 4  # one layer's message


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


class _SendClock:
    """Wraps the reference's `_send_layer` and times each KV message at the send, without adding a wait.

    On a GPU: a CUDA event on the caller's stream just before the call (the KV is computed: NCCL's
    stream waits for this point before sending), and one on a side stream made to wait for the KV
    message's work (`Work.wait()` on NCCL makes the *current* stream wait, never the host) — the
    message is done. The caller's stream does not wait, so the handoff overlaps as it does unwrapped.
    On the CPU (gloo) only the host time of the call is logged (gloo's handles cannot be waited twice).
    """

    def __init__(self, send_layer):
        self.inner, self.log, self.side = send_layer, [], {}

    def __call__(self, kv, checksums, dst, req, attempt, layer, num_layers, ctrl_group):
        nbytes = kv.numel() * kv.element_size()
        if not kv.is_cuda:
            t0 = time.perf_counter()
            handles = self.inner(kv, checksums, dst, req, attempt, layer, num_layers, ctrl_group)
            self.log.append([dst, req, attempt, layer, nbytes, t0, time.perf_counter()])
            return handles
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(torch.cuda.current_stream(kv.device))
        handles = self.inner(kv, checksums, dst, req, attempt, layer, num_layers, ctrl_group)
        side = self.side.setdefault(kv.device, torch.cuda.Stream(kv.device))
        with torch.cuda.stream(side):
            handles[0].wait()  # the KV message (the reference returns it first)
            end.record(side)
        self.log.append([dst, req, attempt, layer, nbytes, start, end])
        return handles

    def records(self) -> list[list]:
        """[dst, req, attempt, layer, bytes, ready s, done s] per message, times from the first message's ready."""
        if not self.log:
            return []
        if isinstance(self.log[0][5], float):
            base = self.log[0][5]
            return [r[:5] + [r[5] - base, r[6] - base] for r in self.log]
        torch.cuda.synchronize()
        base = self.log[0][5]
        return [r[:5] + [base.elapsed_time(r[5]) / 1e3, base.elapsed_time(r[6]) / 1e3] for r in self.log]


def handoff_summary(records, skip_reqs=()) -> dict:
    """Per-request handoff figures from `_SendClock.records()`.

    A message is busy from max(its KV ready, the previous message to the same peer done) to its end
    (one NCCL stream per peer carries them in order). Per request: bytes, busy seconds, span (layer 0
    ready -> last message done), tail (last layer ready -> last message done: what the handoff adds
    after the prefill, lab06 task 2's `kv_transfer_time`).
    """
    last_done, reqs = {}, {}
    for dst, req, att, layer, nbytes, ready, done in records:
        busy = done - max(ready, last_done.get(dst, ready))
        last_done[dst] = done
        if req in skip_reqs:
            continue
        r = reqs.setdefault((req, att), {"bytes": 0, "busy": 0.0, "first_ready": ready, "msgs": []})
        r["bytes"] += nbytes
        r["busy"] += busy
        r["last_ready"], r["done"] = ready, done
        r["msgs"].append((nbytes, busy))
    rows = [{"bytes": r["bytes"], "messages": len(r["msgs"]), "busy": r["busy"], "span": r["done"] - r["first_ready"],
             "tail": r["done"] - r["last_ready"]} for r in reqs.values()]
    if not rows:
        return {"requests": 0}
    tot_b, tot_busy = sum(r["bytes"] for r in rows), sum(r["busy"] for r in rows)
    return {"requests": len(rows), "messages": sum(r["messages"] for r in rows),
            "bytes_median": percentile([r["bytes"] for r in rows], 50),
            "busy_GBps": tot_b / tot_busy / 1e9 if tot_busy > 0 else None,
            "request_GBps_median": percentile([r["bytes"] / r["span"] / 1e9 for r in rows if r["span"] > 0], 50),
            "span_median_s": percentile([r["span"] for r in rows], 50),
            "tail_median_s": percentile([r["tail"] for r in rows], 50),
            "message_s_median": percentile([b for r in reqs.values() for _, b in r["msgs"]], 50)}


def _transfer_rank(sizes, reps, synth):
    rank = dist.get_rank()
    nccl = dist.get_backend() == "nccl"
    dev = f"cuda:{rank}" if nccl else "cpu"
    if nccl:
        torch.cuda.set_device(dev)

    def sync():
        if dev != "cpu":
            torch.cuda.synchronize(dev)

    out = []
    for nbytes in sizes:
        x = torch.ones(nbytes // 4, device=dev)
        times, copies, events = [], [], []
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
        if nccl:  # the same messages back to back, each timed on the GPU (events around the send)
            dist.barrier()
            for i in range(reps + 2):
                if rank == 0:
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    dist.send(x, 1)
                    b.record()
                    if i >= 2:
                        events.append((a, b))
                else:
                    dist.recv(x, 0)
            sync()
        if rank == 0:
            y = torch.empty_like(x)
            for i in range(reps + 2):
                sync()
                t0 = time.perf_counter()
                y.copy_(x)
                sync()
                if i >= 2:
                    copies.append(time.perf_counter() - t0)
        out.append({"bytes": nbytes, "p2p": percentile(times, 50), "copy": percentile(copies, 50) if copies else None,
                    "p2p_gpu": percentile([a.elapsed_time(b) / 1e3 for a, b in events], 50) if events else None})
        del x
    return {"p2p": out, "synth": _synthetic_handoff(rank, dev, nccl, synth, reps) if synth else None}


def _synthetic_handoff(rank, dev, nccl, synth, reps):
    """The reference's handoff path (`block_checksums`, `_send_layer`, staging receives, verification) on
    synthetic KV of `synth["layers"]` layers of (2, n, kv_heads, head_dim) bf16."""
    import lab06_solution as mod

    ctrl = dist.new_group(backend="gloo") if nccl else None
    L, hkv, d, bs = synth["layers"], synth["kv_heads"], synth["head_dim"], 16
    clock = _SendClock(mod._send_layer)
    out = []
    for k, n in enumerate(synth["tokens"]):
        nb = -(-n // bs)
        if rank == 0:
            g = torch.Generator(device=dev).manual_seed(n)
            kvs = [torch.randn(2, n, hkv, d, device=dev, generator=g).to(torch.bfloat16) for _ in range(L)]
        recv_s, ok, host_cs, host_send = [], True, [], []
        for r in range(reps + 1):  # repetition 0 warms up (buffers, communicator)
            req = 1000 * k + r
            dist.barrier()
            if rank == 0:
                handles = []
                for i in range(L):
                    t0 = time.perf_counter()
                    cs = mod.block_checksums(kvs[i], bs).cpu()  # as the prefill worker does
                    t1 = time.perf_counter()
                    handles += clock(kvs[i], cs, 1, req, 0, i, L, ctrl)
                    if r > 0:
                        host_cs.append(t1 - t0)
                        host_send.append(time.perf_counter() - t1)
                for h in handles:
                    h.wait()
                if nccl:
                    torch.cuda.synchronize(dev)
            else:
                t0 = time.perf_counter()
                bufs, handles = [], []
                for i in range(L):  # the decode worker's staging receives
                    kv = torch.empty(2, n, hkv, d, device=dev, dtype=torch.bfloat16)
                    cs = torch.empty(2, nb, dtype=torch.int64)
                    handles.append(dist.irecv(kv, 0, tag=mod._kv_tag(req, 0, 2 * i, L)))
                    handles.append(dist.irecv(cs, 0, group=ctrl, tag=mod._kv_tag(req, 0, 2 * i + 1, L)))
                    bufs.append((kv, cs))
                for h in handles:
                    h.wait()
                good = all(torch.equal(mod.block_checksums(kv, bs).cpu(), cs) for kv, cs in bufs)  # as _install_kv
                if nccl:
                    torch.cuda.synchronize(dev)
                if r > 0:
                    recv_s.append(time.perf_counter() - t0)
                ok = ok and good
        if rank == 0:
            del kvs
        out.append({"tokens": n, "recv_s": percentile(recv_s, 50) if recv_s else None, "checksums_ok": ok,
                    "host_checksum_s": percentile(host_cs, 50) if host_cs else None,
                    "host_send_s": percentile(host_send, 50) if host_send else None})
    if rank == 0:
        recs = clock.records()
        return [dict(o, **handoff_summary([m for m in recs if m[1] // 1000 == k], skip_reqs={1000 * k}))
                for k, o in enumerate(out)]
    return out


def transfer_table(max_mib: int, reps: int, synth: dict | None) -> dict:
    sizes = sorted({1 << k for k in range(15, 31) if (1 << k) <= max_mib << 20})
    res = launch(_transfer_rank, 2, sizes, reps, synth, backend=_backend(), timeout=600)
    rows = []
    print(f"\n1 · point-to-point, 2 ranks over {_backend()}: rank 0 -> rank 1, median of {reps}")
    print(f"{'bytes':>12} {'layer of KV':>12} {'p2p ms':>9} {'p2p GB/s':>9} {'GPU-timed GB/s':>15} "
          f"{'local copy GB/s':>16}")
    for snd, rcv in zip(res[0]["p2p"], res[1]["p2p"]):
        n = snd["bytes"]
        row = {"bytes": n, "p2p_s": rcv["p2p"], "p2p_GBps": n / rcv["p2p"] / 1e9,
               "p2p_gpu_GBps": n / snd["p2p_gpu"] / 1e9 if snd["p2p_gpu"] else None,
               "copy_GBps": 2 * n / snd["copy"] / 1e9}
        rows.append(row)
        ev = f"{row['p2p_gpu_GBps']:>15.2f}" if row["p2p_gpu_GBps"] else f"{'-':>15}"
        print(f"{n:>12} {n // KV_LAYER_BYTES_PER_TOKEN:>9} tok {rcv['p2p'] * 1e3:>9.3f} {row['p2p_GBps']:>9.2f} {ev} "
              f"{row['copy_GBps']:>16.2f}")
    out = {"p2p": rows, "synthetic_handoff": None}
    if synth:
        peak = {r["bytes"]: r["p2p_gpu_GBps"] or r["p2p_GBps"] for r in rows}
        print(f"\n1b · the lab's handoff path on synthetic KV: {synth['layers']} layers x (2, n, {synth['kv_heads']}, "
              f"{synth['head_dim']}) bf16, checksums per 16-position block; median of {reps}")
        print(f"{'tokens':>7} {'layer MiB':>9} {'request MiB':>11} {'handoff busy GB/s':>17} {'p2p peak @layer':>15} "
              f"{'ratio':>6} {'request span ms':>15} {'request GB/s':>12} {'p2p @request':>12} {'recv+verify ms':>14}")
        synth_rows = []
        for s_, r_ in zip(res[0]["synth"], res[1]["synth"]):
            layer_b = s_["bytes_median"] / synth["layers"]
            req_b = s_["bytes_median"]
            pl, pr = peak.get(int(layer_b)), peak.get(int(req_b))
            row = dict(s_, recv_s=r_["recv_s"], checksums_ok=r_["checksums_ok"], layer_bytes=layer_b,
                       p2p_layer_GBps=pl, p2p_request_GBps=pr)
            synth_rows.append(row)
            f = lambda v, w, p=1: f"{v:>{w}.{p}f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
            print(f"{s_['tokens']:>7} {layer_b / 2**20:>9.2f} {req_b / 2**20:>11.1f} {f(s_['busy_GBps'], 17)} "
                  f"{f(pl, 15)} {f(s_['busy_GBps'] / pl if pl else None, 6, 2)} {s_['span_median_s'] * 1e3:>15.3f} "
                  f"{f(s_['request_GBps_median'], 12)} {f(pr, 12)} {f(r_['recv_s'] * 1e3, 14, 3)}"
                  f"{'' if r_['checksums_ok'] else '  CHECKSUM MISMATCH'}")
            print(f"{'':7} sender host time per layer: checksum to CPU {s_['host_checksum_s'] * 1e6:.0f} us, "
                  f"_send_layer call {s_['host_send_s'] * 1e6:.0f} us; median message busy "
                  f"{s_['message_s_median'] * 1e6:.0f} us")
        out["synthetic_handoff"] = synth_rows
    return out


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


def _timed_disagg_rank(spec):
    """The reference's `_disagg_rank`, its prefill ranks' `_send_layer` wrapped by `_SendClock`; the log goes
    to $LAB06_HANDOFF_LOG/rank<r>.json (run_disaggregated returns only the router's result)."""
    import lab06_solution as mod

    rank_fn = getattr(mod, "_bench_original_rank", mod._disagg_rank)  # forked ranks inherit the patch
    clock = _SendClock(mod._send_layer)
    mod._send_layer = clock
    try:
        return rank_fn(spec)
    finally:
        mod._send_layer = clock.inner
        if clock.log:
            Path(os.environ["LAB06_HANDOFF_LOG"], f"rank{dist.get_rank()}.json").write_text(json.dumps(clock.records()))


def _summary(records, ttft_slo, tpot_slo, goodput):
    ttft = [r["token_times"][0] - r["arrival"] for r in records]
    tpot = [(r["token_times"][-1] - r["token_times"][0]) / (len(r["token_times"]) - 1)
            for r in records if len(r["token_times"]) > 1]
    out = {f"{name}_p{q}": percentile(xs, q) for name, xs in (("ttft", ttft), ("tpot", tpot)) for q in (50, 90, 99)}
    return dict(out, goodput=goodput(records, ttft_slo, tpot_slo))


def serving_table(ns, n, rate, ttft_slo, tpot_slo, seed=0) -> dict:
    import tempfile

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
    log_dir = tempfile.mkdtemp(prefix="lab06-handoff-")
    os.environ["LAB06_HANDOFF_LOG"] = log_dir
    ns["_bench_original_rank"], ns["_disagg_rank"] = ns["_disagg_rank"], _timed_disagg_rank
    try:
        tokens, records = ns["run_disaggregated"](prompts, max_new, 1, 1, arrivals=arrivals, return_records=True,
                                                  num_blocks=256)
    finally:
        ns["_disagg_rank"] = ns.pop("_bench_original_rank")
    out["disaggregated (1 prefill + 1 decode)"] = _summary(records, ttft_slo, tpot_slo, ns["goodput"])
    same = tokens == colo_tokens
    model = models.load("target")
    greedy = all(t == models.greedy_reference(model, p, max_new) for t, p in zip(tokens, prompts))
    out["tokens_equal_greedy"] = greedy
    print(f"\n2 · serving {n} requests, {rate}/s bursty, prompts 16..400 tokens, {max_new} new tokens, SLOs "
          f"TTFT <= {ttft_slo} s, TPOT <= {tpot_slo} s (same tokens both ways: {same}; "
          f"disaggregated equal to greedy generation: {greedy})")
    cols = [f"{m} p{q}" for m in ("TTFT", "TPOT") for q in (50, 90, 99)]
    print(f"{'':38} " + " ".join(f"{c:>9}" for c in cols) + f" {'goodput':>8}")
    for name, s in [(k, v) for k, v in out.items() if isinstance(v, dict)]:
        vals = [s[f"{m}_p{q}"] for m in ("ttft", "tpot") for q in (50, 90, 99)]
        print(f"{name:38} " + " ".join(f"{v * 1e3:>7.1f}ms" for v in vals) + f" {s['goodput']:>6.2f}/s")
    recs = [m for f in sorted(Path(log_dir).glob("rank*.json")) for m in json.loads(f.read_text())]
    h = handoff_summary(recs)
    out["handoff_in_run"] = h
    if h.get("requests"):
        busy = f"{h['busy_GBps']:.2f} GB/s" if h["busy_GBps"] else "-"
        print(f"   KV handoff inside run_disaggregated ({'GPU-timed' if torch.cuda.is_available() else 'host only'}): "
              f"{h['requests']} requests, {h['messages']} messages, median request {h['bytes_median'] / 1024:.0f} KiB "
              f"({h['bytes_median'] / KV_BYTES_PER_TOKEN:.0f} tokens); busy {busy}; median message "
              f"{h['message_s_median'] * 1e6:.1f} us; request span (layer 0 ready -> last layer sent) "
              f"{h['span_median_s'] * 1e3:.3f} ms, tail after the last layer {h['tail_median_s'] * 1e6:.1f} us")
    return {"rows": out, "same_tokens": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mib", type=int, default=None, help="largest transfer (default 1024 on GPUs, 64 on CPU)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rate", type=float, default=6.0)
    ap.add_argument("--ttft-slo", type=float, default=1.0)
    ap.add_argument("--tpot-slo", type=float, default=0.1)
    ap.add_argument("--synth-tokens", type=str, default=None,
                    help="prompt lengths of the synthetic 7B-like handoff, comma-separated (default 128,512,2048,8192 "
                         "on GPUs, 16,64 on CPU; 0 or '' skips it)")
    ap.add_argument("--synth-layers", type=int, default=32)
    ap.add_argument("--synth-kv-heads", type=int, default=8)
    ap.add_argument("--synth-head-dim", type=int, default=128)
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()
    gpu = _backend() == "nccl"
    print(header("lab06 · KV transfer and disaggregated serving", "cuda:0" if gpu else "cpu"))
    if gpu:
        print(f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}")
    ns = load_solution_module()
    toks = args.synth_tokens if args.synth_tokens is not None else ("128,512,2048,8192" if gpu else "16,64")
    toks = [int(t) for t in toks.split(",") if t.strip() and int(t) > 0]
    synth = {"tokens": toks, "layers": args.synth_layers, "kv_heads": args.synth_kv_heads,
             "head_dim": args.synth_head_dim} if toks else None
    result = {"transfer": transfer_table(args.max_mib or (1024 if gpu else 64), args.reps, synth)}
    if not args.skip_serving:
        result["serving"] = serving_table(ns, args.requests, args.rate, args.ttft_slo, args.tpot_slo)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
