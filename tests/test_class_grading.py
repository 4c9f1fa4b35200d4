"""A synthetic class graded five ways gets the same points, cell by cell (issue 24's "done when").

The class: the model answer, the blank lab, and one catalogued mistake per exercise of lab 01. Graded
serially by ``nbgrader autograde`` (the reference), then by ``dlcourse grade --workers 2``; again after the
coordinator is killed with SIGKILL mid-run and the same command resumes; again through a real Dask scheduler
with two workers; again into a PostgreSQL gradebook on a scratch server. The adversarial corpus is compared
the same way in tests/test_adversarial.py (its serial run is the reference there).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from course_helpers import (
    ROOT,
    _independent,
    exercises_in,
    graded_cells,
    solution_cells,
    solved,
    source_notebook,
    without_demos,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
LAB = "01-neuron"


def run(*args, cwd, check=True, env=None):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def gradebook_dump(db_url: str) -> dict:
    """Every score, flag, comment and penalty of LAB, by (student, notebook, cell)."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(db_url) as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission(LAB, student.id)
            except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: no submission
                continue
            for nb in submission.notebooks:
                for grade in nb.grades:
                    found[(student.id, nb.name, grade.name)] = (
                        grade.auto_score,
                        grade.manual_score,
                        grade.needs_manual_grade,
                        grade.max_score,
                    )
                for comment in nb.comments:
                    found[(student.id, nb.name, "comment " + comment.name)] = comment.auto_comment
                found[(student.id, nb.name, "late penalty")] = nb.late_submission_penalty
    return found


def _free_names(src: str) -> set[str]:
    tree = ast.parse(src)
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assigned |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - assigned - set(dir(__builtins__) if isinstance(__builtins__, dict) else dir(__builtins__))


def mistaken(release, source, name: str):
    """The model answer, with ``name`` replaced by the first catalogued mistake whose code stands alone (NumPy
    only), as a learner would have written it; None if no mistake of ``name`` does, or if another answer calls
    ``name`` (its cell's points would then depend on the hidden cases drawn, which are fresh for every run)."""
    from dlcourse.feedback.exercises import EXERCISES

    for mistake in EXERCISES[name].mistakes:
        try:
            src = inspect.getsource(mistake.fn)
        except (OSError, TypeError):
            continue
        if not src.startswith("def ") or _free_names(src) - {"np", mistake.fn.__name__}:
            continue
        nb = solved(release, source)
        for cell, src_cell in zip(solution_cells(nb), solution_cells(source)):
            if f"def {name}(" in src_cell.source:
                if not _independent(source, name, src_cell.source):
                    return None
                cell.source += f"\n\n{src}\n{name} = {mistake.fn.__name__}\n"
                return mistake.name, nb
    return None


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A course with LAB generated and the class submitted, not yet graded; and the serial reference."""
    course = tmp_path_factory.mktemp("class") / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "course" / "source" / LAB, course / "source" / LAB)
    run("nbgrader", "generate_assignment", LAB, "--force", cwd=course)
    release = nbformat.read(course / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    source = source_notebook(LAB)
    students = {"solution": solved(release, source), "blank": release}
    for cell in graded_cells(source):
        for name in exercises_in(cell.source):
            made = mistaken(release, source, name)
            if made:
                students[f"mistake-{made[0]}"] = made[1]
    assert len(students) >= 5, sorted(students)  # the model answer, the blank lab, a mistake per exercise
    for student, nb in students.items():
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(without_demos(nb, release), folder / f"{LAB}.ipynb")
    serial = tmp_path_factory.mktemp("serial") / "course"
    shutil.copytree(course, serial)
    run("nbgrader", "autograde", LAB, "--force", cwd=serial)
    reference = gradebook_dump(f"sqlite:///{serial / 'gradebook.db'}")
    assert reference, "the serial run graded nobody"
    points = {k: v for k, v in reference.items() if k[0] == "solution" and isinstance(v, tuple)}
    assert all(v[0] == v[3] for k, v in points.items() if not k[2].startswith("written")), points
    assert any(v[0] == 0 for k, v in reference.items() if k[0].startswith("mistake-") and isinstance(v, tuple))
    return {"course": course, "reference": reference, "students": sorted(students)}


def _copy(klass, tmp_path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(klass["course"], course)
    return course


def _differences(got: dict, want: dict) -> list:
    return [(k, got.get(k), want.get(k)) for k in sorted(set(got) | set(want), key=str) if got.get(k) != want.get(k)]


def test_parallel_grading_equals_serial_and_a_second_run_grades_nothing(klass, tmp_path):
    course = _copy(klass, tmp_path)
    proc = run("dlcourse", "grade", LAB, "--workers", "2", "--quiet", cwd=course)
    counts = dict(line.split() for line in proc.stdout.splitlines()[:3])
    assert counts == {"graded": str(len(klass["students"])), "unchanged": "0", "failed": "0"}, proc.stdout
    assert not _differences(gradebook_dump(f"sqlite:///{course / 'gradebook.db'}"), klass["reference"])
    again = run("dlcourse", "grade", LAB, "--quiet", cwd=course)
    counts = dict(line.split() for line in again.stdout.splitlines()[:3])
    assert counts == {"graded": "0", "unchanged": str(len(klass["students"])), "failed": "0"}, again.stdout
    # formgrader's and export's view: nbgrader reads what dlcourse grade wrote
    run("nbgrader", "export", "--to", str(course / "grades.csv"), cwd=course)
    assert (course / "grades.csv").read_text().count(LAB) == len(klass["students"])
    run("nbgrader", "generate_feedback", LAB, "--student", "blank", cwd=course)
    assert (course / "feedback" / "blank" / LAB / f"{LAB}.html").is_file()


def test_a_coordinator_killed_mid_run_resumes_where_it_stopped(klass, tmp_path):
    course = _copy(klass, tmp_path)
    record = course / ".dlcourse" / f"graded-{LAB}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcourse", "grade", LAB, "--workers", "2", "--quiet"],
        cwd=course,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if record.exists() and len(json.loads(record.read_text() or "{}")) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(json.loads(record.read_text()))
    assert 2 <= done < len(klass["students"])
    resumed = run("dlcourse", "grade", LAB, "--workers", "2", "--quiet", cwd=course)
    counts = dict(line.split() for line in resumed.stdout.splitlines()[:3])
    assert int(counts["unchanged"]) == done and int(counts["graded"]) == len(klass["students"]) - done
    assert counts["failed"] == "0", resumed.stdout
    assert not _differences(gradebook_dump(f"sqlite:///{course / 'gradebook.db'}"), klass["reference"])
    leftovers = [p.name for p in (course / "autograded").glob("*/.*")]
    assert not leftovers, leftovers  # no half-written folder is left where nbgrader looks


def test_ctrl_c_stops_at_once_and_the_same_command_goes_on(klass, tmp_path):
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group, workers included): the command exits
    130 at once, saying so, with every submission graded so far recorded and no half-written folder; the same
    command again grades only the rest, and the gradebook equals the serial run's."""
    course = _copy(klass, tmp_path)
    record = course / ".dlcourse" / f"graded-{LAB}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcourse", "grade", LAB, "--workers", "2", "--quiet"],
        cwd=course,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell's foreground job
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if record.exists() and len(json.loads(record.read_text() or "{}")) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    interrupted = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    stopped_after = time.monotonic() - interrupted
    assert proc.returncode == 130, (proc.returncode, out, err[-3000:])
    assert "interrupted" in err and "Traceback" not in err, err[-3000:]
    assert stopped_after < 30, f"Ctrl-C took {stopped_after:.0f} s to stop the command"
    done = len(json.loads(record.read_text()))
    assert 2 <= done < len(klass["students"])
    assert not [p.name for p in (course / "autograded").glob("*/.*")]
    resumed = run("dlcourse", "grade", LAB, "--workers", "2", "--quiet", cwd=course)
    counts = dict(line.split() for line in resumed.stdout.splitlines()[:3])
    assert int(counts["unchanged"]) == done and int(counts["graded"]) == len(klass["students"]) - done
    assert counts["failed"] == "0", resumed.stdout
    assert not _differences(gradebook_dump(f"sqlite:///{course / 'gradebook.db'}"), klass["reference"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    port = _free_port()
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            stdout=subprocess.DEVNULL,
            stderr=open(logs / "scheduler.log", "w"),  # noqa: SIM115 - closed with the process
        )
    ]
    try:
        _wait_for_port(port)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1"]
                    + ["--host", "127.0.0.1", "--dashboard-address", ":0", "--name", f"grader-{i}"],
                    stdout=subprocess.DEVNULL,
                    stderr=open(logs / f"worker-{i}.log", "w"),  # noqa: SIM115
                    cwd=tmp_path,
                )
            )
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_dask_cluster_grades_the_same(klass, tmp_path, dask_cluster):
    course = _copy(klass, tmp_path)
    proc = run("dlcourse", "grade", LAB, "--scheduler", dask_cluster, "--quiet", cwd=course)
    counts = dict(line.split() for line in proc.stdout.splitlines()[:3])
    assert counts["graded"] == str(len(klass["students"])) and counts["failed"] == "0", proc.stdout
    assert not _differences(gradebook_dump(f"sqlite:///{course / 'gradebook.db'}"), klass["reference"])
    hosts = {entry["host"] for entry in json.loads((course / ".dlcourse" / f"graded-{LAB}.json").read_text()).values()}
    assert hosts == {socket.gethostname()}


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres():
    """A scratch PostgreSQL server on loopback, as a non-root user (the server refuses to run as root)."""
    binaries = _postgres_bin()
    if binaries is None:
        if os.environ.get("DLCOURSE_POSTGRES_TESTS") == "1":
            pytest.fail("DLCOURSE_POSTGRES_TESTS=1 but PostgreSQL's server binaries are missing")
        pytest.skip("needs Debian's postgresql package (initdb, pg_ctl)")
    pytest.importorskip("psycopg")
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-pg-", dir="/tmp"))
    folder.chmod(0o755)
    data, port = folder / "data", _free_port()
    as_user = []
    if os.geteuid() == 0:
        import pwd

        os.chown(folder, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    subprocess.run(
        [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_gradebook_holds_the_same_grades(klass, tmp_path, postgres):
    course = _copy(klass, tmp_path)
    (course / "gradebook.db").unlink()
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.CourseDirectory.db_url = {postgres!r}\n")
    run("nbgrader", "generate_assignment", LAB, "--force", cwd=course)
    proc = run("dlcourse", "grade", LAB, "--workers", "2", "--quiet", cwd=course)
    assert "failed     0" in proc.stdout, proc.stdout
    assert not (course / "gradebook.db").exists()  # nothing went to a SQLite file by mistake
    assert not _differences(gradebook_dump(postgres), klass["reference"])
    run("nbgrader", "export", "--to", str(course / "grades.csv"), cwd=course)
    assert (course / "grades.csv").read_text().count(LAB) == len(klass["students"])
