"""The coding task: one task of labs 01-08, graded by that lab's own checks.

A task is named by the graded names its lab cell defines; the cell, the task's
description (the lab's markdown just above it) and its check groups (the test
cells just below it) are read from the lab's source at run time, so a task is
offered only when that lab's source and autograder exist. Tasks of labs still
being written switch on by themselves when their lab lands.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_POINTS, HIDDEN_POINTS = 3.0, 7.0


@dataclass(frozen=True)
class CodingTask:
    key: str
    lab: str
    defines: tuple[str, ...]        # graded names the task's cell defines (finds the cell)
    section: int
    title: tuple[str, str]
    given: tuple[str, ...] = ()     # names whose reference cells are handed to the candidate
    levels: tuple[str, ...] = ("new-grad", "experienced")
    weights: dict = field(default_factory=dict)
    groups: tuple[str, ...] = ()    # check groups to use (default: every test cell after the task's cell)


TASKS: dict[str, CodingTask] = {}


def register(t: CodingTask) -> CodingTask:
    TASKS[t.key] = t
    return t


register(CodingTask("top_k_top_p", "lab01", ("top_k_top_p_filter",), 1, ("Top-k / top-p filtering", "Top-k / Top-p 过滤"),
                    weights={"eng": 1.3, "research": 1.3}))
register(CodingTask("attention", "lab01", ("attention",), 1, ("Masked, stable attention", "带掩码的数值稳定注意力"),
                    weights={"rd": 1.2, "eng": 1.2}))
register(CodingTask("online_softmax", "lab02", ("online_softmax",), 2, ("Online softmax", "在线Softmax"),
                    given=("softmax_stats", "merge_softmax_stats"), weights={"research": 1.3, "eng": 1.2}))
register(CodingTask("block_allocator", "lab03", ("BlockAllocator",), 3, ("A block allocator with reference counts",
                    "带引用计数的块分配器"), weights={"rd": 1.5, "arch": 1.3}, groups=("task1",)))
register(CodingTask("kv_memory_waste", "lab03", ("kv_memory_waste",), 3, ("KV memory waste", "KV显存浪费"),
                    levels=("new-grad",), weights={"arch": 1.0}))
register(CodingTask("eviction_policies", "lab04", ("LRUPolicy",), 4, ("O(1) LRU, LFU and FIFO policies",
                    "O(1)的LRU、LFU、FIFO策略"), weights={"rd": 1.2, "arch": 1.3, "eng": 1.2},
                    groups=("task1",)))
register(CodingTask("h2o", "lab04", ("h2o_keep_indices",), 4, ("Heavy-hitter KV eviction (H2O)", "H2O重要token保留"),
                    weights={"research": 1.5}))
# Sections 6-8: offered as soon as those labs' sources and autograders exist.
register(CodingTask("serving_metrics", "lab06", ("ttft", "tpot", "goodput"), 6, ("TTFT, TPOT and goodput",
                    "TTFT、TPOT与goodput"), weights={"arch": 1.3, "eng": 1.2}))
register(CodingTask("speculative_accept", "lab07", ("speculative_accept",), 7, ("Speculative acceptance",
                    "推测解码的接受规则"), levels=("experienced",), weights={"research": 1.5}))
register(CodingTask("max_concurrent", "lab08", ("max_concurrent_sequences",), 8, ("Capacity under a memory limit",
                    "显存限制下的容量"), levels=("new-grad",), weights={"arch": 1.2}))


@dataclass(frozen=True)
class LabCell:
    kind: str          # markdown, solution, test, code
    id: str
    source: str
    group: str = ""


@lru_cache(maxsize=None)
def lab_cells(lab: str, root: str = str(PACKAGE_ROOT)) -> tuple[LabCell, ...]:
    """The cells of solutions/labNN/labNN.src.py, in order."""
    from inferlab.notebook import parse_percent

    path = Path(root) / "solutions" / lab / f"{lab}.src.py"
    nb = parse_percent(path.read_text(encoding="utf-8"), str(path))
    out = []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        gid = str(meta.get("grade_id", ""))
        if c.cell_type == "markdown":
            kind = "markdown"
        elif meta.get("solution"):
            kind = "solution"
        elif meta.get("grade"):
            kind = "test"
        else:
            kind = "code"
        out.append(LabCell(kind, gid, c.source, gid[len(lab) + 1:] if kind == "test" else ""))
    return tuple(out)


def _defines(src: str, name: str) -> bool:
    return re.search(rf"^(def|class)\s+{re.escape(name)}\b", src, flags=re.M) is not None


@dataclass(frozen=True)
class ResolvedTask:
    task: CodingTask
    cell: LabCell
    description: str
    groups: tuple[str, ...]
    given: tuple[str, ...]          # sources handed over: the lab's set-up cell, then reference cells

    @property
    def lab(self) -> str:
        return self.task.lab


def resolve(task: CodingTask) -> ResolvedTask:
    """Find the task's cell, description and check groups in its lab; LookupError when the lab lacks them."""
    spec = importlib.util.find_spec(f"autograder.{task.lab}") if importlib.util.find_spec("autograder") else None
    src = PACKAGE_ROOT / "solutions" / task.lab / f"{task.lab}.src.py"
    if spec is None or not src.exists():
        raise LookupError(f"{task.lab} has no autograder or source yet")
    cells = lab_cells(task.lab)
    idx = next((i for i, c in enumerate(cells) if c.kind == "solution" and _defines(c.source, task.defines[0])), None)
    if idx is None:
        raise LookupError(f"{task.lab} defines no {task.defines[0]}")
    groups, j = [], idx + 1
    while j < len(cells) and cells[j].kind != "solution":
        if cells[j].kind == "test":
            groups.append(cells[j].group)
        j += 1
    if task.groups:
        groups = [g for g in groups if g in task.groups]
    desc_i = idx - 1
    while desc_i >= 0 and cells[desc_i].kind != "markdown":
        desc_i -= 1
    setup = next((c.source for c in cells[:idx] if c.kind == "code"), None)   # the lab's imports
    given = (() if setup is None else (setup,)) + tuple(
        c.source for c in cells if c.kind == "solution" and any(_defines(c.source, g) for g in task.given))
    from inferlab.grading.checks import load_checks

    known = load_checks(task.lab).groups()
    if not groups or any(g not in known for g in groups):
        raise LookupError(f"{task.lab}: the checks of {task.defines[0]} are not registered")
    example, rest = split_checks(known, groups)
    if not example or not rest:
        raise LookupError(f"{task.lab}: {task.defines[0]} needs at least two checks")
    return ResolvedTask(task, cells[idx], cells[desc_i].source if desc_i >= 0 else "", tuple(groups), given)


def split_checks(known: dict, groups) -> tuple[list, list]:
    """The task's checks as (example, rest): its lab's visible checks and the others; where a lab
    shows every check, the first check of each group is the example and the rest are graded hidden."""
    checks = [c for g in groups for c in known.get(g, [])]
    example = [c for c in checks if not c.visible] and [c for c in checks if c.visible]
    if not example:
        example = [known[g][0] for g in groups if known.get(g)]
    return example, [c for c in checks if c not in example]


def available(level: str) -> list[CodingTask]:
    out = []
    for t in TASKS.values():
        if level not in t.levels:
            continue
        try:
            resolve(t)
        except (LookupError, OSError, ValueError):
            continue
        out.append(t)
    return out


_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.M | re.S)


def stub(source: str, where: str) -> str:
    """The student's version of a solution cell: each solution region becomes a stub that names the task."""
    return _REGION.sub(lambda m: f'{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError("{where}")', source)


def reference(source: str) -> str:
    """A solution cell without its region markers (given code)."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
