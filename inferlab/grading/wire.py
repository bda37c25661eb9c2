"""What crosses between the grader and the sandboxed submission process.

Grader -> child: pickle (the child trusts the grader).
Child -> grader: `torch.save` bytes read back with `torch.load(weights_only=True)`,
which builds only tensors and plain containers, so nothing the submission returns
can run code in the grader. Objects that are not plain data stay in the child and
travel as a reference `{"__ref__": id}`.
"""
from __future__ import annotations

import io
import os
import select
import struct
import time

import torch

MAX_MESSAGE = 1 << 30
_PLAIN = (int, float, bool, str, type(None))


class WireError(RuntimeError):
    """The other side broke the protocol or went away."""


class WireTimeout(WireError):
    """No answer before the deadline."""


def write_frame(fd: int, payload: bytes) -> None:
    data = struct.pack("<Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireTimeout("timed out")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise WireTimeout("timed out")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> bytes:
    """One frame; a WireTimeout before its first byte leaves the channel in step (`e.partial` False)."""
    try:
        head = _read_exact(fd, 8, deadline)
    except WireTimeout as e:
        e.partial = False  # a header of 8 bytes arrives whole or not at all
        raise
    (size,) = struct.unpack("<Q", head)
    if size > MAX_MESSAGE:
        raise WireError(f"message of {size} bytes is over the limit")
    try:
        return _read_exact(fd, size, deadline)
    except WireTimeout as e:
        e.partial = True
        raise


# ----------------------------------------------------------------------------- child side


def to_plain(value, refs, depth: int = 0):
    """Turn a value into tensors and plain containers; other objects become refs."""
    if depth > 32:
        raise ValueError("value nested too deeply")
    if type(value) in _PLAIN:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        return t.to("cpu").clone()
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value)}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return torch.from_numpy(value.copy())
        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    if type(value) in (list, tuple):
        out = [to_plain(v, refs, depth + 1) for v in value]
        return out if type(value) is list else tuple(out)
    if type(value) is dict and all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
        return {k if isinstance(k, str) else int(k): to_plain(v, refs, depth + 1) for k, v in value.items()}
    ref = refs.add(value)
    return {"__ref__": ref, "__type__": type(value).__name__}


def dump_child(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ----------------------------------------------------------------------------- grader side


def load_from_child(payload: bytes):
    """Read what the child sent; weights_only refuses anything but plain data."""
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
