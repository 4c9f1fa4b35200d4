"""nbgrader configuration for the dlcourse course (run nbgrader commands from this folder).

Each setting below is one an instructor would otherwise learn about from a student's lost marks, or from a
student who found a way around the tests. Grading that holds is described in README ("For instructors").
"""

import os
import sys

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from dlcourse.autograde.preprocessors import (
    CapOutput,
    ClearOutputForRerun,
    RestoreCells,
    SandboxedExecute,
    ScoreTests,
    install_autograde_checks,
)

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

# nbgrader runs `alembic` by name: put this interpreter's scripts first on PATH, so that it works without
# activating the virtual environment.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.source_directory = "source"

# --- autograding: points decided out of the learner's reach ----------------------------------------------
# The learner's notebook runs in a sandboxed kernel (bubblewrap: no network, packages read-only, an empty
# environment, 2 GiB, CPU-time limit, 512 MiB of private disk) in a scratch copy of the submission's regular
# files, so that feedback shows its outputs; nothing it writes reaches autograded/, and its test cells
# are not run there: ScoreTests runs each one in the grader's process against the learner's answer cells,
# defined in a fresh sandboxed process where the course's reference code and torch do not exist. Nothing the
# submission does can change the checks, the cases or the points; a crash or a hang costs one test cell.
c.Autograde.sanitize_preprocessors = [
    ClearOutputForRerun,
    RestoreCells,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,
    ScoreTests,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    CapOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
install_autograde_checks()  # no bwrap: refuse to grade (DLCOURSE_UNSANDBOXED=1 to override); misnamed notebooks

# `nbgrader autograde` re-runs every submission whole for feedback (set False to keep the submitted outputs of
# the cells that decide no points, each marked as submitted); `dlcourse grade` keeps them unless given --rerun.
c.FeedbackRun.rerun = True

# Seconds one test cell's sandboxed process may run (all its cases, the speed check included); a hang or an
# endless loop is killed then and costs that cell's points only.
c.ScoreTests.seconds_per_test = 60
c.ScoreTests.memory_limit_mb = 2048
c.SandboxedKernelManager.memory_limit_mb = 2048
c.SandboxedKernelManager.cpu_limit_seconds = 300
# Everything the kernel may write (its working folder, HOME and /tmp are one private tmpfs), all files together.
c.SandboxedKernelManager.disk_limit_mb = 512

# The feedback run as a whole: past this many seconds (five times the longest lab's budget) it stops, and the
# cells after that point show no outputs; a kernel that dies or a cell that ignores the interrupt ends it the
# same way. Points never depend on it. The submission's files are copied into its scratch folder up to
# max_copy_mb (regular files only: links, FIFOs and devices are left out).
c.SandboxedExecute.run_seconds = 600
c.SandboxedExecute.max_copy_mb = 64

# What autograde copies from submitted/ into autograded/ besides the notebooks (and generate_feedback again into
# feedback/): regular files only, up to this many MiB in all; a symbolic link, a FIFO or a device is left out
# with a warning, never followed, and a notebook that is not a regular file is graded as an empty one.
c.Autograde.max_submission_mb = 32
# nbgrader collect copies the exchange with your permissions and follows links: a link a student leaves in the
# inbound folder would arrive in submitted/ as a copy of whatever it points to. Collect regular files only.
c.ExchangeFactory.collect = "dlcourse.autograde.preprocessors.LinkSafeCollect"

# Every cell of the submission's run has a time limit: an infinite loop is interrupted after this many
# seconds and the run carries on (its outputs are for feedback; points come from ScoreTests); a cell that
# swallows the interrupt ends the run there. It must exceed
# the longest cell of any lab on a busy machine (lab 07 trains LeNet-5 in NumPy for about 45 s on two cores).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# An interrupted cell busy in NumPy can take a while to report back; waiting for its last output must never
# fail the whole submission (nbgrader's default raises, and the learner would get no grade at all).
c.Execute.iopub_timeout = 15
c.Execute.raise_on_iopub_timeout = False

# nbgrader gives zero points to a test cell that wrote anything to stderr. ScoreTests writes none, but strip
# every stderr stream anyway, so that a warning in the learner's run never costs marks.
# (IgnorePattern is off by default: setting the pattern alone does nothing.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# RestoreCells puts back deleted cells (set-up and test cells included) and ignores copies of test cells;
# nbgrader's own version of this crashes on a copied test cell, so it stays off.
c.OverwriteCells.add_missing_cells = False

# Keep feedback readable when a learner prints in a loop: lines (nbgrader) and characters (CapOutput).
c.LimitOutput.max_lines = 200
c.CapOutput.max_chars = 10_000

# Feedback HTML and formgrader render what the learner wrote (written answers, HTML outputs): whatever could
# run in a browser (<script>, onerror=, javascript: links, JavaScript outputs, widgets) is escaped or dropped.
# nbgrader's templates render markdown cells with markdown2html alone, so that filter is replaced too.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {
    "markdown2html": "dlcourse.autograde.preprocessors.SafeMarkdown",
    "clean_html": "dlcourse.autograde.preprocessors.clean_learner_html",
}

# What a learner sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- quiet runs and feedback that reads offline --------------------------------------------------------------
# (kept apart from the grading settings above: none of this changes a score)
import warnings  # noqa: E402

from sqlalchemy.exc import SAWarning  # noqa: E402

from dlcourse.autograde.feedback_html import FeedbackHTMLExporter  # noqa: E402
from dlcourse.kernel_transport import encrypt_kernel_transport  # noqa: E402

# Feedback HTML draws its formulas as MathML (no MathJax from a CDN: it reads offline) and wraps long lines
# of code and output instead of cutting them at the page's edge. nbgrader's feedback template is kept.
c.GenerateFeedback.exporter_class = FeedbackHTMLExporter

# Kernels started here (nbgrader validate's, an unsandboxed grading run's) get CurveZMQ keys, so ipykernel
# does not warn on each start that it "is running over TCP without encryption". The sandboxed kernel talks
# over unix sockets and never warned.
encrypt_kernel_transport(c)

# nbgrader's gradebook builds each new submission's rows before adding them to the session, and SQLAlchemy 2
# warns three times per submission that it no longer adds them along the back-references for it. nbgrader
# then adds the submission itself, and every grade is stored (tests/test_course.py reads them back): the
# warning says nothing an instructor can act on. Only that message, only from nbgrader's gradebook.
warnings.filterwarnings(
    "ignore",
    message=r"Object of type <\w+> not in session, add operation along",
    category=SAWarning,
    module=r"nbgrader\.api",
)
