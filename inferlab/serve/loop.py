"""EngineLoop: one background thread owns the engine; asyncio handlers stream its tokens.

The engine is not thread-safe, so only the loop's thread touches it. Handlers talk to it
through a command queue (add a request, abort one) and get their tokens back on their own
asyncio queue. Between steps the thread takes every command that arrived, so a request that
arrives while others run joins the very next batch (continuous batching across HTTP clients).

    loop = EngineLoop(engine).start()
    async for token in loop.stream(prompt_ids, max_new_tokens=16):   # leaving early aborts the request
        ...

The serving interface an engine provides (the course's reference and lab08's `LLMEngine`):
    add_request(prompt_ids, max_new_tokens, *, temperature=0.0, seed=None, stop_token_ids=()) -> request_id
        (ValueError naming the argument for a request it refuses, the engine unchanged)
    step() -> [(request_id, token_id, finished), ...]    one entry per token produced this step
    abort(request_id)                                     drop a request; its blocks return
    has_unfinished() -> bool;  stats() -> dict
"""
from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time


class EngineError(RuntimeError):
    """The engine raised while running a request (the server answers 500)."""


class EngineLoop:
    """Drive `engine` from one thread; `stream()` yields a request's tokens as they are made."""

    def __init__(self, engine, *, idle_wait: float = 0.05):
        self.engine = engine
        self.idle_wait = idle_wait
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._live: dict = {}  # engine request id -> (asyncio loop, asyncio queue, key)
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.counters = dict(steps=0, tokens=0, added=0, refused=0, aborted=0, finished=0, engine_errors=0,
                             max_batch=0)
        self.spans: dict = {}  # key -> [first step with a token, last step with a token]
        self.engine_stats: dict = {}
        self.idle = threading.Event()
        self.idle.set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "EngineLoop":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._commands.put(("wake",))
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict:
        """Counters, per-request step spans, the engine's last stats, whether it is idle (plain data)."""
        with self._lock:
            return {"counters": dict(self.counters), "spans": {k: list(v) for k, v in self.spans.items()},
                    "engine": dict(self.engine_stats), "idle": self.idle.is_set(), "live": len(self._live)}

    # ------------------------------------------------------------------ the asyncio side

    async def stream(self, prompt_ids, max_new_tokens: int, *, temperature: float = 0.0, seed=None,
                     stop_token_ids=()):
        """Yield (token_id, finished) as the engine makes them; ValueError if the engine refuses the request.
        Closing the generator early (a client that went away) aborts the request and frees its blocks."""
        aio_loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()
        key = next(self._keys)
        box = {"rid": None, "done": False}
        self.idle.clear()
        self._commands.put(("add", key, (list(prompt_ids), int(max_new_tokens)),
                            dict(temperature=temperature, seed=seed, stop_token_ids=tuple(stop_token_ids)),
                            aio_loop, out, box))
        try:
            while True:
                kind, *rest = await out.get()
                if kind == "refused":
                    box["done"] = True
                    raise rest[0]
                if kind == "error":
                    box["done"] = True
                    raise EngineError(rest[0])
                if kind == "token":
                    token, finished = rest
                    if finished:
                        box["done"] = True
                    yield token, finished
                    if finished:
                        return
        finally:
            if not box["done"]:
                self._commands.put(("abort", key, box))

    # ------------------------------------------------------------------ the engine's thread

    def _send(self, entry, *item) -> None:
        aio_loop, out = entry[0], entry[1]
        try:
            aio_loop.call_soon_threadsafe(out.put_nowait, item)
        except RuntimeError:  # that event loop is closed: nobody listens any more
            pass

    def _take_commands(self, block: bool) -> None:
        try:
            cmd = self._commands.get(timeout=self.idle_wait) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._do(cmd)
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return

    def _do(self, cmd) -> None:
        kind = cmd[0]
        if kind == "add":
            _, key, args, kwargs, aio_loop, out, box = cmd
            try:
                rid = self.engine.add_request(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the engine refused: the client gets a 400
                self.counters["refused"] += 1
                self._send((aio_loop, out), "refused", e if isinstance(e, (ValueError, TypeError))
                           else ValueError(f"{type(e).__name__}: {e}"))
                return
            box["rid"] = rid
            self._live[rid] = (aio_loop, out, key, box)
            self.counters["added"] += 1
        elif kind == "abort":
            _, key, box = cmd
            rid = box.get("rid")
            if rid is not None and rid in self._live:
                del self._live[rid]
                try:
                    self.engine.abort(rid)
                except Exception:  # noqa: BLE001
                    self.counters["engine_errors"] += 1
                self.counters["aborted"] += 1
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        try:
            stats = dict(self.engine.stats())
        except Exception:  # noqa: BLE001
            stats = {}
        with self._lock:
            self.engine_stats = stats

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = bool(self._live)
            try:
                busy = busy or self.engine.has_unfinished()
            except Exception:  # noqa: BLE001
                pass
            self._take_commands(block=not busy)
            if not self._live:
                try:
                    if not self.engine.has_unfinished():
                        self.idle.set()
                        continue
                except Exception:  # noqa: BLE001
                    self.idle.set()
                    continue
            self._step()

    def _step(self) -> None:
        try:
            outputs = list(self.engine.step())
        except Exception as e:  # noqa: BLE001 - fail the requests in flight, then keep serving
            self.counters["engine_errors"] += 1
            for rid, entry in list(self._live.items()):
                self._send(entry, "error", f"{type(e).__name__}: {e}")
                try:
                    self.engine.abort(rid)
                except Exception:  # noqa: BLE001
                    pass
            self._live.clear()
            self._refresh_stats()
            time.sleep(0.01)
            return
        n = self.counters["steps"]
        self.counters["steps"] = n + 1
        produced = 0
        for rid, token, finished in outputs:
            entry = self._live.get(rid)
            if entry is None:  # aborted meanwhile, or not ours
                continue
            produced += 1
            key = entry[2]
            span = self.spans.setdefault(key, [n, n])
            span[1] = n
            self._send(entry, "token", int(token), bool(finished))
            if finished:
                del self._live[rid]
                self.counters["finished"] += 1
        self.counters["tokens"] += produced
        self.counters["max_batch"] = max(self.counters["max_batch"], produced)
        self._refresh_stats()
