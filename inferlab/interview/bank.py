"""The bank of quantitative questions: one slot per place in the interview, several kinds per slot.

Every kind draws its parameters from a per-candidate random stream, states the
question (English and Chinese) with those parameters, and computes its expected
value with `inferlab.interview.answers`. Slots are fixed (q01..q10, each with a
syllabus section, a §9 category and 2 points), so every candidate's notebook has
the same graded cells; the track weights which kind fills a slot, the level sets
how hard its parameters are.

Adding a question: write `make`, `ask`, `answer`, `working` and register a `Kind`
for an existing slot (below); nothing else changes.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from inferlab.interview import answers as A

SLOT_POINTS = 2.0
SLOTS = {  # slot -> (section, category)
    "q01": (1, "knowledge"), "q02": (1, "knowledge"), "q03": (2, "knowledge"),
    "q04": (3, "systems"), "q05": (4, "systems"), "q06": (5, "systems"), "q07": (5, "systems"),
    "q08": (6, "practice"), "q09": (7, "frontier"), "q10": (8, "practice"),
}
GiB = 1 << 30


@dataclass(frozen=True)
class Kind:
    """One kind of quantitative question."""

    key: str
    slot: str
    title: tuple[str, str]
    unit: str
    exact: bool
    make: Callable[[random.Random, str], dict]
    ask: Callable[[dict], tuple[str, str]]
    answer: Callable[[dict], float]
    working: Callable[[dict], str]
    weights: dict = field(default_factory=dict)      # track -> draw weight (default 1)
    deeper: tuple[str, ...] = ()
    shallower: tuple[str, ...] = ()
    rel_tol: float = 0.01

    @property
    def section(self) -> int:
        return SLOTS[self.slot][0]

    @property
    def category(self) -> str:
        return SLOTS[self.slot][1]

    def tolerance_text(self) -> str:
        return "exactly (an integer)" if self.exact else f"within {self.rel_tol:.0%} (relative)"

    def accepts(self, value: float, expected: float) -> bool:
        if self.exact:
            return abs(value - expected) <= 1e-9 * max(1.0, abs(expected))
        return abs(value - expected) <= self.rel_tol * abs(expected)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.slot not in SLOTS:
        raise ValueError(f"unknown slot {kind.slot!r}")
    if kind.key in KINDS:
        raise ValueError(f"duplicate question kind {kind.key!r}")
    KINDS[kind.key] = kind
    return kind


def kinds_for(slot: str) -> list[Kind]:
    return [k for k in KINDS.values() if k.slot == slot]


def n(x) -> str:
    """A number as the question prints it: integers with thin groups, floats plainly."""
    if isinstance(x, int):
        return f"{x:,}".replace(",", "_")
    return f"{x:g}"


# ------------------------------------------------------------------ shapes shared by several kinds

def _shape(rng: random.Random, level: str) -> dict:
    layers = rng.choice([22, 24, 26, 28, 30, 32, 36, 40, 48, 60, 64, 80])
    heads = rng.choice([16, 24, 32, 40, 48, 56, 64])
    head_dim = rng.choice([64, 80, 96, 128] if level == "experienced" else [64, 128])
    if level == "experienced":
        group = rng.choice([g for g in (2, 4, 8) if heads % g == 0])
    else:
        group = 1
    return {"layers": layers, "heads": heads, "kv_heads": heads // group, "head_dim": head_dim,
            "dtype_bytes": rng.choice([2, 1]) if level == "experienced" else 2}


def _dtype(b: int) -> str:
    return {1: "fp8 (1 byte)", 2: "fp16 (2 bytes)", 4: "fp32 (4 bytes)"}[b]


def _shape_text(p: dict) -> str:
    kv = (f"{p['kv_heads']} KV heads" if p["kv_heads"] == p["heads"] or "group" not in p
          else f"grouped-query attention with {p['heads'] // p['kv_heads']} query heads per KV head")
    return (f"{p['layers']} layers, {p['heads']} query heads ({kv}), head dim {p['head_dim']}, "
            f"KV stored in {_dtype(p['dtype_bytes'])}")


def _shape_zh(p: dict) -> str:
    if p["kv_heads"] != p["heads"] and "group" in p:
        kv = f"分组查询注意力，每个KV头对应{p['heads'] // p['kv_heads']}个查询头"
    else:
        kv = f"{p['kv_heads']}个KV头"
    return f"{p['layers']}层，{p['heads']}个查询头（{kv}），head dim {p['head_dim']}，KV以{p['dtype_bytes']}字节存储"


def _kv_per_token(p: dict) -> int:
    return A.kv_cache_bytes(p["layers"], p["kv_heads"], p["head_dim"], 1, 1, p["dtype_bytes"])


# ------------------------------------------------------------------ q01 · §1 KV cache size

def _make_kv(rng, level):
    p = _shape(rng, level)
    if level == "experienced":
        p["group"] = True
    p["seq_len"] = rng.randrange(1000, 32768)
    p["batch"] = rng.randrange(1, 65)
    return p


register(Kind(
    "kv_cache_bytes", "q01", ("KV cache size", "KV Cache大小"), "bytes", True, _make_kv,
    lambda p: (f"A decoder has {_shape_text(p)}. How many bytes does the KV cache of a batch of {p['batch']} "
               f"sequences of {n(p['seq_len'])} tokens take? Answer in bytes.",
               f"一个解码器：{_shape_zh(p)}。批大小{p['batch']}、每条序列{p['seq_len']}个token时，KV Cache占多少字节？"),
    lambda p: A.kv_cache_bytes(p["layers"], p["kv_heads"], p["head_dim"], p["seq_len"], p["batch"], p["dtype_bytes"]),
    lambda p: (f"2 (K and V) x {p['layers']} layers x {p['kv_heads']} KV heads x {p['head_dim']} x "
               f"{p['seq_len']} tokens x {p['batch']} sequences x {p['dtype_bytes']} bytes"),
    weights={"eng": 1.5, "arch": 1.2},
    deeper=("How does grouped-query attention change this, and what does it cost in quality?",
            "At what batch size does the KV cache outgrow the weights of this model?"),
    shallower=("Which tensors does the cache hold per layer, and why not the queries?",),
))


def _make_fit(rng, level):
    p = _make_kv(rng, level)
    p["budget_gib"] = rng.choice([4, 6, 8, 10, 12, 16, 20, 24, 32, 40])
    return p


register(Kind(
    "kv_tokens_fit", "q01", ("Tokens that fit a KV budget", "KV预算能容纳的token数"), "tokens", True, _make_fit,
    lambda p: (f"A decoder has {_shape_text(p)}. How many tokens of KV cache (summed over all sequences) fit "
               f"in {p['budget_gib']} GiB (1 GiB = 2^30 bytes)? Answer a whole number of tokens.",
               f"一个解码器：{_shape_zh(p)}。{p['budget_gib']} GiB（2^30字节）最多能放下多少个token的KV Cache（所有序列合计）？"),
    lambda p: (p["budget_gib"] * GiB) // _kv_per_token(p),
    lambda p: (f"per token 2 x {p['layers']} x {p['kv_heads']} x {p['head_dim']} x {p['dtype_bytes']} = "
               f"{_kv_per_token(p)} bytes; floor({p['budget_gib']} x 2^30 / that)"),
    weights={"arch": 1.5, "rd": 1.2},
    deeper=("How would you split this budget between a long-context user and many short chats?",),
    shallower=("How many bytes does one token's K and V take in one layer?",),
))


# ------------------------------------------------------------------ q02 · §1 roofline

def _make_roof(rng, level):
    m = rng.choice([1, 2, 4, 8, 16, 32]) if level == "new-grad" else rng.randrange(1, 4097)
    return {"m": m, "k": rng.choice([2048, 4096, 5120, 8192]), "n": rng.choice([4096, 11008, 14336, 28672]),
            "tflops": rng.choice([312, 495, 989]), "tbps": rng.choice([1.6, 2.0, 3.35, 4.8])}


def _roof(p):
    flops, nbytes = A.matmul_cost(p["m"], p["n"], p["k"], 2)
    return flops, nbytes, A.roofline_time(flops, nbytes, p["tflops"] * 1e12, p["tbps"] * 1e12)


register(Kind(
    "roofline_time", "q02", ("Roofline time of a matmul", "矩阵乘的Roofline时间"), "microseconds", False, _make_roof,
    lambda p: (f"On a GPU with {p['tflops']} TFLOP/s (fp16) and {p['tbps']} TB/s of HBM bandwidth, an fp16 "
               f"product of activations ({p['m']} x {p['k']}) by weights ({p['k']} x {p['n']}) reads both operands "
               f"and writes the output once. How long does it take on the roofline model? Answer in microseconds.",
               f"GPU算力{p['tflops']} TFLOP/s（fp16），HBM带宽{p['tbps']} TB/s。fp16激活（{p['m']} x {p['k']}）乘以权重"
               f"（{p['k']} x {p['n']}），两个操作数各读一次、输出写一次。按Roofline模型需要多少微秒？"),
    lambda p: _roof(p)[2] * 1e6,
    lambda p: (f"FLOPs 2mnk = {_roof(p)[0]}, bytes (mk+kn+mn) x 2 = {_roof(p)[1]}; "
               f"max(FLOPs / {p['tflops']}e12, bytes / {p['tbps']}e12) in µs"),
    weights={"eng": 1.5},
    deeper=("Is this memory- or compute-bound, and from which batch size does that flip?",
            "What does the real kernel achieve against this bound, and why less?"),
    shallower=("What are the two ceilings of a roofline?",),
))


def _make_ai(rng, level):
    return {"m": rng.choice([1, 4, 8, 16, 64]) if level == "new-grad" else rng.randrange(1, 2049),
            "k": rng.choice([4096, 5120, 8192]), "n": rng.choice([4096, 11008, 14336])}


register(Kind(
    "arithmetic_intensity", "q02", ("Arithmetic intensity of a decode step", "解码步的算术强度"), "FLOP/byte", False,
    _make_ai,
    lambda p: (f"A decode step multiplies {p['m']} token vectors ({p['m']} x {p['k']}, fp16) by a weight matrix "
               f"({p['k']} x {p['n']}, fp16), reading both and writing the output once. What is its arithmetic "
               f"intensity in FLOP per byte?",
               f"解码步把{p['m']}个token向量（{p['m']} x {p['k']}，fp16）乘以权重（{p['k']} x {p['n']}，fp16），"
               f"读两个操作数、写一次输出。算术强度是多少FLOP/字节？"),
    lambda p: A.arithmetic_intensity(p["m"], p["n"], p["k"], 2),
    lambda p: f"2mnk / ((mk + kn + mn) x 2) with m={p['m']}, k={p['k']}, n={p['n']}",
    weights={"research": 1.2, "eng": 1.2},
    deeper=("Against an H100's ridge point (~295 FLOP/byte), what batch makes decode compute-bound?",),
    shallower=("Why is decoding one token at a time memory-bound?",),
))


# ------------------------------------------------------------------ q03 · §2 FlashAttention

def _make_tiles(rng, level):
    return {"n": rng.randrange(300, 5000), "bm": rng.choice([32, 64, 128]), "bn": rng.choice([32, 64, 128]),
            "causal": level == "experienced"}


register(Kind(
    "flash_tiles", "q03", ("FlashAttention tiles", "FlashAttention分块数"), "tiles", True, _make_tiles,
    lambda p: (f"FlashAttention runs one (batch, head) of self-attention over N = {p['n']} positions with query "
               f"blocks of {p['bm']} rows and key blocks of {p['bn']} columns{', causal (tiles entirely above the diagonal are skipped)' if p['causal'] else ''}. "
               f"How many (query block, key block) tiles does it compute?",
               f"FlashAttention计算一个(batch, head)的自注意力，N = {p['n']}，query块{p['bm']}行，key块{p['bn']}列"
               f"{'，因果掩码（完全在对角线上方的块跳过）' if p['causal'] else ''}。共计算多少个(query块, key块)？"),
    lambda p: A.flash_tiles(p["n"], p["bm"], p["bn"], p["causal"]),
    lambda p: (f"ceil(N/BM) query blocks; " + ("each reaches key block ceil(min((i+1)BM, N)/BN); sum over i"
                                             if p["causal"] else "times ceil(N/BN) key blocks")),
    weights={"research": 1.3, "eng": 1.3},
    deeper=("How do the block sizes trade SRAM, registers and parallelism?",),
    shallower=("What is a tile and why does FlashAttention work tile by tile?",),
))


def _make_kvbytes(rng, level):
    return {"b": rng.randrange(1, 9), "h": rng.choice([8, 16, 32]), "n": rng.randrange(500, 8193),
            "d": rng.choice([64, 128]), "bm": rng.choice([64, 128])}


register(Kind(
    "flash_kv_bytes", "q03", ("HBM reads of K and V", "K/V的HBM读取量"), "bytes", True, _make_kvbytes,
    lambda p: (f"Non-causal FlashAttention over batch {p['b']}, {p['h']} heads, N = {p['n']} query and key positions, "
               f"head dim {p['d']}, fp16, with query blocks of {p['bm']} rows: each query block streams all of K and V "
               f"from HBM. How many bytes of K and V are read in total?",
               f"非因果FlashAttention：batch {p['b']}，{p['h']}个头，query和key各N = {p['n']}，head dim {p['d']}，fp16，"
               f"query块{p['bm']}行，每个query块从HBM读取全部K和V。K和V一共读取多少字节？"),
    lambda p: A.flash_kv_bytes(p["b"], p["h"], p["n"], p["n"], p["d"], p["bm"], 2),
    lambda p: f"B x H x ceil(N/BM) x 2 (K, V) x N x D x 2 bytes = {p['b']} x {p['h']} x ceil({p['n']}/{p['bm']}) x 2 x {p['n']} x {p['d']} x 2",
    weights={"eng": 1.5},
    deeper=("Why is this still far less traffic than standard attention at long N?",),
    shallower=("Which tensors does FlashAttention never write to HBM?",),
))


def _make_scores(rng, level):
    return {"b": rng.randrange(1, 17), "h": rng.choice([12, 16, 32, 40]), "n": rng.randrange(1000, 16385)}


register(Kind(
    "attention_scores_bytes", "q03", ("Memory of the attention matrix", "注意力矩阵的显存"), "bytes", True,
    _make_scores,
    lambda p: (f"Standard (non-fused) attention materialises the N x N score matrix in fp32 for every sequence and head. "
               f"For batch {p['b']}, {p['h']} heads and N = {p['n']}, how many bytes is that matrix?",
               f"标准（非融合）注意力为每条序列、每个头在fp32下生成N x N的分数矩阵。batch {p['b']}、{p['h']}个头、"
               f"N = {p['n']}时，这个矩阵占多少字节？"),
    lambda p: A.attention_scores_bytes(p["b"], p["h"], p["n"], p["n"], 4),
    lambda p: f"B x H x N x N x 4 = {p['b']} x {p['h']} x {p['n']}^2 x 4",
    weights={"rd": 1.2, "arch": 1.2},
    deeper=("How does online softmax remove the need for this matrix?",),
    shallower=("Why does this grow with the square of the sequence length?",),
))


# ------------------------------------------------------------------ q04 · §3 paging

def _make_paged(rng, level):
    k = rng.randrange(5, 9)
    return {"lens": [rng.randrange(1, 2049) for _ in range(k)], "bs": rng.choice([8, 16, 32]),
            "max_len": 2048, "which": rng.choice(["paged", "contiguous"])}


register(Kind(
    "paged_blocks", "q04", ("Blocks of a paged cache", "分页缓存的块数"), "blocks", True, _make_paged,
    lambda p: (f"A paged KV cache with blocks of {p['bs']} tokens holds sequences of lengths {p['lens']}. "
               f"How many blocks are in use?",
               f"分页KV Cache每块{p['bs']}个token，序列长度为{p['lens']}。一共占用多少个块？"),
    lambda p: A.paged_blocks(p["lens"], p["bs"]),
    lambda p: f"sum of ceil(len / {p['bs']}) over the sequences",
    weights={"rd": 1.3, "arch": 1.2},
    deeper=("With prefix sharing, which of these blocks could be shared, and what happens on the first write?",),
    shallower=("Why is the last block of a sequence partly empty?",),
))


register(Kind(
    "paged_waste", "q04", ("Reserved but unused KV slots", "预留未用的KV槽位"), "fraction 0..1", False, _make_paged,
    lambda p: ((f"Sequences of lengths {p['lens']} each reserve {p['max_len']} contiguous KV slots. What fraction of the "
                f"reserved slots is unused? Answer a fraction between 0 and 1.") if p["which"] == "contiguous" else
               (f"Sequences of lengths {p['lens']} are stored in a paged KV cache with blocks of {p['bs']} tokens. "
                f"What fraction of the slots in their blocks is unused? Answer a fraction between 0 and 1."),
               (f"长度为{p['lens']}的序列各自预留{p['max_len']}个连续KV槽位。预留槽位中未使用的比例是多少（0到1）？")
               if p["which"] == "contiguous" else
               (f"长度为{p['lens']}的序列存放在每块{p['bs']}个token的分页KV Cache中。这些块里未使用的槽位比例是多少（0到1）？")),
    lambda p: A.kv_memory_waste(p["lens"], p["max_len"], p["bs"])[p["which"]],
    lambda p: ("1 - sum(lens) / (count x max_len)" if p["which"] == "contiguous"
               else f"1 - sum(lens) / (sum ceil(len/{p['bs']}) x {p['bs']})"),
    weights={"arch": 1.3, "eng": 1.2},
    deeper=("What block size would you pick, and what does a smaller block cost the kernel?",),
    shallower=("Where does the waste of contiguous reservation come from?",),
))


# ------------------------------------------------------------------ q05 · §4 eviction policies

def _make_trace(rng, level):
    keys = "ABCDEF"[: rng.randrange(4, 7)]
    policy = rng.choice(["lru", "fifo"] if level == "new-grad" else ["lru", "lfu", "fifo"])
    return {"trace": "".join(rng.choice(keys) for _ in range(rng.randrange(14, 19))),
            "capacity": rng.choice([2, 3, 4]), "policy": policy}


_POLICY = {"lru": ("LRU (least recently used)", "LRU（最近最少使用）"),
           "lfu": ("LFU (least frequently used; ties go to the least recently used)", "LFU（最不经常使用；频次相同淘汰最久未用的）"),
           "fifo": ("FIFO (first in, first out)", "FIFO（先进先出）")}

register(Kind(
    "policy_hits", "q05", ("Hits of an eviction policy", "淘汰策略的命中数"), "hits", True, _make_trace,
    lambda p: (f"A KV block cache holds {p['capacity']} blocks and evicts by {_POLICY[p['policy']][0]}. Starting empty, "
               f"it sees the block accesses {' '.join(p['trace'])} (a miss inserts the block, evicting a victim when "
               f"full; a hit counts as a use). How many accesses hit?",
               f"KV块缓存容量{p['capacity']}块，按{_POLICY[p['policy']][1]}淘汰。初始为空，依次访问 {' '.join(p['trace'])}"
               f"（未命中则插入，满时先淘汰；命中算一次使用）。命中多少次？"),
    lambda p: A.policy_hits(list(p["trace"]), p["capacity"], p["policy"]),
    lambda p: f"simulate {p['policy'].upper()} with capacity {p['capacity']} and count hits",
    weights={"rd": 1.2, "research": 1.2},
    deeper=("Which policy would you choose for multi-turn chat prefixes, and what would you add to it?",),
    shallower=("What does LRU keep that FIFO forgets?",),
))


# ------------------------------------------------------------------ q06 · §5 all-reduce

def _make_ar(rng, level):
    p = rng.choice([2, 4, 8, 16] if level == "experienced" else [2, 4, 8])
    return {"mib": rng.choice([4, 8, 16, 32, 64, 128, 256]), "p": p, "alpha_us": rng.choice([2, 3, 5, 8, 10]),
            "gbps": rng.choice([25, 50, 100, 200, 400]),
            "algorithm": rng.choice(["ring", "recursive_doubling"]) if level == "experienced" else "ring"}


def _ar(p):
    return A.allreduce_time(p["mib"] * (1 << 20), p["p"], p["alpha_us"] * 1e-6, 1 / (p["gbps"] * 1e9), p["algorithm"])


register(Kind(
    "allreduce_time", "q06", ("All-reduce time", "All-Reduce耗时"), "microseconds", False, _make_ar,
    lambda p: (f"{p['p']} GPUs all-reduce {p['mib']} MiB (2^20 bytes each) with the "
               f"{'ring' if p['algorithm'] == 'ring' else 'recursive-doubling'} algorithm. Each message costs "
               f"α = {p['alpha_us']} µs plus its bytes at {p['gbps']} GB/s (10^9 bytes/s). On the α-β model, how long does it take? "
               f"Answer in microseconds.",
               f"{p['p']}张GPU用{'环形' if p['algorithm'] == 'ring' else '递归倍增'}算法对{p['mib']} MiB（2^20字节）做All-Reduce。"
               f"每条消息开销α = {p['alpha_us']}微秒，带宽{p['gbps']} GB/s（10^9字节/秒）。按α-β模型需要多少微秒？"),
    lambda p: _ar(p) * 1e6,
    lambda p: ("ring: 2(p-1)α + 2(p-1)/p · n · β" if p["algorithm"] == "ring" else "log2(p) · (α + n · β)")
    + f" with p={p['p']}, n={p['mib']} MiB, β=1/({p['gbps']}e9)",
    weights={"arch": 1.5, "rd": 1.2},
    deeper=("When does recursive doubling beat the ring, and what does a two-level (intra/inter-node) scheme do?",),
    shallower=("Why does each rank send about twice the tensor in a ring all-reduce?",),
))


def _make_sent(rng, level):
    p = rng.choice([3, 4, 8, 16])  # not 2: with two ranks each sends exactly n, the number in the question
    return {"p": p, "n": p * rng.randrange(10_000, 2_000_000)}


register(Kind(
    "ring_bytes_sent", "q06", ("Bytes a rank sends in a ring all-reduce", "环形All-Reduce每个rank发送的字节"), "bytes",
    True, _make_sent,
    lambda p: (f"A ring all-reduce (reduce-scatter then all-gather) runs over {p['p']} ranks on a tensor of "
               f"{n(p['n'])} bytes, split into {p['p']} equal chunks. How many bytes does each rank send?",
               f"环形All-Reduce（先Reduce-Scatter再All-Gather）在{p['p']}个rank上处理{p['n']}字节的张量，均分成{p['p']}块。每个rank发送多少字节？"),
    lambda p: 2 * (p["p"] - 1) * p["n"] // p["p"],
    lambda p: "2 (p-1) steps x n/p bytes",
    weights={"research": 1.2, "eng": 1.2},
    deeper=("Why is this bandwidth-optimal whatever p is?",),
    shallower=("What happens in the reduce-scatter half?",),
))


# ------------------------------------------------------------------ q07 · §5 pipeline bubble

def _make_bubble(rng, level):
    return {"p": rng.randrange(2, 17), "m": rng.randrange(1, 65), "f": rng.choice([0.05, 0.1, 0.15, 0.2, 0.25])}


register(Kind(
    "pipeline_bubble", "q07", ("Pipeline bubble", "流水线气泡"), "fraction 0..1", False, _make_bubble,
    lambda p: (f"A model is split into {p['p']} pipeline stages and a batch into {p['m']} micro-batches (GPipe-style "
               f"schedule, equal stage times). What fraction of the time is each stage idle? Answer between 0 and 1.",
               f"模型切成{p['p']}个流水线阶段，一个batch切成{p['m']}个微批次（GPipe式调度，各阶段耗时相同）。每个阶段空闲时间占比是多少（0到1）？"),
    lambda p: A.pipeline_bubble_fraction(p["p"], p["m"]),
    lambda p: f"(p-1)/(m+p-1) = {p['p'] - 1}/{p['m'] + p['p'] - 1}",
    weights={"arch": 1.3},
    deeper=("What do interleaved (virtual) stages change, and what do they cost?",),
    shallower=("Where does the bubble come from at the start and the end?",),
))

register(Kind(
    "microbatches_for_bubble", "q07", ("Micro-batches for a bubble budget", "满足气泡上限的微批次数"), "micro-batches",
    True, _make_bubble,
    lambda p: (f"A model runs as {p['p']} pipeline stages (GPipe-style, equal stage times). What is the smallest number "
               f"of micro-batches that keeps the idle (bubble) fraction at or below {p['f']}?",
               f"模型分为{p['p']}个流水线阶段（GPipe式，各阶段耗时相同）。要让空闲（气泡）比例不超过{p['f']}，最少需要多少个微批次？"),
    lambda p: A.microbatches_for_bubble(p["p"], p["f"]),
    lambda p: f"(p-1)/(m+p-1) <= f  <=>  m >= (p-1)(1-f)/f; smallest integer",
    weights={"eng": 1.2, "arch": 1.2},
    deeper=("Why does inference serving rarely use pipeline parallelism inside one node?",),
    shallower=("What is a micro-batch?",),
))


# ------------------------------------------------------------------ q08 · §6 serving metrics

def _make_records(rng, level):
    records, t = [], 0.0
    for i in range(4):
        t = round(t + rng.uniform(0.0, 0.4), 3)
        first = round(t + rng.uniform(0.05, 0.9), 3)
        count = 1 if (level == "experienced" and i == 2) else rng.randrange(2, 7)
        times = [first]
        for _ in range(count - 1):
            times.append(round(times[-1] + rng.uniform(0.02, 0.09), 3))
        records.append({"arrival": t, "token_times": times})
    ask = rng.choice(["goodput"] if level == "experienced" else ["ttft", "tpot"])
    p = {"records": records, "ask": ask, "i": rng.randrange(0, 4) if ask != "goodput" else 0,
         "ttft_slo": rng.choice([0.3, 0.4, 0.5, 0.6]), "tpot_slo": rng.choice([0.05, 0.06, 0.07])}
    if ask == "goodput":
        met = sum(A.ttft(r) <= p["ttft_slo"] and (A.tpot(r) is None or A.tpot(r) <= p["tpot_slo"]) for r in records)
        if met in (0, len(records)):   # a question where the SLOs decide nothing teaches nothing: draw again
            return _make_records(rng, level)
    return p


def _records_text(p):
    return "; ".join(f"#{i}: arrival {r['arrival']} s, tokens at {r['token_times']} s" for i, r in enumerate(p["records"]))


def _serving_answer(p):
    r = p["records"][p["i"]]
    if p["ask"] == "ttft":
        return A.ttft(r) * 1e3
    if p["ask"] == "tpot":
        return A.tpot(r) * 1e3
    return A.goodput(p["records"], p["ttft_slo"], p["tpot_slo"])


def _make_records_tpot(rng, level):
    p = _make_records(rng, level)
    if p["ask"] == "tpot" and len(p["records"][p["i"]]["token_times"]) < 2:
        p["ask"] = "ttft"
    return p


def _serving_ask(p):
    if p["ask"] == "goodput":
        q = (f"with SLOs TTFT <= {p['ttft_slo']} s and TPOT <= {p['tpot_slo']} s (a one-token request meets the TPOT SLO), "
             f"what is the goodput in requests per second, over the span from the first arrival to the last token?")
        z = f"SLO为TTFT <= {p['ttft_slo']}秒、TPOT <= {p['tpot_slo']}秒（只有一个token的请求视为满足TPOT），从第一个到达到最后一个token的时间段内，goodput是每秒多少个请求？"
    elif p["ask"] == "ttft":
        q, z = f"what is the time to first token (TTFT) of request #{p['i']}, in milliseconds?", f"请求#{p['i']}的首token延迟（TTFT）是多少毫秒？"
    else:
        q = f"what is the time per output token (TPOT, after the first token) of request #{p['i']}, in milliseconds?"
        z = f"请求#{p['i']}的每输出token时间（TPOT，首token之后）是多少毫秒？"
    return f"Four requests were served: {_records_text(p)}. For these records, {q}", f"四个请求的记录：{_records_text(p)}。{z}"


register(Kind(
    "serving_metrics", "q08", ("TTFT, TPOT and goodput", "TTFT、TPOT与goodput"), "ms or requests/s", False,
    _make_records_tpot, _serving_ask, _serving_answer,
    lambda p: {"ttft": "token_times[0] - arrival", "tpot": "(last - first) / (n - 1)",
               "goodput": "requests meeting both SLOs / (last token - first arrival)"}[p["ask"]],
    weights={"arch": 1.2, "eng": 1.2},
    deeper=("Which of these would disaggregating prefill and decode improve, and which could it hurt?",),
    shallower=("What does a user feel as TTFT, and what as TPOT?",),
))


# ------------------------------------------------------------------ q09 · §7 speculative decoding

def _make_spec(rng, level):
    return {"alpha": rng.choice([0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]), "k": rng.randrange(2, 9),
            "c": rng.choice([0.05, 0.08, 0.1, 0.12, 0.15, 0.2])}


register(Kind(
    "expected_accepted_tokens", "q09", ("Tokens per target call", "每次目标模型调用产出的token"), "tokens", False,
    _make_spec,
    lambda p: (f"Speculative decoding drafts k = {p['k']} tokens; each is accepted independently with probability "
               f"α = {p['alpha']} until the first rejection, and the target always adds one token of its own. How many "
               f"tokens does one target forward pass produce on average?",
               f"推测解码每次草拟k = {p['k']}个token，每个以概率α = {p['alpha']}独立接受直到第一次拒绝，目标模型总会再补一个token。"
               f"一次目标模型前向平均产出多少个token？"),
    lambda p: A.expected_accepted_tokens(p["alpha"], p["k"]),
    lambda p: f"(1 - α^(k+1)) / (1 - α) with α={p['alpha']}, k={p['k']}",
    weights={"research": 1.5},
    deeper=("How would you choose k adaptively, and what does tree drafting add?",),
    shallower=("Why is the output distribution unchanged by speculation?",),
))

register(Kind(
    "speculative_speedup", "q09", ("Speed-up of speculative decoding", "推测解码的加速比"), "x", False, _make_spec,
    lambda p: (f"Speculative decoding drafts k = {p['k']} tokens with a draft model whose step costs {p['c']} of a "
               f"target step; each drafted token is accepted with probability α = {p['alpha']} until the first rejection, "
               f"and the target adds one token. Ignoring everything else, what is the speed-up in tokens per unit of "
               f"target time over plain decoding?",
               f"推测解码用草稿模型草拟k = {p['k']}个token，草稿一步耗时是目标一步的{p['c']}倍；每个token以概率α = {p['alpha']}接受直到第一次拒绝，"
               f"目标模型再补一个token。忽略其他开销，相比普通解码的加速比是多少？"),
    lambda p: A.speculative_speedup(p["alpha"], p["k"], p["c"]),
    lambda p: f"E = (1 - α^(k+1))/(1 - α); speed-up = E / (1 + k·c) with k={p['k']}, c={p['c']}",
    weights={"research": 1.5, "eng": 1.1},
    deeper=("Under a large batch, why does the speed-up shrink?",),
    shallower=("What does the draft model need to have in common with the target?",),
))


# ------------------------------------------------------------------ q10 · §8 capacity planning

def _make_cap(rng, level):
    while True:
        p = _shape(rng, level)
        p["gpu_gib"] = rng.choice([24, 40, 48, 80, 96, 141])
        p["params_b"] = rng.choice([1.5, 3, 7, 8, 13, 14, 32, 34])
        p["seq_len"] = rng.choice([2048, 4096, 8192, 16384, 32768])
        p["reserve"] = rng.choice([0.05, 0.1, 0.15, 0.2]) if level == "experienced" else 0.1
        if level == "experienced":
            p["group"] = True
        free = p["gpu_gib"] * GiB * (1 - p["reserve"]) - p["params_b"] * 1e9 * 2
        if free > 2 * _kv_per_token(p) * p["seq_len"]:
            return p


def _cap_text(p):
    return (f"A {p['params_b']}-billion-parameter model (fp16 weights, 2 bytes each, 1 billion = 10^9) with {_shape_text(p)} "
            f"is served on one GPU of {p['gpu_gib']} GiB (2^30 bytes), keeping {p['reserve']:.0%} of the memory in reserve.")


def _cap_zh(p):
    return (f"{p['params_b']}B参数的模型（fp16权重每个2字节，1B = 10^9），{_shape_zh(p)}，部署在一张{p['gpu_gib']} GiB（2^30字节）的GPU上，"
            f"预留{p['reserve']:.0%}显存。")


def _cap(p):
    return A.max_concurrent_sequences(p["gpu_gib"] * GiB, p["params_b"] * 1e9 * 2, _kv_per_token(p), p["seq_len"], p["reserve"])


register(Kind(
    "max_concurrent_sequences", "q10", ("Concurrent sequences under a memory limit", "显存限制下的并发序列数"),
    "sequences", True, _make_cap,
    lambda p: (_cap_text(p) + f" How many sequences of {p['seq_len']} tokens can hold their full KV cache at once?",
               _cap_zh(p) + f"最多能同时容纳多少条{p['seq_len']}个token的序列的完整KV Cache？"),
    _cap,
    lambda p: ("floor((gpu x (1 - reserve) - weights) / (kv bytes per token x seq_len)); kv per token = "
               f"2 x {p['layers']} x {p['kv_heads']} x {p['head_dim']} x {p['dtype_bytes']} = {_kv_per_token(p)}"),
    weights={"arch": 1.3, "eng": 1.3},
    deeper=("How do paging, prefix sharing and int8 KV each change this number?",),
    shallower=("Which two things share the GPU's memory here?",),
))

register(Kind(
    "max_kv_tokens", "q10", ("KV tokens left after the weights", "放下权重后剩余的KV token数"), "tokens", True,
    _make_cap,
    lambda p: (_cap_text(p) + " How many tokens of KV cache, summed over all sequences, fit in what is left after the weights?",
               _cap_zh(p) + "放下权重后，剩余显存最多能容纳多少个token的KV Cache（所有序列合计）？"),
    lambda p: max(0, math.floor((p["gpu_gib"] * GiB * (1 - p["reserve"]) - p["params_b"] * 1e9 * 2) / _kv_per_token(p))),
    lambda p: f"floor((gpu x (1 - reserve) - weights) / kv bytes per token); kv per token = {_kv_per_token(p)}",
    weights={"rd": 1.2, "research": 1.0},
    deeper=("Why does a scheduler admit by blocks rather than by sequences?",),
    shallower=("How big are the weights in bytes?",),
))
