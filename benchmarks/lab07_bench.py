"""lab07 benchmark: continuous vs static batching on a bursty trace, and speculative decoding for k = 1..8.

    PYTHONPATH=. python benchmarks/lab07_bench.py            # CPU, or the first GPU when there is one
    PYTHONPATH=. python benchmarks/lab07_bench.py --device cpu

Runs the reference solution of lab07 (the code cells of solutions/lab07/lab07.src.py). One table:
- batching rows, in scheduler steps (one step = one forward pass of the batch): `static` runs up to
  max_num_seqs arrived requests until the longest finishes (its prompts in chunks of the token
  budget, then one decode step per token of the longest output); `continuous` is the lab's
  `Scheduler` (chunked prefill, FCFS admission, preemption by recomputation) under the same budget
  and KV blocks. Columns: steps, output tokens per step, p50 / p99 latency (steps from arrival to
  the last token).
- speculative rows, on the course target/draft pair at temperature 0 (tokens equal greedy):
  target passes per generated token (counted), and wall-clock milliseconds per token and speed-up
  against plain KV-cached greedy decoding with the target alone (timed in the same run: median of
  the repetitions, benchmarks/common.py). Speed-up = plain time / speculative time for the same tokens.
The trace is seeded; every count is exact and repeats on any machine; the times are this machine's.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inferlab  # noqa: E402,F401  first: sets TRITON_INTERPRET=1 when there is no GPU
from benchmarks.common import bench, header, load_solution, percentile  # noqa: E402

import torch  # noqa: E402

from inferlab import models  # noqa: E402

SIZES = dict(max_num_seqs=16, max_num_batched_tokens=256, num_blocks=1024, block_size=16)


def bursty_trace(n=96, seed=0):
    """(req_id, prompt_len, max_new_tokens, arrival step): bursts of 16 every 40 steps, log-normal outputs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        arrival = 40 * (i // 16) + rng.randint(0, 3)
        out.append((i, rng.randint(16, 256), max(4, min(256, int(32 * math.exp(rng.gauss(0, 0.9))))), arrival))
    return out


def static_batching(trace, max_num_seqs, max_num_batched_tokens, **_):
    """Finish step per request: batches of arrived requests run until the longest output is done."""
    pending = sorted(trace, key=lambda r: r[3])
    done, step = {}, 0
    while pending:
        step = max(step, pending[0][3])
        batch = [r for r in pending[:max_num_seqs] if r[3] <= step]
        pending = pending[len(batch):]
        prefill = math.ceil(sum(p for _, p, _, _ in batch) / max_num_batched_tokens)  # prompt chunks
        for rid, _, m, _ in batch:
            done[rid] = step + prefill + m - 1  # first token with the last chunk, then m - 1 decode steps
        step += prefill + max(m for _, _, m, _ in batch) - 1
    return done, step


def continuous_batching(ns, trace, **sizes):
    """Finish step per request under the lab's Scheduler."""
    sched = ns["Scheduler"](sizes["max_num_seqs"], sizes["max_num_batched_tokens"], sizes["num_blocks"],
                            sizes["block_size"])
    pending = sorted(trace, key=lambda r: r[3])
    done, step = {}, 0
    while pending or sched.has_unfinished():
        while pending and pending[0][3] <= step:
            rid, p, m, _ = pending.pop(0)
            sched.add(rid, p, m)
        sched.step()
        for rid in sched.finished()[len(done):]:
            done[rid] = step
        step += 1
    return done, step


def batching_rows(ns):
    trace = bursty_trace()
    tokens = sum(m for _, _, m, _ in trace)
    arrival = {rid: a for rid, _, _, a in trace}
    rows = []
    for name, (done, steps) in (("static", static_batching(trace, **SIZES)),
                                ("continuous", continuous_batching(ns, trace, **SIZES))):
        lat = [done[r] - arrival[r] + 1 for r in done]
        rows.append((f"batching: {name}", f"{steps}", f"{tokens / steps:.2f}", f"{percentile(lat, 50):.0f}",
                     f"{percentile(lat, 99):.0f}", "", ""))
    return rows, trace


def plain_greedy(ns, target, prompt, n):
    """KV-cached greedy decoding with the target alone (the baseline)."""
    cache = ns["KVModel"](target)
    seq, feed = list(prompt), list(prompt)
    for _ in range(n):
        seq.append(int(cache.run(feed)[-1].argmax()))
        feed = seq[-1:]
    return seq[len(prompt):]


def speculative_rows(ns, device, n_new, rep):
    target, draft = models.load("target").to(device), models.load("draft").to(device)
    prompts = [models.encode(t) for t in ("The KV cache", "A block table maps", "Speculative decoding")]
    base = sum(bench(lambda p=p: plain_greedy(ns, target, p, n_new), warmup=1, rep=rep, device=device)["median"]
               for p in prompts)
    rows = [("plain greedy (target only)", "", f"{1.0:.2f}", "", "", f"{base / (len(prompts) * n_new) * 1e3:.2f}",
             "1.00")]
    for k in range(1, 9):
        calls = 0
        for p in prompts:
            tokens, stats = ns["speculative_generate"](target, draft, p, n_new, k=k)
            assert tokens == plain_greedy(ns, target, p, n_new), "speculative tokens must equal greedy"
            calls += stats["target_calls"]
        t = sum(bench(lambda p=p: ns["speculative_generate"](target, draft, p, n_new, k=k), warmup=1, rep=rep,
                      device=device)["median"] for p in prompts)
        rows.append((f"speculative k={k}", f"{calls}", f"{calls / (len(prompts) * n_new):.3f}", "", "",
                     f"{t / (len(prompts) * n_new) * 1e3:.2f}", f"{base / t:.2f}"))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per prompt in the speculative rows")
    ap.add_argument("--rep", type=int, default=5)
    args = ap.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)
    with contextlib.redirect_stdout(io.StringIO()):  # the lab's demo cells print
        ns = load_solution("lab07")
    print(header("lab07: continuous batching and speculative decoding", device=args.device))
    rows, trace = batching_rows(ns)
    print(f"bursty trace: {len(trace)} requests in bursts of 16 every 40 steps, prompts 16-256, outputs 4-256 "
          f"(log-normal); {SIZES}")
    rows += speculative_rows(ns, args.device, args.tokens, args.rep)
    head = ("row", "steps | target calls", "tokens/step | target calls/token", "p50 lat (steps)", "p99 lat (steps)",
            "ms/token", "speed-up")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
