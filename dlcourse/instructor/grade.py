"""``dlcourse grade LAB``: grade a whole class in parallel, resumably, into nbgrader's gradebook.

Run it from ``course/`` (or give ``--course``). It grades every submission in ``submitted/`` that is new or
changed since its last grade (``--force``: all; ``--student ID``: some), ``--workers`` at a time, each in its
own sandboxed ``nbgrader autograde`` (``grade_job.py``), and writes the results where nbgrader keeps them
(``gradebook_writer.py``): formgrader, ``nbgrader generate_feedback`` and ``nbgrader export`` work unchanged,
and the scores are the ones ``nbgrader autograde LAB`` gives, cell by cell.

By default a submission costs its scoring only: the answer cells are scored, the other cells keep the outputs
the learner submitted (marked so in feedback). ``--rerun`` re-runs each notebook whole, as nbgrader does.
``--scheduler tcp://HOST:8786`` sends the same jobs to a Dask cluster instead of local workers.

Exit status: 0 when every submission asked for was graded (or was unchanged), 1 otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import gradebook_writer as writer
from .grade_job import Job, JobFailed, Result, read_tree, run_job

RETRIES = 1  # a job that fails for the grader's reasons (a worker that died, a hang) is tried once more


@dataclass
class Outcome:
    student: str
    state: str  # "graded", "unchanged" or "failed"
    reason: str = ""
    seconds: float = 0.0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dlcourse grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("lab", help="the assignment's name, e.g. 05-convolution")
    parser.add_argument("--course", type=Path, default=Path("."), help="the nbgrader course folder (default: .)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: the cores)"
    )
    parser.add_argument("--student", action="append", default=[], help="grade this student only (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade every submission, changed or not")
    parser.add_argument(
        "--rerun", action="store_true", help="re-run each notebook whole for feedback (slower; points are the same)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="time limit of one submission's grading (default: every test cell's limit, plus the feedback run's "
        "with --rerun, plus two minutes)",
    )
    parser.add_argument("--scheduler", help="a Dask scheduler's address (tcp://HOST:8786) to grade on its workers")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    return args


# --- the course as nbgrader sees it ------------------------------------------------------------------------------


def load_course_config(course: Path):
    """The course's nbgrader configuration (its db_url and course_id among them) as nbgrader reads it."""
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        raise SystemExit(
            f"dlcourse grade: no nbgrader_config.py in {course.resolve()}; run it from course/ or give --course"
        )
    return PyFileConfigLoader(path.name, path=str(course)).load_config()


def db_url_of(course: Path, config) -> str:
    url = config.get("CourseDirectory", {}).get("db_url")
    if isinstance(url, str) and url:
        return url
    return f"sqlite:///{(course / 'gradebook.db').resolve()}"


def job_seconds(config, test_cells: int, rerun: bool) -> float:
    """Past this, a job is stopped as hung: never before nbgrader itself would have given up, so that a
    submission whose every test cell loops is graded zero, as serially, not "failed". Each test cell may take
    ScoreTests.seconds_per_test; the feedback run SandboxedExecute.run_seconds; two minutes for the rest."""
    per_test = float(config.get("ScoreTests", {}).get("seconds_per_test", 60))
    run = float(config.get("SandboxedExecute", {}).get("run_seconds", 600)) if rerun else 0.0
    return test_cells * (per_test + 5) + run + 120.0


def lab_notebooks(db_url: str, lab: str) -> tuple[list[str], int]:
    """The lab's notebook names and its number of graded test cells, as the gradebook defines them."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        notebooks = gb.find_assignment(lab).notebooks
        return [nb.name for nb in notebooks], sum(len(nb.grade_cells) for nb in notebooks)


def submissions(course: Path, lab: str) -> list[str]:
    """Students with an entry for ``lab`` in submitted/, as nbgrader lists them (a folder that is a link counts:
    it is graded as empty, never followed; see submitted_files)."""
    top = course / "submitted"
    if not top.is_dir():
        return []
    return [student for student in sorted(os.listdir(top)) if os.path.lexists(top / student / lab)]


def submitted_files(course: Path, lab: str, student: str, notebooks: list[str], max_bytes: int) -> dict[str, bytes]:
    """The submission's regular files, read as nbgrader autograde reads them here (SubmittedFilesOnly): nothing
    under a linked student or lab folder; a notebook that exists but is no regular file (a link, a FIFO) is sent
    as an empty file, which autograde grades as an empty notebook, as it would have serially."""
    folder = course / "submitted" / student / lab
    linked = folder.is_symlink() or folder.parent.is_symlink()
    files = {} if linked or not folder.is_dir() else read_tree(folder, max_bytes)
    for name in notebooks:
        if f"{name}.ipynb" not in files and os.path.lexists(folder / f"{name}.ipynb"):
            files[f"{name}.ipynb"] = b""
    if linked:
        files.update({f"{name}.ipynb": b"" for name in notebooks})
    return files


# --- running jobs -------------------------------------------------------------------------------------------------


def local_executor(workers: int) -> concurrent.futures.Executor:
    """Threads that each wait on one nbgrader subprocess: the work happens in the subprocesses."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dlcourse-grade")


def dask_executor(address: str):
    """The same executor interface on a Dask cluster; each job runs ``run_job`` on a Dask worker."""
    try:
        from distributed import Client
    except ImportError:
        raise SystemExit(
            'dlcourse grade --scheduler needs Dask\'s distributed package: python -m pip install -e ".[instructor]"'
        ) from None
    client = Client(address, timeout="30s")
    return client, client.get_executor(pure=False)


class _Progress:
    def __init__(self, total: int, quiet: bool):
        self.bar = None
        if not quiet and total:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="submission", file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def done(self, outcome: Outcome) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{outcome.student}: {outcome.state}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def grade_class(
    course: Path,
    lab: str,
    *,
    workers: int = 1,
    students: list[str] | None = None,
    force: bool = False,
    rerun: bool = False,
    seconds: float | None = None,
    scheduler: str | None = None,
    quiet: bool = True,
    log=print,
) -> list[Outcome]:
    """Grade ``lab``'s submissions in ``course``; one Outcome per submission asked for."""
    course = course.resolve()
    # nbgrader's Gradebook runs `alembic` by name on a new database: this interpreter's scripts first on PATH,
    # as course/nbgrader_config.py does, so that it works without activating the virtual environment.
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    config = load_course_config(course)
    _quiet_gradebook()
    db_url = db_url_of(course, config)
    config_bytes = (course / "nbgrader_config.py").read_bytes()
    source_folder = course / "source" / lab
    if not source_folder.is_dir():
        raise SystemExit(f"dlcourse grade: no source/{lab} in {course}")
    source_files = {k: v for k, v in read_tree(source_folder, 1 << 30).items() if not k.endswith(".ipynb")}
    try:
        template = writer.template_gradebook(db_url, lab)
    except Exception as err:  # noqa: BLE001 - nbgrader's MissingEntry and the database's errors alike
        raise SystemExit(
            f"dlcourse grade: {lab} is not in the gradebook ({type(err).__name__}); run "
            f"`nbgrader generate_assignment {lab}` first"
        ) from None
    grader_print = writer.definition_fingerprint(template, config_bytes, source_files)
    notebooks, test_cells = lab_notebooks(db_url, lab)
    seconds = seconds or job_seconds(config, test_cells, rerun)
    max_bytes = int(float(config.get("Autograde", {}).get("max_submission_mb", 32)) * 2**20)

    everyone = submissions(course, lab)
    wanted = everyone if not students else [s for s in everyone if s in students]
    outcomes: list[Outcome] = [
        Outcome(s, "failed", f"no submission of {lab} in submitted/{s}/") for s in (students or []) if s not in everyone
    ]
    done_before = writer.read_record(course, lab)
    jobs: dict[str, tuple[Job, str]] = {}
    for student in wanted:
        files = submitted_files(course, lab, student, notebooks, max_bytes)
        sub_print = writer.submission_fingerprint(files)
        previous = done_before.get(student, {})
        if not force and previous.get("submission") == sub_print and previous.get("grader") == grader_print:
            outcomes.append(Outcome(student, "unchanged"))
            continue
        job = Job(
            lab=lab,
            student=student,
            config=config_bytes,
            gradebook=template,
            source_files=source_files,
            submission=files,
            rerun=rerun,
            seconds=seconds,
            preflight=scheduler is not None,
        )
        jobs[student] = (job, sub_print)
    if not jobs:
        return outcomes

    if scheduler is None:
        import threading

        from .grade_job import warm_up

        warming = threading.Thread(target=warm_up, daemon=True)
        warming.start()  # the workers' imports load while the preflight proves this machine can grade
        _prove_here()
        warming.join()
        executor, client = local_executor(workers), None
    else:
        client, executor = dask_executor(scheduler)
    progress = _Progress(len(jobs), quiet)
    started = time.monotonic()
    attempts = {student: 0 for student in jobs}
    pending: dict[concurrent.futures.Future, str] = {}
    try:
        for student, (job, _) in jobs.items():
            pending[executor.submit(run_job, job)] = student
            attempts[student] += 1
        while pending:
            finished, _ = concurrent.futures.wait(list(pending), return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                student = pending.pop(future)
                job, sub_print = jobs[student]
                try:
                    result: Result = future.result()
                except Exception as err:  # noqa: BLE001 - a worker's failure of any kind: retried, then reported
                    reason = _reason(err)
                    if attempts[student] <= RETRIES and getattr(err, "retry", True):
                        log(f"{student}: {reason}; trying once more")
                        pending[executor.submit(run_job, job)] = student
                        attempts[student] += 1
                        continue
                    writer.forget(course, lab, student)
                    outcome = Outcome(student, "failed", reason)
                else:
                    writer.record(course, db_url, result, notebooks, (sub_print, grader_print), config=config)
                    outcome = Outcome(student, "graded", seconds=result.seconds)
                outcomes.append(outcome)
                progress.done(outcome)
    except KeyboardInterrupt:
        for future in pending:
            future.cancel()
        log("interrupted: the submissions graded so far are recorded; run the same command again to go on")
        raise
    finally:
        progress.close()
        if client is None:
            executor.shutdown(wait=False, cancel_futures=True)
        else:
            client.close()
    log(
        f"grading took {time.monotonic() - started:.1f} s for {len(jobs)} submission(s) "
        f"({'on ' + scheduler if scheduler else f'{workers} worker(s)'})"
    )
    return outcomes


def _quiet_gradebook() -> None:
    """SQLAlchemy 2 warns three times per new submission that nbgrader's gradebook adds rows along back-references
    it no longer follows; nbgrader adds them itself and every grade is stored (course/nbgrader_config.py says
    the same and filters it likewise)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings(
        "ignore", message=r"Object of type <\w+> not in session, add operation along", category=SAWarning
    )


def _prove_here() -> None:
    from ..autograde.preflight import PreflightFailed, preflight

    try:
        preflight()
    except PreflightFailed as err:
        raise SystemExit(f"dlcourse grade: {err}") from None


def _reason(err: BaseException) -> str:
    if isinstance(err, JobFailed):
        text = str(err)
    else:
        text = f"the worker failed ({type(err).__name__}: {err})"
    return " ".join(text.split())[:400]


def summary(outcomes: list[Outcome], minutes: float) -> str:
    counts = {state: sum(o.state == state for o in outcomes) for state in ("graded", "unchanged", "failed")}
    lines = [
        f"{'graded':>10} {counts['graded']:>5}",
        f"{'unchanged':>10} {counts['unchanged']:>5}",
        f"{'failed':>10} {counts['failed']:>5}",
        f"{'minutes':>10} {minutes:>5.1f}",
    ]
    for outcome in sorted(outcomes, key=lambda o: o.student):
        if outcome.state == "failed":
            lines.append(f"  failed: {outcome.student}: {outcome.reason}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    started = time.monotonic()
    try:
        outcomes = grade_class(
            args.course,
            args.lab,
            workers=args.workers,
            students=args.student,
            force=args.force,
            rerun=args.rerun,
            seconds=args.seconds,
            scheduler=args.scheduler,
            quiet=args.quiet,
            log=lambda text: print(text, file=sys.stderr),
        )
    except KeyboardInterrupt:
        return 130
    print(summary(outcomes, (time.monotonic() - started) / 60))
    return 0 if all(o.state != "failed" for o in outcomes) else 1
