"""The sandboxed child: what a submission may not do, and measurements it cannot forge."""
from __future__ import annotations

import os
import time

import pytest
import torch

from inferlab.grading.remote import Child, ChildDied, ChildTimeout, RemoteError, RemoteSubmission, course_root

KERNELS = '''
import torch, triton, triton.language as tl

@triton.jit
def _copy_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2, mask=m)

def double(x):
    y = torch.empty_like(x)
    _copy_kernel[(triton.cdiv(x.numel(), 32),)](x, y, x.numel(), BLOCK=32)
    return y

def double_by_torch(x):
    y = torch.empty_like(x)
    _copy_kernel[(1,)](x, y, 1, BLOCK=32)   # a token launch...
    return x * 2                              # ...but the values come from torch
'''


@pytest.fixture
def child():
    c = Child()
    c.deadline = time.monotonic() + 60
    yield c
    c.close()


def load(child, *cells):
    return child.request({"op": "load", "cells": list(cells)})


def call(child, src, name="f", *args):
    load(child, src)
    return RemoteSubmission(child).__getattr__(name)(*args)


@pytest.mark.parametrize("src,needle", [
    (f"def f():\n    open({str(course_root() / 'autograder' / 'pwned.py')!r}, 'w').write('x')", "does not allow"),
    (f"def f():\n    return open({str(course_root() / 'autograder' / '__init__.py')!r}).read()", "reading"),
    ("def f():\n    import subprocess\n    subprocess.Popen(['sleep', '100'])", "starting processes"),
    ("def f():\n    import os\n    os.fork()", "starting processes"),
    ("def f():\n    import ctypes\n    ctypes.CDLL(None).system(b'true')", "ctypes"),
    ("def f():\n    import gc\n    return len(gc.get_objects())", "gc.get_objects"),
    ("def f():\n    import os\n    return open(f'/proc/{os.getppid()}/mem', 'rb').read(1)", "reading"),
])
def test_child_refuses(child, src, needle):
    with pytest.raises(RemoteError) as e:
        call(child, src)
    assert "PermissionError" in e.value.mro_names and needle in e.value.message
    assert not (course_root() / "autograder" / "pwned.py").exists()


def test_child_may_write_its_scratch_folder(child):
    assert call(child, "def f():\n    open('notes.txt', 'w').write('ok')\n    return open('notes.txt').read()") == "ok"


def test_endless_loop_times_out_and_is_killed(child):
    load(child, "def f():\n    while True: pass")
    child.deadline = time.monotonic() + 2
    t0 = time.monotonic()
    with pytest.raises(ChildTimeout):
        RemoteSubmission(child).f()
    assert time.monotonic() - t0 < 10 and not child.alive


def test_exit_and_interrupt_are_errors_not_the_end(child):
    load(child, "import sys\nsys.exit(3)\n", "def f():\n    raise KeyboardInterrupt\n", "def g():\n    raise SystemExit(1)")
    for name in ("f", "g"):
        with pytest.raises(RemoteError):
            RemoteSubmission(child).__getattr__(name)()
    assert child.alive


def test_os_exit_is_a_crash(child):
    load(child, "import os\ndef f():\n    os._exit(0)")
    with pytest.raises(ChildDied):
        RemoteSubmission(child).f()


def test_memory_hog_fails_alone():
    c = Child(memory_mb=3000)
    c.deadline = time.monotonic() + 60
    try:
        load(c, "import torch\ndef f():\n    return torch.empty(2**40, dtype=torch.uint8).fill_(1).sum()")
        with pytest.raises((RemoteError, ChildDied)):
            RemoteSubmission(c).f()
    finally:
        c.close()


def test_returned_objects_are_plain_data_or_proxies(child):
    load(child, "class Box:\n    def __init__(self): self.items = [1, 2]\n    def add(self, x): self.items.append(x)\n"
                "    def __len__(self): return len(self.items)\n    def __contains__(self, x): return x in self.items\n"
                "import torch\nclass Sneaky(torch.Tensor): pass\n"
                "def sneaky(): return torch.ones(3).as_subclass(Sneaky)")
    sub = RemoteSubmission(child)
    box = sub.Box()
    box.add(5)
    assert len(box) == 3 and 5 in box and box.items == [1, 2, 5]
    t = sub.sneaky()
    assert type(t) is torch.Tensor and t.tolist() == [1.0, 1.0, 1.0]


def test_traced_counts_bytes_and_catches_a_torch_fallback(child):
    load(child, KERNELS)
    sub = RemoteSubmission(child)
    x = torch.randn(37)
    y, tr = sub.traced("double", x)
    assert torch.equal(y, 2 * x)
    assert tr.bytes_loaded == 37 * 4 and tr.bytes_stored == 37 * 4 and tr.oob_count == 0
    assert tr.input_loaded == [37 * 4] and tr.kernel_made_outputs()
    y, tr = sub.traced("double_by_torch", x)
    assert torch.equal(y, 2 * x) and not tr.kernel_made_outputs()


def test_traced_notices_a_patched_counter(child):
    load(child, KERNELS + "\nimport inferlab.memtrace as mt\nmt.Trace.stored_to = lambda self, t: 0\n")
    from inferlab.grading import CheckFailure

    with pytest.raises(CheckFailure, match="measuring code was modified"):
        RemoteSubmission(child).traced("double", torch.randn(5))
