# %% [markdown]
# # InferLab · LLM inference, from the attention kernel to the serving engine · 大模型推理核心技术
#
# InferLab is a hands-on course on how large language models are *served*: why decoding is
# memory-bound, how FlashAttention and PagedAttention work, how a KV cache is sized, tiered,
# moved between machines and shared, and how a serving engine schedules it all. It follows
# a ten-section interview syllabus (熟悉大模型推理核心技术 · 面试大纲). Each section has
#
# * a **course notebook** (`course/NN_*.ipynb`): the theory with real numbers (Llama-2 shapes,
#   H100 figures), figures and widgets, and the section's interview questions with model answers;
# * a **lab** (`labs/labNN/labNN.ipynb`): you implement the section's core pieces; each task
#   has visible checks you run in the notebook, and hidden checks that grade it.
#
# Everything runs on a laptop CPU (Triton kernels through the Triton interpreter, a tiny
# trained Llama as the course model) and, unchanged, on an NVIDIA GPU.

# %% [markdown]
# ## The ten sections · 十个部分
#
# | § | section | 中文 | course notebook | lab |
# | --- | --- | --- | --- | --- |
# | 1 | Inference basics: decoding, causal mask, KV cache, prefill vs decode, roofline | 大模型推理基础理论 | [01 · inference basics](01_inference_basics.ipynb) | [lab01](../labs/lab01/lab01.ipynb) |
# | 2 | FlashAttention: tiling, online softmax, a Triton kernel | FlashAttention核心技术 | [02 · FlashAttention](02_flash_attention.ipynb) | [lab02](../labs/lab02/lab02.ipynb) |
# | 3 | PagedAttention and memory management | PagedAttention与内存管理 | [03 · PagedAttention](03_paged_attention.ipynb) | [lab03](../labs/lab03/lab03.ipynb) |
# | 4 | Multi-tier KV cache: eviction, prefix reuse, quantisation | KV Cache多级管理与优化 | [04 · KV cache tiers](04_kv_cache_tiers.ipynb) | [lab04](../labs/lab04/lab04.ipynb) |
# | 5 | Collectives and model parallelism across GPUs and nodes | 跨节点传输与通信优化 | [05 · collectives](05_collectives.ipynb) | [lab05](../labs/lab05/lab05.ipynb) |
# | 6 | Prefill/decode disaggregation: roofline of the two phases, goodput under SLOs, KV handoff, faults, capacity planning | PD分离与系统架构优化 | [06 · disaggregation](06_disaggregation.ipynb) | [lab06](../labs/lab06/lab06.ipynb) |
# | 7 | Continuous batching and speculative decoding: Orca, chunked prefill, preemption, the exact acceptance rule, best k | 综合应用与前沿技术 | [07 · batching and speculation](07_batching_and_speculation.ipynb) | [lab07](../labs/lab07/lab07.ipynb) |
# | 8 | Capstone: an engine end to end, behind an OpenAI-compatible endpoint (`inferlab serve`); deployment under a memory limit; troubleshooting latency incidents; designing a service | 实践案例与问题解决 | [08 · capstone](08_capstone.ipynb) | [lab08](../labs/lab08/lab08.ipynb) |
# | 9 | Measurement and scoring: honest benchmarks, TTFT/TPOT/ITL, load tests, bootstrap CI, the rubric | 评分标准与考核重点 | [09 · measurement](09_measurement.ipynb) | [lab09](../labs/lab09/lab09.ipynb) |
# | 10 | Mock interview (`inferlab interview`) | 面试建议与注意事项 | [10 · mock interview](10_mock_interview.ipynb) | [lab10](../labs/lab10/lab10.ipynb) (sample; `inferlab interview new` for yours) |
#
# The grading rubric follows syllabus §9: every check of every lab belongs to one category —
# **knowledge** 知识掌握 (40%), **systems** thinking 系统思维 (30%), **practice** 实践应用 (20%),
# **frontier** 前沿技术 (10%) — and a score is the weighted mean over the categories a lab has.

# %% [markdown]
# What is on disk right now (the table above lists the plan; this cell lists the files):

# %%
from pathlib import Path

import inferlab  # first: sets TRITON_INTERPRET=1 when there is no GPU

here = Path.cwd()
root = here.parent if here.name == "course" else here
for path in sorted((root / "course").glob("[0-9][0-9]_*.ipynb")):
    print("course:", path.relative_to(root))
for path in sorted((root / "labs").glob("lab*/lab*.ipynb")):
    print("lab:   ", path.relative_to(root))

# %% [markdown]
# ## How a lab works · 实验怎么做
#
# 1. Open `labs/labNN/labNN.ipynb`. Each task (`## Task 3 · … (labNN · task 3)`) says why it
#    matters, what to write, and ends with a test cell. Replace `raise NotImplementedError()`
#    with your code.
# 2. Run the task's test cell: `check_here("lab01", "task3", globals())` runs the task's
#    **visible** checks on your definitions and prints what passed and, for a failure, the
#    call, the first mismatch, the max error and the tolerance.
# 3. Grade the whole lab, hidden checks included, on fresh random inputs (awkward sizes,
#    float64 references):
#
#    ```
#    inferlab grade lab01 labs/lab01/lab01.ipynb          # a table
#    inferlab grade lab01 labs/lab01/lab01.ipynb --json   # one JSON object
#    inferlab grade lab01 my_solution.py                  # a module with the graded names works too
#    ```
#
#    The submission runs in a separate sandboxed process; expected values are computed
#    outside it. Performance is graded by **counts** — bytes a kernel loads and stores
#    (measured by an instrumented Triton interpreter), positions a model processes, messages
#    sent — never by wall-clock time on your machine. nbgrader (course staff: `nbgrader
#    autograde`) runs exactly the same checks.
# 4. `inferlab check` checks the installation; `make test` runs the course's own tests.
#
# The graded names and their exact behaviour are in the course's interface page, [docs/SPEC.md](../docs/SPEC.md);
# bad input must raise `ValueError` (or `TypeError` for a wrong type) whose message names
# the argument. Randomness is reproducible: same inputs and seed, same result.

# %% [markdown]
# ## GPU or interpreter · GPU 模式与解释器模式
#
# * **No GPU** (a laptop, CI): `import inferlab` sets `TRITON_INTERPRET=1` before any
#   `@triton.jit` runs, so every Triton kernel executes in the Triton interpreter on CPU
#   tensors — numerically the same program, thousands of times slower. Keep sizes small;
#   the checks do. (One interpreter defect: `tl.dot` on bfloat16 operands is wrong there; the
#   labs upcast such dots to float32 on CPU.)
# * **NVIDIA GPU** (H100/H200): the same code compiles to real kernels on CUDA tensors. The
#   `benchmarks/labNN_bench.py` scripts print each lab's table (TFLOP/s, GB/s) against the
#   card's measured ceilings: on the course's H100, ~3.0 TB/s for a copy and 713-746 TFLOP/s
#   for a bf16 GEMM, against 3.35 TB/s and 989 TFLOP/s on the spec sheet.

# %%
import torch

print("CUDA available:", torch.cuda.is_available(), "| Triton interpreter:", inferlab.INTERPRETER)

# %% [markdown]
# ## Glossary of dimension letters · 维度符号表
#
# Stated once here; every notebook, docstring and shape comment uses these letters.
#
# | letter | meaning | example |
# | --- | --- | --- |
# | `B` | batch: sequences processed together | 8 |
# | `H` | query (attention) heads | Llama-2-7B: 32 |
# | `H_kv` | key/value heads (`H_kv < H`: grouped-query attention; query head `h` reads KV head `h // (H // H_kv)`) | Llama-2-70B: 8 |
# | `N` | sequence length (positions) | 4096 |
# | `Nq` | query positions in one attention call (prefill: `N`; decode: 1) | 1 |
# | `Nk` | key/value positions attended to (the cached context) | 4096 |
# | `T` | tokens fed to the model in one call (prefill: the prompt; decode: 1 per sequence) | 1 |
# | `D` | head dimension | 128 |
# | `C` | hidden size (model width, `H · D` in Llama) | 4096 |
# | `V` | vocabulary size | 32000 |
#
# Conventions: attention tensors are `(B, H, N, D)` (`q` is `(B, H, Nq, D)`, `k`/`v` are
# `(B, H, Nk, D)`); one decode query per sequence is `(B, H, D)`; the course model's
# `qkv` returns `q (B, H, T, D)` and `k, v (B, H_kv, T, D)`; logits are `(B, T, V)`.
# `sm_scale` defaults to `D ** -0.5`; `lse` is the natural-log log-sum-exp in float32.

# %% [markdown]
# ## The course model · 课程模型
#
# `inferlab.models.load("target")` (and a smaller `"draft"` for speculative decoding) is a
# tiny Llama-style decoder trained on the course's own text, exposed in parts so that the labs
# own the KV cache: `embed`, `layers[i].qkv`, `layers[i].finish`, `logits`, plus `model(ids)`
# (full recomputation, the reference) and the counter `model.tokens_processed`.

# %%
from inferlab import models

model = models.load("target")
print(model.config)
print(models.decode(models.encode("Hello, InferLab!")))
