"""Faults and meters for lab06's KV handoff: what a flaky link, a bit flip or a dying worker does.

    from inferlab.transfer_faults import TransferWatch
    with TransferWatch(num_prefill=1, corrupt=[(0, 2)], kill_decode=(0, 5)) as watch:
        tokens = run_disaggregated(prompts, 8, num_prefill=1, num_decode=2)
    watch.counts()     # per rank: {"tokens", "kv_bytes", "kv_sends", "faults"}

Installed in the process that calls `run_disaggregated`, before it launches its workers: the
ranks that `inferlab.launch` forks inherit the patches, and write their counts into memory
shared with this process (an anonymous shared mapping made before the fork). Ranks follow lab06's
layout: rank 0 the router, ranks 1..num_prefill the prefill workers, the rest decode workers.

What is counted, in every rank (class-level patches, however the code reached them):
- `tokens`: token positions through the course model's `qkv`, per layer (lab06's
  `tokens_processed` of that rank: all `qkv` calls' B*T divided by the number of layers);
- `kv_bytes`, `kv_sends`: bytes and number of floating-point tensors sent (`ProcessGroup.send`,
  which `dist.send`, `isend` and `batch_isend_irecv` all reach); the KV is the only floating-point
  data lab06's workers send, checksums and control messages are integers.
The faults, each on a prefill worker's n-th floating-point send (both counted from 0 in that rank):
- `corrupt=[(prefill_index, n), ...]`: the payload arrives with every value changed (+1000 * a
  pattern): whatever the receiver's checksum covers no longer matches;
- `drop=[(prefill_index, n), ...]`: the send reports success and nothing is ever delivered;
- `delay=[(prefill_index, n, seconds), ...]`: the worker stalls `seconds` before that send (a late transfer);
- `kill_decode=(decode_index, after_tokens)`: that decode worker's process exits (status 17)
  when it starts a model call having already processed `after_tokens` positions (mid-request).
"""
from __future__ import annotations

import mmap
import os
import time

import torch

MAX_RANKS = 64
FIELDS = ("tokens", "kv_bytes", "kv_sends", "faults")  # "tokens" is stored times num_layers


class _DroppedWork:
    """The work handle of a send that was silently dropped: it reports success at once."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True

    def is_success(self):
        return True

    def exception(self):
        return None

    def result(self):
        return []

    def source_rank(self):
        return -1


def _rank() -> int | None:
    import inferlab.launch as launch

    if not launch._IN_RANK:
        return None
    try:
        return int(os.environ["RANK"])
    except (KeyError, ValueError):
        return None


_INHERITED = object()  # a patched name that the class itself did not define


class TransferWatch:
    """Count tokens and KV bytes in every rank of a lab06 run, and inject transfer faults."""

    def __init__(self, num_prefill: int = 1, num_layers: int | None = None, corrupt=(), drop=(), delay=(),
                 kill_decode=None) -> None:
        if num_layers is None:
            from inferlab.models import load

            num_layers = load("target").config.num_layers
        self.num_prefill, self.num_layers = int(num_prefill), int(num_layers)
        self.corrupt = {(int(p), int(n)) for p, n in corrupt}
        self.drop = {(int(p), int(n)) for p, n in drop}
        self.delay = {(int(p), int(n)): float(s) for p, n, s in delay}
        self.kill_decode = None if kill_decode is None else (int(kill_decode[0]), int(kill_decode[1]))
        self._mem = None
        self._saved: list = []

    # ------------------------------------------------------------------ shared counters

    def _view(self) -> torch.Tensor:
        return torch.frombuffer(self._mem, dtype=torch.int64).view(MAX_RANKS, len(FIELDS))

    def _add(self, rank: int, field: str, value: int) -> int:
        row = self._view()[rank]
        i = FIELDS.index(field)
        row[i] += int(value)
        return int(row[i])

    def counts(self) -> list[dict]:
        """Per rank that did anything: tokens (per layer), kv_bytes, kv_sends, faults injected."""
        view = self._view().tolist()
        last = max((r for r in range(MAX_RANKS) if any(view[r])), default=-1)
        return [{"tokens": row[0] // self.num_layers, "kv_bytes": row[1], "kv_sends": row[2], "faults": row[3]}
                for row in view[:last + 1]]

    # ------------------------------------------------------------------ patches

    def _patch(self, owner, name, new) -> None:
        # The class's own attribute, not getattr's: on a pybind11 class getattr gives the bare builtin,
        # which set back would no longer bind `self` (ProcessGroup.send would break for good).
        self._saved.append((owner, name, vars(owner).get(name, _INHERITED)))
        setattr(owner, name, new)

    def __enter__(self) -> "TransferWatch":
        from inferlab.models.llama import DecoderLayer

        self._mem = mmap.mmap(-1, MAX_RANKS * len(FIELDS) * 8)  # anonymous, MAP_SHARED: forks write here
        watch = self
        orig_qkv = DecoderLayer.qkv

        def qkv(layer, x, positions):
            rank = _rank()
            if rank is not None:
                if watch.kill_decode is not None and rank == 1 + watch.num_prefill + watch.kill_decode[0]:
                    done = int(watch._view()[rank][0]) // watch.num_layers
                    if done >= watch.kill_decode[1]:
                        watch._add(rank, "faults", 1)
                        os._exit(17)
                watch._add(rank, "tokens", int(x.shape[0]) * int(x.shape[1]))
            return orig_qkv(layer, x, positions)

        pg_cls = torch._C._distributed_c10d.ProcessGroup
        orig_send = pg_cls.send

        def send(pg, tensors, *args, **kwargs):
            rank = _rank()
            floats = [t for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
            if rank is None or not floats:
                return orig_send(pg, tensors, *args, **kwargs)
            n = watch._add(rank, "kv_sends", 1) - 1
            watch._add(rank, "kv_bytes", sum(t.numel() * t.element_size() for t in floats))
            key = (rank - 1, n)
            if 1 <= rank <= watch.num_prefill:
                if key in watch.delay:
                    watch._add(rank, "faults", 1)
                    time.sleep(watch.delay[key])
                if key in watch.drop:
                    watch._add(rank, "faults", 1)
                    return _DroppedWork()
                if key in watch.corrupt:
                    watch._add(rank, "faults", 1)
                    tensors = [_corrupted(t) if t.is_floating_point() else t for t in tensors]
            return orig_send(pg, tensors, *args, **kwargs)

        self._patch(DecoderLayer, "qkv", qkv)
        self._patch(pg_cls, "send", send)
        return self

    def __exit__(self, *exc) -> bool:
        for owner, name, orig in reversed(self._saved):
            if orig is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, orig)
        self._saved = []
        return False


def _corrupted(t: torch.Tensor) -> torch.Tensor:
    """A copy of `t` with every value moved by 1000 * (-3..3, never 0)."""
    flat = t.detach().reshape(-1)
    pattern = (torch.arange(flat.numel(), device=t.device) % 6) - 3
    pattern = torch.where(pattern >= 0, pattern + 1, pattern).to(t.dtype)
    return (flat + 1000 * pattern).view(t.shape)


# ----------------------------------------------------------------------------- the grading probe


def run_watched(ns, prompts, max_new_tokens, num_prefill, num_decode, options=None, faults=None,
                timeout: float = 60.0) -> dict:
    """Call the submission's `run_disaggregated` under a TransferWatch; return what happened.

    Returns {"tokens": the result (or None), "error": (class names, message) or None, "counts":
    per-rank counts, "rank_failures": [(rank, type name, message)] of ranks that raised or died,
    "seconds": wall time}. `timeout` bounds the call (a hang becomes an error, never a stuck grader).
    """
    import threading

    import inferlab.launch as launch

    fn = ns.get("run_disaggregated")
    if fn is None:
        raise NameError("the submission does not define `run_disaggregated`")
    failures = []
    orig_init = launch.RankError.__init__

    def recording_init(err, rank, world_size, type_name, message, tb):
        failures.append((int(rank), str(type_name), str(message)[:500]))
        orig_init(err, rank, world_size, type_name, message, tb)

    out = {"tokens": None, "error": None}
    faults = dict(faults or {})
    watch = TransferWatch(num_prefill=num_prefill, **faults)
    t0 = time.monotonic()

    def body():
        try:
            out["tokens"] = fn(prompts, max_new_tokens, num_prefill=num_prefill, num_decode=num_decode,
                               **(options or {}))
        except BaseException as e:  # noqa: BLE001 - reported to the check
            out["error"] = ([k.__name__ for k in type(e).__mro__], str(e)[:2000])

    launch.RankError.__init__ = recording_init
    try:
        with watch:
            t = threading.Thread(target=body, daemon=True, name="lab06-run")
            t.start()
            t.join(timeout)
            if t.is_alive():
                out["error"] = (["RunTimeout"], f"run_disaggregated did not return within {timeout:g} s (a hang?)")
    finally:
        launch.RankError.__init__ = orig_init
    tokens = out["tokens"]
    if tokens is not None:
        try:
            tokens = [[int(x) for x in row] for row in tokens]
        except Exception:  # noqa: BLE001 - the check reports the shape
            tokens = repr(tokens)[:500]
    return {"tokens": tokens, "error": out["error"], "counts": watch.counts(), "rank_failures": failures,
            "seconds": time.monotonic() - t0}
