# %% [markdown]
# # lab06 · Prefill/decode disaggregation · 预填充/解码分离
#
# Syllabus §6 (PD 分离). Prefill is compute-bound, decode is bandwidth-bound; on one GPU a long
# prefill stalls every decode in the batch. Disaggregated serving runs them on different workers
# and moves each request's KV cache from the prefill worker to a decode worker. This lab builds
# that system for real — worker processes on `torch.distributed`, a router, a KV handoff that
# cannot silently diverge — and the numbers that decide whether it is worth it.
#
# | task | graded names | what | category |
# | --- | --- | --- | --- |
# | 1 | `ttft`, `tpot`, `goodput` | serving metrics under SLOs · 服务指标 | knowledge |
# | 2 | `kv_transfer_time` | what the KV handoff costs, whole vs layer by layer · KV 传输代价 | knowledge |
# | 3 | `run_disaggregated` | router, prefill and decode workers, checksummed KV handoff · PD 分离系统 | systems |
# | 4 | `plan_capacity` | prefill:decode split and chunk size on a simulator · 容量规划 | practice |
#
# Builds on lab01 (the course model, KV-cached greedy decoding), lab03 (paged KV) and lab05
# (the launcher, point-to-point messages). The course engine `inferlab.engine` supplies the
# paged KV store (`KVCache`), the block allocator (`BlockManager`) and a model runner
# (`ModelRunner`) for the decode side: this lab is about what happens *between* the workers.
#
# A **request record** (the unit of every metric here and in lab09) is a dict:
# `{"arrival": seconds, "token_times": [seconds at which each output token was produced, ...]}`.

# %%
import math
import os
import queue
import threading
import time

import torch
import torch.distributed as dist

import inferlab
from inferlab import disagg_sim, models
from inferlab.engine.block_manager import BlockManager
from inferlab.engine.kv_cache import KVCache
from inferlab.engine.model_runner import ModelRunner
from inferlab.engine.sequence import Sequence, SequenceStatus
from inferlab.launch import launch
from inferlab.models import causal_attention

# Demo cells run in your kernel, not while the autograder loads the notebook.
DEMO = __name__ == "__main__" and os.environ.get("INFERLAB_AUTOGRADE") != "1"

# %% [markdown]
# ## Task 1 · ttft, tpot, goodput · 服务指标 (lab06 · task 1)
#
# - **TTFT** (time to first token, 首 token 延迟) = `token_times[0] - arrival`: queueing + prefill.
# - **TPOT** (time per output token, 每 token 延迟) = `(token_times[-1] - token_times[0]) / (n - 1)`
#   for `n` output tokens: the mean gap of the decode phase. A one-token request has no decode
#   phase: its TPOT is `None` (not 0 — a 0 would flatter every average it enters).
# - **Goodput** (有效吞吐, DistServe): requests per second that met *both* SLOs,
#   `ttft <= ttft_slo` and `tpot <= tpot_slo` (a one-token request meets the TPOT SLO), counted
#   over the span from the **first arrival** to the **last token** — measuring from the first
#   token would hide the queueing the first requests suffered. No records: 0.0. A span of 0
#   (every token at its arrival): `inf` if any request met the SLOs, else 0.0.
#
# Bad input raises `ValueError` naming the argument: a record without `arrival` or
# `token_times`, an empty or descending `token_times`, a negative or non-number SLO.

# %% [solution id=lab06_metrics]
def _record_times(record, name="record"):
    """(arrival, token_times) of a request record, validated."""
    if not isinstance(record, dict) or "arrival" not in record or "token_times" not in record:
        raise ValueError(f"{name} must be a dict with 'arrival' and 'token_times', got {record!r}")
    times = [float(t) for t in record["token_times"]]
    if not times:
        raise ValueError(f"{name}: token_times must hold at least one time (an output token)")
    if any(b < a for a, b in zip(times, times[1:])):
        raise ValueError(f"{name}: token_times must be ascending, got {times}")
    return float(record["arrival"]), times


def ttft(record):
    """Seconds from arrival to the first output token."""
    ### BEGIN SOLUTION
    arrival, times = _record_times(record)
    return times[0] - arrival
    ### END SOLUTION


def tpot(record):
    """Mean seconds per output token after the first; None for a one-token request."""
    ### BEGIN SOLUTION
    _, times = _record_times(record)
    n = len(times)
    return None if n == 1 else (times[-1] - times[0]) / (n - 1)
    ### END SOLUTION


def goodput(records, ttft_slo, tpot_slo):
    """Requests per second meeting both SLOs, over first arrival .. last token; 0.0 for no records."""
    ### BEGIN SOLUTION
    for name, v in (("ttft_slo", ttft_slo), ("tpot_slo", tpot_slo)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    records = list(records)
    if not records:
        return 0.0
    met = 0
    for i, r in enumerate(records):
        arrival, times = _record_times(r, f"records[{i}]")
        n = len(times)
        tpot_ok = n == 1 or (times[-1] - times[0]) / (n - 1) <= tpot_slo
        met += (times[0] - arrival <= ttft_slo) and tpot_ok
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    if span <= 0:
        return math.inf if met else 0.0
    return met / span
    ### END SOLUTION

# %%
if DEMO:
    recs = [{"arrival": 0.0, "token_times": [0.2, 0.25, 0.30]},   # TTFT 0.2, TPOT 0.05
            {"arrival": 0.1, "token_times": [0.9]},               # one token: TPOT None
            {"arrival": 0.2, "token_times": [0.5, 0.9, 1.3]}]     # TPOT 0.4: misses 0.1
    print([ttft(r) for r in recs], [tpot(r) for r in recs])
    print("goodput at TTFT <= 1 s, TPOT <= 0.1 s:", goodput(recs, 1.0, 0.1), "req/s")  # 2 / 1.3

# %% [test id=lab06_task1]
from inferlab.grading import check_here
check_here("lab06", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab06", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · kv_transfer_time · KV 传输代价 (lab06 · task 2)
#
# A request of `n` prompt tokens leaves `2 · layers · H_kv · D · n · bytes` of KV on the prefill
# worker (lab01's `kv_cache_bytes`): 2 KiB per token for the course model in float32, 128 KiB
# per token for a 7B model in fp16 (32 layers, 8 KV heads... MHA 7B: 512 KiB). On a link of
# latency `alpha` and bandwidth `B`, one message of `N` bytes costs `alpha + N / B`.
#
# **Whole**: send everything after the prefill ends: the handoff adds `alpha + N / B` to the
# time before decoding can start. **Layer by layer** (`L` messages of `N / L` bytes): layer
# `i`'s KV is ready once layer `i` is computed (each layer takes `c = prefill_time / L`) and
# goes out while layer `i+1` computes; the link carries one message at a time, each costing
# `t = alpha + N / (L B)`. The last message ends at `max(c + L t, L c + t)`, so what the
# handoff adds after the prefill ends is
#
#     kv_transfer_time = max(t, L t - (L - 1) c)
#
# — only the last layer's message when the link keeps up (`t <= c`), the whole serial transfer
# minus the overlapped compute when it does not. `num_layers = 1` is the whole transfer.
#
# `kv_transfer_time(kv_bytes, latency, bandwidth, num_layers=1, prefill_time=0.0) -> float`
# seconds. `ValueError` naming the argument: negative `kv_bytes`, `latency` or `prefill_time`,
# `bandwidth <= 0`, `num_layers` not an int >= 1.

# %% [solution id=lab06_transfer]
def kv_transfer_time(kv_bytes, latency, bandwidth, num_layers=1, prefill_time=0.0):
    """Seconds the KV handoff adds after the prefill ends, sent in num_layers messages overlapped with compute."""
    ### BEGIN SOLUTION
    for name, v in (("kv_bytes", kv_bytes), ("latency", latency), ("prefill_time", prefill_time)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0:
        raise ValueError(f"bandwidth must be a number > 0, got {bandwidth!r}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    L = num_layers
    t = latency + kv_bytes / (L * bandwidth)  # one layer's message
    c = prefill_time / L  # one layer's compute
    return max(t, L * t - (L - 1) * c)
    ### END SOLUTION

# %%
if DEMO:
    kv = 2 * 32 * 8 * 128 * 2 * 4096  # a 4096-token prompt of a GQA 7B model (32 layers, 8 KV heads), fp16
    for link, alpha, bw in (("NVLink", 3e-6, 400e9), ("InfiniBand NDR", 5e-6, 50e9), ("PCIe 5", 5e-6, 50e9),
                            ("100 GbE", 20e-6, 12.5e9)):
        whole = kv_transfer_time(kv, alpha, bw)
        layered = kv_transfer_time(kv, alpha, bw, num_layers=32, prefill_time=0.35)
        print(f"{link:15} {kv / 2**20:6.0f} MiB  whole {whole * 1e3:7.2f} ms   layer by layer {layered * 1e3:6.2f} ms")

# %% [test id=lab06_task2]
from inferlab.grading import check_here
check_here("lab06", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab06", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · run_disaggregated · PD 分离系统 (lab06 · task 3)
#
# `run_disaggregated(prompts, max_new_tokens, num_prefill=1, num_decode=1, *, num_blocks=64,
# block_size=16, timeout=10.0, backend=None, arrivals=None, return_records=False)` serves every
# prompt on `1 + num_prefill + num_decode` worker processes started with `inferlab.launch.launch`
# (fork + gloo on CPU; NCCL for the KV when there are two or more GPUs):
#
# ```
#   rank 0            router: queue, admission (back-pressure), routing, retries, results
#   ranks 1..P        prefill workers: run each prompt ONCE, send its KV layer by layer
#   ranks P+1..P+D    decode workers: paged KV (num_blocks blocks of block_size), greedy decode
# ```
#
# The contract (the grader counts it in every rank):
# - **tokens**: `max_new_tokens` greedy tokens per prompt, equal to the course model's one-by-one
#   greedy generation (`inferlab.models.greedy_reference`).
# - **prefill runs each prompt once** and produces the first token: prefill workers' `qkv`
#   positions sum to the prompts' total. **Decode never recomputes a prompt position**: decode
#   workers' positions sum to `sum(max_new_tokens - 1)` (the first token came from the prefill).
#   The router runs no model.
# - **KV handoff**: exactly the prompts' KV crosses the wire — the floating-point bytes prefill
#   workers send equal `2 · layers · H_kv · D · len · 4` (float32) summed over prompts, in at
#   least `layers` messages per request (layer by layer, each sent as soon as its layer is
#   computed); checksums and control messages travel as integer tensors. With
#   `max_new_tokens == 1` there is nothing to decode and no KV is sent.
# - **checksums per block**: for every layer, a checksum of each block of `block_size` positions
#   of K and of V travels with the KV; the decode worker verifies every one before using the KV.
# - **back-pressure**: a request needs `ceil((len + max_new_tokens - 1) / block_size)` blocks on
#   its decode worker for its whole life (prompt KV plus every generated token but the last).
#   The router sends a request to a decode worker only when that worker has the blocks free;
#   otherwise the request waits. A decode worker never holds more than `num_blocks` blocks: asked
#   to, it fails. A request needing more than `num_blocks` blocks can never run: `ValueError`
#   naming `num_blocks`, before any process starts.
# - **faults, nothing lost**: a KV transfer whose checksum fails, or that is not complete
#   `timeout` seconds after its assignment (dropped, late), is abandoned and the request is run
#   again (prefill + transfer) — a late message must never land in blocks that hold another
#   request's KV. A decode worker silent for `2 · timeout` while holding requests is taken as
#   dead; its requests run again elsewhere. A request that fails 4 times, or every decode worker
#   dying, raises `RuntimeError` with the reason; no progress for `4 · timeout`: `TimeoutError`.
#   Every wait is bounded.
# - bad input: `ValueError` naming the argument (`prompts` empty prompt or token outside
#   `[0, vocab_size)`; `max_new_tokens` < 1 or past `max_seq_len`; `num_prefill`, `num_decode`,
#   `num_blocks`, `block_size` not ints >= 1; `timeout` <= 0). No prompts: `[]`.
# - `arrivals` (seconds after the start, one per prompt) releases requests over time;
#   `return_records=True` returns `(tokens, records)` with lab06's request records.
#
# The grader's fault injector (`inferlab.transfer_faults`) corrupts, drops or delays a prefill
# worker's n-th floating-point send and kills a decode worker mid-request.
#
# Practical notes for gloo: `dist.isend`/`irecv` return handles; poll `h.is_completed()` in a loop
# instead of blocking in `wait()` (a blocking wait on a message that never comes only ends at the
# process group's timeout). Give every message of one transfer its own tag, so a late message can
# only match the receive posted for it. A receive cannot be cancelled: receive into a staging
# buffer that you keep alive, and copy into the paged store after the checksums pass.

# %% [solution id=lab06_disaggregation]
# Control messages: int64 tensors of CTRL_LEN = HEADER + 2 * max_seq_len, [kind, req, attempt, a, b, c, ...].
STOP, PREFILL, ASSIGN, PREFILLED, DONE, FAILED, HEARTBEAT = range(1, 8)
HEADER = 8
MAX_ATTEMPTS = 4


def block_checksums(kv, block_size):
    """(2, num_blocks) int64 checksums of kv (2, T, H_kv, D): per K/V and block of positions, a weighted sum of the bits."""
    ### BEGIN SOLUTION
    two, T = kv.shape[0], kv.shape[1]
    nb = -(-T // block_size)
    bits = kv.detach().contiguous().reshape(two, T, -1)  # (2, T, W)
    bits = bits.view(torch.int32 if kv.element_size() == 4 else torch.int16).to(torch.int64)
    W = bits.shape[-1]
    word_w = torch.arange(1, W + 1, device=kv.device, dtype=torch.int64)  # (W,)
    per_pos = (bits * word_w).sum(-1)  # (2, T)
    per_pos = torch.nn.functional.pad(per_pos, (0, nb * block_size - T))  # (2, nb * bs)
    pos_w = torch.arange(1, block_size + 1, device=kv.device, dtype=torch.int64) * 1000003  # (bs,)
    return (per_pos.view(two, nb, block_size) * pos_w).sum(-1)  # (2, nb)
    ### END SOLUTION


def _check_run_args(prompts, max_new_tokens, num_prefill, num_decode, num_blocks, block_size, timeout, arrivals):
    cfg = _target_config()
    for name, v in (("max_new_tokens", max_new_tokens), ("num_prefill", num_prefill), ("num_decode", num_decode),
                    ("num_blocks", num_blocks), ("block_size", block_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number > 0, got {timeout!r}")
    if not isinstance(prompts, (list, tuple)):
        raise ValueError(f"prompts must be a list of token-id lists, got {type(prompts).__name__}")
    out = []
    for i, p in enumerate(prompts):
        ids = p.tolist() if isinstance(p, torch.Tensor) else p
        if not isinstance(ids, (list, tuple)) or not ids:
            raise ValueError(f"prompts[{i}] must be a non-empty list of token ids")
        if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < cfg.vocab_size for t in ids):
            raise ValueError(f"prompts[{i}] holds a token id outside [0, {cfg.vocab_size})")
        if len(ids) + max_new_tokens > cfg.max_seq_len:
            raise ValueError(f"prompts[{i}] ({len(ids)} tokens) + max_new_tokens ({max_new_tokens}) exceeds "
                             f"the model's max_seq_len {cfg.max_seq_len}")
        need = -(-(len(ids) + max_new_tokens - 1) // block_size)
        if need > num_blocks:
            raise ValueError(f"prompts[{i}] needs {need} KV blocks of {block_size} on a decode worker but "
                             f"num_blocks is {num_blocks}: no decode worker could ever hold it")
        out.append([int(t) for t in ids])
    if arrivals is not None and len(arrivals) != len(out):
        raise ValueError(f"arrivals must hold one time per prompt ({len(out)}), got {len(arrivals)}")
    return out


_CONFIG = []


def _target_config():
    if not _CONFIG:
        _CONFIG.append(models.load("target").config)
    return _CONFIG[0]


def run_disaggregated(prompts, max_new_tokens, num_prefill=1, num_decode=1, *, num_blocks=64, block_size=16,
                      timeout=10.0, backend=None, arrivals=None, return_records=False):
    """Greedy tokens of every prompt, served by a router, prefill workers and decode workers (real processes)."""
    ### BEGIN SOLUTION
    prompts = _check_run_args(prompts, max_new_tokens, num_prefill, num_decode, num_blocks, block_size,
                              timeout, arrivals)
    if not prompts:
        return ([], []) if return_records else []
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= 2 else "gloo"
    spec = {"prompts": prompts, "max_new": max_new_tokens, "P": num_prefill, "D": num_decode,
            "num_blocks": num_blocks, "block_size": block_size, "timeout": float(timeout),
            "arrivals": list(arrivals) if arrivals is not None else [0.0] * len(prompts)}
    world = 1 + num_prefill + num_decode
    results = launch(_disagg_rank, world, spec, backend=backend, keep_going=True,
                     timeout=max(60.0, 30 * float(timeout)))
    router = results[0]
    if isinstance(router, BaseException):
        kind = getattr(router, "type_name", "") or type(router).__name__
        text = getattr(router, "rank_message", str(router))
        if kind == "TimeoutError":
            raise TimeoutError(f"run_disaggregated: {text}")
        raise RuntimeError(f"run_disaggregated: the router failed: {kind}: {text}")
    return (router["tokens"], router["records"]) if return_records else router["tokens"]
    ### END SOLUTION


# ----- the worker processes ---------------------------------------------------------------

class _Link:
    """This rank's control messages: int64 tensors of ctrl_len, tag 0, one receiving helper thread per peer.

    gloo's handles report completion only when waited on, and a wait that times out closes the
    connection to that peer: so a helper thread blocks in `recv` and the main loop reads a queue.
    """

    def __init__(self, group, peers, ctrl_len):
        self.group, self.ctrl_len = group, ctrl_len
        self.inbox = queue.Queue()
        for src in peers:
            threading.Thread(target=self._receive, args=(src,), daemon=True).start()

    def _receive(self, src):
        while True:
            buf = torch.zeros(self.ctrl_len, dtype=torch.int64)
            try:
                dist.recv(buf, src, group=self.group, tag=0)
            except Exception:  # noqa: BLE001 - the peer is gone
                return
            self.inbox.put((src, buf.tolist()))

    def send(self, dst, values):
        """Send one control message; False when the peer is gone."""
        msg = torch.zeros(self.ctrl_len, dtype=torch.int64)
        msg[:len(values)] = torch.tensor(values, dtype=torch.int64)
        try:
            dist.send(msg, dst, group=self.group, tag=0)
            return True
        except Exception:  # noqa: BLE001
            return False

    def messages(self, wait=0.001):
        """Every message received so far, waiting at most `wait` seconds for the first: [(src, list)]."""
        try:
            out = [self.inbox.get(timeout=wait)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out


def _in_background(handles):
    """A dict whose "done" Event is set once every handle completed ("error" if one raised), waited on in a thread."""
    state = {"done": threading.Event(), "error": None}

    def body():
        try:
            for h in handles:
                h.wait()
        except Exception as e:  # noqa: BLE001 - reported through the state
            state["error"] = e
        state["done"].set()

    threading.Thread(target=body, daemon=True).start()
    return state


def _kv_tag(req, attempt, j, num_layers):
    """A tag of its own for message j of one transfer: a late message only matches its own receive."""
    return 1 + ((req * MAX_ATTEMPTS + attempt) * (2 * num_layers + 1) + j)


def _disagg_rank(spec):
    """One process: rank 0 routes, ranks 1..P prefill, the rest decode."""
    ### BEGIN SOLUTION
    rank, world, P = dist.get_rank(), dist.get_world_size(), spec["P"]
    nccl = dist.get_backend() == "nccl"
    ctrl_group = dist.new_group(backend="gloo") if nccl else None  # control messages on CPU always
    device = "cpu"
    if nccl and rank > 0:
        device = f"cuda:{(rank - 1) % torch.cuda.device_count()}"
        torch.cuda.set_device(device)
    cfg = _target_config()
    peers = range(1, world) if rank == 0 else [0]
    link = _Link(ctrl_group, peers, HEADER + 2 * cfg.max_seq_len)
    torch.set_grad_enabled(False)
    if rank == 0:
        return _router(spec, link)
    if rank <= P:
        return _prefill_worker(spec, link, device)
    return _decode_worker(spec, link, device)
    ### END SOLUTION


def _pick_decode(free, need):
    """The decode worker with the most free blocks if it has `need` of them, else None (the request waits)."""
    ### BEGIN SOLUTION
    best = max(free, key=lambda d: free[d])
    return best if free[best] >= need else None
    ### END SOLUTION


def _prefill_positions(n, device):
    """Absolute positions of an n-token prompt: 0 .. n-1."""
    return torch.arange(n, device=device)


def _send_layer(kv, checksums, dst, req, attempt, layer, num_layers, ctrl_group):
    """Start sending one layer's KV (2, n, Hkv, D) and its block checksums; returns the handles."""
    ### BEGIN SOLUTION
    return [dist.isend(kv, dst, tag=_kv_tag(req, attempt, 2 * layer, num_layers)),
            dist.isend(checksums, dst, group=ctrl_group, tag=_kv_tag(req, attempt, 2 * layer + 1, num_layers))]
    ### END SOLUTION


def _install_kv(runner, seq, bufs, block_size):
    """Verify every block's checksum of a received transfer, then write its KV into seq's blocks; False if one fails.

    bufs: [kv of layer 0 (2, n, Hkv, D), checksums of layer 0 (2, n_blocks), ..., first token (1,)].
    """
    ### BEGIN SOLUTION
    L = len(runner.kv_cache)
    if not all(torch.equal(block_checksums(bufs[2 * i], block_size).cpu(), bufs[2 * i + 1]) for i in range(L)):
        return False
    n = bufs[0].shape[1]
    slots = runner.kv_cache[0].slot_mapping(seq.block_table, 0, n)  # (n,)
    for i in range(L):
        runner.kv_cache[i].write(slots, bufs[2 * i][0], bufs[2 * i][1])  # (n, Hkv, D) each
    return True
    ### END SOLUTION


def _router(spec, link):
    """Admission, routing and retries; returns {"tokens", "records"}."""
    ### BEGIN SOLUTION
    prompts, m, P, D = spec["prompts"], spec["max_new"], spec["P"], spec["D"]
    bs, timeout = spec["block_size"], spec["timeout"]
    beat = min(timeout / 4, 5.0)
    prefills, decodes = list(range(1, 1 + P)), list(range(1 + P, 1 + P + D))
    need = [-(-(len(p) + m - 1) // bs) for p in prompts]
    t0 = time.time()
    release = sorted(range(len(prompts)), key=lambda i: (spec["arrivals"][i], i))
    queue_, attempts, reasons = [], [0] * len(prompts), [[] for _ in prompts]
    first = [None] * len(prompts)  # time of the first token of the current attempt
    results, records = [None] * len(prompts), [None] * len(prompts)
    idle = set(prefills)
    holding = {d: {} for d in decodes}  # decode rank -> {(req, attempt): blocks}
    alive, last_heard = set(decodes), {w: time.time() for w in prefills + decodes}
    last_progress = last_beat = time.time()

    def retry(req, why):
        reasons[req].append(why)
        attempts[req] += 1
        first[req] = None
        if attempts[req] >= MAX_ATTEMPTS:
            raise RuntimeError(f"request {req} failed {MAX_ATTEMPTS} times: {', '.join(reasons[req])}")
        queue_.insert(0, req)

    while any(r is None for r in results):
        now = time.time()
        while release and t0 + spec["arrivals"][release[0]] <= now:
            queue_.append(release.pop(0))
        # dispatch: first come first served, only to a decode worker with the blocks free (back-pressure)
        while queue_ and idle:
            req = queue_[0]
            dst = -1
            if m > 1:
                if not alive:
                    raise RuntimeError(f"every decode worker died; request {req} cannot be served")
                free = {d: spec["num_blocks"] - sum(holding[d].values()) for d in sorted(alive)}
                dst = _pick_decode(free, need[req])
                if dst is None:
                    break  # back-pressure: wait for blocks to come back
            pf = min(idle)
            idle.discard(pf)
            queue_.pop(0)
            if m > 1:
                holding[dst][(req, attempts[req])] = need[req]
                link.send(dst, [ASSIGN, req, attempts[req], pf, len(prompts[req]), m, 0, 0] + prompts[req])
            link.send(pf, [PREFILL, req, attempts[req], dst, len(prompts[req]), m, 0, 0] + prompts[req])
        for w, msg in link.messages():
            last_heard[w] = time.time()
            kind, req, att = msg[0], msg[1], msg[2]
            current = kind != HEARTBEAT and att == attempts[req] and results[req] is None
            if kind == PREFILLED:
                idle.add(w)
                last_progress = time.time()
                if current and msg[5]:
                    first[req] = msg[4] / 1e6 - t0
                    if m == 1:
                        results[req] = [msg[3]]
                        records[req] = {"arrival": spec["arrivals"][req], "token_times": [first[req]]}
                elif current:
                    retry(req, "KV send not completed in time")
            elif kind == DONE:
                holding[w].pop((req, att), None)
                last_progress = time.time()
                if current:
                    n = msg[3]
                    times = [t / 1e6 - t0 for t in msg[HEADER + n:HEADER + 2 * n]]
                    if first[req] is not None:
                        times[0] = first[req]
                    results[req] = msg[HEADER:HEADER + n]
                    records[req] = {"arrival": spec["arrivals"][req], "token_times": times}
            elif kind == FAILED:
                holding[w].pop((req, att), None)
                last_progress = time.time()
                if current:
                    retry(req, "checksum mismatch" if msg[3] == 1 else "KV transfer timed out")
        # a decode worker silent while holding requests is dead: its requests run again elsewhere
        for d in sorted(alive):
            if holding[d] and time.time() - last_heard[d] > 2 * timeout:
                alive.discard(d)
                for (req, att) in list(holding[d]):
                    if att == attempts[req] and results[req] is None:
                        retry(req, f"decode worker {d} died")
                holding[d] = {}
        if time.time() - last_progress > 4 * timeout and not release:
            raise TimeoutError(f"no request made progress for {4 * timeout:g} s "
                               f"({sum(r is None for r in results)} unfinished)")
        if time.time() - last_beat > beat:  # keep every worker's receive from waiting past the group timeout
            last_beat = time.time()
            for w in prefills + sorted(alive):
                link.send(w, [HEARTBEAT])
    for w in prefills + sorted(alive):
        link.send(w, [STOP])
    return {"tokens": results, "records": records}
    ### END SOLUTION


def _prefill_worker(spec, link, device):
    """Run each prompt once, layer by layer; send each layer's KV and checksums as soon as it is computed."""
    ### BEGIN SOLUTION
    model = models.load("target").to(device)
    L, bs, timeout = model.config.num_layers, spec["block_size"], spec["timeout"]
    beat = min(timeout / 4, 5.0)
    outstanding = []  # [req, attempt, background state, tensors, deadline]
    last_beat = time.time()
    while True:
        msgs = link.messages()
        if any(msg[0] == STOP for _, msg in msgs):
            break
        for _, msg in msgs:
            if msg[0] != PREFILL:
                continue
            _, req, att, dst, n, m = msg[:6]
            ids = torch.tensor([msg[HEADER:HEADER + n]], device=device)  # (1, n)
            positions = _prefill_positions(n, device)
            x = model.embed(ids)  # (1, n, C)
            sends, handles = [], []
            try:
                for i, layer in enumerate(model.layers):
                    q, k, v = layer.qkv(x, positions)  # (1, H, n, D), (1, Hkv, n, D) x2
                    x = layer.finish(x, causal_attention(q, k, v))  # (1, n, C)
                    if m > 1:  # this layer's KV goes out while the next layer computes
                        kv = torch.stack([k[0].transpose(0, 1), v[0].transpose(0, 1)]).contiguous()  # (2, n, Hkv, D)
                        cs = block_checksums(kv, bs).cpu()  # (2, n_blocks), with the control messages
                        handles += _send_layer(kv, cs, dst, req, att, i, L, link.group)
                        sends += [kv, cs]
                token = int(torch.argmax(model.logits(x)[0, -1]))
                if m > 1:
                    tok = torch.tensor([token], dtype=torch.int64)
                    handles.append(dist.isend(tok, dst, group=link.group, tag=_kv_tag(req, att, 2 * L, L)))
                    sends.append(tok)
            except Exception:  # noqa: BLE001 - the decode worker is gone: the router retries
                link.send(0, [PREFILLED, req, att, 0, int(time.time() * 1e6), 0])
                continue
            link.send(0, [PREFILLED, req, att, token, int(time.time() * 1e6), 1])
            if handles:
                outstanding.append([req, att, _in_background(handles), sends, time.time() + timeout])
        for item in list(outstanding):
            req, att, state, _, deadline = item
            if state["done"].is_set() and state["error"] is None:
                outstanding.remove(item)
            elif state["error"] is not None or time.time() > deadline:
                outstanding.remove(item)  # its tensors stay referenced by the helper thread
                link.send(0, [PREFILLED, req, att, 0, int(time.time() * 1e6), 0])
        if time.time() - last_beat > beat:
            last_beat = time.time()
            link.send(0, [HEARTBEAT])
    return "prefill done"
    ### END SOLUTION


def _decode_worker(spec, link, device):
    """Hold KV in a paged pool; accept transfers, verify every block, decode greedily in batches."""
    ### BEGIN SOLUTION
    model = models.load("target").to(device)
    cfg = model.config
    L, bs, timeout = cfg.num_layers, spec["block_size"], spec["timeout"]
    beat = min(timeout / 4, 5.0)
    kv_cache = KVCache.for_model(cfg, spec["num_blocks"], bs, device=device)
    blocks = BlockManager(spec["num_blocks"], bs)
    runner = ModelRunner(model, kv_cache)
    pending = {}  # (req, attempt) -> {"seq", "n", "bufs", "state", "deadline"}
    running, graveyard = [], []  # graveyard: staging buffers of abandoned transfers (a late write lands there)
    last_beat = 0.0
    while True:
        msgs = link.messages(wait=0.0 if running else 0.001)
        if any(msg[0] == STOP for _, msg in msgs):
            break
        for _, msg in msgs:
            if msg[0] != ASSIGN:
                continue
            _, req, att, src, n, m = msg[:6]  # reserve the blocks, post every receive of the transfer
            seq = Sequence((req, att), msg[HEADER:HEADER + n], m)
            slots = n + m - 1
            if not blocks.can_allocate(seq, slots):
                raise RuntimeError(f"decode worker {dist.get_rank()} asked to hold request {req} "
                                   f"({blocks.blocks_for(slots)} blocks) with {blocks.num_free_blocks} free")
            blocks.allocate(seq, slots)  # every block the request will need, reserved now
            handles, bufs, nb = [], [], -(-n // bs)
            for i in range(L):  # staging buffers: a receive cannot be cancelled, so never into the pool
                kv = torch.empty(2, n, cfg.num_kv_heads, cfg.head_dim, device=device)  # (2, n, Hkv, D)
                cs = torch.empty(2, nb, dtype=torch.int64)
                handles.append(dist.irecv(kv, src, tag=_kv_tag(req, att, 2 * i, L)))
                handles.append(dist.irecv(cs, src, group=link.group, tag=_kv_tag(req, att, 2 * i + 1, L)))
                bufs += [kv, cs]
            tok = torch.empty(1, dtype=torch.int64)
            handles.append(dist.irecv(tok, src, group=link.group, tag=_kv_tag(req, att, 2 * L, L)))
            bufs.append(tok)
            pending[(req, att)] = {"seq": seq, "n": n, "bufs": bufs, "state": _in_background(handles),
                                   "deadline": time.time() + timeout}
        for key, p in list(pending.items()):
            seq, bufs, state = p["seq"], p["bufs"], p["state"]
            if state["done"].is_set() and state["error"] is None:
                del pending[key]
                if not _install_kv(runner, seq, bufs, bs):
                    blocks.deallocate(seq)
                    link.send(0, [FAILED, key[0], key[1], 1])
                    continue
                seq.num_cached_tokens = p["n"]
                seq.status = SequenceStatus.RUNNING
                seq.append_token(int(bufs[-1][0]), time.time())
                running.append(seq)
            elif state["error"] is not None or time.time() > p["deadline"]:
                del pending[key]
                graveyard.append(bufs)
                blocks.deallocate(seq)
                link.send(0, [FAILED, key[0], key[1], 2])
        if running:
            ids, positions, info = runner.prepare([(s, 1) for s in running])
            logits = runner.forward(ids, positions, info)  # (B, V)
            now = time.time()
            for s, tok in zip(running, torch.argmax(logits, dim=-1).tolist()):
                s.num_cached_tokens += 1
                s.append_token(tok, now)
            for s in [s for s in running if s.is_finished]:
                running.remove(s)
                blocks.deallocate(s)
                n = s.num_outputs
                link.send(0, [DONE, s.seq_id[0], s.seq_id[1], n, 0, 0, 0, 0] + s.output_ids
                          + [int(t * 1e6) for t in s.token_times])
        if time.time() - last_beat > beat:
            last_beat = time.time()
            link.send(0, [HEARTBEAT])
    return "decode done"
    ### END SOLUTION

# %%
if DEMO:
    target = models.load("target")
    prompts = [models.encode("the cat sat on"), models.encode("once upon a time"), [5] * 40]
    t = time.time()
    out = run_disaggregated(prompts, 8, num_prefill=1, num_decode=2)
    print(f"{time.time() - t:.2f} s")
    for p, toks in zip(prompts, out):
        print(toks == models.greedy_reference(target, p, 8), models.decode(toks))

# %% [test id=lab06_task3]
from inferlab.grading import check_here
check_here("lab06", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab06", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [test id=lab06_task3_faults]
from inferlab.grading import check_here
check_here("lab06", "task3_faults", globals())
### BEGIN HIDDEN TESTS
check_here("lab06", "task3_faults", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · plan_capacity · 容量规划 (lab06 · task 4)
#
# How many prefill and how many decode workers, and which chunk size? It depends on the
# workload (prompt and output lengths, burstiness) and on the SLOs. The course's simulator
# `inferlab.disagg_sim` runs a workload on a plan with costs calibrated on the course model:
#
#     recs = disagg_sim.simulate(requests, plan)     # lab06 request records
#     plan = {"mode": "colocated", "num_workers": n, "chunk_size": c}
#     plan = {"mode": "disaggregated", "num_prefill": p, "num_decode": n - p, "chunk_size": c}
#
# `plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes=(128, 512, 2048))`
# returns the plan of highest goodput (your `goodput`, both SLOs) among colocated and every
# split `1 <= p < num_workers`, for each chunk size, with the key `"goodput"` added (its
# goodput in requests per second). The grader simulates your plan and compares its goodput with
# an exhaustive search: at least 95% passes. `ValueError` naming the argument: `num_workers`
# not an int >= 1, empty `chunk_sizes`. One worker can only be colocated.

# %% [solution id=lab06_capacity]
def plan_capacity(requests, num_workers, ttft_slo, tpot_slo, chunk_sizes=(128, 512, 2048)):
    """The plan (dict for disagg_sim.simulate, plus "goodput") of highest goodput under both SLOs."""
    ### BEGIN SOLUTION
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
    chunk_sizes = list(chunk_sizes)
    if not chunk_sizes:
        raise ValueError("chunk_sizes must hold at least one chunk size")
    best = None
    for plan in disagg_sim.all_plans(num_workers, chunk_sizes):
        g = goodput(disagg_sim.simulate(requests, plan), ttft_slo, tpot_slo)
        if best is None or g > best["goodput"]:
            best = {**plan, "goodput": g}
    return best
    ### END SOLUTION

# %%
if DEMO:
    reqs = disagg_sim.bursty_workload(100, rate=12.0, seed=1)
    for slo in ((2.0, 0.05), (2.0, 0.5)):
        print(f"TTFT <= {slo[0]} s, TPOT <= {slo[1]} s:", plan_capacity(reqs, 4, *slo))

# %% [test id=lab06_task4]
from inferlab.grading import check_here
check_here("lab06", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab06", "task4", globals(), hidden=True)
### END HIDDEN TESTS
