"""Written questions, graded by hand in nbgrader's formgrader against a model answer and §9 bands.

One slot per §9 category (w1 knowledge, w2 systems, w3 practice, w4 frontier), 5
points each; the track weights which question fills a slot, the level adds the
experienced candidate's harder second half.
"""
from __future__ import annotations

from dataclasses import dataclass, field

WRITTEN_POINTS = 5.0
WRITTEN_SLOTS = {"w1": "knowledge", "w2": "systems", "w3": "practice", "w4": "frontier"}


@dataclass(frozen=True)
class Written:
    key: str
    slot: str
    section: int
    title: tuple[str, str]
    prompt: tuple[str, str]
    harder: tuple[str, str]          # added for experienced candidates
    model_answer: str
    key_points: tuple[str, ...]
    sounds: dict                     # band -> what such an answer sounds like
    deeper: tuple[str, ...] = ()
    shallower: tuple[str, ...] = ()
    weights: dict = field(default_factory=dict)

    @property
    def category(self) -> str:
        return WRITTEN_SLOTS[self.slot]


QUESTIONS: dict[str, Written] = {}


def register(q: Written) -> Written:
    if q.slot not in WRITTEN_SLOTS or q.key in QUESTIONS:
        raise ValueError(f"bad or duplicate written question {q.key!r} in slot {q.slot!r}")
    if set(q.sounds) != {"excellent", "good", "fair", "poor"}:
        raise ValueError(f"{q.key}: sounds must describe the four bands")
    QUESTIONS[q.key] = q
    return q


def questions_for(slot: str) -> list[Written]:
    return [q for q in QUESTIONS.values() if q.slot == slot]


# ------------------------------------------------------------------ w1 · knowledge

register(Written(
    "kv_cache_why", "w1", 1, ("Why a KV cache works", "KV Cache为什么能加速"),
    ("Why does a KV cache speed up autoregressive decoding? What does it cost, and how does that cost grow?",
     "KV Cache为什么能加速自回归解码？它的代价是什么，随什么增长？"),
    ("Then: at what point does the cache, not the weights, limit the batch, and what would you do about it?",
     "进一步：什么时候限制batch的是KV Cache而不是权重？你会怎么办？"),
    "Each new token's attention needs the keys and values of every earlier position. Without a cache they are "
    "recomputed for the whole prefix at every step (quadratic total work); with it, a decode step computes K and V "
    "only for the new token and reads the cached ones, so per-step compute is linear in context and the prompt is "
    "processed once (prefill). The cost is memory: 2·L·H_kv·D·bytes per token, growing linearly with sequence "
    "length and batch; decoding becomes bound by reading that cache and the weights (memory-bound). Remedies: GQA/MQA, "
    "paging to avoid reservation waste, quantised KV, offloading cold blocks, prefix sharing.",
    ("reuse of K/V of earlier positions; only the new token's K/V computed", "prefill once, decode one token per step",
     "memory 2·L·H_kv·D·bytes per token, linear in length and batch", "decode becomes memory-bandwidth bound",
     "mitigations: GQA, paging, quantisation, offload, prefix sharing"),
    {"excellent": "explains reuse, gives the per-token formula unprompted, connects it to memory-bound decode and batch limits",
     "good": "explains reuse and that memory grows with length and batch; formula with a hint",
     "fair": "'it caches things so we don't recompute' without saying what or at what cost",
     "poor": "confuses the KV cache with a response cache or with the weights"},
    deeper=("How does prefix caching extend this across requests?", "Why is the query not cached?"),
    shallower=("What is recomputed at every step without a cache?",),
    weights={"rd": 1.2, "eng": 1.2},
))

register(Written(
    "flash_io", "w1", 2, ("How FlashAttention saves memory traffic", "FlashAttention如何减少访存"),
    ("How does FlashAttention avoid reading and writing the N x N attention matrix? Explain online softmax and why "
     "the result is exact.", "FlashAttention如何避免读写N x N注意力矩阵？解释在线softmax，以及为什么结果是精确的。"),
    ("Then: what did FlashAttention-2 change about the parallelisation, and why does that matter for decoding?",
     "进一步：FlashAttention-2在并行方式上改了什么？这对解码为什么重要？"),
    "It tiles Q, K and V so that a block of queries and a block of keys fit in on-chip SRAM, computes the scores for "
    "that tile, and never writes them to HBM. Softmax needs the row's max and sum over all keys, so it keeps a running "
    "max m and running sum l per row: for each new key block it computes the block's max, rescales the previous sum "
    "and partial output by exp(m_old - m_new), and adds the block's contribution; at the end it divides by l. The "
    "algebra is exact (the same as a two-pass softmax), only the order of floating-point operations changes. HBM "
    "traffic drops from O(N²) to O(N²·D/M) with SRAM size M, memory from O(N²) to O(N); lse is kept for the backward.",
    ("tiling into SRAM; scores never written to HBM", "running max and sum with rescaling by exp(m_old - m_new)",
     "exact, not an approximation", "IO complexity argument; O(N) extra memory", "lse stored for backward / merging"),
    {"excellent": "derives the rescaling step, states exactness and the IO argument, mentions lse and block-size trade-offs",
     "good": "tiling plus running max/sum, exact; IO argument with prompting",
     "fair": "'it fuses the kernel and uses shared memory' without the softmax trick",
     "poor": "calls it an approximation or sparse attention"},
    deeper=("How do you merge partial results computed on different GPUs (split-KV)?",),
    shallower=("Why is standard attention's softmax the obstacle to tiling?",),
    weights={"research": 1.3, "eng": 1.3},
))

register(Written(
    "paged_vm", "w1", 3, ("PagedAttention and virtual memory", "PagedAttention与虚拟内存"),
    ("How does PagedAttention borrow from an operating system's virtual memory, and what problem does it solve?",
     "PagedAttention如何借鉴操作系统的虚拟内存？它解决了什么问题？"),
    ("Then: how are shared prefixes and parallel sampling handled, and what does the attention kernel pay for paging?",
     "进一步：共享前缀和并行采样如何处理？注意力kernel为分页付出了什么代价？"),
    "The KV cache is cut into fixed-size blocks (pages); each sequence has a block table (page table) mapping its "
    "logical blocks to physical blocks allocated on demand from a free list. This removes the waste of reserving "
    "max_seq_len contiguous slots per sequence (internal fragmentation only in the last block, no external "
    "fragmentation), so far more sequences fit and batch sizes grow. Blocks carry reference counts so sequences can "
    "share prefix blocks; the first write to a shared block copies it (copy-on-write). The kernel gathers K/V through "
    "the table: one indirection per block, non-contiguous reads, block size a trade-off between waste and efficiency.",
    ("blocks = pages, block table = page table, on-demand allocation", "removes reservation waste and fragmentation",
     "higher batch / throughput", "reference counts, sharing, copy-on-write", "kernel indirection cost; block size trade-off"),
    {"excellent": "maps every OS concept, quantifies the waste, explains COW and the kernel's cost",
     "good": "blocks and tables, less waste, sharing with prompting",
     "fair": "'it pages memory' with no table or waste argument",
     "poor": "confuses it with swapping to disk or with attention sparsity"},
    deeper=("What would you change for a 1M-token context?",),
    shallower=("What is wasted when every sequence reserves max_seq_len slots?",),
    weights={"rd": 1.3, "arch": 1.3},
))

# ------------------------------------------------------------------ w2 · systems

register(Written(
    "tiered_design", "w2", 4, ("Designing a multi-tier KV cache", "设计多级KV Cache"),
    ("Design a KV cache that spans GPU HBM, CPU memory and local NVMe for a multi-turn chat service. What moves "
     "where, when, and how do you keep it correct?",
     "为多轮对话服务设计一个跨GPU HBM、CPU内存和本地NVMe的KV Cache。什么数据在什么时候移动到哪里？如何保证正确性？"),
    ("Then: size the tiers for a given load and say how you would measure whether the design pays off.",
     "进一步：针对给定负载确定各级容量，并说明如何衡量这个设计是否值得。"),
    "Blocks keyed by a hash of their whole token prefix, so a returning conversation finds its prefix. Hot blocks in "
    "HBM; on pressure, victims chosen by a policy (LRU or LFU with recency ties, maybe weighted by reuse distance) "
    "are demoted to CPU memory, and from there to NVMe; hits in a lower tier are promoted, ideally prefetched while "
    "the request waits in the queue, overlapping copies with compute on separate streams. Correctness: content-"
    "addressed keys (no stale blocks), atomic writes with checksums on disk, a corrupt block is a miss, eviction never "
    "touches blocks in use (reference counts). Trade-off: a reload costs bandwidth (PCIe ~25-50 GB/s, NVMe a few GB/s) "
    "versus recomputing the prefill; reload pays when the prefix is long.",
    ("prefix-hash keys", "policy and demotion chain; promotion on hit", "prefetch/overlap with compute",
     "correctness: checksums, atomic writes, pinned blocks", "reload vs recompute break-even by bandwidth"),
    {"excellent": "complete data path with keys, policy, overlap, correctness and a break-even estimate",
     "good": "tiers and policy with promotion/demotion; correctness or cost only partly",
     "fair": "lists the tiers and 'use LRU' without the data path",
     "poor": "no notion of why or when data moves"},
    deeper=("What changes when several GPUs share the CPU tier?",),
    shallower=("Why not keep everything in CPU memory?",),
    weights={"rd": 1.3, "eng": 1.2},
))

register(Written(
    "tp_vs_pp", "w2", 5, ("Tensor vs pipeline parallelism for inference", "推理中的张量并行与流水线并行"),
    ("When would you serve a model with tensor parallelism, when with pipeline parallelism, and what does each "
     "cost in communication and latency?",
     "什么时候用张量并行部署模型，什么时候用流水线并行？各自的通信和延迟代价是什么？"),
    ("Then: plan a 70B model on two nodes of 8 GPUs and justify the split.", "进一步：为两台8卡机器上的70B模型规划切分并说明理由。"),
    "Tensor parallelism splits each layer's matrices (columns of the first MLP matrix, rows of the second, heads in "
    "attention) so every GPU does a slice of every layer; it needs two all-reduces per layer on the critical path, so "
    "it wants fast links (NVLink inside a node) and cuts per-token latency. Pipeline parallelism places consecutive "
    "layers on different GPUs and passes activations point-to-point; little communication, but one request's token "
    "still walks every stage, so latency does not drop, and keeping stages busy needs many micro-batches (bubble "
    "(p-1)/(m+p-1)). Typical: TP within a node, PP (or more replicas) across nodes.",
    ("TP: sharded matmuls, all-reduce per layer, needs NVLink, lowers latency", "PP: layers split, p2p activations, bubble",
     "TP within node, PP across nodes", "memory: both split weights; KV split by heads under TP"),
    {"excellent": "explains both with their communication, bubble formula, and a justified hybrid plan",
     "good": "correct distinction and the within/across-node rule",
     "fair": "knows both names, cannot say what is communicated",
     "poor": "confuses model parallelism with data parallelism"},
    deeper=("How does expert parallelism change the picture for MoE models?",),
    shallower=("What is communicated at the end of a tensor-parallel MLP?",),
    weights={"arch": 2.5, "rd": 1.1, "research": 0.7},
))

register(Written(
    "pd_disagg", "w2", 6, ("Prefill/decode disaggregation", "PD分离"),
    ("Why separate prefill and decode onto different workers? How does the KV cache get from one to the other, and "
     "when is it not worth it?",
     "为什么要把Prefill和Decode分到不同的worker上？KV Cache如何从一端传到另一端？什么时候不值得这样做？"),
    ("Then: how would you choose the ratio of prefill to decode workers, and what would you monitor?",
     "进一步：如何确定Prefill与Decode worker的比例？你会监控哪些指标？"),
    "Prefill is compute-bound (many tokens at once), decode memory-bound (one token per sequence per step). Mixed on "
    "one GPU, a long prefill stalls every running decode (TPOT spikes) and each phase runs on hardware sized for the "
    "other. Separated, each pool is sized and batched for its phase and TTFT/TPOT SLOs are tuned independently. After "
    "prefill, the KV blocks move to a decode worker over NVLink/RDMA (layer by layer to overlap with compute), costing "
    "2·L·H_kv·D·bytes per prompt token of bandwidth. Not worth it for short prompts, small models, or slow links, where "
    "chunked prefill on one pool is simpler. Ratio from measured prefill and decode throughput against the traffic mix.",
    ("compute-bound prefill vs memory-bound decode", "interference: prefill stalls decode (TPOT)",
     "KV transfer cost and overlap", "when not: short prompts, slow links; chunked prefill alternative",
     "ratio from throughput per phase; goodput under SLOs"),
    {"excellent": "phase characteristics, interference, KV transfer cost estimate, alternatives and sizing by goodput",
     "good": "phase difference and KV transfer; sizing only vaguely",
     "fair": "'they are different workloads' without consequences",
     "poor": "cannot say what is transferred or why"},
    deeper=("What happens to a request when its decode worker dies mid-generation?",),
    shallower=("Which phase is compute-bound, and why?",),
    weights={"arch": 2.5, "eng": 1.1, "research": 0.7},
))

# ------------------------------------------------------------------ w3 · practice

register(Written(
    "latency_spike", "w3", 8, ("Latency suddenly rose", "推理延迟突然升高"),
    ("TTFT of your service jumped from 200 ms to 2 s this afternoon while TPOT stayed flat. How do you find the cause?",
     "下午服务的TTFT从200毫秒涨到2秒，而TPOT基本没变。你如何排查原因？"),
    ("Then: what would you change so that the same incident pages someone before users notice?",
     "进一步：你会做哪些改动，让同样的问题在用户察觉前就告警？"),
    "TTFT = queueing + prefill, TPOT flat says decoding is healthy, so look at the front of the pipeline. Check request "
    "rate and prompt-length distribution (a client sending long prompts; a prefix-cache hit rate drop after a deploy "
    "or a change in system prompt), queue length and admission (KV cache full, so requests wait; preemptions), "
    "scheduler config (chunked prefill budget, max batched tokens), and hardware (a GPU throttling, a node out of the "
    "pool). Compare per-replica metrics, bisect by time against deploys and traffic. Fix by cause: scale out, restore "
    "cache hits, cap prompt length, tune the prefill budget.",
    ("decompose TTFT into queue + prefill", "TPOT flat rules out decode/memory bandwidth",
     "look at traffic, prompt lengths, prefix-cache hit rate, queue/KV utilisation", "correlate with deploys; per-replica",
     "fix by cause; alerting on SLO burn"),
    {"excellent": "decomposes the metric, reasons from TPOT being flat, names the metrics to pull, in order",
     "good": "sensible checklist, partly ordered by the evidence",
     "fair": "generic 'check the logs and GPU utilisation'",
     "poor": "jumps to a fix (buy GPUs) without diagnosis"},
    deeper=("How would you tell queueing from slow prefill with only request logs?",),
    shallower=("What two parts make up TTFT?",),
    weights={"eng": 1.5, "rd": 1.1},
))

register(Written(
    "limited_memory", "w3", 8, ("Serving on too little GPU memory", "显存不足时的部署"),
    ("You must serve a model whose fp16 weights barely fit your GPUs. What options do you have, and what does each cost?",
     "模型的fp16权重勉强放得进你的GPU。你有哪些部署方案？各自的代价是什么？"),
    ("Then: pick one for a latency-sensitive chatbot with long conversations and justify it with numbers.",
     "进一步：为长对话、延迟敏感的聊天机器人选一个方案，并用数字说明理由。"),
    "Memory = weights + KV cache + activations/workspace. Options: quantise weights (int8/int4, AWQ/GPTQ: half or a "
    "quarter of the bytes, some quality risk, faster decode since it is memory-bound); quantise the KV cache (int8/fp8); "
    "GQA models; paging and prefix sharing to waste less KV; tensor parallelism over more GPUs (communication cost); "
    "offloading cold KV or layers to CPU (bandwidth cost, latency); limiting max sequences/context; smaller or distilled "
    "model. Choose by SLO: for latency, quantised weights plus paged KV and TP before offload.",
    ("memory budget: weights + KV + workspace", "weight quantisation and its quality/speed effects",
     "KV savings: paging, GQA, KV quantisation, prefix sharing", "TP vs offload trade-offs", "choice tied to the SLO"),
    {"excellent": "budget arithmetic first, several options with costs, a justified choice",
     "good": "several valid options with some costs",
     "fair": "one option ('quantise it') without costs",
     "poor": "no grasp that the KV cache competes with the weights"},
    deeper=("How would you verify quantisation did not hurt quality?",),
    shallower=("Besides the weights, what else lives in GPU memory while serving?",),
    weights={"eng": 1.3, "rd": 1.2, "arch": 1.1},
))

register(Written(
    "ecommerce_service", "w3", 8, ("An inference service for an e-commerce platform", "为电商平台设计推理服务"),
    ("Design the LLM inference service for an e-commerce platform (product Q&A, search rewrite, customer service). "
     "What would you build first, and how would you know it works?",
     "为电商平台（商品问答、搜索改写、客服）设计大模型推理服务。你会先建什么？如何确认它有效？"),
    ("Then: handle a 10x traffic spike on a shopping festival without blowing the budget.",
     "进一步：购物节流量涨10倍时，如何在预算内扛住？"),
    "Start from the workloads: search rewrite is short and latency-critical (tight TTFT), customer service is multi-turn "
    "with long shared system prompts (prefix caching pays), product Q&A is retrieval-augmented. An OpenAI-compatible "
    "gateway routes by workload to pools with continuous batching and paged KV; prefix-cache-aware routing; SLOs per "
    "route (TTFT, TPOT) and goodput as the capacity metric; autoscaling on queue length; fallbacks to a smaller model "
    "under overload; load tests replaying real traces before launch; dashboards for cache hit rate, queue, KV usage.",
    ("workload characterisation per use case", "routing to pools; continuous batching; paged KV; prefix caching",
     "SLOs and goodput as the measure", "overload: autoscaling, admission control, degradation", "load tests from traces"),
    {"excellent": "starts from workloads and SLOs, designs for them, plans measurement and overload",
     "good": "a reasonable architecture with some SLO thinking",
     "fair": "a box diagram without workload reasoning",
     "poor": "only names products ('use vLLM') without a design"},
    deeper=("How do you share GPUs between the three workloads fairly?",),
    shallower=("Which of the three workloads is most latency-sensitive?",),
    weights={"arch": 2.5, "rd": 1.1, "research": 0.6},
))

# ------------------------------------------------------------------ w4 · frontier

register(Written(
    "speculative", "w4", 7, ("Speculative decoding", "推测解码"),
    ("Explain speculative decoding: why it is faster, why its output distribution is the target model's, and when it "
     "does not help.",
     "解释推测解码：为什么更快，为什么输出分布与目标模型一致，什么时候没有帮助。"),
    ("Then: compare draft models, self-drafting (Medusa/EAGLE-style heads) and tree verification.",
     "进一步：比较独立草稿模型、自草拟（Medusa/EAGLE类头）和树形验证。"),
    "Decoding is memory-bound: one target forward pass over k+1 positions costs about as much as over one. A cheap "
    "draft proposes k tokens; the target scores them all in one pass; each is accepted with probability "
    "min(1, p(x)/q(x)), and at the first rejection a token is sampled from normalize(max(0, p - q)), which makes the "
    "output exactly target-distributed. Expected tokens per target pass (1-α^(k+1))/(1-α). It helps when α is high and "
    "the draft is cheap; it helps little at large batch (the target is no longer memory-bound) or when α is low.",
    ("memory-bound verification of k tokens in one pass", "accept min(1, p/q); resample from max(0, p-q)",
     "exactly the target distribution", "expected tokens formula", "limits: large batch, low acceptance, draft cost"),
    {"excellent": "explains the acceptance rule and why it is exact, gives the expected-tokens formula and the limits",
     "good": "draft-then-verify and speed-up reasoning; exactness hand-waved",
     "fair": "'a small model guesses and the big one checks'",
     "poor": "thinks it approximates the big model's output"},
    deeper=("How does speculative decoding interact with continuous batching?",),
    shallower=("Why can the target check several tokens at the cost of one?",),
    weights={"research": 2.5, "arch": 0.8},
))

register(Written(
    "continuous_batching", "w4", 7, ("Continuous batching", "连续批处理"),
    ("What is continuous (in-flight) batching, why did it raise serving throughput so much, and what does the "
     "scheduler have to get right?",
     "什么是连续批处理？它为什么大幅提高了吞吐？调度器需要处理好哪些问题？"),
    ("Then: how do chunked prefill and preemption fit in, and what invariants would you test?",
     "进一步：分块prefill和抢占如何融入？你会测试哪些不变量？"),
    "Static batching waits for the whole batch to finish, so short requests idle behind long ones and new requests "
    "wait. Continuous batching schedules at every decode step: finished sequences leave, waiting ones join (their "
    "prefill mixed in, possibly chunked to a token budget), so the GPU stays full. It needs paged KV (memory grows "
    "per step), admission by free blocks, a token budget per step, preemption (recompute or swap) when blocks run out, "
    "fairness (FCFS), and it raises throughput several-fold at similar latency.",
    ("iteration-level scheduling", "join/leave every step; no padding to the longest", "paged KV and admission by blocks",
     "token budget, chunked prefill", "preemption by recompute or swap; invariants"),
    {"excellent": "iteration-level scheduling, its memory dependencies, preemption and invariants",
     "good": "join/leave per step and why it helps",
     "fair": "'batches change over time' without why",
     "poor": "confuses it with larger static batches"},
    deeper=("What goes wrong if admission ignores the blocks needed for future decode steps?",),
    shallower=("What does a short request wait for under static batching?",),
    weights={"rd": 1.2, "arch": 1.2, "eng": 1.2},
))

register(Written(
    "future_directions", "w4", 7, ("Where inference is going", "推理优化的发展方向"),
    ("Which two directions in LLM inference do you expect to matter most in the next two years, and why?",
     "你认为未来两年大模型推理最重要的两个方向是什么？为什么？"),
    ("Then: how would you design a serving system today so it can absorb them?",
     "进一步：今天如何设计推理系统，才能方便地吸收这些变化？"),
    "Good answers pick directions and argue from the bottlenecks: long context (KV memory and attention cost: "
    "sparse/linear attention, KV compression like H2O, hierarchical caches), decode efficiency (speculative and "
    "multi-token prediction, low-bit weights and KV, FP8/FP4 hardware), disaggregation and KV-centric architectures "
    "(prefill/decode pools, distributed KV stores), MoE serving (expert parallelism, load balance), and hardware-"
    "software co-design. A design that absorbs them keeps attention, cache and scheduler behind clean interfaces, "
    "measures goodput, and treats KV as a first-class distributed resource.",
    ("argues from bottlenecks (memory, bandwidth, compute)", "concrete techniques with their trade-offs",
     "long context / KV compression", "decode speed-ups; low precision; MoE", "architecture that can evolve"),
    {"excellent": "picks directions, argues from bottlenecks with numbers, knows concrete recent work and its limits",
     "good": "reasonable directions with some justification",
     "fair": "buzzwords with little reasoning",
     "poor": "cannot name a recent technique"},
    deeper=("Which of your two would you bet a team on, and how would you measure success?",),
    shallower=("Name one recent technique that made decoding faster.",),
    weights={"research": 2.5, "arch": 0.6},
))
