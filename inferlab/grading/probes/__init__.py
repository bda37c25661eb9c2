"""Trusted course code that runs beside the submission, one module per topic.

    names.py      look-ups in the submission's namespace (has_name, mro_names, as_list)
    kernels.py    Triton kernels measured by the instrumented interpreter (traced, TraceSummary)
    model.py      the course model's counters (counted_call: positions sent through layer 0)
    tiers.py      KV-tier drivers: replay policy / tiered-cache operations (run_policy_ops, ...)
    faults.py     fault injection on a disk tier's files (truncate, flip bytes, delete, junk)
    collectives.py  bytes each rank sends, collectives refused (CommWatch, grade_collective, grade_tp_mlp)
    integrity.py  the seal: measuring code replaced during a call is noticed (seal, tampered_names)

A probe is `f(namespace, *args)` (run with `sub.probe(f, ...)`) or a plain `f(*args)` (run with
`sub.make(f, ...)`); checks pass the function itself, and the grader's child imports it by its
`module:qualname` (only code under `inferlab.` is trusted there). It returns plain data. A
learner's kernel calls the same functions directly, so the two front doors measure alike.
"""
from inferlab.grading.probes import collectives, faults, integrity, kernels, model, names, tiers  # noqa: F401
from inferlab.grading.probes.integrity import seal, tampered_names  # noqa: F401
from inferlab.grading.probes.kernels import TraceSummary, traced, warm_interpreter  # noqa: F401
from inferlab.grading.probes.model import counted_call  # noqa: F401
from inferlab.grading.probes.names import as_list, has_name, mro_names  # noqa: F401


def spec(fn) -> str:
    """`module:qualname` of a trusted function (what crosses to the grader's child); strings pass through."""
    if isinstance(fn, str):
        return fn
    mod, name = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
    if not mod.startswith("inferlab.") or "<" in name or "." in name:
        raise ValueError(f"not a top-level function of the course's code: {fn!r}")
    return f"{mod}:{name}"
