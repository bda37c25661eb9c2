# %% [markdown]
# # 10 · The mock interview · 模拟面试
#
# The last section turns the course into the thing it was written for: a 90-minute technical
# interview on LLM inference (syllabus §10, 面试建议与注意事项). `inferlab interview` generates one
# candidate's interview from every section of the course — quantitative questions with the
# candidate's own numbers, one coding task taken from a lab and graded by that lab's checks, and
# written questions graded by an interviewer — and grades it through the same sandboxed runner
# and nbgrader pipeline as the labs.
#
# ```bash
# inferlab interview new --candidate alice --track rd --level new-grad --minutes 90   # instructor
# inferlab interview guide alice                       # the interviewer's sheet (expected answers: keep it private)
# nbgrader autograde lab10                             # or: inferlab interview grade alice submitted/alice/lab10/lab10.ipynb
# inferlab interview report alice                      # after hand-grading the written answers in the formgrader
# inferlab interview new --candidate me --track research --practice   # self-study: feedback after each answer, no clock
# ```

# %% [markdown]
# ## How the interview runs · 面试流程
#
# The interview follows the outline's sections 1-8 in order. The outline gives each section a
# time (its sub-sections add up to 150 minutes); an interview of `--minutes` scales them, and the
# role track moves time towards what it stresses. The cell below prints the plan for 90 minutes.
# Each section of the candidate's notebook starts with a clock cell, `start_section(N)`; its
# printed time, saved with the notebook, gives the report the minutes spent per section. The
# grade's own clock is nbgrader's: release time, due time (release + minutes) and the submission
# timestamp; late work loses 10% per started hour (`PerHourPenalty`).

# %%
import inferlab  # noqa: F401

from inferlab.interview.sections import SECTIONS, TRACK_NAMES, section_minutes

print(f"{'section':52} {'outline':>7} " + " ".join(f"{t:>8}" for t in TRACK_NAMES))
for n, s in SECTIONS.items():
    row = " ".join(f"{section_minutes(t, 90)[n]:>8}" for t in TRACK_NAMES)
    print(f"§{n} {s.en[:36]:36} {s.zh[:10]:12} {s.minutes:>7} {row}")
print(f"{'total':52} {sum(s.minutes for s in SECTIONS.values()):>7} " + " ".join(f"{90:>8}" for _ in TRACK_NAMES))

# %% [markdown]
# ## What is graded · 评分内容
#
# | part | points | graded by | category (§9) |
# | --- | --- | --- | --- |
# | 10 quantitative questions (q01-q10), one or two per section | 2 each | the grader, against the candidate's own expected values (exact for counts, 1% for real numbers) | by section: §1-2 knowledge, §3-5 systems, §6 and §8 practice, §7 frontier |
# | 1 coding task from labs 01-08 | 3 (its visible check) + 7 (its hidden checks) | that lab's own checks | practice |
# | 4 written questions (w1-w4) | 5 each | the interviewer in nbgrader's formgrader, with a model answer and the §9 bands beside each answer | one per category |
#
# The report weighs the four categories 40/30/20/10 (knowledge, systems, practice, frontier) and
# gives the band: excellent >= 90, good >= 80, fair >= 70, poor below. It names the course
# sections where the candidate lost most, with the notebook and lab to revisit.
#
# The candidate's notebook holds the questions and nothing they are graded against: the numbers
# come from a keyed hash of the candidate, the seed and a secret kept in the course's
# `.inferlab/` folder, and the grader recomputes the expected values from that secret. Two
# candidates never share numbers; the same seed always gives the same interview.

# %% [markdown]
# ## The four role tracks · 四个岗位方向
#
# | track | 岗位 | stresses (§10.3) | what shifts |
# | --- | --- | --- | --- |
# | `rd` | 研发岗位 | technical implementation and system design · 技术实现和系统设计 | more time on PagedAttention, tiers and practice; coding tasks on allocators and caches |
# | `eng` | 工程岗位 | performance optimisation and engineering practice · 性能优化和工程实践 | roofline and byte-count questions, FlashAttention, troubleshooting scenarios |
# | `research` | 研究岗位 | frontier techniques and original thinking · 前沿技术和创新思维 | twice the time on §7, speculative decoding, KV compression (H2O), future directions |
# | `arch` | 架构岗位 | system design and technology choices · 系统设计和技术选型 | collectives, P/D disaggregation, capacity planning, service design |
#
# The level sets the depth (§10.1, 技术深度控制): a **new graduate** (应届生) gets plain shapes
# (multi-head attention, non-causal tiles, LRU/FIFO) and is expected to show fundamentals, learning
# ability and problem-solving instinct (§10.2); an **experienced** candidate gets grouped-query
# attention, fp8 caches, causal tiles, LFU, goodput under SLOs, and each written question's harder
# second half.

# %% [markdown]
# ## How to answer · 如何作答
#
# 1. **Restate and set up.** Say what is asked and what you assume (units! GiB = 2^30 bytes, GB/s =
#    10^9 bytes/s). 先复述问题、说清假设和单位。
# 2. **Model before numbers.** Write the formula, then substitute: `2 · L · H_kv · D · N · B · bytes`.
#    The interviewer credits the method even when the arithmetic slips.
# 3. **Numbers.** Give an order of magnitude and compare it with something real (an H100 has
#    80 GB and ~3 TB/s).
# 4. **Trade-offs.** Every technique costs something: say what, and when it is not worth it.
# 5. **"I don't know, but here is how I'd find out."** Name the measurement or the paper you
#    would look at. That is a good answer; a confident guess is a poor one. 不会就说怎么查，不要瞎猜。
#
# ### Common failure modes · 常见失误
# - units: bytes vs GiB, seconds vs microseconds, fractions vs percent (the tolerance is 1%, not a factor of 10⁶);
# - forgetting a factor: K **and** V (2×), all layers, the whole batch; `ceil`, not `floor`, for blocks;
# - answering a neighbouring question (FlashAttention "uses less memory" — than what, and why?);
# - no structure: ten minutes of narrative and no conclusion; or no numbers at all;
# - ignoring the follow-up: the interviewer's "what if the batch doubles?" is the real question;
# - in the coding task: no validation of bad input, a silent wrong answer, an O(n) step inside an O(1) promise.

# %% [markdown]
# ## Worked answers per band · 分档示例答案
#
# ### Q1 (quantitative, §1) · How much KV cache does Llama-2-7B need for 16 sequences of 4,096 tokens in fp16? · Llama-2-7B在fp16下16条4096长度序列需要多少KV Cache？
# 32 layers, 32 KV heads, head dim 128.
#
# - **excellent** — "Per token per layer K and V are 2 × 32 × 128 × 2 B = 16 KiB; times 32 layers is 512 KiB
#   a token; 4,096 × 16 tokens is 64 Ki tokens, so 32 GiB — more than the 13.5 GB of weights. So at this batch
#   the cache, not the weights, limits us; GQA with 8 KV heads would cut it to 8 GiB."
# - **good** — "2 · 32 · 32 · 128 · 4096 · 16 · 2 = 34,359,738,368 bytes, about 32 GiB." (right, no implication)
# - **fair** — "32 · 32 · 128 · 4096 · 16 · 2 = 16 GiB" (forgot that both K and V are cached)
# - **poor** — "A few gigabytes, it depends on the implementation."
#
# ### Q2 (written, §6) · Why separate prefill and decode? · 为什么要做PD分离？
# - **excellent** — phase characteristics (prefill compute-bound, decode memory-bound), the interference
#   (a long prefill stalls every running decode: TPOT spikes), the KV transfer cost with a number
#   (a 4k-token Llama-2-7B prompt is 2 GiB of KV: ~10 ms over 200 GB/s RDMA, overlapped layer by
#   layer), when not to do it (short prompts, slow links: chunked prefill instead), and sizing the
#   two pools by measured goodput under the TTFT/TPOT SLOs.
# - **good** — the phase difference and that the KV cache has to be sent; sizing left vague.
# - **fair** — "they are different workloads, so separating them is more efficient."
# - **poor** — cannot say what is transferred between the two sides.
#
# ### Q3 (written, §7) · Explain speculative decoding. · 解释推测解码。
# - **excellent** — decoding is memory-bound, so the target verifies k drafted tokens in one pass for about the
#   cost of one; accept with probability min(1, p/q), on rejection resample from normalize(max(0, p − q)), which
#   makes the output exactly the target's distribution; expected tokens per pass (1 − α^(k+1))/(1 − α); it fades
#   at large batch (the target becomes compute-bound) and with a poorly matched draft.
# - **good** — draft then verify, faster because verification is parallel; exactness stated but not explained.
# - **fair** — "a small model guesses, the big model checks."
# - **poor** — "it approximates the big model with a small one" (wrong: the output distribution is unchanged).

# %% [markdown]
# ## The sample interview · 样例面试
#
# `solutions/lab10/` holds one interview (candidate `sample`, R&D track, new graduate) answered in
# full, with a public key: the course's worked example and what the lab tests grade. Its first
# quantitative question and the interviewer's view of it:

# %%
from inferlab.interview.generate import load
from inferlab.interview.guide import sheet

sample = load("sample")
q01 = sample.item("q01")
print(q01.question.ask(q01.params)[0])
print(q01.question.ask(q01.params)[1])
print("\n".join(sheet(sample).splitlines()[:8]))

# %% [markdown]
# ## Interview questions · 面试题
#
# The interview's own written questions, to practise aloud before the real one:
#
# 1. Why does a KV cache speed up decoding, and what does it cost? · KV Cache为什么能加速解码？代价是什么？
# 2. How does FlashAttention avoid the N × N matrix, and why is it exact? · FlashAttention如何避免N × N矩阵？为什么结果是精确的？
# 3. How does PagedAttention borrow from virtual memory? · PagedAttention如何借鉴虚拟内存？
# 4. When tensor parallelism, when pipeline parallelism? · 什么时候用张量并行，什么时候用流水线并行？
# 5. TTFT jumped from 200 ms to 2 s while TPOT stayed flat: how do you find the cause? · TTFT从200毫秒涨到2秒而TPOT不变，如何排查？
# 6. Design the inference service of an e-commerce platform. · 为电商平台设计推理服务。
#
# Run `inferlab interview new --candidate me --track rd --practice` for a practice interview
# with your own numbers and feedback after every answer.
