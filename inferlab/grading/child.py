"""The sandboxed process that holds a submission and answers the grader's calls.

Started by `inferlab.grading.remote.Child` as `python -I -c <boot> COURSE_ROOT FD_IN FD_OUT`,
where the boot line puts the course root on `sys.path` and calls `main`; speaks the framing of `wire`.
Requests (a pickled dict from the grader):
    {"op": "load", "cells": [str, ...], "name": "submission"}
    {"op": "call", "target": ref | None, "name": str, "args": tuple, "kwargs": dict}
    {"op": "getattr" | "setattr", "target": ref, "name": str, "value": ...}
    {"op": "make", "spec": "inferlab.x:f", "args", "kwargs"}      trusted code, f(*args)
    {"op": "probe", "spec": "inferlab.x:f", "args", "kwargs"}     trusted code, f(namespace, *args)
    (the grader passes the function itself; `inferlab.grading.probes.spec` turns it into "module:qualname")
    {"op": "release", "refs": [int]} · {"op": "ping"}
Replies: {"ok": value} or {"error": {"type", "mro", "message", "traceback"}}.
"""
from __future__ import annotations

import importlib
import os
import pickle
import re
import signal
import sys
import traceback
import types

from inferlab.grading import wire
from inferlab.grading.source import register_source


class CellTimeout(BaseException):
    """A notebook cell ran past its time while the submission was loaded (like nbgrader's cell timeout)."""


class CallInterrupted(BaseException):
    """The grader gave up on the call in progress (SIGUSR1): it did not return in time."""


def _on_interrupt(signum, frame):
    raise CallInterrupted("interrupted by the grader: the call did not return in time")


class Refs:
    """Objects that stay in this process, named by small integers."""

    def __init__(self) -> None:
        self.items: dict[int, object] = {}
        self.next = 1

    def add(self, obj) -> int:
        i = self.next
        self.next += 1
        self.items[i] = obj
        return i

    def get(self, i):
        try:
            return self.items[i]
        except KeyError:
            raise LookupError(f"object #{i} was released") from None


_MAGIC = re.compile(r"^(\s*)([%!].*)$")


def strip_magics(src: str) -> str:
    """IPython magics and shell escapes mean nothing outside a kernel: drop them."""
    return "\n".join(_MAGIC.sub(r"\1pass  # \2", line) for line in src.splitlines())


def error_payload(e: BaseException) -> dict:
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    # Keep the submission's frames; drop this file's.
    text = "".join(line for line in tb if "inferlab/grading/child.py" not in line)
    return {"error": {"type": type(e).__name__, "mro": [k.__name__ for k in type(e).__mro__],
                      "message": str(e)[:2000], "traceback": text[-4000:]}}


class Server:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self.refs = Refs()
        self.module = types.ModuleType("submission")
        self.ns = self.module.__dict__

    # -- ops -----------------------------------------------------------------------
    def op_load(self, req):
        """Run cells into the submission's namespace: a fresh one, or (keep=True) the one loaded so far."""
        if not req.get("keep"):
            self.refs.items.clear()  # objects of an earlier submission graded in this process
            self.module = types.ModuleType(req.get("name", "submission"))
            self.module.__inferlab_cells__ = []
            sys.modules["submission"] = self.module
            sys.modules["__mp_main__"] = self.module
            self.ns = self.module.__dict__
            self.ns["display"] = lambda *a, **k: None
            self.ns["get_ipython"] = lambda: None
        self.module.__inferlab_cells__ += list(req["cells"])
        errors = []
        cell_timeout = float(req.get("cell_timeout") or 0)
        first = int(req.get("first_index", 0))

        def on_alarm(signum, frame):
            raise CellTimeout(f"cell ran longer than {cell_timeout:g} s")

        for i, src in enumerate(req["cells"], first):
            old = signal.signal(signal.SIGALRM, on_alarm) if cell_timeout else None
            if cell_timeout:
                signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                src = strip_magics(src)
                register_source(f"<cell {i}>", src)
                code = compile(src, f"<cell {i}>", "exec")
                exec(code, self.ns)  # noqa: S102 - running the submission is the point
            except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
                errors.append({"cell": i, "type": type(e).__name__, "message": str(e)[:500]})
            finally:
                if cell_timeout:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, old)
        return {"errors": errors}

    def _resolve(self, value):
        if isinstance(value, dict) and set(value) == {"__ref__"}:
            return self.refs.get(value["__ref__"])
        if type(value) in (list, tuple):
            out = [self._resolve(v) for v in value]
            return out if type(value) is list else tuple(out)
        if type(value) is dict:
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def _target(self, req):
        if req.get("target") is None:
            name = req["name"]
            if name not in self.ns:
                raise NameError(f"the submission does not define `{name}`")
            return self.ns[name]
        return getattr(self.refs.get(req["target"]), req["name"])

    def op_call(self, req):
        fn = self._target(req)
        return fn(*self._resolve(req.get("args", ())), **self._resolve(req.get("kwargs", {})))

    def op_getattr(self, req):
        if req.get("target") is None:
            value = self._target(req)
        else:
            value = getattr(self.refs.get(req["target"]), req["name"])
        if callable(value) and not isinstance(value, type):
            return {"__callable__": True}
        return value

    def op_setattr(self, req):
        setattr(self.refs.get(req["target"]), req["name"], self._resolve(req["value"]))
        return None

    def _trusted(self, spec: str):
        mod, _, fn = spec.partition(":")
        if not mod.startswith("inferlab."):
            raise PermissionError(f"not trusted code: {spec}")
        return getattr(importlib.import_module(mod), fn)

    def op_make(self, req):
        return self._trusted(req["spec"])(*self._resolve(req.get("args", ())), **self._resolve(req.get("kwargs", {})))

    def op_probe(self, req):
        return self._trusted(req["spec"])(self.ns, *self._resolve(req.get("args", ())),
                                          **self._resolve(req.get("kwargs", {})))

    def op_release(self, req):
        for i in req.get("refs", []):
            self.refs.items.pop(i, None)

    def op_ping(self, req):
        return "pong"

    # -- loop ----------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                req = pickle.loads(wire.read_frame(self.fd_in))
            except wire.WireError:
                return
            try:
                handler = getattr(self, "op_" + req["op"])
                reply = {"ok": wire.to_plain(handler(req), self.refs)}
                payload = wire.dump_child(reply)
            except BaseException as e:  # noqa: BLE001 - SystemExit too: a graded call may not stop the grader
                try:
                    payload = wire.dump_child(error_payload(e))
                except BaseException:  # noqa: BLE001
                    payload = wire.dump_child({"error": {"type": "Error", "mro": ["Error"],
                                                         "message": "unprintable error", "traceback": ""}})
            wire.write_frame(self.fd_out, payload)


def main(argv: list[str]) -> None:
    fd_in, fd_out = int(argv[1]), int(argv[2])
    sys.dont_write_bytecode = True
    # Everything the grader's own code needs is imported before the submission runs,
    # so that the sandbox can refuse native-library loads afterwards.
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import inferlab  # noqa: F401 - sets TRITON_INTERPRET when there is no GPU
    import triton  # noqa: F401
    import triton.language  # noqa: F401

    for mod in ("inferlab.memtrace", "inferlab.models", "inferlab.grading.probes", "inferlab.launch",
                "matplotlib", "matplotlib.pyplot"):
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - optional pieces
            pass
    if os.environ.get("TRITON_INTERPRET") == "1":
        try:  # build the interpreter's native helpers now, before ctypes is closed
            from inferlab.grading.probes import warm_interpreter

            warm_interpreter()
        except Exception:  # noqa: BLE001
            pass
    from inferlab.grading import probes, sandbox

    probes.seal()
    signal.signal(signal.SIGUSR1, _on_interrupt)
    sandbox.install_from_env()
    Server(fd_in, fd_out).serve()


if __name__ == "__main__":
    main(sys.argv)
