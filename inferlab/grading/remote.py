"""The grader's side of the sandbox: start the child, call into it, clean up after it."""
from __future__ import annotations

import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from inferlab import course_root
from inferlab.grading import sandbox, wire

DEFAULT_MEMORY_MB = int(os.environ.get("INFERLAB_GRADE_MEMORY_MB", "6144"))


class RemoteError(Exception):
    """An exception raised by the submission, carried back by name."""

    def __init__(self, type_name: str, mro: list[str], message: str, tb: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.mro_names, self.message, self.remote_traceback = type_name, mro, message, tb


FIRST_CALL_TIMEOUT = float(os.environ.get("INFERLAB_FIRST_CALL_TIMEOUT", "20"))


class ChildDied(RuntimeError):
    """The submission's process ended while the grader was waiting for it."""

    grader_stop = True  # not the submission's exception: `asserts.raises` lets it through


class ChildTimeout(RuntimeError):
    """The submission's process did not answer in time."""

    grader_stop = True


class Hanging(ChildTimeout):
    """A graded function did not return from its first call within FIRST_CALL_TIMEOUT (an endless loop?);
    it is not called again in this grade: every later call of it fails at once with this reason."""

    def __init__(self, key: str, seconds: float, again: bool = False) -> None:
        self.key, self.seconds, self.again = key, seconds, again
        super().__init__(f"`{key}` did not return within {seconds:g} s on its first call (an endless loop?); "
                         + ("not called again: " if again else "") + "the checks that need it fail")


def _deny_list() -> list[str]:
    root = course_root()
    names = ["autograder", "solutions", "tests", "gradebook.db", "submitted", "autograded",
             "feedback", "exchange", "nbgrader_config.py", ".git", ".inferlab"]
    return [str(root / n) for n in names]


# `python -I` ignores PYTHONPATH and the working directory: put the package's root on the path
# explicitly, so grading works from a plain checkout as well as from an installed package.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from inferlab.grading.child import main; main(sys.argv[1:])"


class Child:
    """One sandboxed submission process."""

    reaper: sandbox.Reaper | None = None

    def __init__(self, memory_mb: int | None = None, env: dict | None = None) -> None:
        if Child.reaper is None:
            Child.reaper = sandbox.Reaper()
        self.scratch = Path(tempfile.mkdtemp(prefix="inferlab-grade-"))
        (self.scratch / "tmp").mkdir()
        self.token = secrets.token_hex(8)
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.scratch),
            "TMPDIR": str(self.scratch / "tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(self.scratch / "mpl"),
            "TRITON_CACHE_DIR": str(self.scratch / "triton"),
            "TORCHINDUCTOR_CACHE_DIR": str(self.scratch / "inductor"),
            # One thread: grading tensors are small, and two processes spinning OpenMP threads on
            # the same cores slow each other down by an order of magnitude.
            "OMP_NUM_THREADS": os.environ.get("INFERLAB_GRADE_THREADS", "1"),
            "INFERLAB_AUTOGRADE": "1",
            sandbox.ENV_SCRATCH: str(self.scratch),
            sandbox.ENV_DENY: os.pathsep.join(_deny_list()),
            sandbox.ENV_MEMORY: str(memory_mb if memory_mb is not None else DEFAULT_MEMORY_MB),
            sandbox.ENV_CPU: os.environ.get("INFERLAB_GRADE_CPU_S", "3600"),
            sandbox.ENV_TOKEN: self.token,
        }
        for k in ("LD_LIBRARY_PATH", "VIRTUAL_ENV", "CUDA_VISIBLE_DEVICES",
                  "NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS"):
            if k in os.environ:
                child_env[k] = os.environ[k]
        if os.environ.get("INFERLAB_GRADE_DEVICE", "cpu") == "cuda" and torch.cuda.is_available():
            child_env[sandbox.ENV_MEMORY] = "0"  # CUDA reserves far more address space than it uses
        else:
            # Grading is the same on every machine: CPU tensors, Triton's interpreter, bytes counted.
            child_env["TRITON_INTERPRET"] = "1"
            child_env["CUDA_VISIBLE_DEVICES"] = ""
        child_env.update(env or {})
        self.log_path = self.scratch / "output.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(course_root()), str(r_in), str(w_out)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            pass_fds=(r_in, w_out), cwd=self.scratch, env=child_env, start_new_session=True)
        sandbox.Reaper.started.add(self.proc.pid)
        self.start_ticks = sandbox.start_ticks(self.proc.pid)
        os.close(r_in)
        os.close(w_out)
        self.fd_to, self.fd_from = w_in, r_out
        self.deadline: float | None = None
        self.alive = True
        # Graded functions that returned at least once, and those that hung on their first call (shared
        # by the children of one grade: a function that hung is not called again after a restart).
        self.returned: set[str] = set()
        self.hanging: dict[str, float] = {}
        self.first_call_timeout = FIRST_CALL_TIMEOUT

    def call(self, key: str, req: dict):
        """A request that runs the submission's function `key`: its first call gets a short time limit."""
        if key in self.hanging:
            raise Hanging(key, self.hanging[key], again=True)
        first = key not in self.returned
        limit = None
        if first and self.first_call_timeout:
            limit = self.first_call_timeout
            if self.deadline is not None and self.deadline - time.monotonic() <= limit:
                limit = None  # the check's own deadline comes first: a plain timeout, not a hang
        try:
            out = self.request(req, timeout=limit, interrupt=limit is not None)
        except ChildTimeout:
            if limit is not None:
                self.hanging[key] = limit
                raise Hanging(key, limit) from None
            raise
        except RemoteError:
            self.returned.add(key)
            raise
        self.returned.add(key)
        return out

    # -- calls ---------------------------------------------------------------------
    def request(self, req: dict, timeout: float | None = None, interrupt: bool = False):
        """Send one request and wait for its reply. interrupt: on a timeout, first ask the child to
        abandon the call (SIGUSR1 raises in its main thread) and keep it if it answers at once."""
        if not self.alive:
            raise ChildDied("the submission's process is gone")
        deadline = self.deadline
        if timeout is not None:
            deadline = min(deadline or float("inf"), time.monotonic() + timeout)
        try:
            wire.write_frame(self.fd_to, pickle.dumps(req))
            payload = wire.read_frame(self.fd_from, deadline)
        except wire.WireTimeout as e:
            payload = self._interrupt() if interrupt and not getattr(e, "partial", True) else None
            if payload is None:
                self.kill()
                raise ChildTimeout("timed out") from None
            reply = wire.load_from_child(payload) if payload else None
            if isinstance(reply, dict) and "ok" in reply:
                return reply["ok"]  # it finished just then
            raise ChildTimeout("timed out, interrupted") from None
        except (wire.WireError, BrokenPipeError, OSError):
            code = self.kill()
            raise ChildDied(self._death(code)) from None
        try:
            reply = wire.load_from_child(payload)
        except Exception as e:  # noqa: BLE001 - anything but plain data is refused
            raise RemoteError("UnreadableResult", ["UnreadableResult"],
                              f"the grader could not read the value returned ({e.__class__.__name__})", "") from None
        if not isinstance(reply, dict) or not ({"ok"} == set(reply) or {"error"} == set(reply)):
            raise RemoteError("ProtocolError", ["ProtocolError"], "malformed reply", "")
        if "error" in reply:
            err = reply["error"]
            raise RemoteError(str(err.get("type")), [str(x) for x in err.get("mro", [])],
                              str(err.get("message")), str(err.get("traceback", "")))
        return reply["ok"]

    def _interrupt(self, grace: float = 3.0) -> bytes | None:
        """Interrupt the call in progress; the child's reply to it, or None when it did not answer."""
        try:
            os.kill(self.proc.pid, signal.SIGUSR1)
            return wire.read_frame(self.fd_from, time.monotonic() + grace)
        except (OSError, wire.WireError):
            return None

    def _death(self, code) -> str:
        if code is None:
            return "the submission's process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the submission's process was killed by {name}{hint}"
        return f"the submission's process exited with status {code}"

    def output_tail(self, n: int = 1500) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace")

    def kill(self) -> int | None:
        """Stop the child and everything it started; return its exit status."""
        if not self.alive:
            return self.proc.returncode
        self.alive = False
        try:
            code = self.proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            code = None
        if self.reaper is not None:
            self.reaper.sweep(self.proc.pid, self.token, self.start_ticks)
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        if code is None:
            code = self.proc.wait()
        sandbox.Reaper.started.discard(self.proc.pid)
        for fd in (self.fd_to, self.fd_from):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        return code

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- proxies


def _encode_args(value):
    if isinstance(value, RemoteObject):
        return {"__ref__": value._ref}
    if type(value) in (list, tuple):
        out = [_encode_args(v) for v in value]
        return out if type(value) is list else tuple(out)
    if type(value) is dict:
        return {k: _encode_args(v) for k, v in value.items()}
    return value


def _decode(child: "Child", value):
    if isinstance(value, dict):
        if "__ref__" in value:
            return RemoteObject(child, int(value["__ref__"]), str(value.get("__type__", "object")))
        if set(value) == {"__dtype__"}:
            return getattr(torch, str(value["__dtype__"]).replace("torch.", ""))
        if set(value) == {"__device__"}:
            return torch.device(value["__device__"])
        return {k: _decode(child, v) for k, v in value.items()}
    if type(value) in (list, tuple):
        out = [_decode(child, v) for v in value]
        return out if type(value) is list else tuple(out)
    return value


def _spec(fn) -> str:
    """"module:qualname" of a trusted function; a bare name is one of `inferlab.grading.probes`."""
    from inferlab.grading import probes

    return probes.spec(getattr(probes, fn) if isinstance(fn, str) and ":" not in fn else fn)


class RemoteObject:
    """An object that lives in the submission's process."""

    def __init__(self, child: Child, ref: int, type_name: str) -> None:
        object.__setattr__(self, "_child", child)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type_name", type_name)

    def __repr__(self) -> str:
        return f"<remote {self._type_name} #{self._ref}>"

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = self._child.request({"op": "getattr", "target": self._ref, "name": name})
        if isinstance(value, dict) and value.get("__callable__") is True:
            return RemoteMethod(self._child, self._ref, name, self._type_name)
        return _decode(self._child, value)

    def __setattr__(self, name: str, value) -> None:
        self._child.request({"op": "setattr", "target": self._ref, "name": name, "value": _encode_args(value)})

    def _dunder(self, name, *args):
        return RemoteMethod(self._child, self._ref, name, self._type_name)(*args)

    def __len__(self):
        return int(self._dunder("__len__"))

    def __contains__(self, item):
        return bool(self._dunder("__contains__", item))

    def __getitem__(self, item):
        return self._dunder("__getitem__", item)

    def __iter__(self):
        return iter(_decode(self._child, self._child.request(
            {"op": "make", "spec": _spec("as_list"), "args": ({"__ref__": self._ref},)})))

    def __call__(self, *args, **kwargs):
        return RemoteMethod(self._child, self._ref, "__call__", self._type_name)(*args, **kwargs)


class RemoteMethod:
    """A bound method (or a top-level name when ref is None) of the submission."""

    def __init__(self, child: Child, ref: int | None, name: str, owner: str = "") -> None:
        self._child, self._ref, self.__name__ = child, ref, name
        self._key = f"{owner}.{name}" if owner else name

    def __call__(self, *args, **kwargs):
        value = self._child.call(self._key, {"op": "call", "target": self._ref, "name": self.__name__,
                                             "args": _encode_args(args), "kwargs": _encode_args(kwargs)})
        return _decode(self._child, value)


class RemoteSubmission:
    """The submission's graded names, reached in its sandboxed process."""

    def __init__(self, child: Child) -> None:
        self._child = child

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteMethod(self._child, None, name)

    def has(self, name: str) -> bool:
        return bool(self.probe(_spec("has_name"), name))

    def mro(self, name: str) -> list[str]:
        """Class names along the MRO of the submission's class `name`."""
        return list(self.probe(_spec("mro_names"), name))

    def make(self, fn, *args, **kwargs):
        """Run trusted course code `fn(*args)` (a function of `inferlab`, or its "module:name") in the submission's process."""
        return _decode(self._child, self._child.request(
            {"op": "make", "spec": _spec(fn), "args": _encode_args(args), "kwargs": _encode_args(kwargs)}))

    def probe(self, fn, *args, **kwargs):
        """Run trusted course code `fn(namespace, *args)` in the submission's process."""
        key = f"{getattr(fn, '__name__', fn)}({args[0]})" if args and isinstance(args[0], str) else ""
        send = (lambda req: self._child.call(key, req)) if key else self._child.request
        return _decode(self._child, send(
            {"op": "probe", "spec": _spec(fn), "args": _encode_args(args), "kwargs": _encode_args(kwargs)}))

    def traced(self, name: str, *args, **kwargs):
        """Call graded name `name` under the instrumented interpreter: (result, Trace summary)."""
        from inferlab.grading.probes import TraceSummary

        out = self.probe(_spec("traced"), name, *args, **kwargs)
        return out["result"], TraceSummary.checked(out["trace"])
