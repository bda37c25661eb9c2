# %% [markdown]
# # lab04 · Multi-tier KV cache · 多级 KV Cache
#
# A serving system keeps far more KV blocks than fit in GPU memory: the system prompt that
# every chat shares, the last turns of a thousand conversations, few-shot templates. This lab
# builds the machinery that decides **where each block lives** (GPU HBM, pinned host memory,
# NVMe files), **what leaves when a tier is full**, **how a prompt finds its cached prefix**,
# and **how to make blocks smaller** (int8) or **fewer** (H2O heavy hitters).
#
# | task | graded names | what |
# | --- | --- | --- |
# | 1 | `LRUPolicy`, `LFUPolicy`, `FIFOPolicy` | O(1) eviction policies |
# | 2 | `prefix_block_hashes` | chained block hashes for prefix caching |
# | 3 | `Tier`, `TieredKVCache` | the hierarchy: promotion, demotion, stats, a crash-safe disk tier |
# | 4 | `longest_prefix_hit` | how much of a prompt is already cached |
# | 5 | `quantize_int8`, `dequantize_int8` | a Triton int8 quantiser |
# | 6 | `h2o_keep_indices` | which tokens an H2O-style budget keeps |
#
# The lecture notebook `course/04_kv_cache_tiers.ipynb` explains the why; this lab is the how.
# Shapes: a KV block is any tensor (in a real engine `(2, layers, block_size, H_kv, D)`).

# %%
import ast
import hashlib
import os
import struct
import warnings
from collections import OrderedDict

import torch
import triton
import triton.language as tl

import inferlab  # noqa: F401  (sets TRITON_INTERPRET=1 when there is no GPU)
from inferlab import workload

# %% [markdown]
# ## Task 1 · eviction policies (lab04 · task 1)
#
# A policy only orders keys; it never sees the blocks. Each class has
# `insert(key)` (a new key), `access(key)` (a use of a key it holds), `remove(key)`
# (the key left for another reason), `evict() -> key` (remove and return the victim),
# `len(policy)` and `key in policy`. Every call is **O(1)** — a hidden check times the
# calls at 1,000 and 100,000 keys in the same run, so a `list.remove` or a `min()` over
# all keys loses those points.
#
# - **LRU** evicts the least recently inserted-or-accessed key.
# - **FIFO** evicts the least recently *inserted* key; `access` changes nothing.
# - **LFU** evicts the key with the fewest uses (insert counts 1, each access +1), and among
#   those the least recently used. O(1) needs a list of frequency buckets (Shah, Mitra and
#   Matani 2010), not a heap.
#
# Errors (this lab's choice, checked): `evict()` on an empty policy, and `access`/`remove`
# of a key it does not hold, raise `KeyError`; `insert` of a key it already holds raises
# `ValueError` naming `key`. A call that raises changes nothing.

# %% [solution id=lab04_policies]
class LRUPolicy:
    """Least recently used: evict the key whose last insert or access is oldest."""

    def __init__(self):
        ### BEGIN SOLUTION
        self._order = OrderedDict()  # oldest use first
        ### END SOLUTION

    def insert(self, key):
        ### BEGIN SOLUTION
        if key in self._order:
            raise ValueError(f"key {key!r} is already held; use access()")
        self._order[key] = None
        ### END SOLUTION

    def access(self, key):
        ### BEGIN SOLUTION
        self._order.move_to_end(key)  # KeyError when absent
        ### END SOLUTION

    def remove(self, key):
        ### BEGIN SOLUTION
        del self._order[key]
        ### END SOLUTION

    def evict(self):
        ### BEGIN SOLUTION
        if not self._order:
            raise KeyError("evict() from an empty policy")
        return self._order.popitem(last=False)[0]
        ### END SOLUTION

    def __len__(self):
        ### BEGIN SOLUTION
        return len(self._order)
        ### END SOLUTION

    def __contains__(self, key):
        ### BEGIN SOLUTION
        return key in self._order
        ### END SOLUTION


class FIFOPolicy:
    """First in, first out: evict the key inserted longest ago; access changes nothing."""

    def __init__(self):
        ### BEGIN SOLUTION
        self._order = OrderedDict()  # oldest insert first
        ### END SOLUTION

    def insert(self, key):
        ### BEGIN SOLUTION
        if key in self._order:
            raise ValueError(f"key {key!r} is already held")
        self._order[key] = None
        ### END SOLUTION

    def access(self, key):
        ### BEGIN SOLUTION
        if key not in self._order:
            raise KeyError(key)
        ### END SOLUTION

    def remove(self, key):
        ### BEGIN SOLUTION
        del self._order[key]
        ### END SOLUTION

    def evict(self):
        ### BEGIN SOLUTION
        if not self._order:
            raise KeyError("evict() from an empty policy")
        return self._order.popitem(last=False)[0]
        ### END SOLUTION

    def __len__(self):
        ### BEGIN SOLUTION
        return len(self._order)
        ### END SOLUTION

    def __contains__(self, key):
        ### BEGIN SOLUTION
        return key in self._order
        ### END SOLUTION


class LFUPolicy:
    """Least frequently used, ties by least recent use; O(1) with a linked list of count buckets."""

    def __init__(self):
        ### BEGIN SOLUTION
        self._count = {}    # key -> uses so far
        self._bucket = {}   # count -> OrderedDict of the keys with that count, least recent first
        self._next = {0: None}  # counts in use as a linked list, ascending; 0 is the head
        self._prev = {}
        ### END SOLUTION

    def _link_after(self, c, after):
        """A new empty bucket for count c, linked right after count `after`."""
        ### BEGIN SOLUTION
        nxt = self._next[after]
        self._next[after], self._prev[c], self._next[c] = c, after, nxt
        if nxt is not None:
            self._prev[nxt] = c
        self._bucket[c] = OrderedDict()
        ### END SOLUTION

    def _unlink_if_empty(self, c):
        """Drop count c's bucket from the list when it holds no key."""
        ### BEGIN SOLUTION
        if self._bucket[c]:
            return
        prev, nxt = self._prev.pop(c), self._next.pop(c)
        self._next[prev] = nxt
        if nxt is not None:
            self._prev[nxt] = prev
        del self._bucket[c]
        ### END SOLUTION

    def insert(self, key):
        ### BEGIN SOLUTION
        if key in self._count:
            raise ValueError(f"key {key!r} is already held; use access()")
        if 1 not in self._bucket:
            self._link_after(1, 0)
        self._bucket[1][key] = None
        self._count[key] = 1
        ### END SOLUTION

    def access(self, key):
        ### BEGIN SOLUTION
        c = self._count[key]  # KeyError when absent
        if c + 1 not in self._bucket:
            self._link_after(c + 1, c)
        del self._bucket[c][key]
        self._bucket[c + 1][key] = None
        self._count[key] = c + 1
        self._unlink_if_empty(c)
        ### END SOLUTION

    def remove(self, key):
        ### BEGIN SOLUTION
        c = self._count.pop(key)
        del self._bucket[c][key]
        self._unlink_if_empty(c)
        ### END SOLUTION

    def evict(self):
        ### BEGIN SOLUTION
        c = self._next[0]
        if c is None:
            raise KeyError("evict() from an empty policy")
        key, _ = self._bucket[c].popitem(last=False)
        del self._count[key]
        self._unlink_if_empty(c)
        return key
        ### END SOLUTION

    def __len__(self):
        ### BEGIN SOLUTION
        return len(self._count)
        ### END SOLUTION

    def __contains__(self, key):
        ### BEGIN SOLUTION
        return key in self._count
        ### END SOLUTION

# %% [test id=lab04_task1]
from inferlab.grading import check_here
check_here("lab04", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [test id=lab04_task1_perf]
from inferlab.grading import check_here
check_here("lab04", "task1_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task1_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · prefix_block_hashes (lab04 · task 2)
#
# Prefix caching names a KV block by *everything before it*: block `i`'s hash depends on the
# tokens of blocks `0..i`, so two prompts share a key exactly when they share that whole
# prefix (vLLM's automatic prefix caching, SGLang's radix tree keyed differently). Chain it:
# `h_i = H(h_{i-1} || tokens of block i)`. Only full blocks get a hash; a partial last block
# is still being written.
#
# The keys are persisted (the disk tier) and compared across processes and nodes, so use
# `hashlib` (blake2b, sha256), never Python's `hash()` (salted per process for `str`/`bytes`).
# `token_ids`: a list/tuple of non-negative ints or a 1-D integer tensor. `block_size`: an
# int >= 1 (`ValueError` naming `block_size` otherwise). Hash values are yours to choose.

# %% [solution id=lab04_prefix_hashes]
def prefix_block_hashes(token_ids, block_size):
    """One int per full block of token_ids (T,); block i's hash covers blocks 0..i."""
    ### BEGIN SOLUTION
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise TypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    tokens = _token_list(token_ids)
    prev = struct.pack("<q", block_size)  # the block size is part of the name
    hashes = []
    for i in range(len(tokens) // block_size):
        block = tokens[i * block_size:(i + 1) * block_size]
        prev = hashlib.blake2b(prev + struct.pack(f"<{block_size}q", *block), digest_size=8).digest()
        hashes.append(int.from_bytes(prev, "little"))
    return hashes
    ### END SOLUTION


def _token_list(token_ids):
    """token_ids as a list of ints, validated."""
    ### BEGIN SOLUTION
    if isinstance(token_ids, torch.Tensor):
        if token_ids.dim() != 1 or token_ids.is_floating_point() or token_ids.is_complex():
            raise ValueError(f"token_ids must be a 1-D integer tensor, got {token_ids.dtype} {tuple(token_ids.shape)}")
        token_ids = token_ids.tolist()
    if not isinstance(token_ids, (list, tuple)):
        raise TypeError(f"token_ids must be a list of ints or a 1-D tensor, got {type(token_ids).__name__}")
    for t in token_ids:
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < 2**63:
            raise ValueError(f"token_ids must hold ints in [0, 2**63), found {t!r}")
    return list(token_ids)
    ### END SOLUTION

# %% [test id=lab04_task2]
from inferlab.grading import check_here
check_here("lab04", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · Tier and TieredKVCache (lab04 · task 3)
#
# `Tier(name, capacity, device=None, path=None)` describes one level: `capacity` blocks,
# held in memory on `device` (default CPU), or as files in folder `path` (created if missing;
# a path that is a file is a `ValueError` naming `path`; giving both is a `ValueError`).
# On a machine with CUDA the top tier is `device="cuda"` and a CPU tier keeps its blocks in
# **pinned** memory, so that promotions copy at full PCIe speed.
#
# `TieredKVCache(tiers, policy="lru")`, tier 0 the fastest. The rules, exactly:
# - every tier has its own policy instance; **a block entering a tier** (by put, promotion or
#   demotion) is `insert`ed there as new — *after* that tier's victim, if the tier is full,
#   has been evicted and demoted one tier down (from the last tier it is dropped);
# - `put(key, block)`: if `key` is cached anywhere it leaves that tier first; then the block
#   enters tier 0;
# - `get(key)`: a hit in tier 0 is an `access` there; a hit in a lower tier **leaves that tier
#   first** and then enters tier 0 (promotion); it returns the block on tier 0's device, or
#   `None` on a miss;
# - `tier_of(key) -> name | None`;
# - `stats() -> {"hits": {name: int}, "misses": int, "bytes_written": {name: int}}`, every
#   tier named: a hit counts for the tier the block was found in; `bytes_written` adds
#   `block.numel() * block.element_size()` to a tier each time a block enters it.
#
# **The disk tier** writes one file per block, atomically: write a temporary file in the same
# folder, `flush` + `os.fsync`, then `os.replace` onto the final name — a crash leaves either
# the old state or the new, never half a block. Each file carries the key, dtype, shape and a
# checksum (`hashlib`) of all of it; reading verifies it, and a file that fails (truncated,
# flipped bits, someone else's block, gone) is a **miss** (the file is dropped), never returned.
# A new `TieredKVCache` given a tier on the same folder finds the blocks again (what survives a
# restart), and ignores files it did not write.
#
# Bad input (`ValueError`/`TypeError` naming the argument, nothing changed): an empty `tiers`
# or two tiers with one name (`tiers`), an unknown `policy`, a capacity < 1 (`capacity`), a
# block that is not a tensor (`block`), a key that is not an `int` or `str` (`key`).

# %% [solution id=lab04_tiers]
class Tier:
    """One level of the hierarchy: `capacity` blocks on `device` (memory) or in folder `path` (disk)."""

    def __init__(self, name, capacity, device=None, path=None):
        ### BEGIN SOLUTION
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int number of blocks, got {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 block, got {capacity}")
        if device is not None and path is not None:
            raise ValueError("a tier lives in memory (device) or on disk (path), not both: give one of device, path")
        if path is not None:
            path = os.path.abspath(os.fspath(path))
            if os.path.exists(path) and not os.path.isdir(path):
                raise ValueError(f"path {path!r} exists and is not a folder")
            os.makedirs(path, exist_ok=True)
            device = None
        else:
            try:
                device = torch.device("cpu" if device is None else device)
            except (RuntimeError, TypeError) as e:
                raise ValueError(f"device {device!r} is not a torch device: {e}") from None
        self.name, self.capacity, self.device, self.path = name, capacity, device, path
        ### END SOLUTION

    def __repr__(self):
        return f"Tier({self.name!r}, {self.capacity}, device={self.device}, path={self.path!r})"


class _MemoryStore:
    """Blocks held as tensors on one device (pinned host memory when a GPU is there to copy to)."""

    def __init__(self, device):
        ### BEGIN SOLUTION
        self.device = device
        self.pin = device.type == "cpu" and torch.cuda.is_available()
        self.blocks = {}
        ### END SOLUTION

    def write(self, key, block):
        """Keep a copy of block; True when stored."""
        ### BEGIN SOLUTION
        t = block.detach().to(self.device, copy=True)
        self.blocks[key] = t.pin_memory() if self.pin else t
        return True
        ### END SOLUTION

    def read(self, key):
        """The block of key, or None."""
        ### BEGIN SOLUTION
        return self.blocks.get(key)
        ### END SOLUTION

    def delete(self, key):
        ### BEGIN SOLUTION
        self.blocks.pop(key, None)
        ### END SOLUTION

    def recover(self):
        """Keys found at start-up (memory keeps nothing)."""
        return []


_MAGIC = b"IFLKV01\n"
_DTYPES = {str(d): d for d in (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
                                torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)}


def _key_bytes(key):
    """A key's stable byte name (ints and strs never collide)."""
    ### BEGIN SOLUTION
    return (b"i:" + str(key).encode()) if isinstance(key, int) else (b"s:" + key.encode("utf-8"))
    ### END SOLUTION


class _DiskStore:
    """One checksummed file per block, written atomically; unreadable files are misses."""

    def __init__(self, folder):
        self.folder = folder

    def file_of(self, key):
        """The file name of key's block."""
        ### BEGIN SOLUTION
        return os.path.join(self.folder, hashlib.blake2b(_key_bytes(key), digest_size=16).hexdigest() + ".kv")
        ### END SOLUTION

    def write(self, key, block):
        """Write key's block atomically (temp file, fsync, os.replace); True when stored."""
        ### BEGIN SOLUTION
        t = block.detach().to("cpu").contiguous()
        header = repr((_key_bytes(key).decode(), str(t.dtype), tuple(t.shape))).encode()
        payload = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        body = _MAGIC + struct.pack("<I", len(header)) + header + payload
        final = self.file_of(key)
        tmp = f"{final}.{os.getpid()}.tmp"
        try:
            os.makedirs(self.folder, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(body + hashlib.sha256(body).digest())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)  # atomic: readers see the old file or the whole new one
        except OSError as e:
            warnings.warn(f"disk tier {self.folder}: could not write a block ({e}); it is dropped")
            try:
                os.remove(tmp)
            except OSError:
                pass
            return False
        return True
        ### END SOLUTION

    def parse(self, data):
        """(key bytes, tensor) of a file's bytes, or None when anything is off."""
        ### BEGIN SOLUTION
        if len(data) < len(_MAGIC) + 4 + 32 or not data.startswith(_MAGIC):
            return None
        body, digest = data[:-32], data[-32:]
        if hashlib.sha256(body).digest() != digest:
            return None
        (n,) = struct.unpack_from("<I", body, len(_MAGIC))
        start = len(_MAGIC) + 4
        try:
            key_s, dtype_s, shape = ast.literal_eval(body[start:start + n].decode())
            dtype = _DTYPES[dtype_s]
            t = torch.frombuffer(bytearray(body[start + n:]) or bytearray(1), dtype=torch.uint8)
            t = t[: len(body) - start - n].view(dtype).reshape(shape)
        except Exception:  # noqa: BLE001 - whatever is wrong with it, it is not a block
            return None
        return key_s.encode(), t
        ### END SOLUTION

    def read(self, key):
        """key's block, or None when its file is missing, corrupt or holds another key."""
        ### BEGIN SOLUTION
        try:
            with open(self.file_of(key), "rb") as f:
                parsed = self.parse(f.read())
        except OSError:
            return None
        if parsed is None or parsed[0] != _key_bytes(key):
            return None
        return parsed[1]
        ### END SOLUTION

    def delete(self, key):
        ### BEGIN SOLUTION
        try:
            os.remove(self.file_of(key))
        except OSError:
            pass
        ### END SOLUTION

    def recover(self):
        """Keys of the intact block files already in the folder, oldest first."""
        ### BEGIN SOLUTION
        found = []
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        for n in names:
            p = os.path.join(self.folder, n)
            if not n.endswith(".kv"):
                continue
            try:
                with open(p, "rb") as f:
                    parsed = self.parse(f.read())
                mtime = os.stat(p).st_mtime_ns
            except OSError:
                continue
            if parsed is None:
                continue
            kind, _, value = parsed[0].decode().partition(":")
            key = int(value) if kind == "i" else value
            if self.file_of(key) == p:  # a file copied over another key's name is not trusted
                found.append((mtime, n, key))
        return [k for _, _, k in sorted(found)]
        ### END SOLUTION


_POLICIES = {"lru": LRUPolicy, "lfu": LFUPolicy, "fifo": FIFOPolicy}


class TieredKVCache:
    """KV blocks over tiers (0 fastest): put into tier 0, victims demoted down, hits promoted to tier 0."""

    def __init__(self, tiers, policy="lru"):
        ### BEGIN SOLUTION
        tiers = list(tiers) if isinstance(tiers, (list, tuple)) else None
        if not tiers:
            raise ValueError("tiers must be a non-empty list of Tier")
        for t in tiers:
            if not all(hasattr(t, a) for a in ("name", "capacity", "device", "path")):
                raise TypeError(f"tiers must hold Tier objects, got {type(t).__name__}")
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers must have distinct names, got {names}")
        if policy not in _POLICIES:
            raise ValueError(f"policy must be one of {sorted(_POLICIES)}, got {policy!r}")
        self.tiers = tiers
        self._stores = [_DiskStore(t.path) if t.path is not None else _MemoryStore(t.device) for t in tiers]
        self._policies = [_POLICIES[policy]() for _ in tiers]
        self._where = {}  # key -> tier index
        self._hits = {t.name: 0 for t in tiers}
        self._misses = 0
        self._written = {t.name: 0 for t in tiers}
        for i, store in enumerate(self._stores):  # what survived a restart
            for key in store.recover():
                if key in self._where:
                    continue
                if len(self._policies[i]) >= tiers[i].capacity:
                    store.delete(self._policies[i].evict())
                    self._where = {k: j for k, j in self._where.items() if k in self._policies[j]}
                self._policies[i].insert(key)
                self._where[key] = i
        ### END SOLUTION

    def _leave(self, key):
        """Take `key` out of its tier; its block (None when its file was unreadable)."""
        ### BEGIN SOLUTION
        i = self._where.pop(key)
        self._policies[i].remove(key)
        block = self._stores[i].read(key)
        self._stores[i].delete(key)
        return block
        ### END SOLUTION

    def _enter(self, i, key, block):
        """`block` enters tier i as new, after tier i's victim (if full) went one tier down."""
        ### BEGIN SOLUTION
        if i == len(self.tiers):
            return  # dropped from the last tier
        policy = self._policies[i]
        if len(policy) >= self.tiers[i].capacity:
            victim = policy.evict()
            del self._where[victim]
            vblock = self._stores[i].read(victim)
            self._stores[i].delete(victim)
            if vblock is not None:
                self._enter(i + 1, victim, vblock)
        if self._stores[i].write(key, block):
            policy.insert(key)
            self._where[key] = i
            self._written[self.tiers[i].name] += block.numel() * block.element_size()
        ### END SOLUTION

    def put(self, key, block):
        """Store `block` under `key` in tier 0 (replacing any cached block of that key)."""
        ### BEGIN SOLUTION
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise TypeError(f"key must be an int or a str, got {type(key).__name__}")
        if not isinstance(block, torch.Tensor):
            raise TypeError(f"block must be a torch.Tensor, got {type(block).__name__}")
        if self.tiers[-1].path is not None and str(block.dtype) not in _DTYPES:
            raise ValueError(f"block dtype {block.dtype} cannot be stored on disk")
        if key in self._where:
            self._leave(key)
        self._enter(0, key, block)
        ### END SOLUTION

    def get(self, key):
        """The block of `key` on tier 0's device (promoted there), or None on a miss."""
        ### BEGIN SOLUTION
        i = self._where.get(key)
        if i is None:
            self._misses += 1
            return None
        if i == 0:
            self._policies[0].access(key)
            self._hits[self.tiers[0].name] += 1
            return self._stores[0].read(key)
        block = self._leave(key)
        if block is None:  # a corrupt or vanished file: a miss, never wrong data
            self._misses += 1
            return None
        self._hits[self.tiers[i].name] += 1
        self._enter(0, key, block)
        return self._stores[0].read(key)
        ### END SOLUTION

    def tier_of(self, key):
        """Name of the tier holding `key`, or None."""
        ### BEGIN SOLUTION
        i = self._where.get(key)
        return None if i is None else self.tiers[i].name
        ### END SOLUTION

    def stats(self):
        """{"hits": {tier: n}, "misses": n, "bytes_written": {tier: bytes}}."""
        ### BEGIN SOLUTION
        return {"hits": dict(self._hits), "misses": self._misses, "bytes_written": dict(self._written)}
        ### END SOLUTION

# %% [test id=lab04_task3]
from inferlab.grading import check_here
check_here("lab04", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [test id=lab04_task3_disk]
from inferlab.grading import check_here
check_here("lab04", "task3_disk", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task3_disk", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### A serving trace through your cache
# `inferlab.workload.chat_trace` generates a day of traffic: chats over three shared system
# prompts (each turn re-sends the conversation), few-shot templates, one-off queries. Every
# request looks up its blocks and puts the missing ones. (The hidden check replays traces
# with seeds you do not see and compares hit counts with the reference exactly.)

# %%
trace = workload.chat_trace(seed=0, num_requests=120)
keys = workload.lookups(trace, block_size=16)
for policy in ("lru", "lfu", "fifo"):
    cache = TieredKVCache([Tier("hbm", 32), Tier("dram", 96)], policy=policy)
    res = workload.run_lookups(cache, keys)
    s = res["stats"]
    print(f"{policy:4}: {len(keys)} lookups, hit rate {sum(res['hits']) / len(keys):.3f}  hits {s['hits']}"
          f"  bytes written {s['bytes_written']}")

# %% [test id=lab04_task3_trace]
from inferlab.grading import check_here
check_here("lab04", "task3_trace", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task3_trace", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · longest_prefix_hit (lab04 · task 4)
#
# `longest_prefix_hit(cache, token_ids, block_size) -> int`: how many leading full blocks of
# the prompt the cache holds (keys = your `prefix_block_hashes`), stopping at the first block
# it does not. The scheduler then prefills only the rest. This lab looks blocks up with
# `cache.get` (a found block is about to be used, so it is promoted and counted as a hit);
# `tier_of` would be a pure query — either gives the same count.

# %% [solution id=lab04_prefix_hit]
def longest_prefix_hit(cache, token_ids, block_size):
    """Number of leading full blocks of token_ids found in `cache`."""
    ### BEGIN SOLUTION
    n = 0
    for h in prefix_block_hashes(token_ids, block_size):
        if cache.get(h) is None:
            break
        n += 1
    return n
    ### END SOLUTION

# %% [test id=lab04_task4]
from inferlab.grading import check_here
check_here("lab04", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · int8 KV quantisation (lab04 · task 5)
#
# Symmetric absmax quantisation over `dim`: `scale = absmax / 127` (keep `dim` with size 1),
# `q = round(x / scale)` in [-127, 127], int8; then `|q * scale - x| <= scale / 2` everywhere.
# An all-zero slice gets scale 1.0 (any positive scale would do) and round-trips to zeros.
# Per *token* means `dim=-1` of a `(N, D)` cache (one scale per row); per *channel* (`dim=0`)
# is what KIVI uses for keys, whose outlier channels would otherwise blow up every row's scale.
#
# `quantize_int8(x, dim=-1) -> (q, scale)`: a **Triton kernel** for the last dim, reading each
# element of `x` once and writing `q` and `scale` once (one pass: a program loads whole rows,
# reduces the absmax in registers, scales and stores); other dims move `dim` last
# and reuse it. `scale` is float32. `x` is a floating tensor with at least one dim
# (`ValueError` naming `x`); `dim` in range (`ValueError` naming `dim`).
# `dequantize_int8(q, scale) -> float32`: `q` int8 (`ValueError` naming `q`), `scale`
# broadcastable to `q`'s shape (`ValueError` naming `scale`).
#
# Byte arithmetic: x fp16 `(R, D)` moves `2RD` bytes in, `RD + 4R` out.

# %% [solution id=lab04_quant]
@triton.jit
def _quantize_rows(x_ptr, q_ptr, s_ptr, n_rows, n_cols, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """Rows x (n_rows, n_cols) -> q (n_rows, n_cols) int8 and s (n_rows,) float32; BLOCK_R rows a program."""
    ### BEGIN SOLUTION
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)             # (BLOCK_R,)
    cols = tl.arange(0, BLOCK_D)                                          # (BLOCK_D,)
    row_ok = rows < n_rows
    mask = row_ok[:, None] & (cols[None, :] < n_cols)
    offs = rows.to(tl.int64)[:, None] * n_cols + cols[None, :]            # (BLOCK_R, BLOCK_D)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)        # one read of x
    absmax = tl.max(tl.abs(x), axis=1)                                    # (BLOCK_R,)
    scale = tl.where(absmax > 0, absmax / 127.0, 1.0)
    q = tl.floor(x / scale[:, None] + 0.5)                                # round half up
    q = tl.minimum(tl.maximum(q, -127.0), 127.0)
    tl.store(q_ptr + offs, q.to(tl.int8), mask=mask)                      # one write of q
    tl.store(s_ptr + rows, scale, mask=row_ok)                            # and of the scales
    ### END SOLUTION


def quantize_int8(x, dim=-1):
    """Symmetric int8 over `dim`: q (x.shape, int8), scale (x.shape with dim 1, float32)."""
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point() or x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"x must be a non-empty floating tensor with >= 1 dim, got {x.dtype} {tuple(x.shape)}")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim {dim} is out of range for x with {x.dim()} dims")
    d = dim % x.dim()
    xm = x.movedim(d, -1).contiguous()                                   # (..., D)
    n_cols = xm.shape[-1]
    n_rows = xm.numel() // n_cols
    q = torch.empty(xm.shape, dtype=torch.int8, device=x.device)
    scale = torch.empty(xm.shape[:-1] + (1,), dtype=torch.float32, device=x.device)
    block_d = triton.next_power_of_2(n_cols)
    block_r = max(1, min(64, 4096 // block_d))
    _quantize_rows[(triton.cdiv(n_rows, block_r),)](xm, q, scale, n_rows, n_cols, BLOCK_R=block_r, BLOCK_D=block_d)
    return q.movedim(-1, d), scale.movedim(-1, d)
    ### END SOLUTION


def dequantize_int8(q, scale):
    """q (int8) * scale (broadcastable) as float32."""
    ### BEGIN SOLUTION
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8:
        raise ValueError(f"q must be an int8 tensor, got {getattr(q, 'dtype', type(q).__name__)}")
    if not isinstance(scale, torch.Tensor) or not scale.is_floating_point():
        raise ValueError(f"scale must be a floating tensor, got {getattr(scale, 'dtype', type(scale).__name__)}")
    try:
        shape = torch.broadcast_shapes(q.shape, scale.shape)
    except RuntimeError:
        shape = None
    if shape != q.shape:
        raise ValueError(f"scale of shape {tuple(scale.shape)} does not broadcast to q's {tuple(q.shape)}")
    return q.to(torch.float32) * scale.to(torch.float32)
    ### END SOLUTION

# %% [test id=lab04_task5]
from inferlab.grading import check_here
check_here("lab04", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [test id=lab04_task5_perf]
from inferlab.grading import check_here
check_here("lab04", "task5_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task5_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 · h2o_keep_indices (lab04 · task 6)
#
# H2O (Zhang et al. 2023) keeps a fixed KV budget per head: the most recent tokens plus the
# "heavy hitters", the tokens with the largest accumulated attention. Given `scores` `(N,)`
# (accumulated attention per position), return the ascending positions kept:
# the last `recent` positions, plus the highest-score other positions, `budget` in all.
# Ties go to the **lower** position (stable, reproducible). Edge cases (this lab's choice):
# - `N <= budget`: every position `0..N-1`;
# - `recent >= budget`: only the last `budget` positions (the window takes the whole budget);
# - `recent = 0`: pure heavy hitters; `budget = 0` (with N > 0): nothing (an empty LongTensor);
# - `budget` or `recent` negative, or `scores` not 1-D: `ValueError` naming it.

# %% [solution id=lab04_h2o]
def h2o_keep_indices(scores, budget, recent):
    """Ascending LongTensor of kept positions of scores (N,): last `recent` + top others, `budget` total."""
    ### BEGIN SOLUTION
    scores = torch.as_tensor(scores)
    if scores.dim() != 1:
        raise ValueError(f"scores must be 1-D (N,), got shape {tuple(scores.shape)}")
    for name, v in (("budget", budget), ("recent", recent)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    n = scores.shape[0]
    if n <= budget:
        return torch.arange(n, dtype=torch.long)
    window = min(recent, budget)
    older = scores[: n - window].detach().to("cpu", torch.float64)
    order = torch.sort(older, descending=True, stable=True).indices      # ties: lower position first
    heavy = order[: budget - window]
    keep = torch.cat([heavy, torch.arange(n - window, n)])
    return torch.sort(keep).values.to(torch.long)
    ### END SOLUTION

# %% [test id=lab04_task6]
from inferlab.grading import check_here
check_here("lab04", "task6", globals())
### BEGIN HIDDEN TESTS
check_here("lab04", "task6", globals(), hidden=True)
### END HIDDEN TESTS
