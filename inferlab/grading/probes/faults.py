"""Fault injection: disk faults for a KV cache's disk tier: what a crash, a bad sector or an operator does to its files.

Run in the process that owns the cache (the grader calls them through `sub.make`),
on a folder made there by `fresh_folder`. Block files are told apart from any small
index a cache may keep by size: a file of at least `min_bytes` holds a block.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile


def fresh_folder(prefix: str = "kv-disk-") -> str:
    """A new empty folder under this process's temporary directory."""
    return tempfile.mkdtemp(prefix=prefix)


def scratch_path(name: str) -> str:
    """A path (not created) under this process's temporary directory."""
    return os.path.join(tempfile.gettempdir(), name)


def block_files(folder: str, min_bytes: int) -> list[str]:
    """Names of the regular files in `folder` of at least `min_bytes`, sorted."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.isfile(os.path.join(folder, n))
            and os.path.getsize(os.path.join(folder, n)) >= min_bytes]


def all_files(folder: str) -> list[str]:
    """Every entry of `folder` (files and folders), sorted."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def truncate_file(folder: str, name: str, keep_fraction: float = 0.5) -> int:
    """Cut a file to `keep_fraction` of its size (a write that died half way); the new size."""
    path = os.path.join(folder, name)
    size = int(os.path.getsize(path) * keep_fraction)
    os.truncate(path, size)
    return size


def flip_bytes(folder: str, name: str, at_fraction: float = 0.6, count: int = 3) -> list[int]:
    """Invert `count` bytes from `at_fraction` of the file on (bit rot inside the data); the offsets."""
    path = os.path.join(folder, name)
    size = os.path.getsize(path)
    start = min(max(0, int(size * at_fraction)), max(0, size - count))
    with open(path, "r+b") as f:
        f.seek(start)
        data = bytearray(f.read(count))
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))
    return list(range(start, start + len(data)))


def delete_file(folder: str, name: str) -> None:
    """Remove one file (an operator cleaning up, another node evicting)."""
    os.remove(os.path.join(folder, name))


def add_junk(folder: str, seed: int, size: int) -> list[str]:
    """Stray files a crashed writer or another program left: random bytes under odd names."""
    rng = random.Random(seed)
    names = ["partial.tmp", ".half-written.part", "notes.txt", "0000.kv"]
    for n in names:
        with open(os.path.join(folder, n), "wb") as f:
            f.write(bytes(rng.randrange(256) for _ in range(size)))
    return names


def copy_over(folder: str, src: str, dst: str) -> None:
    """Overwrite file `dst` with the bytes of file `src` (a misdirected write: valid data, wrong place)."""
    shutil.copyfile(os.path.join(folder, src), os.path.join(folder, dst))


def remove_folder(folder: str) -> None:
    """Delete the whole folder under a live cache (disk replaced, volume unmounted)."""
    shutil.rmtree(folder)


def make_file(path: str, data: bytes = b"not a folder\n") -> str:
    """A regular file where a folder is expected."""
    with open(path, "wb") as f:
        f.write(data)
    return path


def submission_cells(ns) -> list | None:
    """(probe) The code cells the grader loaded into this process, to start a second one alike."""
    cells = ns.get("__inferlab_cells__")
    return list(cells) if isinstance(cells, list) else None
