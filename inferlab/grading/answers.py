"""Answer keys: what a graded function must return, computed plainly in float64 in the grader.

    causal_mask(n_q, n_k)                       bottom-right aligned causal mask
    softmax_stats(x) · softmax(x)               (max, sum of exp) of the last dim; guarded softmax
    attention(q, k, v, ...) -> (o, lse)         float64; masks, causal, key subsets; empty rows give (0, -inf)
    paged_gather(k_cache, v_cache, block_table, seq_len) -> (k, v)   one sequence's context
    paged_attention(q, k_cache, v_cache, block_tables, seq_lens)     decode attention through block tables
    kv_memory_waste(seq_lens, max_seq_len, block_size)
    greedy_tokens(prompt, n)                    the course model's greedy continuation
    ttft · tpot · goodput · latency_summary     serving metrics of request records (SPEC lab06, lab09)
    RefPolicy · RefCache                        KV-tier eviction and a tiered cache, written plainly (O(n))

None of this is imported by a submission's process: answer keys stay with the grader.
"""
from __future__ import annotations

import math

import torch

NEG_INF = -math.inf


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ----------------------------------------------------------------------------- attention


def causal_mask(n_q: int, n_k: int) -> torch.Tensor:
    """(n_q, n_k) bool: query i sees keys j <= i + (n_k - n_q) (the queries are the last n_q positions)."""
    i = torch.arange(n_q)[:, None]
    j = torch.arange(n_k)[None, :]
    return j <= i + (n_k - n_q)


def softmax_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, l) of the last dim in float64; an all -inf row gives (-inf, 0)."""
    x = x.double()
    m = x.amax(-1)
    m_safe = torch.where(m == NEG_INF, torch.zeros_like(m), m)
    return m, torch.exp(x - m_safe[..., None]).sum(-1)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """float64 softmax of the last dim; an all -inf row gives zeros."""
    m, l = softmax_stats(x)
    m_safe = torch.where(m == NEG_INF, torch.zeros_like(m), m)
    l_safe = torch.where(l == 0, torch.ones_like(l), l)
    return torch.exp(x.double() - m_safe[..., None]) / l_safe[..., None]


def attention(q, k, v, mask=None, *, causal: bool = False, sm_scale: float | None = None,
              key_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 attention over the last two dims: (o, lse).

    mask: bool, broadcast to the scores (True keeps); causal: `causal_mask(Nq, Nk)`;
    key_mask (Nk,) bool keeps a subset of keys. A row with no key gives o = 0, lse = -inf.
    """
    q, k, v = (t.detach().double() for t in (q, k, v))
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    s = q @ k.transpose(-1, -2) * scale  # (..., Nq, Nk)
    keep = torch.ones(s.shape[-2:], dtype=torch.bool)
    if causal:
        keep = keep & causal_mask(s.shape[-2], s.shape[-1])
    if key_mask is not None:
        keep = keep & key_mask[None, :]
    if mask is not None:
        keep = keep & mask
    s = s.masked_fill(~keep, NEG_INF)
    return softmax(s) @ v, torch.logsumexp(s, dim=-1)


def paged_gather(k_cache, v_cache, block_table, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `seq_len` tokens' (k, v), each (seq_len, H_kv, D), of the blocks `block_table` lists.

    k_cache, v_cache (num_blocks, block_size, H_kv, D); only the first ceil(seq_len / block_size)
    entries of the table are read (the rest may hold anything)."""
    bs, h_kv, d = k_cache.shape[1], k_cache.shape[2], k_cache.shape[3]
    blocks = torch.as_tensor(block_table)[: cdiv(int(seq_len), bs)].long()
    n = int(seq_len)
    return k_cache[blocks].reshape(-1, h_kv, d)[:n], v_cache[blocks].reshape(-1, h_kv, d)[:n]


def paged_attention(q, k_cache, v_cache, block_tables, seq_lens, sm_scale: float | None = None) -> torch.Tensor:
    """Decode attention, float64 (B, H, D): each sequence's one query over its paged context;
    query head h reads KV head h // (H / H_kv) (grouped-query attention)."""
    b_n, h, d = q.shape
    h_kv = k_cache.shape[2]
    out = torch.empty(b_n, h, d, dtype=torch.float64)
    for b in range(b_n):
        if int(seq_lens[b]) == 0:  # an empty context attends to nothing
            out[b] = 0.0
            continue
        k, v = paged_gather(k_cache, v_cache, block_tables[b], int(seq_lens[b]))
        k = k.double().repeat_interleave(h // h_kv, dim=1).transpose(0, 1)  # (H, L, D)
        v = v.double().repeat_interleave(h // h_kv, dim=1).transpose(0, 1)
        o, _ = attention(q[b][:, None, :], k, v, sm_scale=sm_scale)  # (H, 1, D)
        out[b] = o[:, 0]
    return out


def kv_memory_waste(seq_lens, max_seq_len: int, block_size: int) -> dict:
    """Fraction of reserved KV slots left empty: contiguous (max_seq_len per sequence) and paged."""
    used = sum(seq_lens)
    cont = len(seq_lens) * max_seq_len
    paged = sum(cdiv(n, block_size) * block_size for n in seq_lens)
    return {"contiguous": 1 - used / cont if cont else 0.0, "paged": 1 - used / paged if paged else 0.0}


# ----------------------------------------------------------------------------- the course model

_MODELS: dict = {}


def course_model(name: str = "target"):
    """The course model in the grader's process (loaded once)."""
    if name not in _MODELS:
        from inferlab import models

        _MODELS[name] = models.load(name)
    return _MODELS[name]


def greedy_tokens(prompt, n: int, model: str = "target") -> list[int]:
    """`n` new tokens of greedy full recomputation (`inferlab.models.greedy_reference`), on one
    thread: the grader and the submission's process take turns on few cores."""
    from inferlab.models import greedy_reference

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return greedy_reference(course_model(model), prompt, n)
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- serving metrics


def ttft(record: dict) -> float:
    """Time to first token: `token_times[0] - arrival`."""
    return record["token_times"][0] - record["arrival"]


def tpot(record: dict) -> float | None:
    """Time per output token after the first; None for a one-token request."""
    t = record["token_times"]
    return None if len(t) < 2 else (t[-1] - t[0]) / (len(t) - 1)


def goodput(records, ttft_slo: float, tpot_slo: float) -> float:
    """Requests per second that met both SLOs, over first arrival to last token; 0.0 for none."""
    if not records:
        return 0.0
    good = sum(1 for r in records if ttft(r) <= ttft_slo and (tpot(r) is None or tpot(r) <= tpot_slo))
    span = max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)
    return good / span if span > 0 else 0.0


def percentile(xs, p: float) -> float | None:
    """numpy's default (linear interpolation between closest ranks); None for no values."""
    xs = sorted(xs)
    if not xs:
        return None
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(records) -> dict:
    """p50/p90/p99 of TTFT, TPOT (two or more tokens) and inter-token latency; output tokens per second."""
    itl = [b - a for r in records for a, b in zip(r["token_times"], r["token_times"][1:])]
    groups = {"ttft": [ttft(r) for r in records],
              "tpot": [x for x in (tpot(r) for r in records) if x is not None],
              "itl": itl}
    out: dict = {k: {f"p{p}": percentile(v, p) for p in (50, 90, 99)} for k, v in groups.items()}
    tokens = sum(len(r["token_times"]) for r in records)
    span = (max(r["token_times"][-1] for r in records) - min(r["arrival"] for r in records)) if records else 0.0
    out["output_tokens_per_s"] = tokens / span if span > 0 else 0.0
    return out


# ----------------------------------------------------------------------------- KV tiers (lab04)


class RefPolicy:
    """The SPEC's policies, written plainly (O(n) evict): the answer key."""

    def __init__(self, kind: str) -> None:
        self.kind, self.meta, self.t = kind, {}, 0  # key -> [uses, last use, inserted]

    def insert(self, key):
        if key in self.meta:
            raise ValueError(key)
        self.t += 1
        self.meta[key] = [1, self.t, self.t]

    def access(self, key):
        if key not in self.meta:
            raise KeyError(key)
        self.t += 1
        if self.kind != "fifo":
            self.meta[key][0] += 1
            self.meta[key][1] = self.t

    def remove(self, key):
        del self.meta[key]

    def evict(self):
        if not self.meta:
            raise KeyError("empty")
        if self.kind == "lru":
            key = min(self.meta, key=lambda k: self.meta[k][1])
        elif self.kind == "fifo":
            key = min(self.meta, key=lambda k: self.meta[k][2])
        else:
            key = min(self.meta, key=lambda k: (self.meta[k][0], self.meta[k][1]))
        del self.meta[key]
        return key

    def __len__(self):
        return len(self.meta)


class RefCache:
    """The SPEC's TieredKVCache over (version, nbytes) records: tiers, stats, promotion, demotion."""

    def __init__(self, names, caps, kind: str) -> None:
        self.names, self.caps = list(names), list(caps)
        self.pols = [RefPolicy(kind) for _ in names]
        self.where, self.data = {}, {}
        self.hits = {n: 0 for n in names}
        self.misses = 0
        self.written = {n: 0 for n in names}

    def _leave(self, key):
        i = self.where.pop(key)
        self.pols[i].remove(key)
        return self.data.pop(key)

    def _enter(self, i, key, rec):
        if i == len(self.names):
            return
        if len(self.pols[i]) >= self.caps[i]:
            victim = self.pols[i].evict()
            del self.where[victim]
            self._enter(i + 1, victim, self.data.pop(victim))
        self.pols[i].insert(key)
        self.where[key] = i
        self.data[key] = rec
        self.written[self.names[i]] += rec[1]

    def put(self, key, version, nbytes):
        if key in self.where:
            self._leave(key)
        self._enter(0, key, (version, nbytes))

    def get(self, key):
        i = self.where.get(key)
        if i is None:
            self.misses += 1
            return None
        self.hits[self.names[i]] += 1
        if i == 0:
            self.pols[0].access(key)
            return self.data[key]
        rec = self._leave(key)
        self._enter(0, key, rec)
        return rec

    def tier_of(self, key):
        i = self.where.get(key)
        return None if i is None else self.names[i]

    def stats(self):
        return {"hits": dict(self.hits), "misses": self.misses, "bytes_written": dict(self.written)}


def h2o_keep(scores, budget: int, recent: int) -> list[int]:
    """H2O: the last `recent` positions plus the highest-score others up to `budget` (ties: lower position)."""
    n = len(scores)
    if n <= budget:
        return list(range(n))
    w = min(recent, budget)
    older = sorted(range(n - w), key=lambda i: (-scores[i], i))[: budget - w]
    return sorted(older + list(range(n - w, n)))
