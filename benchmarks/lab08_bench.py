"""lab08 benchmark: the engine's output tokens/s against one-request-at-a-time generation, and a load test of
`inferlab serve` with Poisson arrivals (TTFT / TPOT / ITL percentiles, lab09's definitions).

    python benchmarks/lab08_bench.py                    # CPU or the first GPU, whichever this machine has
    python benchmarks/lab08_bench.py --device cpu --requests 24 --rate 4

Part 1, throughput (same prompts, same greedy tokens, all requests queued at t = 0):
- one-at-a-time: the course model with a plain KV cache, one request after another, batch 1
  (prefill the prompt, then one token per forward pass);
- lab08 LLMEngine: the reference solution of lab08 (solutions/lab08/lab08.src.py), continuous batching
  over a paged KV cache (its attention gathers each request's blocks in plain PyTorch);
- course engine: `inferlab.engine.Engine` with prefix caching (the engine `inferlab serve` runs).
Output tokens/s = generated tokens / wall time of the whole run (synchronised on a GPU), median of
`--rep` runs after one warm-up run. The tokens of every engine are checked equal to one-at-a-time.

Part 2, serving: `inferlab serve`'s app on uvicorn in this process (a background thread), an open-loop
client: request i is sent at its Poisson arrival time whatever the earlier ones are doing (no
coordinated omission), streamed; arrival and every token's time are recorded on the client, and
summarised with `inferlab.grading.answers.latency_summary` (numpy's linear percentiles).
The course model is tiny (4 layers, hidden 128): the host (Python, the scheduler, HTTP) dominates,
which is what this table shows on a GPU too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inferlab  # noqa: E402,F401  first: sets TRITON_INTERPRET=1 when there is no GPU
from benchmarks.common import header, load_solution  # noqa: E402

import torch  # noqa: E402

from inferlab.engine import Engine  # noqa: E402
from inferlab.grading.answers import latency_summary  # noqa: E402
from inferlab.models import load  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def one_at_a_time(model, prompts, max_new):
    """Greedy generation with a contiguous KV cache per request, batch 1, one request after another."""
    device = next(model.parameters()).device
    out = []
    for prompt, m in zip(prompts, max_new):
        cache = [None] * len(model.layers)
        ids, toks, start = list(prompt), [], 0
        for _ in range(m):
            x = model.embed(torch.tensor([ids[start:]], device=device))  # (1, T, C)
            pos = torch.arange(start, len(ids), device=device)  # (T,)
            for i, layer in enumerate(model.layers):
                q, k, v = layer.qkv(x, pos)  # (1, H, T, D), (1, Hkv, T, D) x2
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
                g = q.shape[1] // k.shape[1]
                mask = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=device).tril(k.shape[2] - q.shape[2])
                attn = torch.nn.functional.scaled_dot_product_attention(
                    q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), attn_mask=mask)
                x = layer.finish(x, attn)
            tok = int(torch.argmax(model.logits(x)[0, -1]))
            start = len(ids)
            ids.append(tok)
            toks.append(tok)
        out.append(toks)
    return out


def timed(fn, device, rep):
    fn()  # warm-up
    times, result = [], None
    for _ in range(rep):
        sync(device)
        t0 = time.perf_counter()
        result = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def throughput(model, device, n, rep, seed, longest=128):
    rng = random.Random(seed)
    prompts = [[rng.randrange(512) for _ in range(rng.randint(16, 200))] for _ in range(n)]
    max_new = [rng.randint(16, longest) for _ in range(n)]
    total = sum(max_new)
    ns = load_solution("lab08")
    sizes = dict(num_blocks=512, block_size=16, max_num_seqs=32, max_num_batched_tokens=512)
    runs = [("one-at-a-time (batch 1, KV cache)", lambda: one_at_a_time(model, prompts, max_new)),
            ("lab08 LLMEngine (reference)", lambda: ns["LLMEngine"](model, **sizes).generate(prompts, max_new)),
            ("course engine (inferlab serve's)", lambda: Engine(model, enable_prefix_caching=True, **sizes)
             .generate(prompts, max_new))]
    print(f"\n## Throughput: {n} requests, prompts 16-200 tokens, 16-{longest} new tokens each ({total} in all), "
          f"{sizes}")
    print(f"{'engine':<36}{'median s':>10}{'output tok/s':>14}{'speed-up':>10}  tokens")
    base = None
    want = None
    for name, fn in runs:
        t, toks = timed(fn, device, rep)
        want = want or toks
        base = base or t
        print(f"{name:<36}{t:>10.3f}{total / t:>14.1f}{base / t:>9.2f}x  {'equal' if toks == want else 'DIFFER'}")


async def load_test(url, prompts, max_new, rate, seed):
    import httpx

    rng = random.Random(seed)
    arrivals, t = [], 0.0
    for _ in prompts:
        t += rng.expovariate(rate)
        arrivals.append(t)
    records = [None] * len(prompts)
    async with httpx.AsyncClient(timeout=600) as client:
        start = time.perf_counter()

        async def one(i):
            await asyncio.sleep(max(0.0, arrivals[i] - (time.perf_counter() - start)))
            sent = time.perf_counter() - start
            times = []
            body = {"model": "inferlab-target", "prompt": prompts[i], "max_tokens": max_new[i], "temperature": 0,
                    "stream": True}
            async with client.stream("POST", url + "/v1/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        if json.loads(line[6:]).get("choices"):
                            times.append(time.perf_counter() - start)
            records[i] = {"arrival": sent, "token_times": times}

        await asyncio.gather(*(one(i) for i in range(len(prompts))))
    return records


def serving(model, n, rate, seed):
    from inferlab.serve import ServerThread
    from inferlab.serve.app import build_app
    from inferlab.serve.reference import ReferenceEngine

    rng = random.Random(seed + 1)
    prompts = [[rng.randrange(512) for _ in range(rng.randint(16, 200))] for _ in range(n)]
    max_new = [rng.randint(16, 64) for _ in range(n)]
    engine = ReferenceEngine(model, num_blocks=512, block_size=16, max_num_seqs=32, max_num_batched_tokens=512)
    app = build_app(engine)
    with ServerThread(app) as srv:
        records = asyncio.run(load_test(srv.url, prompts, max_new, rate, seed))
        counters = app.state.loop.snapshot()["counters"]
    s = latency_summary(records)
    print(f"\n## inferlab serve: {n} requests, Poisson arrivals at {rate}/s, streamed (open loop)")
    print(f"{'metric':<8}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
    for key in ("ttft", "tpot", "itl"):
        print(f"{key.upper():<8}" + "".join(f"{s[key][p] * 1e3:>10.1f}" for p in ("p50", "p90", "p99")))
    print(f"output tokens/s {s['output_tokens_per_s']:.1f}; engine steps {counters['steps']}, "
          f"largest batch {counters['max_batch']} requests")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--rate", type=float, default=8.0, help="Poisson arrivals per second in the load test")
    ap.add_argument("--rep", type=int, default=3)
    ap.add_argument("--max-new", type=int, default=128, help="the longest output in the throughput runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(header("lab08 · engine throughput and serving latency", device))
    model = load("target").to(device)
    throughput(model, device, args.requests, args.rep, args.seed, args.max_new)
    if not args.skip_serving:
        serving(model, args.requests, args.rate, args.seed)


if __name__ == "__main__":
    main()
