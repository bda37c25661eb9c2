# %% [markdown]
# # lab07 · Continuous batching and speculative decoding · 连续批处理与推测解码
#
# Two pieces of a serving engine that decide *what* the model runs, not how fast a kernel is:
# a speculative sampler whose output is distributed exactly as the target model's, and a
# continuous-batching scheduler that obeys exact rules. Both are graded by statistics and by
# counts, never by a clock.
#
# | task | graded names | what | category |
# | --- | --- | --- | --- |
# | 1 | `speculative_accept` | the acceptance rule · 接受/拒绝采样 | knowledge |
# | 2 | `expected_accepted_tokens` | tokens per target call · 期望接受长度 | knowledge |
# | 3 | `speculative_generate` | draft and target with KV caches, rollback · 推测解码生成 | practice, systems |
# | 4 | `Scheduler` | continuous batching: budgets, chunked prefill, preemption · 连续批处理调度器 | systems |
# | 5 | `adaptive_speculative_generate` | choose k every round, beat every fixed k · 自适应 k | frontier |
#
# Lecture: `course/07_batching_and_speculation.ipynb`. Letters: P prompt length, V vocabulary,
# k draft tokens per round, α acceptance rate.
#
# Each task: a short why, the function to write (replace `raise NotImplementedError()`), then a
# test cell. `inferlab grade lab07 lab07.ipynb` runs every check, hidden ones included. Bad input
# raises `ValueError` (or `TypeError` for a wrong type) whose message names the argument, and a
# refused call changes nothing.

# %%
import math

import torch

import inferlab  # noqa: F401  first: sets TRITON_INTERPRET=1 without a GPU
from inferlab import models

torch.manual_seed(0)
torch.set_num_threads(1)  # the course models are tiny: one thread is fastest

# %% [markdown]
# ## Task 1 · speculative_accept · 接受/拒绝采样 (lab07 · task 1)
#
# Why: a draft model proposed `k` tokens `x_0..x_{k-1}`, token `i` drawn from `q_i`
# (`draft_probs[i]`). One target pass gave `p_0..p_k` (`target_probs`, one row more: the
# distribution after all k drafts). Keep a prefix so that the tokens come out distributed
# **exactly** as if the target had sampled them one by one:
#
# 1. for `i = 0, 1, …`: accept `x_i` with probability `min(1, p_i(x_i) / q_i(x_i))`;
# 2. at the first rejection, draw one token from the residual `normalize(max(0, p_i − q_i))`
#    and stop;
# 3. if all `k` are accepted, draw one bonus token from `p_k`.
#
# Proof sketch (course §5): `P(x) = min(p, q)(x) + max(0, p − q)(x) = p(x)`.
#
# Write `speculative_accept(target_probs, draft_probs, draft_tokens, generator=None) -> list[int]`:
# target `(k+1, V)`, draft `(k, V)`, tokens `(k,)` (an int tensor or a list); returns 1..k+1
# tokens. Draw every random number from `generator` (a `torch.Generator`; `None` = torch's
# global one): the same seed gives the same tokens. Work in float64. `ValueError` naming the
# argument for wrong shapes, tokens outside `[0, V)`, or rows that are not probabilities
# (negative entries, or sums off 1 by more than 1e-4).

# %% [solution id=lab07_speculative_accept]
def _check_probs(name, probs, rows):
    """A float tensor (rows, V) of probabilities, or a ValueError/TypeError naming `name`."""
    if not isinstance(probs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(probs).__name__}")
    if probs.dim() != 2 or probs.shape[0] != rows or probs.shape[1] < 1:
        raise ValueError(f"{name} must have shape ({rows}, V), got {tuple(probs.shape)}")
    if not probs.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {probs.dtype}")
    p = probs.detach().to("cpu", torch.float64)
    if p.numel() and (not torch.isfinite(p).all() or (p < 0).any() or ((p.sum(-1) - 1).abs() > 1e-4).any()):
        raise ValueError(f"{name}: every row must be a probability distribution (entries >= 0, sum 1)")
    return p


def _check_accept_args(target_probs, draft_probs, draft_tokens):
    """(p (k+1, V) float64, q (k, V) float64, tokens list) or a ValueError/TypeError naming the argument."""
    ### BEGIN SOLUTION
    if isinstance(draft_tokens, torch.Tensor):
        if draft_tokens.dim() != 1 or draft_tokens.is_floating_point():
            raise ValueError(f"draft_tokens must be a 1-D integer tensor (k,), got {tuple(draft_tokens.shape)} "
                             f"{draft_tokens.dtype}")
        tokens = [int(t) for t in draft_tokens.tolist()]
    elif isinstance(draft_tokens, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool)
                                                         for t in draft_tokens):
        tokens = list(draft_tokens)
    else:
        raise TypeError(f"draft_tokens must be a 1-D integer tensor or a list of ints, got {type(draft_tokens).__name__}")
    if not isinstance(draft_probs, torch.Tensor) or draft_probs.dim() != 2:
        raise ValueError(f"draft_probs must be a tensor of shape (k, V), got {getattr(draft_probs, 'shape', draft_probs)!r}")
    k = draft_probs.shape[0]
    if len(tokens) != k:
        raise ValueError(f"draft_tokens holds {len(tokens)} tokens but draft_probs has k={k} rows: one token per row")
    q = _check_probs("draft_probs", draft_probs, k)  # (k, V) float64
    p = _check_probs("target_probs", target_probs, k + 1)  # (k+1, V) float64
    V = p.shape[1]
    if q.shape[1] != V:
        raise ValueError(f"draft_probs has V={q.shape[1]}, target_probs V={V}: one vocabulary")
    if any(not 0 <= t < V for t in tokens):
        raise ValueError(f"draft_tokens must be in [0, {V}), got {tokens}")
    return p, q, tokens
    ### END SOLUTION


def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    """Accept a prefix of the draft tokens and add one token: 1..k+1 tokens distributed as the target's."""
    ### BEGIN SOLUTION
    p, q, tokens = _check_accept_args(target_probs, draft_probs, draft_tokens)
    k = len(tokens)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    # nothing below can fail
    out = []
    for i, x in enumerate(tokens):
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if q[i, x] <= p[i, x] or u * q[i, x] < p[i, x]:  # u < min(1, p/q), without dividing by 0
            out.append(x)
            continue
        residual = (p[i] - q[i]).clamp(min=0)  # (V,) zero at x, positive somewhere (p(x) < q(x))
        out.append(int(torch.multinomial(residual / residual.sum(), 1, generator=generator)))
        return out
    out.append(int(torch.multinomial(p[k], 1, generator=generator)))  # every draft accepted: the bonus token
    return out
    ### END SOLUTION


# %%
_p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)
_q = torch.tensor([[0.2, 0.6, 0.2]], dtype=torch.float64)
print(speculative_accept(_p, _q, torch.tensor([1]), generator=torch.Generator().manual_seed(0)))

# %% [test id=lab07_task1]
from inferlab.grading import check_here
check_here("lab07", "task1", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task1", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 · expected_accepted_tokens · 期望接受长度 (lab07 · task 2)
#
# Why: with acceptance rate `α` per position (independent positions), a round yields the
# accepted drafts plus one token: `1 + α + … + α^k = (1 − α^(k+1)) / (1 − α)` tokens per target
# call on average, `k + 1` at `α = 1`. With the draft/target cost ratio `c` the speed-up is
# that number divided by `1 + c·k` — the formula that picks k.
#
# Write `expected_accepted_tokens(alpha, k) -> float`; `alpha` a number in `[0, 1]`, `k` an int
# `>= 0`; `ValueError`/`TypeError` naming the argument otherwise.

# %% [solution id=lab07_expected_accepted_tokens]
def expected_accepted_tokens(alpha, k):
    """Mean tokens per target call with acceptance rate alpha and k drafts: (1 - alpha^(k+1)) / (1 - alpha)."""
    ### BEGIN SOLUTION
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if alpha == 1:
        return float(k + 1)
    return (1.0 - alpha ** (k + 1)) / (1.0 - alpha)
    ### END SOLUTION


# %%
for a in (0.6, 0.8, 0.9):
    print(a, [round(expected_accepted_tokens(a, k), 2) for k in range(1, 9)])

# %% [test id=lab07_task2]
from inferlab.grading import check_here
check_here("lab07", "task2", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task2", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 · speculative_generate · 推测解码生成 (lab07 · task 3)
#
# Why: the two models each keep a KV cache (lab01's loop, twice). A **round**:
#
# 1. the draft proposes `k_r = min(k, tokens still owed − 1)` tokens: its first pass runs the
#    committed tokens it has not seen yet (the whole prompt in round 1), each later pass runs the
#    draft token just proposed — `k_r` passes; the last proposal is never run through the draft;
# 2. the target runs *one* pass over its unseen committed tokens plus the `k_r` proposals and
#    gives `k_r + 1` distributions;
# 3. `speculative_accept` keeps `n` proposals and adds one token: `n + 1` tokens committed;
# 4. **rollback**: both caches drop every position after the accepted ones (the target keeps
#    `n` of its `k_r` proposals, the draft `min(n, k_r − 1)`); nothing is ever recomputed: the
#    added token is run by each model in its next pass. A round with `k_r = 0` (one token owed)
#    is a plain target step.
#
# Probabilities: `softmax(logits / temperature)` in float64 for both models; at temperature 0
# the one-hot of the argmax (lowest index on ties), so the rule accepts while the draft's argmax
# equals the target's and the tokens equal the target's greedy generation.
#
# The grader **counts**, through a wrapper on each model's first layer: target passes (=
# rounds), and positions — the target runs `P + Σ k_r + (rounds − 1)`, the draft its unseen
# tokens plus `k_r − 1` per round with `k_r ≥ 1` — against the exact figure for the accepted
# lengths you report.
#
# Write `speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0,
# seed=None) -> (tokens, stats)`: exactly `max_new_tokens` new tokens; `stats` a dict with
# `target_calls` (target passes), `draft_calls` (draft passes), `accepted` (per round: the
# proposals accepted, `n`) and `proposed` (per round: `k_r`). `seed` seeds one
# `torch.Generator` for every draw (draft samples and acceptance). `ValueError` naming the
# argument for an empty or out-of-vocabulary prompt, `max_new_tokens < 0`, `k < 1`, a negative
# temperature, or a prompt plus new tokens longer than `max_seq_len`.

# %% [solution id=lab07_speculative_generate]
class KVModel:
    """A course model with its own KV cache: `run(ids)` extends it, `truncate(n)` rolls it back."""

    def __init__(self, model):
        ### BEGIN SOLUTION
        self.model = model
        self.k = [None] * model.config.num_layers  # per layer (1, H_kv, length, D)
        self.v = [None] * model.config.num_layers
        self.length = 0  # positions in the cache
        ### END SOLUTION

    @torch.no_grad()
    def run(self, ids):
        """Run token ids at positions length.. length+T-1; logits (T, V) float32."""
        ### BEGIN SOLUTION
        device = next(self.model.parameters()).device
        T = len(ids)
        positions = torch.arange(self.length, self.length + T, device=device)  # (T,)
        x = self.model.embed(torch.tensor([ids], dtype=torch.long, device=device))  # (1, T, C)
        i = torch.arange(T, device=device)[:, None]
        j = torch.arange(self.length + T, device=device)[None, :]
        mask = j <= i + self.length  # (T, length + T): the queries are the last T positions
        for li, layer in enumerate(self.model.layers):
            q, k, v = layer.qkv(x, positions)  # (1, H, T, D), (1, H_kv, T, D) x2
            if self.k[li] is not None:
                k = torch.cat([self.k[li], k], dim=2)  # (1, H_kv, length + T, D)
                v = torch.cat([self.v[li], v], dim=2)
            self.k[li], self.v[li] = k, v
            g = q.shape[1] // k.shape[1]
            attn = torch.nn.functional.scaled_dot_product_attention(
                q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), attn_mask=mask)  # (1, H, T, D)
            x = layer.finish(x, attn)  # (1, T, C)
        self.length += T
        return self.model.logits(x)[0]  # (T, V)
        ### END SOLUTION

    def truncate(self, n):
        """Keep the first n positions (rollback of rejected proposals)."""
        ### BEGIN SOLUTION
        self.k = [None if t is None else t[:, :, :n] for t in self.k]
        self.v = [None if t is None else t[:, :, :n] for t in self.v]
        self.length = min(self.length, n)
        ### END SOLUTION


def _probs(logits, temperature):
    """(..., V) logits -> float64 probabilities: softmax(logits / T), one-hot argmax at T = 0."""
    ### BEGIN SOLUTION
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float64)
    return torch.softmax(logits.double() / temperature, dim=-1)
    ### END SOLUTION


def _check_generate_args(model, prompt_ids, max_new_tokens, temperature, seed):
    """The prompt as a list of ints, or a ValueError/TypeError naming the argument."""
    cfg = model.config
    if isinstance(prompt_ids, torch.Tensor):
        if prompt_ids.dim() != 1 or prompt_ids.is_floating_point():
            raise ValueError(f"prompt_ids must be a 1-D integer tensor or a list of ints, got {tuple(prompt_ids.shape)}")
        prompt = [int(t) for t in prompt_ids.tolist()]
    elif isinstance(prompt_ids, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt_ids):
        prompt = list(prompt_ids)
    else:
        raise TypeError(f"prompt_ids must be a list of ints or a 1-D LongTensor, got {type(prompt_ids).__name__}")
    if not prompt:
        raise ValueError("prompt_ids must hold at least one token")
    if min(prompt) < 0 or max(prompt) >= cfg.vocab_size:
        raise ValueError(f"prompt_ids must be in [0, {cfg.vocab_size}), got [{min(prompt)}, {max(prompt)}]")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if len(prompt) + max_new_tokens > cfg.max_seq_len:
        raise ValueError(f"prompt_ids ({len(prompt)}) + max_new_tokens ({max_new_tokens}) exceeds max_seq_len={cfg.max_seq_len}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return prompt


def _speculate(target, draft, prompt, max_new_tokens, temperature, seed, propose):
    """Speculative rounds; `propose(j, logits, stats)` says whether to draft proposal j (j >= 1) after
    seeing the draft's logits (V,) of proposal j - 1. Returns (tokens, stats)."""
    ### BEGIN SOLUTION
    generator = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    tcache, dcache = KVModel(target), KVModel(draft)
    seq, new = list(prompt), []
    stats = {"target_calls": 0, "draft_calls": 0, "accepted": [], "proposed": []}
    while len(new) < max_new_tokens:
        owed = max_new_tokens - len(new)
        drafts, qs, logits = [], [], None
        while len(drafts) < owed - 1 and (not drafts or propose(len(drafts), logits, stats)):
            feed = seq[dcache.length:] if not drafts else drafts[-1:]  # unseen committed tokens, then a proposal
            logits = dcache.run(feed)[-1]  # (V,)
            q = _probs(logits, temperature).cpu()  # (V,)
            stats["draft_calls"] += 1
            drafts.append(int(q.argmax()) if temperature == 0 else int(torch.multinomial(q, 1, generator=generator)))
            qs.append(q)
        kr = len(drafts)
        logits = tcache.run(seq[tcache.length:] + drafts)[-(kr + 1):]  # (kr + 1, V)
        stats["target_calls"] += 1
        p = _probs(logits, temperature).cpu()  # (kr + 1, V)
        q = torch.stack(qs) if qs else torch.zeros(0, p.shape[1], dtype=torch.float64)  # (kr, V)
        out = speculative_accept(p, q, torch.tensor(drafts, dtype=torch.long), generator=generator)
        n = len(out) - 1
        tcache.truncate(len(seq) + n)  # rollback: keep the accepted proposals only
        dcache.truncate(len(seq) + n)
        seq += out
        new += out
        stats["accepted"].append(n)
        stats["proposed"].append(kr)
    return new, stats
    ### END SOLUTION


def speculative_generate(target, draft, prompt_ids, max_new_tokens, k=4, temperature=0.0, seed=None):
    """max_new_tokens tokens distributed as the target's, k draft proposals per round; (tokens, stats)."""
    ### BEGIN SOLUTION
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError("draft and target must share one vocabulary")
    return _speculate(target, draft, prompt, max_new_tokens, temperature, seed, lambda j, logits, stats: j < k)
    ### END SOLUTION


# %%
target, draft = models.load("target"), models.load("draft")
prompt = models.encode("The KV cache")
tokens, stats = speculative_generate(target, draft, prompt, 16, k=4)
print(repr(models.decode(prompt + tokens)))
print({key: value for key, value in stats.items()})

# %% [test id=lab07_task3]
from inferlab.grading import check_here
check_here("lab07", "task3", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task3", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Task 3 · performance: one target pass per round, nothing recomputed (lab07 · task 3 perf)
#
# Counted, not timed: target passes against `stats["target_calls"]` and the rounds, and both
# models' positions (`tokens_processed`, and a wrapper the grader puts on each model's first
# layer) against the exact figures above, for the accepted lengths that your stats report.

# %% [test id=lab07_task3_perf]
from inferlab.grading import check_here
check_here("lab07", "task3_perf", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task3_perf", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 · Scheduler · 连续批处理调度器 (lab07 · task 4)
#
# Why: every step, the engine decides which requests run and how many of their tokens, within
# three limits — tokens per step (`max_num_batched_tokens`), running requests (`max_num_seqs`) and
# KV blocks (`num_blocks` of `block_size` slots). The scheduler works on **counts only**: a
# request is `(req_id, prompt_len, max_new_tokens)`.
#
# The rules (SPEC lab07; the checks replay your plans against them):
#
# * `step()` returns a plan: `plan.prefill` `{req_id: prompt tokens run this step}` (a prompt
#   may be split over several steps: chunked prefill), `plan.decode` `[req_id, …]` (one token
#   each), `plan.preempted` `[req_id, …]`. The plan is taken as executed: the step that runs a
#   request's last prompt token also produces its first output token; each decode produces one
#   more; after `max_new_tokens` outputs the request finishes and gives back its blocks (they
#   are free for the next step).
# * A request's cache holds one slot per token run (prompt tokens + decodes) and needs
#   `ceil(slots / block_size)` blocks; the blocks of every running request (those finishing in
#   this step included) fit in `num_blocks` after each step.
# * Every step: prefill tokens + decodes `<= max_num_batched_tokens`; running requests
#   `<= max_num_seqs`.
# * Running requests are served first; then waiting requests are admitted first-come
#   first-served — never skipping the head of the queue — while a request slot, some token
#   budget and the blocks for the admitted chunk are free (the chunk: as much of its prompt as the
#   budget left allows). No admission in a step that preempted.
# * A running request left out of a step must be preempted, or the step's budget used up; and a
#   request whose prompt is complete is left out only when decodes and older requests used that
#   budget (no starvation by newer prompts).
# * When a running request's next tokens do not fit in the free blocks, preempt the **newest**
#   running request (possibly itself) until they fit. Preemption is by recomputation: the
#   request gives back all its blocks, keeps its output tokens, and re-enters the queue at its
#   place (it is older than every waiting request); later it runs prompt + outputs as its new
#   prompt (that step's last token produces its next output).
# * `add(req_id, prompt_len, max_new_tokens)` refuses (`ValueError`) a request that could never
#   fit, `ceil((prompt_len + max_new_tokens) / block_size) > num_blocks`, a `req_id` already
#   added, and sizes `< 1`. `finished()` lists req_ids in finishing order; `has_unfinished()`.
#
# This reference serves decodes first, then prompt chunks (stall-free batching); serving running
# requests strictly oldest first is just as right.

# %% [solution id=lab07_scheduler]
class Plan:
    """One step: prompt tokens per request, decoding requests, preempted requests."""

    def __init__(self):
        self.prefill = {}  # req_id -> prompt tokens run this step
        self.decode = []  # req_ids running one decode token
        self.preempted = []  # req_ids that gave back their blocks

    def __repr__(self):
        return f"Plan(prefill={self.prefill}, decode={self.decode}, preempted={self.preempted})"


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


class Scheduler:
    """Continuous batching on token counts: chunked prefill, FCFS admission, preemption by recomputation."""

    def __init__(self, max_num_seqs, max_num_batched_tokens, num_blocks, block_size):
        ### BEGIN SOLUTION
        for name, value in (("max_num_seqs", max_num_seqs), ("max_num_batched_tokens", max_num_batched_tokens),
                            ("num_blocks", num_blocks), ("block_size", block_size)):
            _positive_int(name, value)
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.requests = {}  # req_id -> {"prompt", "max_new", "outputs", "target", "done", "order"}
        self.waiting = []  # req_ids, oldest first
        self.running = []  # req_ids, oldest first
        self._finished = []
        ### END SOLUTION

    def add(self, req_id, prompt_len, max_new_tokens):
        """Queue a request; ValueError for a duplicate id, sizes < 1, or one that could never fit."""
        ### BEGIN SOLUTION
        _positive_int("prompt_len", prompt_len)
        _positive_int("max_new_tokens", max_new_tokens)
        if req_id in self.requests:
            raise ValueError(f"req_id {req_id!r} was already added")
        need = -(-(prompt_len + max_new_tokens) // self.block_size)
        if need > self.num_blocks:
            raise ValueError(f"request {req_id!r} can never fit: prompt_len {prompt_len} + max_new_tokens "
                             f"{max_new_tokens} need {need} blocks of {self.block_size}, num_blocks is {self.num_blocks}")
        self.requests[req_id] = {"prompt": prompt_len, "max_new": max_new_tokens, "outputs": 0,
                                 "target": prompt_len,  # tokens to run before the next output (prompt + kept outputs)
                                 "done": 0,  # of target, run since the last admission: the slots it holds
                                 "order": len(self.requests)}
        self.waiting.append(req_id)
        ### END SOLUTION

    def has_unfinished(self):
        """True while a request waits or runs."""
        ### BEGIN SOLUTION
        return bool(self.waiting or self.running)
        ### END SOLUTION

    def finished(self):
        """req_ids in the order they finished."""
        ### BEGIN SOLUTION
        return list(self._finished)
        ### END SOLUTION

    def step(self):
        """Schedule one step within the budgets, take it as executed, and return its Plan."""
        ### BEGIN SOLUTION
        plan, budget, reqs = Plan(), self.max_num_batched_tokens, self.requests
        slots = {rid: reqs[rid]["done"] for rid in self.running}  # slots each running request holds
        work = {}  # rid -> tokens this step
        blocks = lambda n: -(-n // self.block_size)  # noqa: E731

        def decoding(rid):
            return reqs[rid]["done"] >= reqs[rid]["target"]

        def fits(rid, n):
            held = sum(blocks(s) for s in slots.values())
            return held - blocks(slots[rid]) + blocks(slots[rid] + n) <= self.num_blocks

        def preempt(rid):  # recomputation: every block back, outputs kept, back to the queue at its place
            self.running.remove(rid)
            slots.pop(rid)
            work.pop(rid, None)
            reqs[rid]["target"], reqs[rid]["done"] = reqs[rid]["prompt"] + reqs[rid]["outputs"], 0
            self.waiting.insert(0, rid)  # it is older than every waiting request
            plan.preempted.append(rid)

        def take(rid, n):  # run n tokens of rid, preempting the newest running requests until they fit
            while not fits(rid, n):
                victim = self.running[-1]
                preempt(victim)
                if victim == rid:
                    return False
            slots[rid] += n
            work[rid] = n
            return True

        # 1. decodes, oldest first (stall-free: before any prompt chunk)
        for rid in [r for r in self.running if decoding(r)]:
            if budget == 0 or rid not in self.running:
                continue
            if take(rid, 1):
                budget -= 1
        # 2. prompt chunks of running requests, oldest first
        for rid in [r for r in self.running if not decoding(r)]:
            if budget == 0 or rid not in self.running:
                continue
            n = min(reqs[rid]["target"] - reqs[rid]["done"], budget)
            if take(rid, n):
                budget -= n
        # 3. admission, first come first served, only in a step without preemption
        while not plan.preempted and self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            rid = self.waiting[0]
            n = min(reqs[rid]["target"], budget)
            if sum(blocks(s) for s in slots.values()) + blocks(n) > self.num_blocks:
                break
            self.waiting.pop(0)
            self.running.append(rid)
            slots[rid] = n
            work[rid] = n
            budget -= n
        # the step runs: prompt tokens advance, outputs are produced, finished requests give back blocks
        for rid in list(self.running):
            if rid not in work:
                continue
            r = reqs[rid]
            if r["done"] < r["target"]:
                plan.prefill[rid] = work[rid]
                r["done"] += work[rid]
                if r["done"] == r["target"]:
                    r["outputs"] += 1
            else:
                plan.decode.append(rid)
                r["done"] += 1
                r["outputs"] += 1
            if r["outputs"] == r["max_new"]:
                self.running.remove(rid)
                self._finished.append(rid)
        return plan
        ### END SOLUTION


# %%
sched = Scheduler(max_num_seqs=2, max_num_batched_tokens=8, num_blocks=4, block_size=4)
for rid, (p, o) in enumerate([(6, 3), (5, 4), (3, 2)]):
    sched.add(rid, p, o)
while sched.has_unfinished():
    print(sched.step())
print("finished:", sched.finished())

# %% [test id=lab07_task4]
from inferlab.grading import check_here
check_here("lab07", "task4", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task4", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 · adaptive_speculative_generate · 自适应推测长度 (lab07 · task 5, frontier)
#
# Why: α is not constant — the draft agrees with the target for long stretches and then not at
# all — so a fixed k drafts too little in easy stretches and wastes draft passes in hard ones.
# Choose the number of proposals **each round**, from what you can see before the target runs:
# the acceptance so far and the draft's own distributions (its confidence).
#
# The cost of a generation, in target-pass equivalents: `target_calls + cost_ratio ·
# draft_calls` (every pass of the draft costs `cost_ratio` of a target pass; counting target
# passes alone would reward drafting forever). The grader runs
# `adaptive_speculative_generate(target, draft, prompt_ids, max_new_tokens, cost_ratio=0.25,
# temperature=0.0, seed=None) -> (tokens, stats)` (stats as in task 3) at temperature 0 on
# prompts of the course's text, counts both models' passes, and compares the total cost with the best fixed
# k in 1..8 (of task 3's rounds) on the same prompts: yours must be lower. The tokens must equal
# the target's greedy generation, and the counts must match task 3's rules (nothing recomputed).
#
# This reference drafts while the draft's most likely token has probability `>= 0.7` (up to 16
# proposals): a confident draft is usually right.

# %% [solution id=lab07_adaptive]
def adaptive_speculative_generate(target, draft, prompt_ids, max_new_tokens, cost_ratio=0.25,
                                  temperature=0.0, seed=None):
    """Speculative decoding whose k is chosen every round; (tokens, stats) as speculative_generate."""
    ### BEGIN SOLUTION
    prompt = _check_generate_args(target, prompt_ids, max_new_tokens, temperature, seed)
    if isinstance(cost_ratio, bool) or not isinstance(cost_ratio, (int, float)):
        raise TypeError(f"cost_ratio must be a number, got {type(cost_ratio).__name__}")
    if not 0 <= cost_ratio < 1:
        raise ValueError(f"cost_ratio must be in [0, 1), got {cost_ratio}")
    threshold, k_max = 0.7, 16

    def propose(j, logits, stats):  # logits: the draft's logits of the proposal just made
        return j < k_max and float(torch.softmax(logits.double(), -1).max()) >= threshold

    return _speculate(target, draft, prompt, max_new_tokens, temperature, seed, propose)
    ### END SOLUTION


# %%
for name, fn in (("k=4", lambda: speculative_generate(target, draft, prompt, 24, k=4)),
                 ("adaptive", lambda: adaptive_speculative_generate(target, draft, prompt, 24))):
    toks, st = fn()
    cost = st["target_calls"] + 0.25 * st["draft_calls"]
    print(f"{name:9s} target calls {st['target_calls']:3d}  draft calls {st['draft_calls']:3d}  cost {cost:6.2f}")

# %% [test id=lab07_task5]
from inferlab.grading import check_here
check_here("lab07", "task5", globals())
### BEGIN HIDDEN TESTS
check_here("lab07", "task5", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## What you built · 小结
#
# * an acceptance rule whose tokens are distributed exactly as the target's — proven by a
#   statistical test, not by eye;
# * speculative decoding with two KV caches rolled back to the accepted length, and a count of
#   every position each model ran;
# * a continuous-batching scheduler with chunked prefill, FCFS admission and preemption by
#   recomputation, checked against the rules on thousands of random workloads;
# * a k chosen every round that beats every fixed k.
#
# Next: lab08 puts the scheduler, the paged KV cache and paged attention together into an engine.
