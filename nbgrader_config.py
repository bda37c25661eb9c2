"""nbgrader configuration: the repository root is the course directory.

solutions/labNN/ is the source (reference solution + hidden checks), labs/labNN/
the generated release. Autograding runs each lab's checks out of process with the
same runner as `inferlab grade` (inferlab.nbgrader_plugins.GradeOutOfProcess), so
a submission gets the same score through either front door.
"""
import os

import inferlab  # noqa: F401 - sets TRITON_INTERPRET=1 when there is no CUDA device
from inferlab import nbgrader_plugins as plugins

c = get_config()  # noqa: F821 - provided by nbgrader

ROOT = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "inferlab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.src.py"]

exchange = os.environ.get("INFERLAB_EXCHANGE", os.path.join(ROOT, "exchange"))
os.makedirs(exchange, exist_ok=True)
c.Exchange.root = exchange

# The gradebook: SQLite in the course folder by default; a class of hundreds keeps it on
# PostgreSQL (deploy/README.md), e.g.
#   INFERLAB_GRADEBOOK_URL=postgresql+psycopg2://grader:PASSWORD@db.internal:5432/inferlab
if os.environ.get("INFERLAB_GRADEBOOK_URL"):
    c.CourseDirectory.db_url = os.environ["INFERLAB_GRADEBOOK_URL"]

# (TRITON_INTERPRET=1 on a machine without CUDA is set by `import inferlab` above.)

# Student copies: every stub names its task (lab03 · paged_attention).
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    plugins.TaskStubs,
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Student code runs in a kernel that cannot hang grading; test cells are graded out of process.
c.Execute.timeout = int(os.environ.get("INFERLAB_CELL_TIMEOUT", "300"))
c.Execute.interrupt_on_timeout = True
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal", "--HistoryManager.hist_file=:memory:",
                             plugins.KERNEL_BOOT]
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    plugins.RestoreCells,
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "inferlab.interview.nbgrader.InterviewNotes",  # lab10: the submitter's interview; grader notes
    plugins.SandboxedExecute,
    plugins.GradeOutOfProcess,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows scores and messages, never hidden-test source or tracebacks.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Timed exercises: late work loses a share of its score per started hour.
c.AssignLatePenalties.plugin_class = plugins.PerHourPenalty
c.PerHourPenalty.fraction_per_hour = 0.1
