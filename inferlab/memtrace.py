"""Instrumented Triton interpreter: bytes each kernel moves per argument, tl.dot FLOPs, out-of-bounds accesses.

    from inferlab.memtrace import trace
    with trace() as t:                    # on_oob="raise" (default) or "record"
        copy_kernel[grid](x, y, n, BLOCK=128)
    t.launches[0].args["x_ptr"].bytes_loaded   # 4 * n for float32: masked-off lanes are not counted
    t.loaded_from(x), t.stored_to(y)           # by address, whatever the kernel called its parameters
    print(t.summary())

How it works. Inside the context the interpreter's memory and dot operations are wrapped
(`InterpreterBuilder.create_masked_load/create_masked_store/create_atomic_*/create_dot`; plain,
block-pointer, descriptor and atomic loads and stores all end in these) together with its launch
path (`GridExecutor`). At launch each tensor argument's address span is recorded, on the host
buffers the interpreter actually runs on. Every active lane of a load or store is matched to the
argument whose elements contain its address (exactly, element by element, when strided views of
one buffer overlap), and its bytes (lanes x element size) are added to that argument. A lane in
no argument is out of bounds: it raises `OutOfBoundsAccess` before memory is touched, or with
on_oob="record" is recorded and skipped (a load gives 0 there). Atomics count as a load and a store.

Nested traces all record; the innermost one decides what an out-of-bounds access does.

Limits: an overrun that lands inside another argument's memory (or in the gaps of a strided view
passed as an argument) counts as an access to that argument, not as out of bounds; `tl.dot_scaled`
FLOPs are not counted; an autotuned kernel shows one launch per configuration it tried.

Importing this module with TRITON_INTERPRET=1 also fixes the Triton 3.9 interpreter's tl.dot on
bfloat16 operands (see `fix_interpreter_bf16_dot`), traced or not.
"""
from __future__ import annotations

import inspect
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

# Per-element access counts are kept for arguments up to this many elements (int32 each).
MAX_COUNTED_ELEMENTS = 1 << 24

# While at least one trace is active: the patched attributes' originals, the traces, the launches.
_LOCK = threading.RLock()
_ORIGINALS: dict[tuple[type, str], Any] = {}
_ACTIVE: list["Trace"] = []
_LAUNCHES: list["_LaunchState"] = []


class OutOfBoundsAccess(RuntimeError):
    """An unmasked lane of a load or store whose address lies in no tensor argument of the kernel."""


# ----------------------------------------------------------------------------- results (plain data)


@dataclass
class OutOfBounds:
    """One load or store with lanes outside every tensor argument (the lanes were skipped)."""

    kernel: str
    op: str  # "load", "store" or "atomic"
    lanes: int  # how many lanes of this op were out of bounds
    nearest: str  # the argument whose memory is nearest to the first bad address
    offset: int  # bytes from the start of `nearest` to the first bad address (negative: before it)
    program: tuple  # (x, y, z) program id

    def __str__(self) -> str:
        return (f"kernel {self.kernel!r}, program {self.program}: {self.op} of {self.lanes} lane(s) "
                f"outside every tensor argument; the first is {self.offset} B from the start of "
                f"{self.nearest!r}")


@dataclass
class ArgStats:
    """What one launch did to one tensor argument; byte counts leave masked-off lanes out."""

    name: str  # parameter name; "p[1]" for a tuple element, the descriptor's name for its base
    shape: tuple
    dtype: str
    nbytes: int  # the tensor's size: numel x element size
    bytes_loaded: int = 0
    bytes_stored: int = 0
    loads: int = 0  # load ops (one per tl.load per program) that touched this argument
    stores: int = 0
    elements_loaded: int = 0  # lanes
    elements_stored: int = 0
    tensor: Any = field(default=None, repr=False, compare=False)  # the tensor the caller passed
    _span: tuple = field(default=(0, 0, ""), repr=False, compare=False)  # (start, end, device) as passed
    _load_hits: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    _store_hits: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @property
    def read_factor(self) -> float:
        """Bytes loaded over the tensor's size: 1.0 means each byte was read once on average."""
        return self.bytes_loaded / self.nbytes if self.nbytes else 0.0

    @property
    def write_factor(self) -> float:
        """Bytes stored over the tensor's size."""
        return self.bytes_stored / self.nbytes if self.nbytes else 0.0

    def load_counts(self) -> Optional[np.ndarray]:
        """How many times each element was loaded, shaped like the tensor (None if too large to count)."""
        return _as_tensor_shape(self._load_hits, self.tensor)

    def store_counts(self) -> Optional[np.ndarray]:
        """How many times each element was stored, shaped like the tensor (None if too large to count)."""
        return _as_tensor_shape(self._store_hits, self.tensor)


@dataclass
class Launch:
    """One kernel launch: its grid, its non-tensor arguments and what it did to each tensor argument."""

    kernel: str
    grid: tuple = (1, 1, 1)
    num_programs: int = 1
    args: dict[str, ArgStats] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)  # int, float, bool and constexpr arguments
    dot_flops: int = 0  # 2*M*N*K summed over every tl.dot of every program
    dots: int = 0
    oob: list[OutOfBounds] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The kernel's name (same as `kernel`)."""
        return self.kernel

    @property
    def bytes_loaded(self) -> int:
        """Bytes loaded from all tensor arguments."""
        return sum(a.bytes_loaded for a in self.args.values())

    @property
    def bytes_stored(self) -> int:
        """Bytes stored to all tensor arguments."""
        return sum(a.bytes_stored for a in self.args.values())


# ----------------------------------------------------------------------------- the context manager


class Trace:
    """Records every interpreted kernel launch while active; use through `trace()`."""

    def __init__(self, on_oob: str = "raise") -> None:
        if on_oob not in ("raise", "record"):
            raise ValueError(f"on_oob must be 'raise' or 'record', not {on_oob!r}")
        self.on_oob = on_oob
        self.launches: list[Launch] = []

    @property
    def oob(self) -> list[OutOfBounds]:
        """Out-of-bounds events of all launches."""
        return [e for launch in self.launches for e in launch.oob]

    @property
    def bytes_loaded(self) -> int:
        """Bytes loaded by all launches."""
        return sum(launch.bytes_loaded for launch in self.launches)

    @property
    def bytes_stored(self) -> int:
        """Bytes stored by all launches."""
        return sum(launch.bytes_stored for launch in self.launches)

    @property
    def dot_flops(self) -> int:
        """tl.dot FLOPs of all launches (2*M*N*K each)."""
        return sum(launch.dot_flops for launch in self.launches)

    @property
    def num_programs(self) -> int:
        """Programs run by all launches."""
        return sum(launch.num_programs for launch in self.launches)

    def loaded_from(self, tensor, include_copies: bool = False) -> int:
        """Bytes loaded from `tensor`'s memory; include_copies also counts arguments holding a copy of its values."""
        return self._bytes_for(tensor, "load", include_copies)

    def stored_to(self, tensor, include_copies: bool = False) -> int:
        """Bytes stored into `tensor`'s memory; include_copies also counts arguments holding a copy of its values."""
        return self._bytes_for(tensor, "store", include_copies)

    def summary(self) -> str:
        """A printable table: per launch and argument, bytes moved and how many times the tensor's size."""
        lines = [f"{len(self.launches)} launch(es), {self.num_programs} programs: loaded {self.bytes_loaded} B, "
                 f"stored {self.bytes_stored} B, {self.dot_flops} dot FLOPs, {len(self.oob)} out-of-bounds op(s)"]
        for i, launch in enumerate(self.launches):
            lines.append(f"[{i}] {launch.kernel}  grid {launch.grid} = {launch.num_programs} programs"
                         + (f", {launch.dots} dots = {launch.dot_flops} FLOPs" if launch.dots else ""))
            for a in launch.args.values():
                lines.append(f"  {a.name}: {a.dtype}{list(a.shape)} {a.nbytes} B | loaded {a.bytes_loaded} B "
                             f"in {a.loads} loads ({a.read_factor:.1f}x its size) | stored {a.bytes_stored} B "
                             f"in {a.stores} stores ({a.write_factor:.1f}x)")
            lines.extend(f"  OOB {e}" for e in launch.oob)
        return "\n".join(lines)

    def __enter__(self) -> "Trace":
        if not interpreter_active():
            raise RuntimeError("memtrace counts only what the Triton interpreter runs: set TRITON_INTERPRET=1 "
                               "before any @triton.jit decorator runs (importing inferlab first does it when "
                               "no CUDA device is present)")
        with _LOCK:
            if self in _ACTIVE:
                raise RuntimeError("this trace is already active; start a new trace() to nest")
            fix_interpreter_bf16_dot()
            if not _ACTIVE:
                _install()
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE:
                _uninstall()

    def _bytes_for(self, tensor, kind: str, include_copies: bool) -> int:
        query = _Span.of("", tensor)
        total = 0
        for launch in self.launches:
            for a in launch.args.values():
                inside = _bytes_inside(a, query, kind)
                if inside is None and include_copies and _holds_copy(a.tensor, tensor):
                    inside = a.bytes_loaded if kind == "load" else a.bytes_stored
                total += inside or 0
        return total


def trace(on_oob: str = "raise") -> Trace:
    """Count, per launch and tensor argument, the bytes interpreted Triton kernels load and store."""
    return Trace(on_oob)


def interpreter_active() -> bool:
    """True when Triton runs kernels through its interpreter (TRITON_INTERPRET=1)."""
    try:
        import triton

        return bool(triton.knobs.runtime.interpret)
    except (ImportError, AttributeError):
        return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


# ----------------------------------------------------------------------------- argument spans


@dataclass
class _Span:
    """A tensor's address range [start, end) and layout, to tell which element an address is."""

    name: str
    start: int
    end: int
    itemsize: int
    shape: tuple
    strides: tuple
    device: str
    dense: bool  # every address of the span belongs to the tensor (no gaps, no overlap)

    @staticmethod
    def of(name: str, t) -> "_Span":
        """The span of torch tensor `t` (a view spans from its first to its last element)."""
        itemsize, start = t.element_size(), t.data_ptr()
        extent = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride())) if t.numel() else 0  # elements
        return _Span(name, start, start + extent * itemsize, itemsize, tuple(t.shape), tuple(t.stride()),
                     str(t.device), extent == t.numel())

    def contains(self, addr: np.ndarray, nbytes: int) -> np.ndarray:
        """Which byte addresses start an access of `nbytes` inside the span."""
        if self.end - self.start < nbytes:
            return np.zeros(addr.shape, dtype=bool)
        return (addr >= np.uint64(self.start)) & (addr <= np.uint64(self.end - nbytes))

    def in_view(self, addr: np.ndarray) -> np.ndarray:
        """Which addresses (all inside the span) are the start of one of the tensor's elements."""
        if self.dense:
            return np.ones(addr.shape, dtype=bool)
        off = (addr - np.uint64(self.start)).astype(np.int64)
        ok = off % self.itemsize == 0
        rest = off // self.itemsize
        for n, s in sorted(((n, s) for n, s in zip(self.shape, self.strides) if n > 1 and s), key=lambda d: -d[1]):
            idx = rest // s
            ok &= idx < n
            rest = rest - np.minimum(idx, n - 1) * s
        return ok & (rest == 0)


def _owners(spans: list[_Span], addr: np.ndarray, nbytes: int) -> np.ndarray:
    """Index into `spans` of the argument each address belongs to, -1 for none; views beat gaps, then order."""
    owner = np.full(addr.shape, -1, dtype=np.int32)
    for exact in (True, False):
        for i, span in enumerate(spans):
            if span.dense and not exact:
                continue
            hit = (owner < 0) & span.contains(addr, nbytes)
            if exact and not span.dense and hit.any():
                hit[hit] = span.in_view(addr[hit])
            owner[hit] = i
    return owner


def _nearest(spans: list[_Span], address: int) -> tuple[str, int]:
    """The argument nearest to an address and the address's byte offset from its start."""
    if not spans:
        return "(no tensor arguments)", 0
    span = min(spans, key=lambda s: max(s.start - address, address - s.end, 0))
    return span.name, address - span.start


def _bytes_inside(a: ArgStats, query: _Span, kind: str) -> Optional[int]:
    """Bytes of argument `a`'s loads or stores that fall on `query`'s elements; None if their memory is disjoint."""
    start, end, device = a._span
    if device != query.device or end <= query.start or query.end <= start:
        return None
    total = a.bytes_loaded if kind == "load" else a.bytes_stored
    if query.dense and query.start <= start and end <= query.end:
        return total
    hits = a._load_hits if kind == "load" else a._store_hits
    if hits is None:
        if total == 0:
            return 0
        raise ValueError(f"argument {a.name!r} only partly overlaps the tensor and is too large to count per "
                         f"element; use launch.args[{a.name!r}] instead")
    itemsize = a.tensor.element_size()
    addr = np.uint64(start) + np.arange(hits.size, dtype=np.uint64) * np.uint64(itemsize)
    on = query.contains(addr, itemsize)
    on[on] = query.in_view(addr[on])
    return int(hits[on].sum()) * itemsize


def _holds_copy(arg_tensor, tensor) -> bool:
    """True if `arg_tensor` holds the same values as `tensor` (same number of elements, any dtype)."""
    try:
        import torch

        if arg_tensor is None or arg_tensor.numel() != tensor.numel():
            return False
        return torch.equal(arg_tensor.detach().cpu().reshape(tensor.shape).to(tensor.dtype), tensor.detach().cpu())
    except (RuntimeError, TypeError):
        return False


def _as_tensor_shape(hits: Optional[np.ndarray], tensor) -> Optional[np.ndarray]:
    """Per-element counts over a span, viewed with the tensor's shape and strides."""
    if tensor is None or tensor.numel() == 0:
        return np.zeros(tuple(tensor.shape) if tensor is not None else (0,), dtype=np.int32)
    if hits is None:
        return None
    strides = tuple(s * hits.itemsize for s in tensor.stride())  # the span starts at the tensor's first element
    return np.lib.stride_tricks.as_strided(hits, tuple(tensor.shape), strides, writeable=False).copy()


# ----------------------------------------------------------------------------- one launch in progress


def _flatten(name: str, value, out: list) -> None:
    """Append (name, tensor) for every tensor in an argument (tuples and descriptors opened up)."""
    if type(value).__name__ == "TensorWrapper":  # triton.reinterpret
        value = value.base
    if hasattr(value, "data_ptr"):
        out.append((name, value))
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            _flatten(f"{name}[{i}]", v, out)
    elif hasattr(getattr(value, "base", None), "data_ptr") and hasattr(value, "block_shape"):  # TensorDescriptor
        out.append((name, value.base))


def _bind(executor, args, kwargs) -> tuple[list, dict]:
    """The launch's tensor arguments as (name, tensor) and its scalar arguments as {name: value}."""
    params = inspect.signature(executor.fn).parameters
    bound = inspect.signature(executor.fn).bind_partial(*args, **{k: v for k, v in kwargs.items() if k in params})
    tensors: list = []
    scalars = {}
    for name, value in bound.arguments.items():
        _flatten(name, value, tensors)
        if isinstance(value, (bool, int, float, str)) or value is None:
            scalars[name] = value
        elif hasattr(value, "value") and type(value).__name__ == "constexpr":
            scalars[name] = value.value
    return tensors, scalars


class _LaunchState:
    """The launch the interpreter is running: argument spans on the host and one Launch per active trace."""

    def __init__(self, executor, args_dev, kwargs) -> None:
        self.kernel = getattr(executor.fn, "__name__", "kernel")
        self.dev, self.scalars = _bind(executor, args_dev, kwargs)
        self.host = self.dev  # replaced if the interpreter copies arguments to host buffers
        self.spans: list[_Span] = []
        self.records: list[Launch] = []
        self.started = False

    def start(self, grid: tuple) -> None:
        """Called when the grid is known: fix the host spans and open a Launch in every active trace."""
        self.started = True
        self.spans = [_Span.of(name, t) for name, t in self.host]
        self.records = []
        for tr in _ACTIVE:
            launch = Launch(self.kernel, tuple(grid), int(np.prod(grid)), scalars=dict(self.scalars))
            for name, t in self.dev:
                dev = _Span.of(name, t)
                launch.args[name] = ArgStats(name, tuple(t.shape), str(t.dtype).replace("torch.", ""),
                                             t.numel() * t.element_size(), tensor=t,
                                             _span=(dev.start, dev.end, dev.device))
            tr.launches.append(launch)
            self.records.append(launch)

    def access(self, builder, op: str, ptrs, active: np.ndarray) -> Optional[np.ndarray]:
        """Count one load/store/atomic; return the lanes to skip (out of bounds) or None; may raise."""
        if not self.started:
            self.start(tuple(getattr(builder, "grid_dim", (1, 1, 1))))
        addr = np.asarray(ptrs.data, dtype=np.uint64)
        addr, active = np.broadcast_arrays(addr, np.asarray(active, dtype=bool))
        nbytes = _pointee_bytes(ptrs)
        lanes = addr[active]
        owner = _owners(self.spans, lanes, nbytes)
        for i in np.unique(owner[owner >= 0]):
            self._count(i, op, lanes[owner == i], nbytes)
        bad = owner < 0
        if not bad.any():
            return None
        name, offset = _nearest(self.spans, int(lanes[bad][0]))
        event = OutOfBounds(self.kernel, op, int(bad.sum()), name, offset, tuple(getattr(builder, "grid_idx", ())))
        if not _ACTIVE or _ACTIVE[-1].on_oob == "raise" or op == "atomic_cas":
            sizes = ", ".join(f"{s.name} ({s.end - s.start} B)" for s in self.spans)
            raise OutOfBoundsAccess(f"{event}. Mask the {op} (e.g. mask=offsets < n) or fix its offsets. "
                                    f"Tensor arguments: {sizes}")
        for launch in self.records:
            launch.oob.append(event)
        skip = np.zeros(addr.shape, dtype=bool)
        skip[active] = bad
        return skip

    def _count(self, i: int, op: str, lanes: np.ndarray, nbytes: int) -> None:
        span = self.spans[i]
        slots = None
        if (span.end - span.start) // span.itemsize <= MAX_COUNTED_ELEMENTS:
            slots = ((lanes - np.uint64(span.start)) // np.uint64(span.itemsize)).astype(np.int64)
        for launch in self.records:
            a = launch.args[span.name]
            for kind in _KINDS[op]:
                if kind == "load":
                    a.bytes_loaded += lanes.size * nbytes
                    a.elements_loaded += lanes.size
                    a.loads += 1
                else:
                    a.bytes_stored += lanes.size * nbytes
                    a.elements_stored += lanes.size
                    a.stores += 1
                if slots is not None:
                    hits = _hits(a, kind, (span.end - span.start) // span.itemsize)
                    np.add.at(hits, slots, 1)

    def dot(self, builder, flops: int) -> None:
        """Count one tl.dot of `flops` FLOPs."""
        if not self.started:
            self.start(tuple(getattr(builder, "grid_dim", (1, 1, 1))))
        for launch in self.records:
            launch.dots += 1
            launch.dot_flops += flops


# What each op counts as: an atomic reads and writes its lanes.
_KINDS = {"load": ("load",), "store": ("store",), "atomic": ("load", "store"), "atomic_cas": ("load", "store")}


def _hits(a: ArgStats, kind: str, size: int) -> np.ndarray:
    """The argument's per-element count array for loads or stores, made on first use."""
    attr = "_load_hits" if kind == "load" else "_store_hits"
    if getattr(a, attr) is None:
        setattr(a, attr, np.zeros(size, dtype=np.int32))
    return getattr(a, attr)


def _pointee_bytes(ptrs) -> int:
    """Bytes of the element a pointer handle points to."""
    import triton.language as tl

    ty = getattr(ptrs.dtype, "element_ty", None)
    ty = ptrs.get_element_ty() if ty is None else ty
    if isinstance(ty, tl.pointer_type):
        return 8
    return max(1, ty.primitive_bitwidth // 8)


def _current() -> Optional[_LaunchState]:
    return _LAUNCHES[-1] if _LAUNCHES and _ACTIVE else None


# ----------------------------------------------------------------------------- the patches


def _original(owner: type, name: str):
    return _ORIGINALS[(owner, name)]


def _install() -> None:
    """Wrap the interpreter's launch path and memory and dot operations (originals kept in _ORIGINALS)."""
    from triton.runtime import interpreter as interp

    builder, executor = interp.InterpreterBuilder, interp.GridExecutor
    wrappers = {
        (executor, "__call__"): _traced_call,
        (executor, "_init_args_hst"): _traced_init_args_hst,
        (builder, "set_grid_dim"): _traced_set_grid_dim,
        (builder, "create_masked_load"): _traced_masked_load,
        (builder, "create_masked_store"): _traced_masked_store,
        (builder, "create_atomic_rmw"): _traced_atomic_rmw,
        (builder, "create_atomic_cas"): _traced_atomic_cas,
        (builder, "create_dot"): _traced_dot,
    }
    for (owner, name), wrapper in wrappers.items():
        if name in owner.__dict__:  # absent in some Triton version: that path is simply not traced
            _ORIGINALS[(owner, name)] = owner.__dict__[name]
            setattr(owner, name, wrapper)


def _uninstall() -> None:
    """Put every wrapped attribute back."""
    while _ORIGINALS:
        (owner, name), original = _ORIGINALS.popitem()
        setattr(owner, name, original)
    _LAUNCHES.clear()


def _traced_call(self, *args_dev, **kwargs):
    from triton.runtime import interpreter as interp

    original = _original(interp.GridExecutor, "__call__")
    try:
        state = _LaunchState(self, args_dev, kwargs)
    except TypeError:  # arguments that do not fit the kernel: let the interpreter say so
        return original(self, *args_dev, **kwargs)
    _LAUNCHES.append(state)
    try:
        return original(self, *args_dev, **kwargs)
    except Exception as e:
        oob = _find_cause(e, OutOfBoundsAccess)
        if oob is None or oob is e:
            raise
        raise oob from None  # not the interpreter's InterpreterError wrapping of it
    finally:
        _LAUNCHES.pop()


def _traced_init_args_hst(self, args_dev, kwargs):
    from triton.runtime import interpreter as interp

    args_hst, kwargs_hst = _original(interp.GridExecutor, "_init_args_hst")(self, args_dev, kwargs)
    if _LAUNCHES:
        _LAUNCHES[-1].host, _ = _bind(self, args_hst, kwargs_hst)
    return args_hst, kwargs_hst


def _traced_set_grid_dim(self, nx, ny, nz):
    from triton.runtime import interpreter as interp

    _original(interp.InterpreterBuilder, "set_grid_dim")(self, nx, ny, nz)
    if _current() is not None:
        _current().start((nx, ny, nz))


def _traced_masked_load(self, ptrs, mask, other, *rest, **kw):
    from triton.runtime import interpreter as interp

    state = _current()
    skip = state.access(self, "load", ptrs, mask.data) if state is not None else None
    if skip is not None:
        mask = type(mask)(np.asarray(mask.data, dtype=bool) & ~skip, mask.dtype)
        if other is not None:
            other = type(other)(np.where(skip, np.zeros((), other.data.dtype), other.data), other.dtype)
    return _original(interp.InterpreterBuilder, "create_masked_load")(self, ptrs, mask, other, *rest, **kw)


def _traced_masked_store(self, ptrs, value, mask, *rest, **kw):
    from triton.runtime import interpreter as interp

    state = _current()
    skip = state.access(self, "store", ptrs, mask.data) if state is not None else None
    if skip is not None:
        mask = type(mask)(np.asarray(mask.data, dtype=bool) & ~skip, mask.dtype)
    return _original(interp.InterpreterBuilder, "create_masked_store")(self, ptrs, value, mask, *rest, **kw)


def _traced_atomic_rmw(self, rmw_op, ptr, val, mask, *rest, **kw):
    from triton.runtime import interpreter as interp

    state = _current()
    skip = state.access(self, "atomic", ptr, mask.data) if state is not None else None
    if skip is not None:
        mask = type(mask)(np.asarray(mask.data, dtype=bool) & ~skip, mask.dtype)
    return _original(interp.InterpreterBuilder, "create_atomic_rmw")(self, rmw_op, ptr, val, mask, *rest, **kw)


def _traced_atomic_cas(self, ptr, cmp, val, *rest, **kw):
    from triton.runtime import interpreter as interp

    state = _current()
    if state is not None:  # no mask to skip lanes with: out of bounds always raises
        state.access(self, "atomic_cas", ptr, np.ones(np.shape(ptr.data), dtype=bool))
    return _original(interp.InterpreterBuilder, "create_atomic_cas")(self, ptr, cmp, val, *rest, **kw)


def _traced_dot(self, a, b, d, *rest, **kw):
    from triton.runtime import interpreter as interp

    state = _current()
    if state is not None:
        state.dot(self, 2 * int(np.size(a.data)) * int(np.shape(b.data)[-1]))  # 2*M*K*N (times any batch)
    return _original(interp.InterpreterBuilder, "create_dot")(self, a, b, d, *rest, **kw)


def _find_cause(e: BaseException, kind: type) -> Optional[BaseException]:
    """The first exception of type `kind` in e's chain of causes (the interpreter wraps kernel errors)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, kind):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


# ----------------------------------------------------------------------------- the bf16 dot fix


def _is_bf16(h) -> bool:
    import triton.language as tl

    return h.get_element_ty() == tl.bfloat16


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16, as the interpreter stores them) to float32 values, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values to bfloat16 bit patterns, rounding to nearest even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _bf16_safe_dot(original):
    """Wrap an interpreter create_dot so bfloat16 operands are multiplied as float32 with a float32 sum."""

    def create_dot(self, a, b, d, *rest, **kw):
        if not (_is_bf16(a) or _is_bf16(b)) or any(np.dtype(h.data.dtype).itemsize == 1 for h in (a, b)):
            return original(self, a, b, d, *rest, **kw)
        x, y, acc = (_bf16_to_f32(h.data) if _is_bf16(h) else h.data.astype(np.float32) for h in (a, b, d))
        out = np.matmul(x, y, dtype=np.float32) + acc  # (M, N)
        out = _f32_to_bf16(out) if _is_bf16(d) else out.astype(d.data.dtype)
        return type(d)(out, d.dtype.scalar)

    create_dot.__wrapped__ = original
    create_dot._inferlab_bf16_fix = True
    return create_dot


def fix_interpreter_bf16_dot() -> bool:
    """Make the interpreter's tl.dot upcast bfloat16 operands to float32 (idempotent); True if it patched now."""
    try:
        from triton.runtime import interpreter as interp
    except ImportError:
        return False
    with _LOCK:
        key = (interp.InterpreterBuilder, "create_dot")
        current = _ORIGINALS.get(key, interp.InterpreterBuilder.__dict__.get("create_dot"))
        if current is None or getattr(current, "_inferlab_bf16_fix", False):
            return False
        if key in _ORIGINALS:  # a trace is active: fix the original it will put back
            _ORIGINALS[key] = _bf16_safe_dot(current)
        else:
            interp.InterpreterBuilder.create_dot = _bf16_safe_dot(current)
        return True


if interpreter_active():
    fix_interpreter_bf16_dot()
