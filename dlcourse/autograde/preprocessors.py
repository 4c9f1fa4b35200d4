"""nbgrader preprocessors that make ``nbgrader autograde`` hold against a determined student.

``course/nbgrader_config.py`` puts them in nbgrader's pipeline:

- ``RestoreCells`` (before nbgrader's own sanitising): every cell the instructor wrote is rebuilt from the
  gradebook: a deleted set-up or test cell comes back where it was, a test cell copied by the learner is
  counted once, and flags and points come from the gradebook whatever the submission's metadata says.
- ``SandboxedExecute`` (instead of nbgrader's ``Execute``): the submission runs top to bottom in a
  bubblewrap-sandboxed kernel, so feedback shows its outputs; test cells are not run there.
- ``ScoreTests``: each test cell is scored by ``dlcourse.autograde.score`` in a fresh sandboxed process, out
  of the learner's reach; the verdict becomes the cell's output, which nbgrader turns into points.
- ``CapOutput``: no cell keeps more than a few kilobytes of text or one large image, so a print in a loop
  cannot make a 50 MB notebook or feedback page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from nbformat.notebooknode import from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Integer

from .sandbox import Limits, kernel_command, unsandboxed

try:  # jupyter_client >= 7
    from jupyter_client.manager import AsyncKernelManager
except ImportError:  # pragma: no cover
    from jupyter_client import AsyncKernelManager


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def answer_sources(nb) -> list[str]:
    """The learner's answer cells (nbgrader solution cells with code), in notebook order."""
    return [c.source for c in nb.cells if c.cell_type == "code" and utils.is_solution(c)]


# --- sanitising -------------------------------------------------------------------------------------------


class RestoreCells(NbGraderPreprocessor):
    """Rebuild the instructor's cells from the gradebook, whatever the learner did to them."""

    def preprocess(self, nb, resources):
        notebook_id, assignment_id = resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"]
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source = gb.find_notebook(notebook_id, assignment_id)
            order = [c.name for c in source.source_cells]
            cells = {c.name: c for c in source.source_cells}
            points = {c.name: c.max_score for c in source.grade_cells}
            solutions = {c.name for c in source.solution_cells}
            tasks = {c.name for c in source.task_cells}
            kept, seen = [], set()
            for cell in nb.cells:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if grade_id is None and "nbgrader" in cell.get("metadata", {}):
                    del cell.metadata["nbgrader"]
                if grade_id is not None and (grade_id not in cells or grade_id in seen):
                    # a copy of an instructor's cell, or an id the gradebook does not know: the learner's own
                    self.log.warning("cell %r is a copy or unknown: graded as the learner's own cell", grade_id)
                    del cell.metadata["nbgrader"]
                    if cell.cell_type == "code" and grade_id in points and grade_id not in solutions:
                        cell.source = "# (a copy of a test cell: not graded)\n" + _commented(cell.source)
                elif grade_id is not None:
                    seen.add(grade_id)
                    self._restore(cell, cells[grade_id], points.get(grade_id), grade_id in solutions, grade_id in tasks)
                kept.append(cell)
            for position, grade_id in enumerate(order):
                if grade_id in seen:
                    continue
                self.log.warning("cell %r was missing from the submission: restored", grade_id)
                cell = self._new_cell(cells[grade_id], points.get(grade_id), grade_id in solutions, grade_id in tasks)
                before = {name for name in order[:position]}
                index = max(
                    (
                        i + 1
                        for i, c in enumerate(kept)
                        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in before
                    ),
                    default=0,
                )
                kept.insert(index, cell)
                seen.add(grade_id)
        nb.cells = kept
        return nb, resources

    @staticmethod
    def _metadata(source_cell, points, solution, task) -> dict:
        meta = {
            "grade": points is not None,
            "grade_id": source_cell.name,
            "locked": bool(source_cell.locked),
            "solution": bool(solution),
            "task": bool(task),
            "schema_version": 3,
        }
        if points is not None:
            meta["points"] = points
        if source_cell.checksum:
            meta["checksum"] = source_cell.checksum
        return meta

    def _restore(self, cell, source_cell, points, solution, task):
        cell.metadata["nbgrader"] = self._metadata(source_cell, points, solution, task)
        if cell.cell_type != source_cell.cell_type:
            cell.cell_type = source_cell.cell_type
        if source_cell.locked and not solution:
            cell.source = source_cell.source
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)

    def _new_cell(self, source_cell, points, solution, task):
        cell = {
            "cell_type": source_cell.cell_type,
            "source": source_cell.source,
            "metadata": {"nbgrader": self._metadata(source_cell, points, solution, task)},
        }
        if source_cell.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
        return from_dict(cell)


def _commented(source: str) -> str:
    return "\n".join("# " + line for line in source.splitlines())


# --- running the submission -----------------------------------------------------------------------------


def _package_dirs() -> list[str]:
    """Where the dlcourse package's source lives when it is not inside an installed site folder (an editable
    install): the kernel may read that folder, not the repository around it."""
    import dlcourse

    return [os.path.dirname(os.path.abspath(dlcourse.__file__))]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel inside bubblewrap: talks over unix sockets in a private folder, since it has no network."""

    memory_limit_mb = Integer(2048, help="memory limit of the submission's kernel, in MiB").tag(config=True)
    cpu_limit_seconds = Integer(300, help="CPU-time limit of the submission's kernel, in seconds").tag(config=True)

    async def _async_pre_start_kernel(self, **kw):
        self._sandbox_dir = tempfile.mkdtemp(prefix="dlcourse-kernel-")
        self._sandbox_cwd = kw.get("cwd") or os.getcwd()
        if not unsandboxed():
            self.transport = "ipc"
            self.ip = os.path.join(self._sandbox_dir, "ipc")
        self.connection_file = os.path.join(self._sandbox_dir, "kernel.json")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        # Without a parent to poll (the sandbox unsets JPY_PARENT_PID) ipykernel prints, on every start, how
        # Ctrl-C fails to stop it and how to connect to it, to its own stdout: noise in the grader's terminal.
        # Nothing of the notebook's goes there (its outputs travel over the kernel's sockets).
        kw.setdefault("stdout", subprocess.DEVNULL)
        return kernel_cmd, kw

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        limits = Limits(memory_bytes=self.memory_limit_mb * 2**20, cpu_seconds=self.cpu_limit_seconds)
        return kernel_command(
            argv,
            writable=Path(self._sandbox_cwd),
            ipc_dir=Path(self._sandbox_dir),
            limits=limits,
            package_dirs=_package_dirs(),
        )

    async def _async_interrupt_kernel(self) -> None:
        # A SIGINT would reach bwrap, which exits and takes the kernel with it (a timed-out cell would kill the
        # whole run): ask the kernel to interrupt itself, over its control channel, instead.
        if self.kernel_spec is not None:
            self.kernel_spec.interrupt_mode = "message"
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(getattr(self, "_sandbox_dir", ""), ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's Execute, in a sandboxed kernel with memory and CPU limits; test cells are left to ScoreTests."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            cell.outputs, cell.execution_count = [], None
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


# --- scoring ---------------------------------------------------------------------------------------------


class ScoreTests(NbGraderPreprocessor):
    """Score every test cell out of the learner's reach and write the verdict as the cell's output."""

    seconds_per_test = Float(60.0, help="wall-clock limit for one test cell's sandboxed process").tag(config=True)
    memory_limit_mb = Integer(2048, help="memory limit of one test cell's sandboxed process, in MiB").tag(config=True)

    def preprocess(self, nb, resources):
        from .score import score_test_cell

        answers = answer_sources(nb)
        limits = Limits(memory_bytes=self.memory_limit_mb * 2**20, cpu_seconds=int(self.seconds_per_test) + 5)
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            start = time.monotonic()
            verdict = score_test_cell(cell.source, answers, deadline=self.seconds_per_test, limits=limits)
            self.log.info(
                "%s: %s in %.1f s",
                cell.metadata.nbgrader["grade_id"],
                "passed" if verdict.passed else "failed",
                time.monotonic() - start,
            )
            cell.outputs = verdict_outputs(verdict)
            cell.execution_count = None
        return nb, resources


def verdict_outputs(verdict) -> list:
    outputs = []
    if verdict.printed:
        outputs.append(from_dict({"output_type": "stream", "name": "stdout", "text": verdict.printed}))
    if not verdict.passed:
        lines = verdict.message.splitlines() or ["failed"]
        outputs.append(
            from_dict(
                {
                    "output_type": "error",
                    "ename": "CheckFailed",
                    "evalue": verdict.message,
                    "traceback": [f"\x1b[0;31m\u2718 {lines[0]}\x1b[0m", *lines[1:]],
                }
            )
        )
    return outputs


# --- keeping feedback small ------------------------------------------------------------------------------


class CapOutput(NbGraderPreprocessor):
    """Cut each cell's text outputs to max_chars and drop images over max_image_bytes."""

    max_chars = Integer(10_000, help="characters of text output kept per cell").tag(config=True)
    max_image_bytes = Integer(2_000_000, help="largest image output kept (base64 bytes)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        budget, kept = self.max_chars, []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text = output.text if isinstance(output.text, str) else "".join(output.text)
                if budget <= 0:
                    continue
                if len(text) > budget:
                    text = text[:budget] + f"\n... [output cut: more than {self.max_chars:,} characters]\n"
                budget -= len(text)
                output.text = text
            elif output.output_type == "error":
                output.evalue = str(output.get("evalue", ""))[:2000]
                output.traceback = [str(line)[:2000] for line in output.get("traceback", [])][-40:]
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                for key in list(data):
                    value = "".join(data[key]) if isinstance(data[key], list) else str(data[key])
                    if key.startswith("image/") and len(value) > self.max_image_bytes:
                        del data[key]  # a cut image is no image
                    elif not key.startswith("image/") and len(value) > self.max_chars:
                        data[key] = value[: self.max_chars]
            kept.append(output)
        cell.outputs = kept
        return cell, resources


# --- the converter ---------------------------------------------------------------------------------------


def _misnamed_notebooks(converter, assignment_id: str, student_id: str) -> tuple[list[str], list[str]]:
    """(submitted notebooks the gradebook does not know, expected notebooks not submitted)."""
    folder = Path(converter.coursedir.format_path(converter.coursedir.submitted_directory, student_id, assignment_id))
    with Gradebook(converter.coursedir.db_url, converter.coursedir.course_id) as gb:
        expected = {nb.name for nb in gb.find_assignment(assignment_id).notebooks}
    present = {p.stem for p in folder.glob("*.ipynb")}
    return sorted(present - expected), sorted(expected - present)


def install_autograde_checks() -> None:
    """Make nbgrader's Autograde refuse to start without bubblewrap (unless DLCOURSE_UNSANDBOXED=1) or when a
    known-good answer cannot be scored in the sandbox here (``preflight``), and report
    a wrongly named notebook as an error that names the fix, where nbgrader would only log 'Skipping unknown
    notebook' and give zero."""
    from nbgrader.apps import autogradeapp
    from nbgrader.converters.autograde import Autograde

    from .preflight import PreflightFailed, preflight
    from .sandbox import bwrap_path

    if getattr(autogradeapp.Autograde, "_dlcourse_checked", False):
        return

    class CheckedAutograde(Autograde):
        _dlcourse_checked = True

        def start(self):
            if not unsandboxed():
                bwrap_path()  # SandboxUnavailable, saying how to install it
            try:
                preflight()  # a machine that cannot grade stops here, before any grade is recorded
            except PreflightFailed as err:
                self.log.error("%s", err)
                self.exit(1)
            return super().start()

        def init_assignment(self, assignment_id: str, student_id: str) -> None:
            unknown, missing = _misnamed_notebooks(self, assignment_id, student_id)
            for name in unknown:
                self.log.error(
                    "%s submitted %s.ipynb, which is not a notebook of %s (expected: %s). It is NOT graded: rename it "
                    "to the expected name in submitted/%s/%s/ and run autograde again with --force.",
                    student_id,
                    name,
                    assignment_id,
                    ", ".join(f"{m}.ipynb" for m in missing) or "none missing",
                    student_id,
                    assignment_id,
                )
            super().init_assignment(assignment_id, student_id)

    autogradeapp.Autograde = CheckedAutograde
