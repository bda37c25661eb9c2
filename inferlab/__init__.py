"""InferLab: the course's package. Where each topic of the syllabus lives:

 §1 inference basics      models/ (the course Llama: llama.py, tokenizer.py, greedy_reference)
 §2 FlashAttention        memtrace.py (instrumented Triton interpreter: bytes, FLOPs, out-of-bounds)
 §3 paged attention       engine/block_manager.py (blocks, refcounts, copy-on-write),
                          engine/kv_cache.py (paged store, gather), engine/attention.py
 §4 KV tiers              traces.py (workload traces, block keys), grading/probes/tiers.py (tier
                          eviction drivers), grading/probes/faults.py (disk fault injection)
 §5 collectives           launch.py (ranks of a real process group), grading/probes/collectives.py
                          (ring all-reduce bytes counted, collectives refused)
 §6 disaggregation        disagg_sim.py, transfer_faults.py
 §7-8 scheduling, engine  engine/ (scheduler.py, sequence.py, model_runner.py, engine.py, invariants.py)
 §9 measurement           testbench.py (clocks, a device and a server whose true costs are known)
 §10 interview            interview/
 grading                  grading/ (checks.py registry, asserts.py, answers.py, inputs.py, probes/,
                          runner.py + child.py + sandbox.py: the sandboxed grader), nbgrader_plugins.py
 building the course      notebook.py (percent sources -> notebooks -> student copies), cli.py
                          (`inferlab check | build | grade`)
"""
from __future__ import annotations

import os as _os

__version__ = "0.1.0"


def course_root():
    """The folder that holds the course (course/, solutions/, labs/, autograder/, and this package)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def _cuda_available() -> bool:
    # No GPU device node (NVIDIA, ROCm, WSL): no CUDA, and no need to import torch to know it
    # (every nbgrader command imports this package through the course's configuration).
    if not any(_os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")):
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing is reported by `inferlab check`
        return False


# Triton reads TRITON_INTERPRET when a @triton.jit decorator runs, so it must be set
# before any lab defines a kernel. With no CUDA device the interpreter is the only way.
if "TRITON_INTERPRET" not in _os.environ and not _cuda_available():
    _os.environ["TRITON_INTERPRET"] = "1"

INTERPRETER = _os.environ.get("TRITON_INTERPRET") == "1"
