"""nbgrader preprocessors that make ``nbgrader autograde`` hold against a determined student.

``course/nbgrader_config.py`` puts them in nbgrader's pipeline:

- ``RestoreCells`` (before nbgrader's own sanitising): every cell the instructor wrote is rebuilt from the
  gradebook: a deleted set-up or test cell comes back where it was, a test cell copied by the learner is
  counted once, and flags and points come from the gradebook whatever the submission's metadata says.
- ``SandboxedExecute`` (instead of nbgrader's ``Execute``): the submission runs top to bottom in a
  bubblewrap-sandboxed kernel, in a scratch copy of its files, so feedback shows its outputs; test cells are
  not run there, and a kernel that dies or hangs costs only the outputs of the cells after it.
- ``ScoreTests``: each test cell is scored by ``dlcourse.autograde.score`` in a fresh sandboxed process, out
  of the learner's reach; the verdict becomes the cell's output, which nbgrader turns into points.
- ``CapOutput``: no cell keeps more than a few kilobytes of text or one large image, so a print in a loop
  cannot make a 50 MB notebook or feedback page.

Around them: ``install_autograde_checks`` makes nbgrader's Autograde read and copy only regular files of a
submission (a symbolic link, a FIFO or a device is left out, with a warning), and ``SafeMarkdown`` with
``clean_learner_html`` sanitise what the learner wrote when feedback and formgrader render it as HTML.
"""

from __future__ import annotations

import datetime
import errno
import fnmatch
import json
import os
import platform
import queue
import shutil
import stat
import tempfile
import time
from pathlib import Path

import bleach
import jinja2
import nbformat
from jupyter_core.utils import run_sync
from nbformat.notebooknode import from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters.base import BaseConverter
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.preprocessors import ClearOutput, Execute, NbGraderPreprocessor
from nbgrader.utils import ignore_patterns
from traitlets import Bool, Float, Integer
from traitlets.config import Configurable, LoggingConfigurable

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


# --- the feedback run: re-run every cell, or keep what the learner submitted -------------------------------


class FeedbackRun(Configurable):
    """Whether autograde re-runs the whole submission in a sandboxed kernel so that feedback shows fresh outputs.

    Points never depend on it: they come from the answer cells alone (ScoreTests). ``nbgrader autograde`` re-runs
    by default; ``dlcourse grade`` sets ``rerun`` to False unless given ``--rerun``, so that a submission costs its
    scoring and not the lab's demos (minutes of training in labs 07-09): the other cells then keep the outputs
    the learner submitted, each marked as such in feedback.
    """

    rerun = Bool(True, help="re-run the whole submission in the sandbox for feedback (False: keep its outputs)").tag(
        config=True
    )


SUBMITTED_NOTE = "[as submitted: the grader did not re-run this cell; its outputs are from your own run]"


class ClearOutputForRerun(ClearOutput):
    """nbgrader's ClearOutput when the feedback run re-runs the notebook; otherwise the submitted outputs stay
    (test cells are overwritten by ScoreTests' verdicts either way, and no point depends on any other output)."""

    def preprocess(self, nb, resources):
        if FeedbackRun(parent=self).rerun:
            return super().preprocess(nb, resources)
        return nb, resources


def mark_submitted_outputs(nb) -> None:
    """Head the outputs of every code cell the grader did not run with a note saying they are the learner's."""
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_test_cell(cell) and cell.get("outputs"):
            cell.outputs.insert(0, _note(SUBMITTED_NOTE))


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


# --- files the learner handed in -------------------------------------------------------------------------


def read_regular_file(path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """(content, None) for a regular file of at most max_bytes; (None, why not) for anything else: a symbolic
    link is not followed, a FIFO or a device is not opened for reading (it could block for ever or never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP or os.path.islink(path):
            try:
                return None, f"a symbolic link (to {os.readlink(path)!r})"
            except OSError:
                return None, "a symbolic link"
        return None, f"unreadable ({err.strerror})"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file (a FIFO, a socket or a device)"
        if info.st_size > max_bytes:
            return None, f"{info.st_size:,} bytes, over the limit of {max_bytes:,}"
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, f"over the limit of {max_bytes:,} bytes"
    return data, None


def copy_regular_files(
    source: Path, dest: Path, *, max_bytes: int, max_files: int = 1000, ignore=(), log=None, what="file"
) -> int:
    """Copy the regular files under ``source`` into ``dest`` (folders made where a file goes), in all at most
    ``max_bytes`` and ``max_files`` (folders included); a symbolic link (to a file or a folder, ``source``
    itself included), a FIFO, a socket or a device is neither followed nor copied, and each file left out is
    logged as a warning. ``ignore``: name patterns to skip silently (nbgrader's ``CourseDirectory.ignore``).
    Returns the bytes copied."""
    budget, count, mib = max_bytes, 0, max_bytes >> 20
    if source.is_symlink():
        if log:
            log.warning("%s is a symbolic link: none of its files is copied", source)
        return 0
    todo = [Path()]
    while todo:
        rel = todo.pop()
        try:
            entries = sorted(os.scandir(source / rel), key=lambda e: e.name)
        except OSError as err:
            if log:
                log.warning("%s: not read (%s)", source / rel, err.strerror)
            continue
        for entry in entries:
            name = rel / entry.name
            if any(fnmatch.fnmatch(entry.name, pattern) for pattern in ignore):
                continue
            if count >= max_files:
                why = f"more than {max_files} files and folders"
            elif entry.is_dir(follow_symlinks=False):
                todo.append(name)
                count += 1
                continue
            else:
                data, why = read_regular_file(entry.path, budget)
            if why is None:
                (dest / name).parent.mkdir(parents=True, exist_ok=True)  # as nbgrader: only where a file goes
                if os.path.lexists(dest / name):  # an earlier copy (nbgrader removes it too)
                    os.unlink(dest / name)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                with os.fdopen(os.open(dest / name, flags, 0o644), "wb") as out:
                    out.write(data)
                budget, count = budget - len(data), count + 1
            elif log:
                log.warning("%s %s is %s: left out (%s MiB at most are copied)", what, source / name, why, mib)
    return max_bytes - budget


# --- running the submission -----------------------------------------------------------------------------


def _package_dirs() -> list[str]:
    """Where the dlcourse package's source lives when it is not inside an installed site folder (an editable
    install): the kernel may read that folder, not the repository around it."""
    import dlcourse

    return [os.path.dirname(os.path.abspath(dlcourse.__file__))]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel inside bubblewrap: talks over unix sockets in a private folder, since it has no network.

    Its working folder starts as a copy of ``cwd`` (the scratch copy SandboxedExecute makes of the
    submission's files), on the sandbox's own size-capped /tmp: nothing it writes reaches the grader's disk.
    """

    memory_limit_mb = Integer(2048, help="memory limit of the submission's kernel, in MiB").tag(config=True)
    cpu_limit_seconds = Integer(300, help="CPU-time limit of the submission's kernel, in seconds").tag(config=True)
    disk_limit_mb = Integer(
        512, help="what the submission's kernel may write, all files together (its private /tmp), in MiB"
    ).tag(config=True)

    async def _async_pre_start_kernel(self, **kw):
        self._sandbox_dir = tempfile.mkdtemp(prefix="dlcourse-kernel-")
        if not kw.get("cwd"):  # never the grader's own folder (the course, with the gradebook): an empty one
            kw["cwd"] = os.path.join(self._sandbox_dir, "files")
            os.mkdir(kw["cwd"])
        self._sandbox_files = kw["cwd"]
        # The kernel's own stdout and stderr (the learner's os.write(2, ...), escape sequences included) go to a
        # file, not to the instructor's terminal; what it said is reported only if it never answered.
        self.said = ""
        self._said_file = open(os.path.join(self._sandbox_dir, "kernel.out"), "wb")  # noqa: SIM115 - closed at cleanup
        kw["stdout"] = kw["stderr"] = self._said_file
        if not unsandboxed():
            self.transport = "ipc"
            self.ip = os.path.join(self._sandbox_dir, "ipc")
        self.connection_file = os.path.join(self._sandbox_dir, "kernel.json")
        # (That also keeps ipykernel's own start-up notes, the Ctrl-C one among them, out of the terminal.)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        limits = Limits(
            memory_bytes=self.memory_limit_mb * 2**20,
            cpu_seconds=self.cpu_limit_seconds,
            disk_bytes=self.disk_limit_mb * 2**20,
        )
        return kernel_command(
            argv,
            files=Path(self._sandbox_files),
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
        if not restart and getattr(self, "_sandbox_dir", None):
            self._said_file.close()
            self.said = _printable_tail(os.path.join(self._sandbox_dir, "kernel.out"))
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)

    # nbclient calls cleanup_resources on its own after a kernel died (no shutdown_kernel then); the base class
    # binds that name to its own coroutine, which would leave the kernel's folder behind in the grader's /tmp.
    cleanup_resources = _async_cleanup_resources


def _printable_tail(path: str, chars: int = 300) -> str:
    """The end of a file the learner's process wrote, as one line of plain ASCII (no escape sequences)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4 * chars))
            text = f.read().decode("ascii", "replace")
    except OSError:
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[-chars:]


class FeedbackRunStopped(Exception):
    """The notebook's feedback run ended early (its kernel died, hung or ran out of time): the cells after it
    keep no outputs. Scoring does not use this run, so no point depends on it."""


def _pinned_language_info() -> dict:
    """What the graded notebook says about its language: the grader's, never what the learner's kernel
    reported (a kernel replaced by a file in the submission could report anything)."""
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "nbconvert_exporter": "python",
    }


def _output_size(msg: dict) -> int:
    return len(json.dumps(msg.get("content", {}), default=str))


class SandboxedExecute(Execute):
    """nbgrader's Execute, in a sandboxed kernel with memory, CPU and disk limits, in a scratch copy of the
    submission's files; test cells are left to ScoreTests.

    The run exists for feedback only, so nothing in it may cost a point or stop grading: a kernel that dies
    (a segfault, ``os.kill`` of itself), a cell that does not stop when interrupted, a run past
    ``run_seconds`` or a kernel that cannot start ends the run with a note on the cell where it stopped and a
    one-line warning; the notebook goes on to ScoreTests with the outputs it has. Output beyond
    ``max_output_bytes`` a cell is dropped as it arrives (CapOutput cuts further), widget messages are not
    kept, and rewrites of earlier displays (display ids) share one budget, so that neither a printing loop nor
    widget state nor display updates can fill the grader's memory.
    """

    run_seconds = Float(600.0, help="wall-clock limit for the whole notebook's feedback run").tag(config=True)
    answer_seconds = Float(
        10.0, help="how long a kernel may take to answer again after a timed-out cell was interrupted"
    ).tag(config=True)
    max_copy_mb = Integer(
        64, help="the submission's files copied into the kernel's working folder, all together, in MiB"
    ).tag(config=True)
    max_output_bytes = Integer(4 * 2**20, help="output kept from one cell as it runs, in bytes").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def create_kernel_manager(self):
        self._kernel_manager = super().create_kernel_manager()
        return self._kernel_manager

    def preprocess(self, nb, resources, km=None):
        if not FeedbackRun(parent=self).rerun:
            mark_submitted_outputs(nb)
            for cell in nb.cells:
                if is_test_cell(cell):
                    cell.outputs, cell.execution_count = [], None
            nb.metadata["language_info"] = _pinned_language_info()
            return nb, resources
        folder = (resources or {}).get("metadata", {}).get("path") or ""
        self._started, self._cell_index, self._output_bytes, self._update_bytes = time.monotonic(), None, 0, 0
        self.shutdown_kernel = "graceful"  # "immediate" only for a kernel that stopped answering (below)
        with tempfile.TemporaryDirectory(prefix="dlcourse-feedback-run-") as scratch:
            files = Path(scratch) / "files"
            if folder:
                copy_regular_files(Path(folder), files, max_bytes=self.max_copy_mb * 2**20, log=self.log)
            files.mkdir(exist_ok=True)
            run_resources = dict(resources or {})
            run_resources["metadata"] = dict(run_resources.get("metadata") or {}, path=str(files))
            try:
                super().preprocess(nb, run_resources, km)
            except FeedbackRunStopped as stop:
                self._stopped(nb, str(stop))
            except Exception as err:  # noqa: BLE001 - the learner's kernel may fail in any way; it costs outputs only
                self.log.debug("the feedback run ended early", exc_info=True)
                self._stopped(nb, self._describe(err))
        nb.metadata["language_info"] = _pinned_language_info()
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            cell.outputs, cell.execution_count = [], None
            return cell, resources
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if time.monotonic() - self._started > self.run_seconds:
            self._cell_index = index
            raise FeedbackRunStopped(f"the notebook's run took more than {self.run_seconds:.0f} s in all")
        self._cell_index, self._timed_out, self._output_bytes, self._output_cut = index, False, 0, False
        cell, resources = super().preprocess_cell(cell, resources, index)
        if self._timed_out and not self._kernel_answers(self.answer_seconds):
            self.shutdown_kernel = "immediate"  # it does not answer: no graceful shutdown to wait for
            raise FeedbackRunStopped("this cell did not stop when it was interrupted at the time limit")
        return cell, resources

    # -- deadlines ---------------------------------------------------------------------------------------
    def _get_timeout(self, cell):
        """A cell's time limit: Execute.timeout, and never past the end of the whole run's."""
        timeout = super()._get_timeout(cell)
        if cell is None or not hasattr(self, "_started"):
            return timeout
        left = max(1, int(self.run_seconds - (time.monotonic() - self._started)))
        return min(timeout, left) if timeout else left

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _kernel_answers(self, seconds: float) -> bool:
        """Whether the kernel answers a kernel_info request within ``seconds``: after an interrupt, a cell that
        swallowed it keeps the kernel busy, and every later cell would wait out its own time limit."""

        async def ask() -> bool:
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    reply = await self.kc.shell_channel.get_msg(timeout=left)
                except queue.Empty:
                    return False
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
            return False

        return run_sync(ask)()

    # -- outputs -----------------------------------------------------------------------------------------
    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets' messages are not kept: feedback shows no live widget (sanitising drops their state and
        views), and nbclient would otherwise keep every state a kernel sends, in the grader's memory."""
        return None

    def _update_display_id(self, display_id, msg):
        """A display with an id rewrites every earlier output with that id: its size times their number counts
        against the run's budget (``max_output_bytes``), past which such rewrites are dropped. Otherwise one
        message could multiply into gigabytes when the notebook is written."""
        targets = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        cost = _output_size(msg) * max(targets, 1)
        if self._update_bytes + cost > self.max_output_bytes:
            return
        self._update_bytes += cost
        super()._update_display_id(display_id, msg)

    def output(self, outs, msg, display_id, cell_index):
        if self.clear_before_next_output or not outs:
            self._output_bytes = 0
        size = _output_size(msg)
        if self._output_bytes + size > self.max_output_bytes:
            if not self._output_cut:
                self._output_cut = True
                outs.append(_note(f"[output cut: more than {self.max_output_bytes:,} bytes while the cell ran]"))
            return None
        self._output_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    # -- an early end ------------------------------------------------------------------------------------
    def _describe(self, err: Exception) -> str:
        name = type(err).__name__
        if name == "DeadKernelError":
            return "the kernel died while this cell ran (a crash, or the process ended itself)"
        if name == "CellTimeoutError":
            return "this cell did not finish within its time limit and did not stop when interrupted"
        first_line = (str(err).splitlines() or [""])[0][:200]
        said = getattr(getattr(self, "_kernel_manager", None), "said", "") if self._cell_index is None else ""
        return f"the kernel failed ({name}: {first_line})" + (f"; it said: {said}" if said else "")

    def _stopped(self, nb, why: str) -> None:
        where = self._cell_index
        student = getattr(self, "resources", {}).get("nbgrader", {}).get("student", "?")
        self.log.warning(
            "%s: the notebook's feedback run stopped at cell %s: %s. Later cells have no outputs; scoring is "
            "not affected.",
            student,
            "?" if where is None else where,
            why,
        )
        if where is not None and nb.cells[where].cell_type == "code":
            nb.cells[where].setdefault("outputs", []).append(
                _note(
                    f"[grading] The notebook's run stopped here: {why}. The cells below were not run for this "
                    "feedback; your points do not depend on this run."
                )
            )


def _note(text: str):
    return from_dict({"output_type": "stream", "name": "stdout", "text": text + "\n"})


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


# --- the learner's text in feedback and formgrader HTML -------------------------------------------------

# What a written answer or a cell's HTML output may keep: formatting, tables, images and links; never a
# script, a style, a frame, a form, an event handler (onerror=...) or a javascript: link.
SAFE_TAGS = frozenset(
    "a abbr b blockquote br caption code dd del details div dl dt em figcaption figure h1 h2 h3 h4 h5 h6 hr i "
    "img kbd li mark ol p pre s small span strong sub summary sup table tbody td tfoot th thead tr u ul".split()
    # MathML, as the feedback page draws formulas offline (feedback_html.py): presentation elements only
    + "math mi mn mo ms mtext mrow msup msub msubsup mfrac msqrt mroot mover munder munderover mtable mtr mtd "
    "mspace mstyle mpadded mphantom menclose semantics annotation".split()
)
MATHML_ATTRIBUTES = (
    "display xmlns mathvariant stretchy fence separator lspace rspace columnalign rowspacing columnspacing accent "
    "accentunder displaystyle scriptlevel width height depth linethickness encoding notation minsize maxsize "
    "movablelimits largeop symmetric form"
).split()
SAFE_ATTRIBUTES = {
    "*": ["class", "title"],
    "a": ["href", "title"],
    "img": ["src", "alt", "title", "width", "height"],
    "ol": ["start"],
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align"],
    **{tag: MATHML_ATTRIBUTES for tag in ("math", "mi", "mn", "mo", "mrow", "mstyle", "mtable", "mtd", "mfrac")},
    **{tag: MATHML_ATTRIBUTES for tag in ("mover", "munder", "munderover", "mspace", "mpadded", "menclose")},
    "annotation": ["encoding"],
}
SAFE_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})  # data: for images embedded in a notebook


def clean_learner_html(html) -> str:
    """HTML the learner controls (a rendered written answer, a cell's HTML output), with everything that could
    run code in the instructor's or the student's browser escaped (shown as text) or removed."""
    html = html.decode() if isinstance(html, bytes) else str(html)
    return bleach.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, protocols=SAFE_PROTOCOLS, strip=False)


class SafeMarkdown(LoggingConfigurable):
    """The ``markdown2html`` filter of nbconvert's HTMLExporter, its result passed through clean_learner_html.

    nbgrader's feedback and formgrade templates render markdown cells with ``markdown2html`` and nothing
    else (``HTMLExporter.sanitize_html`` does not reach them), so a ``<script>`` in a written answer would run
    in the browser of whoever opens the page. Configured as ``c.HTMLExporter.filters``; nbconvert makes one
    per exporter, with the exporter as parent.
    """

    jinja_pass_arg = jinja2.pass_context(lambda: None).jinja_pass_arg  # jinja passes the template context

    def __call__(self, context, source) -> str:
        render = getattr(self.parent, "markdown2html", None)
        if render is None:  # not an HTMLExporter: nbconvert's plain filter
            from nbconvert.filters import markdown2html

            return clean_learner_html(markdown2html(source))
        return clean_learner_html(render(context, source))


# --- the converter ---------------------------------------------------------------------------------------


def _expected_present(converter, assignment_id: str, student_id: str, missing: list[str]) -> bool:
    """Whether the submission holds at least one notebook of the assignment under its expected name."""
    with Gradebook(converter.coursedir.db_url, converter.coursedir.course_id) as gb:
        expected = {nb.name for nb in gb.find_assignment(assignment_id).notebooks}
    return bool(expected - set(missing))


def _misnamed_notebooks(converter, assignment_id: str, student_id: str) -> tuple[list[str], list[str]]:
    """(submitted notebooks the gradebook does not know, expected notebooks not submitted)."""
    folder = Path(converter.coursedir.format_path(converter.coursedir.submitted_directory, student_id, assignment_id))
    with Gradebook(converter.coursedir.db_url, converter.coursedir.course_id) as gb:
        expected = {nb.name for nb in gb.find_assignment(assignment_id).notebooks}
    present = {p.stem for p in folder.glob("*.ipynb")}
    return sorted(present - expected), sorted(expected - present)


class SubmittedFilesOnly(BaseConverter):
    """How Autograde reads a submission (and GenerateFeedback autograded/), nothing followed, nothing unbounded.

    nbgrader copies ``submitted/STUDENT/LAB`` into ``autograded/`` with ``shutil.copy`` and reads the notebook
    and ``timestamp.txt`` with ``open``: each follows a symbolic link (``notes.txt -> ../../../gradebook.db``
    would put every grade, and a link to ``source/``, the hidden tests, into the student's feedback folder;
    a notebook linked to the source notebook would be graded as the model answer) and blocks for ever on a
    FIFO. Here only regular files are read or copied, within a size limit; anything else is left out with a
    warning, and a notebook that is not a regular file (or not a notebook) is graded as an empty one.
    Placed after nbgrader's Autograde in CheckedAutograde's bases, so that Autograde's calls of
    ``super().init_assignment`` and ``super().convert_single_notebook`` land here instead of in BaseConverter.
    """

    max_submission_mb = Integer(
        32, help="the submission's files besides its notebooks, copied into autograded/ all together, in MiB"
    ).tag(config=True)

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        _guard_timestamp_reads(self.coursedir, self.log)
        return super().init_destination(assignment_id, student_id)

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        source = Path(self._format_source(assignment_id, student_id))
        dest = Path(self._format_dest(assignment_id, student_id))
        if _linked_folder(source):
            self.log.warning("%s is a symbolic link: none of its files is copied", source)
            return
        copy_regular_files(
            source,
            dest,
            max_bytes=self.max_submission_mb * 2**20,
            ignore=[*self.coursedir.ignore, "*.ipynb"],  # notebooks are converted, not copied (as nbgrader does)
            log=self.log,
            what="submitted file",
        )

    def convert_single_notebook(self, notebook_filename: str) -> None:
        self.log.info("Converting notebook %s", notebook_filename)
        resources = self.init_single_notebook_resources(notebook_filename)
        nb, why = None, None
        if _linked_folder(Path(notebook_filename).parent):
            why = "in a folder that is a symbolic link"
        else:
            data, why = read_regular_file(notebook_filename, self.coursedir.max_file_size * 1024)
        if why is None:
            try:
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            except Exception as err:  # noqa: BLE001 - whatever the file holds, it is not a notebook we can grade
                why = f"not a notebook ({type(err).__name__})"
        if nb is None:
            self.log.warning("%s is %s: graded as an empty notebook (no points)", notebook_filename, why)
            nb = nbformat.v4.new_notebook()
        path, name = os.path.split(notebook_filename)
        try:
            modified = datetime.datetime.fromtimestamp(os.lstat(notebook_filename).st_mtime, tz=datetime.timezone.utc)
        except OSError:
            modified = datetime.datetime.now(tz=datetime.timezone.utc)
        resources["metadata"] = {  # what nbconvert's Exporter.from_filename records
            "name": os.path.splitext(name)[0],
            "path": path,
            "modified_date": modified.strftime("%B %-d, %Y"),
        }
        output, resources = self.exporter.from_notebook_node(nb, resources=resources)
        self.write_single_notebook(output, resources)


def _linked_folder(folder: Path) -> bool:
    """Whether the submission's folder or its student folder is a symbolic link (the two levels a
    submission's files sit under; the course's own folders are the instructor's choice)."""
    return folder.is_symlink() or folder.parent.is_symlink()


def _guard_timestamp_reads(coursedir, log) -> None:
    """Make nbgrader read a submission's timestamp.txt only when it is a small regular file (it opens it
    wherever a link points and reads it to the end: a link to /dev/zero would fill the grader's memory)."""
    if getattr(coursedir, "_dlcourse_guarded", False):
        return
    read = coursedir.get_existing_timestamp

    def get_existing_timestamp(dest_path):
        path = os.path.join(dest_path, "timestamp.txt")
        if os.path.lexists(path):
            _, why = read_regular_file(path, 4096)
            if why is not None:
                log.warning("%s is %s: ignored, as if there were none", path, why)
                return None
        return read(dest_path)

    coursedir.get_existing_timestamp = get_existing_timestamp
    coursedir._dlcourse_guarded = True


class LinkSafeCollect(ExchangeCollect):
    """``nbgrader collect`` that copies only regular files and folders from the exchange.

    nbgrader's collect runs as the instructor and copies a student's inbound folder with ``shutil.copytree``,
    which follows links: a link the student leaves there (``notes.txt -> /home/instructor/course/gradebook.db``)
    would arrive in ``submitted/`` as a copy of the gradebook, a regular file that nothing later can tell from
    the student's own. Here a link, a FIFO or a device is left out with a warning, never opened.
    """

    def do_copy(self, src, dest, log=None):
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"{src} is larger than CourseDirectory.max_dir_size ({self.coursedir.max_dir_size} kB)")
        by_name = ignore_patterns(
            exclude=self.coursedir.ignore,
            include=self.coursedir.include,
            max_file_size=self.coursedir.max_file_size,
            log=self.log,
        )

        def ignore(directory, names):
            kept, left_out = [], []
            for name in names:
                mode = os.lstat(os.path.join(directory, name)).st_mode
                if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                    kept.append(name)
                else:
                    self.log.warning("%s is %s: not collected", os.path.join(directory, name), _kind(mode))
                    left_out.append(name)
            return left_out + list(by_name(directory, kept))

        shutil.copytree(src, dest, ignore=ignore)
        if self.coursedir.groupshared:  # as nbgrader does: collected files stay writable by the group
            for dirname, _, filenames in os.walk(dest):
                for path in [dirname] + [os.path.join(dirname, f) for f in filenames]:
                    mode = os.stat(path).st_mode
                    extra = 0o2770 if os.path.isdir(path) else 0o660
                    try:
                        os.chmod(path, (mode | extra) & (0o2777 if extra == 0o2770 else 0o777))
                    except PermissionError:
                        self.log.warning("Could not update permissions of %s to make it groupshared", path)


def _kind(mode: int) -> str:
    return "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file (a FIFO, a socket or a device)"


def install_autograde_checks() -> None:
    """Make nbgrader's Autograde refuse to start without bubblewrap (unless DLCOURSE_UNSANDBOXED=1) or when a
    known-good answer cannot be scored in the sandbox here (``preflight``), read and copy only the regular files
    of a submission (SubmittedFilesOnly; generate_feedback likewise for autograded/), and report a wrongly named
    notebook as an error that names the fix, where nbgrader would only log 'Skipping unknown notebook' and give
    zero."""
    from nbgrader.apps import autogradeapp, generatefeedbackapp
    from nbgrader.converters.autograde import Autograde
    from nbgrader.converters.base import NbGraderException
    from nbgrader.converters.generate_feedback import GenerateFeedback

    from .preflight import PreflightFailed, preflight
    from .sandbox import bwrap_path

    if getattr(autogradeapp.Autograde, "_dlcourse_checked", False):
        return

    class CheckedAutograde(Autograde, SubmittedFilesOnly):
        _dlcourse_checked = True
        preflight = Bool(
            True,
            help="prove once per run that this machine can grade (dlcourse grade proves it once for all its "
            "workers and turns it off in each of them)",
        ).tag(config=True)

        def start(self):
            if not unsandboxed():
                bwrap_path()  # SandboxUnavailable, saying how to install it
            if self.preflight:
                try:
                    preflight()  # a machine that cannot grade stops here, before any grade is recorded
                except PreflightFailed as err:
                    self.log.error("%s", err)
                    self.exit(1)
            return super().start()

        def init_destination(self, assignment_id: str, student_id: str) -> bool:
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
            if unknown and not _expected_present(self, assignment_id, student_id, missing):
                # nbgrader would stop with a traceback ("No notebooks found"): skip it, say so once at the end
                self._not_graded.append(student_id)
                return False
            return super().init_destination(assignment_id, student_id)

        def convert_notebooks(self) -> None:
            self._not_graded = []
            super().convert_notebooks()
            if self._not_graded:
                self.log.error("Not graded (no notebook under its expected name): %s", ", ".join(self._not_graded))
                raise NbGraderException("some submissions were not graded")  # autograde exits with status 1

    class CheckedGenerateFeedback(GenerateFeedback, SubmittedFilesOnly):
        """generate_feedback reads autograded/ as autograde reads submitted/: regular files only, so that a
        folder graded before these checks (or changed by hand) cannot put a link into feedback/ either."""

    autogradeapp.Autograde = CheckedAutograde
    generatefeedbackapp.GenerateFeedback = CheckedGenerateFeedback
