"""nbgrader pieces: a sandboxed, crash-proof Execute; out-of-process grading; hourly late penalty.

Autograding a notebook runs the student's cells in a kernel (for outputs and for
hand-graded answers) and then grades every test cell with the same runner as
`inferlab grade`: the checks run in the trusted nbgrader process against the
submission loaded in a sandboxed child. What the student's kernel printed or
patched cannot change a grade; the test cells' outputs are replaced by the
runner's verdicts, with the points earned as the cell's result (nbgrader's
partial credit).
"""
from __future__ import annotations

import math
import os
import tempfile

import nbformat
from nbformat.v4 import new_output
from traitlets import Float

from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearSolutions, Execute, NbGraderPreprocessor, OverwriteCells


class TaskStubs(ClearSolutions):
    """Stubs that say where they are: `raise NotImplementedError("lab03 · paged_attention")`."""

    def preprocess_cell(self, cell, resources, cell_index):
        gid = str(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
        lab, _, task = gid.partition("_")
        where = f"{lab} · {task}" if task else "this task"
        self.code_stub = dict(self.code_stub, python=f'# YOUR CODE HERE\nraise NotImplementedError("{where}")')
        return super().preprocess_cell(cell, resources, cell_index)


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, plus: the grade/solution flags come from the source too,
    and test cells a student deleted are put back (so a test cell turned into a solution
    cell, or removed, grades exactly like the original)."""

    def preprocess(self, nb, resources):
        self.add_missing_cells = True
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source = gb.find_notebook(resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"])
            grade_ids = {c.name for c in source.grade_cells}
            solution_ids = {c.name for c in source.solution_cells}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if not meta or "grade_id" not in meta:
                continue
            gid = meta["grade_id"]
            if gid in grade_ids or gid in solution_ids:
                meta["grade"] = gid in grade_ids
                meta["solution"] = gid in solution_ids
        return super().preprocess(nb, resources)


# The kernel installs the sandbox at start-up when SandboxedExecute has put its settings in the
# environment (a no-op otherwise). Goes in c.Execute.extra_arguments: nbclient re-reads its traits
# from the config when it executes, so it must be configuration, not an attribute set here.
KERNEL_BOOT = "--InteractiveShellApp.exec_lines=import inferlab.grading.sandbox as _sb; _sb.install_from_env()"


class SandboxedExecute(Execute):
    """Run the student's cells under the grader's sandbox; a dead or hung kernel is not fatal."""

    def preprocess(self, nb, resources, *args, **kwargs):
        path = (resources.get("metadata") or {}).get("path") or os.getcwd()
        from inferlab.grading import sandbox  # (here: torch is imported only by the commands that grade)
        from inferlab.grading.remote import DEFAULT_MEMORY_MB, _deny_list

        scratch = os.path.abspath(path)
        saved = {k: os.environ.get(k) for k in (sandbox.ENV_SCRATCH, sandbox.ENV_DENY, sandbox.ENV_MEMORY,
                                                "INFERLAB_AUTOGRADE", "MPLCONFIGDIR", "TMPDIR")}
        tmp = tempfile.mkdtemp(prefix="tmp-", dir=scratch)
        os.environ.update({
            sandbox.ENV_SCRATCH: scratch,
            sandbox.ENV_DENY: os.pathsep.join(_deny_list()),
            sandbox.ENV_MEMORY: str(DEFAULT_MEMORY_MB) if not _cuda() else "0",
            "INFERLAB_AUTOGRADE": "1",
            "MPLCONFIGDIR": tmp,
            "TMPDIR": tmp,
        })
        try:
            return super().preprocess(nb, resources, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - DeadKernelError, CellTimeoutError...
            self.log.warning("student kernel stopped early (%s): grading continues out of process",
                             type(e).__name__)
            return nb, resources
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


class GradeOutOfProcess(NbGraderPreprocessor):
    """Replace each test cell's outputs with the sandboxed runner's verdict and points."""

    def preprocess(self, nb, resources):
        lab = resources["nbgrader"]["assignment"]
        import torch

        from inferlab.grading.runner import grade

        torch.set_num_threads(1)

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{lab}.ipynb")
            nbformat.write(nb, path)
            report = grade(lab, path)
        groups: dict[str, list] = {}
        for t in report.tests:
            groups.setdefault(t.group, []).append(t)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            gid = str(meta.get("grade_id", ""))
            group = gid[len(lab) + 1:] if gid.startswith(lab + "_") else gid
            tests = groups.get(group, [])
            earned = sum(t.points for t in tests)
            lines = [f"{'PASS' if t.passed else 'FAIL'} {t.id} ({t.points:g}/{t.max_points:g})"
                     + ("" if t.passed else "\n     " + t.message.replace("\n", "\n     ")) for t in tests]
            if not tests:
                lines = [f"no checks found for {gid}: 0 points"]
            earned = min(earned, float(meta.get("points", 0)))
            cell.outputs = [new_output("stream", name="stdout", text="\n".join(lines) + "\n"),
                            new_output("execute_result", data={"text/plain": repr(round(earned, 4))},
                                       execution_count=cell.get("execution_count"))]
        resources.setdefault("inferlab", {})["report"] = report.to_json()
        return nb, resources


class PerHourPenalty(LateSubmissionPlugin):
    """Late work loses `fraction_per_hour` of its score for every started hour."""

    fraction_per_hour = Float(0.1, help="share of the score lost per started hour late").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if total_seconds_late <= 0:
            return 0.0
        hours = math.ceil(total_seconds_late / 3600.0)
        return min(score, score * self.fraction_per_hour * hours)
