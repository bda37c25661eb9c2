"""Run a function on p ranks of a real torch.distributed process group (lab05, lab06).

    from inferlab.launch import launch
    results = launch(fn, 4, x)        # fn(x) on ranks 0..3; returns [result of rank 0, ..., rank 3]

How the ranks start:
- under `torchrun` (RANK and WORLD_SIZE in the environment): this process is one rank;
  the process group is joined from the environment, `fn` runs here and the results of
  every rank come back through `all_gather_object`;
- otherwise the launcher starts `world_size` processes itself:
  * "fork" (default with gloo when CUDA is not initialised here): each rank is a fork
    of this process, so functions defined in a notebook (which live in a kernel's
    `__main__` and cannot be imported by a new interpreter) just work, and nothing is
    imported twice (a launch of 4 ranks takes ~0.1 s);
  * "spawn" (default with NCCL, or whenever CUDA is initialised here: a forked process
    cannot use CUDA): fresh interpreters; `fn` travels by reference when it is
    importable, by its script path when it lives in a script's `__main__`, and as
    source otherwise (its code plus the notebook functions, classes, modules and plain
    values it refers to).
Backend: NCCL when there is one GPU per rank (several GPUs), gloo otherwise
(`backend=` or INFERLAB_BACKEND overrides). Rendezvous over a TCPStore on 127.0.0.1
with a port the kernel picks (no fixed ports). Every wait has a deadline: the process
group timeout, the store timeout and the launcher's own; the first rank that raises
stops all the others and its traceback comes back in a `RankError`.

Grading: each rank calls `inferlab.grading.sandbox.install_from_env()` first (a no-op
outside grading). The submission's code runs in a thread whose stack holds no frame of
this file, so the sandbox's exception for the launcher does not extend to it.
The lab05 checks measure collectives with the probes of `inferlab.grading.probes.collectives`
(`CommWatch` counts the bytes each rank sends), which launch through here.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import types
from datetime import timedelta

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT = float(os.environ.get("INFERLAB_LAUNCH_TIMEOUT", "60"))
# NVLink multicast (NVLS / SHARP) stays off in every NCCL rank unless the caller sets these:
# a program using it can take a shared host's GPUs out of service, and the course never needs it.
NCCL_SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
_HEADER = struct.Struct("<Q")
_IN_RANK = False  # set in the processes this launcher starts


class RankError(RuntimeError):
    """A rank raised (or died); carries the rank, the error's class name and its traceback."""

    def __init__(self, rank: int, world_size: int, type_name: str, message: str, tb: str) -> None:
        self.rank, self.world_size, self.type_name, self.rank_message, self.rank_traceback = \
            rank, world_size, type_name, message, tb
        super().__init__(f"rank {rank} of {world_size} failed: {type_name}: {message}\n"
                         f"--- traceback of rank {rank} ---\n{tb.rstrip()}")


class LaunchTimeout(TimeoutError):
    """Some rank did not finish in time (a deadlock: every rank waiting to receive?)."""


# ----------------------------------------------------------------------------- public API


def default_backend(world_size: int) -> str:
    """NCCL with one GPU per rank and at least two GPUs; gloo otherwise."""
    forced = os.environ.get("INFERLAB_BACKEND")
    if forced:
        return forced
    if torch.cuda.is_available() and 2 <= torch.cuda.device_count() and world_size <= torch.cuda.device_count():
        return "nccl"
    return "gloo"


def launch(fn, world_size: int, *args, backend: str | None = None, timeout: float | None = None,
           start_method: str | None = None, keep_going: bool = False, **kwargs) -> list:
    """Run `fn(*args, **kwargs)` on `world_size` ranks; return every rank's result (tensors on CPU).

    keep_going=True (lab06's fault tolerance): a rank that raises or dies does not stop the
    others; its place in the returned list holds its `RankError` instead of a result.
    """
    if not isinstance(world_size, int) or isinstance(world_size, bool) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if _under_torchrun():
        return _run_here(fn, world_size, args, kwargs, backend, timeout)
    backend = backend or default_backend(world_size)
    if start_method is None:
        fork_ok = hasattr(os, "fork") and backend == "gloo" and not torch.cuda.is_initialized()
        start_method = "fork" if fork_ok else "spawn"
    if start_method not in ("fork", "spawn"):
        raise ValueError(f"start_method must be 'fork' or 'spawn', got {start_method!r}")
    return _Launch(fn, world_size, args, kwargs, backend, timeout, start_method, keep_going).run()


def _under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and not _IN_RANK


def _run_here(fn, world_size, args, kwargs, backend, timeout):
    """torchrun started this process as one rank: join the group, run, gather the results."""
    env_ws = int(os.environ["WORLD_SIZE"])
    if world_size != env_ws:
        raise ValueError(f"world_size={world_size} but torchrun started WORLD_SIZE={env_ws} ranks")
    created = not dist.is_initialized()
    if created:
        backend = backend or default_backend(world_size)
        if backend == "nccl":
            for k, v in NCCL_SAFE_ENV.items():
                os.environ.setdefault(k, v)
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    try:
        out = _to_cpu(fn(*args, **kwargs))
        gathered = [None] * world_size
        dist.all_gather_object(gathered, out)
    finally:
        if created:  # leave as found: a group this call made is closed again
            dist.destroy_process_group()
    return gathered


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if type(value) in (list, tuple):
        out = [_to_cpu(v) for v in value]
        return out if type(value) is list else tuple(out)
    if type(value) is dict:
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- the parent side


class _Launch:
    """One launch: start the ranks, collect one framed reply from each, stop them all."""

    def __init__(self, fn, world_size, args, kwargs, backend, timeout, start_method, keep_going=False) -> None:
        self.fn, self.p, self.args, self.kwargs = fn, world_size, args, kwargs
        self.backend, self.timeout, self.start_method = backend, timeout, start_method
        self.keep_going = keep_going
        self.failed: set[int] = set()  # ranks that raised or died (keep_going)
        self.pids: dict[int, int] = {}       # rank -> pid
        self.procs: dict[int, subprocess.Popen] = {}
        self.fds: dict[int, int] = {}        # rank -> read end of its reply pipe
        self.store = None

    def run(self) -> list:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(max(64, 2 * self.p))
        self.port = listener.getsockname()[1]
        deadline = time.monotonic() + self.timeout + 10.0
        try:
            if self.start_method == "fork":
                self._fork_all(listener)
            else:
                self._spawn_all()
            # The store's server starts after the forks, so no thread of it is copied into a rank.
            self.store = dist.TCPStore("127.0.0.1", self.port, self.p, is_master=True,
                                       timeout=timedelta(seconds=self.timeout), wait_for_workers=False,
                                       master_listen_fd=listener.fileno())
            return self._collect(deadline)
        finally:
            self._stop_all()
            listener.close()
            self.store = None

    def _fork_all(self, listener) -> None:
        for rank in range(self.p):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the rank
                code = 1
                try:
                    listener.close()
                    os.close(r)
                    for fd in self.fds.values():
                        os.close(fd)
                    code = _rank_main(rank, self.p, self.port, self.backend, self.timeout,
                                      self.fn, self.args, self.kwargs, w)
                finally:
                    os._exit(code)
            os.close(w)
            self.pids[rank] = pid
            self.fds[rank] = r

    def _spawn_all(self) -> None:
        payload = pickle.dumps({"fn": _pack(self.fn), "args": self.args, "kwargs": self.kwargs})
        env = dict(os.environ)
        for rank in range(self.p):
            r, w = os.pipe()
            spec = {"rank": rank, "world_size": self.p, "port": self.port, "backend": self.backend,
                    "timeout": self.timeout, "fd": w}
            proc = subprocess.Popen([sys.executable, "-m", "inferlab.launch", repr(spec)],
                                    stdin=subprocess.PIPE, pass_fds=(w,), env=env)
            os.close(w)
            try:
                proc.stdin.write(payload)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            self.procs[rank] = proc
            self.pids[rank] = proc.pid
            self.fds[rank] = r

    def _collect(self, deadline: float) -> list:
        bufs = {r: b"" for r in self.fds}
        replies: dict[int, dict] = {}
        open_fds = dict(self.fds)
        while len(replies) < self.p:
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(range(self.p)) - set(replies))
                raise LaunchTimeout(
                    f"ranks {missing} of {self.p} did not finish within {self.timeout:g} s "
                    "(a deadlock? e.g. every rank waiting in recv, or send/recv sizes that do not match)")
            ready, _, _ = select.select(list(open_fds.values()), [], [], min(left, 0.5))
            for fd in ready:
                rank = next(r for r, f in open_fds.items() if f == fd)
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    bufs[rank] += chunk
                    reply = _parse(bufs[rank])
                    if reply is None:
                        continue
                    del open_fds[rank]
                else:  # EOF before a whole reply: the rank died
                    del open_fds[rank]
                    reply = {"error": ("RankDied", self._death(rank), "")}
                replies[rank] = reply
                if "error" in reply:
                    type_name, message, tb = reply["error"]
                    error = RankError(rank, self.p, type_name, message, tb)
                    if not self.keep_going:
                        raise error
                    replies[rank] = {"ok": error}
                    self.failed.add(rank)
                    self.store.set(f"exit/{rank}", "1")  # the survivors need not wait for it to leave
        return [replies[r]["ok"] for r in range(self.p)]

    def _death(self, rank: int) -> str:
        pid = self.pids[rank]
        status = None
        for _ in range(20):
            try:
                got, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if got:
                status = st
                self.pids.pop(rank, None)
                self.procs.pop(rank, None)
                break
            time.sleep(0.05)
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            hint = " (out of memory?)" if sig == signal.SIGKILL else ""
            return f"the rank's process was killed by {signal.Signals(sig).name}{hint}"
        if status is not None:
            return f"the rank's process exited with status {os.WEXITSTATUS(status)} before replying"
        return "the rank's process closed its reply pipe before replying"

    def _stop_all(self) -> None:
        """Wait briefly for ranks that finished; kill whatever is left; reap everything."""
        grace = time.monotonic() + 2.0
        for rank in self.failed:  # a failed rank only waits to be killed
            try:
                os.kill(self.pids[rank], signal.SIGKILL)
            except (KeyError, ProcessLookupError):
                pass
        for rank, pid in list(self.pids.items()):
            while True:
                try:
                    got, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    got = pid
                if got:
                    break
                if time.monotonic() > grace:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    try:
                        os.waitpid(pid, 0)
                    except ChildProcessError:
                        pass
                    break
                time.sleep(0.01)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=0)
            except subprocess.TimeoutExpired:
                pass
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.pids, self.procs, self.fds = {}, {}, {}


def _parse(buf: bytes):
    if len(buf) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack_from(buf)
    if len(buf) < _HEADER.size + n:
        return None
    return pickle.loads(buf[_HEADER.size:_HEADER.size + n])


# ----------------------------------------------------------------------------- the rank side

# Compiled under a file name that is not this file: the submission's code runs in this
# thread with no frame of inferlab/launch.py on its stack.
_OUTSIDE_SRC = '''
def call_outside(fn, args, kwargs, device):
    box = {}
    def body():
        try:
            if device is not None:
                torch.cuda.set_device(device)
            box["ok"] = fn(*args, **kwargs)
        except BaseException as e:
            box["error"] = e
    t = threading.Thread(target=body, name="inferlab-rank", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("ok")

def counting_ring(ring, seen):
    def ring_all_reduce(t, *a, **k):
        if seen["on"]:
            seen["ring_calls"] += 1
            seen["reduced"].append(t.detach().reshape(-1).clone())
            seen["on"] = False  # the ring's own sends are not all-reduces
            try:
                return ring(t, *a, **k)
            finally:
                seen["on"] = True
        return ring(t, *a, **k)
    return ring_all_reduce
'''
_outside_ns: dict = {"threading": threading, "torch": torch}
exec(compile(_OUTSIDE_SRC, "<inferlab rank>", "exec"), _outside_ns)  # noqa: S102
call_outside = _outside_ns["call_outside"]
counting_ring = _outside_ns["counting_ring"]


def current_device():
    """The CUDA device of this rank under NCCL, else None."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.cuda.current_device()
    return None


def _send_reply(fd: int, reply: dict) -> None:
    try:
        data = pickle.dumps(reply)
    except Exception as e:  # noqa: BLE001 - an unpicklable result
        data = pickle.dumps({"error": ("UnpicklableResult", f"the rank's result cannot be sent back: {e}", "")})
    data = _HEADER.pack(len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _error_reply(e: BaseException) -> dict:
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.endswith(("inferlab/launch.py", "threading.py")) and f.filename != "<inferlab rank>"]
    tb = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + \
        "".join(traceback.format_exception_only(type(e), e))
    message = str(e)
    if "Timed out" in message or "timed out" in message:
        message += " (a deadlock? every rank waiting in recv, or sends and receives that do not pair up)"
    return {"error": (type(e).__name__, message[:2000], tb[-6000:])}


def _rank_main(rank, world_size, port, backend, timeout, fn, args, kwargs, fd) -> int:
    """Body of one rank: sandbox, join the group, run, reply, wait for the others, leave."""
    global _IN_RANK
    _IN_RANK = True
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    from inferlab.grading import sandbox

    sandbox.install_from_env()
    td = timedelta(seconds=timeout)
    try:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
        store = dist.TCPStore("127.0.0.1", port, world_size, is_master=False, timeout=td)
        device = None
        if backend == "nccl":
            for k, v in NCCL_SAFE_ENV.items():
                os.environ.setdefault(k, v)
            device = rank % torch.cuda.device_count()
            torch.cuda.set_device(device)
        dist.init_process_group(backend, store=dist.PrefixStore("pg", store), rank=rank,
                                world_size=world_size, timeout=td)
        out = call_outside(fn, args, kwargs, device)
        reply = {"ok": _to_cpu(out)}
    except BaseException as e:  # noqa: BLE001 - any failure goes back to the caller
        _send_reply(fd, _error_reply(e))
        time.sleep(timeout + 30)  # the parent kills every rank once it has read this error
        return 1
    _send_reply(fd, reply)
    try:  # leave together: no rank closes its connections while a peer still receives
        store.set(f"exit/{rank}", "1")
        store.wait([f"exit/{r}" for r in range(world_size)], td)
        dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - the reply is already sent
        pass
    return 0


# ----------------------------------------------------------------------------- spawn: shipping fn

_MAIN_LIKE = ("__main__", "__mp_main__", "submission")


def _pack(fn):
    """How a fresh interpreter finds `fn`: ("ref", module, qualname), ("path", file, qualname) or ("source", ...)."""
    mod_name = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", getattr(fn, "__name__", ""))
    mod = sys.modules.get(mod_name or "")
    home = mod is not None and getattr(mod, "__dict__", None) is getattr(fn, "__globals__", None)
    if home and mod_name not in _MAIN_LIKE and "<locals>" not in qual:
        return ("ref", mod_name, qual)
    file = getattr(mod, "__file__", None) if home else None
    if file and mod_name == "__main__" and "<locals>" not in qual and os.path.exists(file):
        return ("path", os.path.abspath(file), qual)
    return ("source", _source_bundle(fn))


def _code_names(code, out: set) -> set:
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)
    return out


def _source_bundle(fn) -> dict:
    """The source of `fn` and of the notebook definitions it reaches, the modules and values it uses."""
    g = getattr(fn, "__globals__", {})
    home = getattr(fn, "__module__", None)
    sources: list[str] = []
    modules: dict[str, str] = {}
    values: dict[str, object] = {}
    seen: set[str] = set()

    def visit(obj):
        codes = []
        if inspect.isfunction(obj):
            codes.append(obj.__code__)
        elif inspect.isclass(obj):
            codes += [v.__code__ for v in vars(obj).values() if inspect.isfunction(v)]
            for base in obj.__bases__:
                if base.__name__ in g and getattr(base, "__module__", None) == home:
                    visit_name(base.__name__)
        for code in codes:
            for name in sorted(_code_names(code, set())):
                visit_name(name)

    def visit_name(name):
        if name in seen or name not in g:
            return
        seen.add(name)
        v = g[name]
        if isinstance(v, types.ModuleType):
            modules[name] = v.__name__
        elif (inspect.isfunction(v) or inspect.isclass(v)) and getattr(v, "__module__", None) == home:
            visit(v)
            sources.append(textwrap.dedent(inspect.getsource(v)))
        else:
            values[name] = v

    seen.add(fn.__name__)
    visit(fn)
    sources.append(textwrap.dedent(inspect.getsource(fn)))
    try:
        pickle.dumps(values)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"launch(start_method='spawn') cannot ship the globals of {fn.__name__} ({e}); "
                        "move them into an importable module or use start_method='fork'") from None
    return {"name": fn.__name__, "sources": sources, "modules": modules, "values": values}


def _unpack(packed):
    kind = packed[0]
    if kind == "ref":
        obj = importlib.import_module(packed[1])
        for part in packed[2].split("."):
            obj = getattr(obj, part)
        return obj
    if kind == "path":
        import runpy

        ns = runpy.run_path(packed[1], run_name="__inferlab_rank__")
        obj = ns[packed[2].split(".")[0]]
        for part in packed[2].split(".")[1:]:
            obj = getattr(obj, part)
        return obj
    bundle = packed[1]
    mod = types.ModuleType("__inferlab_rank__")
    ns = mod.__dict__
    for name, modname in bundle["modules"].items():
        ns[name] = importlib.import_module(modname)
    ns.update(bundle["values"])
    for src in bundle["sources"]:
        exec(compile(src, "<shipped source>", "exec"), ns)  # noqa: S102 - the caller's own code
    return ns[bundle["name"]]


def _worker_main(argv) -> None:
    """Entry point of a spawned rank: `python -m inferlab.launch "{spec}"`, payload on stdin."""
    import ast

    spec = ast.literal_eval(argv[1])
    fd = int(spec["fd"])
    try:
        payload = pickle.loads(sys.stdin.buffer.read())
        fn = _unpack(payload["fn"])
    except BaseException as e:  # noqa: BLE001
        _send_reply(fd, _error_reply(e))
        os._exit(1)
    code = _rank_main(spec["rank"], spec["world_size"], spec["port"], spec["backend"], spec["timeout"],
                      fn, payload["args"], payload["kwargs"], fd)
    os._exit(code)


if __name__ == "__main__":
    _worker_main(sys.argv)
