"""One submission's grading, as plain data in and plain data out, so that it can run anywhere.

``dlcourse grade`` (``grade.py``) makes a :class:`Job` per submission and hands it to an executor: a local
thread that waits on a subprocess, or a Dask worker on another machine. :func:`run_job` builds a scratch
course in a temporary folder (the instructor's ``nbgrader_config.py``, the lab's source files other than its
notebooks, a gradebook that holds only this lab's definition, and the submission's regular files), runs the
real ``nbgrader autograde`` there for this one student, and returns what it produced: the autograded folder's
files as bytes and the submission's timestamp. The scratch gradebook is thrown away with the folder; the
coordinator alone writes the instructor's gradebook (``gradebook_writer.py``), so that workers never contend
for it and a worker that dies leaves nothing half-written.

Scores are nbgrader's own: the same configuration, the same preprocessors (``RestoreCells``, ``ScoreTests``,
``SaveAutoGrades``...) on the same submission; only where they run differs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..autograde.preprocessors import read_regular_file

LOG_TAIL = 2000  # characters of nbgrader's log kept for a failure's reason


@dataclass
class Job:
    """Everything one submission's grading needs, as bytes: nothing on the worker's disk is assumed but the
    course's packages and bubblewrap."""

    lab: str
    student: str
    config: bytes  # the course's nbgrader_config.py
    gradebook: bytes  # a SQLite gradebook holding this lab's definition only (no student, no grade)
    source_files: dict[str, bytes]  # the lab's source files other than notebooks, by path inside source/LAB
    submission: dict[str, bytes]  # the submission's regular files, by path inside submitted/STUDENT/LAB
    rerun: bool = False  # re-run the whole notebook for feedback (nbgrader's default) or keep submitted outputs
    seconds: float = 1800.0  # the whole autograde run; past it the job is killed and counts as failed
    preflight: bool = False  # prove this machine can grade before the first job (Dask workers; local: done once)


@dataclass
class Result:
    lab: str
    student: str
    files: dict[str, bytes] = field(default_factory=dict)  # autograded/STUDENT/LAB, regular files, by path
    timestamp: str | None = None  # the submission's timestamp as nbgrader read it (ISO 8601), or None
    seconds: float = 0.0
    host: str = ""


class JobFailed(RuntimeError):
    """The grading of one submission failed (not a score). ``retry``: the worker died or hung, which may not
    happen again; nbgrader refusing the submission (a misnamed notebook) would, so it is reported at once."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def last_words(log: str) -> str:
    """What nbgrader said went wrong: its ERROR lines, else the log's last lines."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line.split("ERROR]", 1)[-1].strip() for line in lines if "| ERROR]" in line]
    return " ".join(errors[:2] or lines[-3:])[-LOG_TAIL:]


_PREFLIGHT_DONE = False


def _prove_machine_can_grade() -> None:
    global _PREFLIGHT_DONE
    if _PREFLIGHT_DONE:
        return
    from ..autograde.preflight import PreflightFailed, preflight

    try:
        preflight()
    except PreflightFailed as err:
        raise JobFailed(f"this worker cannot grade: {err}") from None
    _PREFLIGHT_DONE = True


def _safe_relative(path: str) -> Path:
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise JobFailed(f"refusing a file path outside the course: {path!r}")
    return rel


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = root / _safe_relative(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def read_tree(root: Path, max_bytes: int) -> dict[str, bytes]:
    """Regular files under ``root`` (links and everything else left out), ``max_bytes`` in all."""
    found, total = {}, 0
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            data, _why = read_regular_file(path, max_bytes - total)
            if data is None:
                continue
            total += len(data)
            found[str(path.relative_to(root))] = data
    return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The autograde subprocess ends when the thread that waits on it does (a coordinator killed with -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def autograde_arguments(job: Job, root: Path) -> list[str]:
    """nbgrader autograde for one student in the scratch course at ``root``; the instructor's config is read
    from there, and the command line points the course and its gradebook at the scratch copies."""
    return [
        "autograde",
        job.lab,
        "--student",
        job.student,
        "--force",
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
        "--Autograde.preflight=False",
        f"--FeedbackRun.rerun={job.rerun}",
    ]


# --- running nbgrader autograde ------------------------------------------------------------------------------
# Importing nbgrader and the course's preprocessors takes seconds, more than scoring a lab's answers. Where it
# can, a job therefore forks from a process that imported them once (multiprocessing's forkserver, with those
# modules preloaded): each submission still gets a process of its own, killed at its time limit. Inside a
# daemonic process (a Dask worker), which may not start such children, it runs `python -m nbgrader` instead.

PRELOAD = ["nbgrader.apps.nbgraderapp", "dlcourse.autograde.preprocessors", "dlcourse.autograde.score"]
_FORKSERVER = None


def _forkserver():
    global _FORKSERVER
    if _FORKSERVER is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _FORKSERVER = context
    return _FORKSERVER


def warm_up() -> None:
    """Start the preloaded server now (seconds of imports), e.g. while the preflight runs."""
    if not multiprocessing.current_process().daemon:
        _forkserver()
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _autograde_child(root: str, arguments: list[str], log: str) -> None:  # pragma: no cover - a child process
    """Runs in a child forked from the preloaded server: nbgrader's own command line, in the scratch course."""
    _die_with_parent()
    os.chdir(root)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    from nbgrader.apps.nbgraderapp import NbGraderApp

    sys.argv = ["nbgrader", *arguments]
    NbGraderApp.launch_instance(argv=arguments)


def _run_autograde(arguments: list[str], root: Path, seconds: float) -> tuple[int, str]:
    """(exit status, nbgrader's log) of one autograde run; JobFailed when it runs past ``seconds``."""
    log = root / "autograde.log"
    if multiprocessing.current_process().daemon:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "nbgrader", *arguments],
                cwd=root,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=seconds,
                preexec_fn=_die_with_parent,
            )
        except subprocess.TimeoutExpired:
            raise JobFailed(f"nbgrader autograde ran past {seconds:.0f} s and was stopped") from None
        return proc.returncode, proc.stderr + proc.stdout
    child = _forkserver().Process(target=_autograde_child, args=(str(root), arguments, str(log)), daemon=True)
    child.start()
    child.join(seconds)
    if child.exitcode is None:
        child.kill()
        child.join()
        raise JobFailed(f"nbgrader autograde ran past {seconds:.0f} s and was stopped")
    said = log.read_text(errors="replace") if log.exists() else ""
    return child.exitcode, said


def run_job(job: Job) -> Result:
    """Grade one submission in a scratch course; JobFailed with nbgrader's last words if it could not."""
    import socket

    if job.preflight:
        _prove_machine_can_grade()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlcourse-grade-") as scratch:
        root = Path(scratch)
        (root / "nbgrader_config.py").write_bytes(job.config)
        (root / "gradebook.db").write_bytes(job.gradebook)
        _write_tree(root / "source" / job.lab, job.source_files)
        (root / "source" / job.lab).mkdir(parents=True, exist_ok=True)
        _write_tree(root / "submitted" / job.student / job.lab, job.submission)
        status, said = _run_autograde(autograde_arguments(job, root), root, job.seconds)
        if status != 0:
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            raise JobFailed(f"nbgrader autograde {how}: {last_words(said)}", retry=status < 0 or not said.strip())
        graded = root / "autograded" / job.student / job.lab
        if not graded.is_dir():
            raise JobFailed("nbgrader autograde wrote no autograded folder: " + last_words(said), retry=False)
        files = read_tree(graded, max_bytes=1 << 30)
        timestamp = _scratch_timestamp(root, job)
    return Result(
        lab=job.lab,
        student=job.student,
        files=files,
        timestamp=timestamp,
        seconds=time.monotonic() - started,
        host=socket.gethostname(),
    )


def _scratch_timestamp(root: Path, job: Job) -> str | None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        stamp = gb.find_submission(job.lab, job.student).timestamp
    return stamp.isoformat() if stamp else None
