"""README's commands, as a newcomer runs them: ``python start.py`` (the right PyTorch build, root-safe JupyterLab
on the learner's own copies of the labs, nothing reinstalled when nothing changed) and the instructor's way in
(``python start.py --instructor``, activate, grade with nbgrader).

The fast tests check the decisions; the slow one runs README's commands on a copy of the repository as a new user
would (here as root): opens JupyterLab, measures the environment, installs the instructor's tools, grades lab 01's
model answer, a blank and a wrong answer, and checks that a sandbox that cannot start stops grading.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from course_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("start", ROOT / "start.py")
start = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(start)


def test_linux_without_a_gpu_gets_the_cpu_build():
    assert start.torch_install_args("Linux", gpu=False) == ["torch", "--index-url", start.CPU_INDEX]
    assert start.CPU_INDEX == "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("system,gpu", [("Linux", True), ("Darwin", False), ("Windows", False), ("Windows", True)])
def test_pip_default_build_elsewhere(system, gpu):
    assert start.torch_install_args(system, gpu=gpu) == ["torch"]


def test_no_gpu_without_nvidia_smi(monkeypatch):
    monkeypatch.setattr(start.shutil, "which", lambda name: None)
    assert start.has_nvidia_gpu() is False


def test_jupyterlab_opens_on_the_copies_and_allows_root_only_as_root(tmp_path):
    python, work = tmp_path / "bin" / "python", ROOT / start.WORK
    as_user = start.jupyterlab_args(python, work, is_root=False)
    as_root = start.jupyterlab_args(python, work, is_root=True)
    assert as_user[:3] == [str(python), "-m", "jupyterlab"] and f"--ServerApp.root_dir={work}" in as_user
    assert "--allow-root" not in as_user and as_root == as_user + ["--allow-root"]
    assert start.jupyterlab_args(python, work, False, ["--port", "8890"])[-2:] == ["--port", "8890"]


def test_dlcourse_torch_names_the_requirement_from_pips_own_sources():
    assert start.torch_install_args("Linux", False, requirement="torch==2.13.0+cpu") == ["torch==2.13.0+cpu"]
    assert start.torch_install_args("Linux", False, requirement="  ") == ["torch", "--index-url", start.CPU_INDEX]


def test_arguments_go_to_pytest_or_jupyterlab_only(capsys):
    with pytest.raises(SystemExit):
        start.main(["--instructor", "-k", "something"])
    assert "--test passes them to pytest" in capsys.readouterr().err


def test_the_cpu_index_falls_back_to_pips_default_when_unreachable(monkeypatch, tmp_path):
    calls = []

    def fake_run(args):
        calls.append(args)
        if "--index-url" in args:
            raise subprocess.CalledProcessError(1, args)

    monkeypatch.setattr(start, "_run", fake_run)
    monkeypatch.setattr(start, "_has_torch", lambda python: False)
    monkeypatch.setattr(start, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(start.platform, "system", lambda: "Linux")
    monkeypatch.setattr(start.venv.EnvBuilder, "create", lambda self, env: env.mkdir())
    monkeypatch.delenv("DLCOURSE_TORCH", raising=False)
    start.install(tmp_path / "env", "lab")
    assert "--index-url" in calls[0] and calls[1][-1] == "torch" and calls[2][-1].endswith("[lab]")


def test_a_second_run_with_nothing_changed_skips_pip(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(start, "_run", calls.append)
    monkeypatch.setattr(start, "_has_torch", lambda python: True)

    def fake_venv(self, env):
        start.venv_python(env).parent.mkdir(parents=True)
        start.venv_python(env).touch()

    monkeypatch.setattr(start.venv.EnvBuilder, "create", fake_venv)
    env = tmp_path / "env"
    start.install(env, "lab")
    assert len(calls) == 1 and calls[0][-1].endswith("[lab]")
    start.install(env, "lab")
    assert len(calls) == 1, "nothing changed: pip must not run again"
    start.install(env, "lab,instructor")  # a new extra: installed, the earlier one kept
    assert len(calls) == 2 and calls[1][-1].endswith("[instructor,lab]")
    start.install(env, "lab")
    assert len(calls) == 2
    stamp = json.loads((env / start.STAMP).read_text())
    (env / start.STAMP).write_text(json.dumps(dict(stamp, pyproject="changed")))
    start.install(env, "lab")  # pyproject.toml changed since: install again
    assert len(calls) == 3


def test_labs_are_copied_once_and_never_overwritten(tmp_path, capsys):
    labs, work = tmp_path / "labs", tmp_path / "my-labs"
    labs.mkdir()
    (labs / "01-neuron.ipynb").write_text("v1")
    assert start.copy_labs(labs, work) == [] and (work / "01-neuron.ipynb").read_text() == "v1"
    (work / "01-neuron.ipynb").write_text("my answers")
    (labs / "02-learning.ipynb").write_text("new lab")
    assert start.copy_labs(labs, work) == []
    assert (work / "01-neuron.ipynb").read_text() == "my answers" and (
        work / "02-learning.ipynb"
    ).read_text() == "new lab"
    (labs / "01-neuron.ipynb").write_text("v2")  # the course updated lab 01 after it was copied
    assert start.copy_labs(labs, work) == ["01-neuron.ipynb"]
    assert (work / "01-neuron.ipynb").read_text() == "my answers"
    start._say_updated(["01-neuron.ipynb"])
    assert "your copy is kept" in capsys.readouterr().out


def test_my_labs_is_not_tracked_by_git():
    proc = subprocess.run(["git", "check-ignore", "-q", f"{start.WORK}/01-neuron.ipynb"], cwd=ROOT)
    assert proc.returncode == 0


# --- end to end ---------------------------------------------------------------------------------------------

VENV_LIMIT = 2 * 2**30  # bytes: the bound for a laptop without a GPU


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink())


def _local_cpu_index(where: Path) -> str:
    """A PEP 503 index holding a CPU build of this machine's PyTorch and what it needs, standing in for
    PyTorch's CPU index (this machine reaches only the package registries). Returns its URL."""
    import torch

    if not torch.__version__.endswith("+cpu"):
        pytest.skip(f"this environment's PyTorch ({torch.__version__}) is not a CPU build to stand in with")
    wheels = where / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "-d", str(wheels)]
        + [f"torch=={torch.__version__}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"no wheel of torch {torch.__version__} within reach: {proc.stderr[-300:]}")
    simple = where / "simple"
    for wheel in wheels.glob("*.whl"):
        project = wheel.name.split("-")[0].lower().replace("_", "-")
        (simple / project).mkdir(parents=True, exist_ok=True)
        with open(simple / project / "index.html", "a") as page:
            page.write(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return simple.as_uri()


def _copy_of_the_repository(clone: Path) -> None:
    """What a fresh clone holds: the tracked files (and new ones not ignored), nothing built here."""
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in tracked.splitlines():
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)


def _wait_for_listing(server: subprocess.Popen, port: int, seconds: float) -> dict | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t", timeout=2) as reply:
                return json.load(reply)
        except OSError:
            time.sleep(1)
    return None


def _in_activated_course(clone: Path, commands: str, env: dict, course: str = "course") -> subprocess.CompletedProcess:
    """README's instructor commands, as printed: in a shell that sourced .venv/bin/activate, from course/."""
    script = f"set -e\nsource .venv/bin/activate\ncd {course}\n{commands}\n"
    return subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)


def _grades(csv_path: Path) -> dict[str, float]:
    import csv

    with open(csv_path) as rows:
        return {row["student_id"]: float(row["raw_score"] or 0) for row in csv.DictReader(rows)}


def _submit(course: Path, student: str, nb) -> None:
    import nbformat

    folder = course / "submitted" / student / "01-neuron"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "01-neuron.ipynb")


@pytest.mark.slow
@pytest.mark.timeout(3000)
@pytest.mark.skipif(sys.platform != "linux", reason="the CPU-only build and grading's sandbox are Linux questions")
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
def test_readme_commands_from_a_fresh_clone_open_the_labs_and_grade_them(tmp_path):
    import nbformat
    from course_helpers import defined_functions, exercises_in, graded_cells, nbgrader_meta, solution_cells, solved
    from course_helpers import source_notebook as read_source

    readme = (ROOT / "README.md").read_text()
    for line in ("python start.py\n", "python start.py --instructor", "source .venv/bin/activate"):
        assert line in readme, f"README no longer says {line.strip()!r}: update this test with it"
    clone = tmp_path / "dlcourse"
    _copy_of_the_repository(clone)
    index = _local_cpu_index(tmp_path / "index")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DLCOURSE_TORCH")}
    env["DLCOURSE_TORCH_INDEX"] = index
    # The Python a new user has: the one this test environment was made from, not its virtual environment.
    base_python = getattr(sys, "_base_executable", sys.executable)

    # 1. README's first command (arguments after it go to JupyterLab: no browser, a free port, a known token).
    port = free_port()
    log = open(tmp_path / "start.log", "w")  # noqa: SIM115 - closed below, after the server stops
    server = subprocess.Popen(
        [base_python, "start.py", "--no-browser", f"--port={port}", "--IdentityProvider.token=t"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # start.py runs JupyterLab as its child: both are ended below (it left a server behind)
    )
    try:
        listing = _wait_for_listing(server, port, seconds=1500)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
    said = (tmp_path / "start.log").read_text()
    assert listing is not None, said[-3000:]
    assert "no NVIDIA GPU found" in said or "GPU build" in said
    names = {item["name"] for item in listing["content"]}
    assert "01-neuron.ipynb" in names, names  # the learner's copies, at the root of the file browser
    assert (clone / "my-labs" / "01-neuron.ipynb").read_bytes() == (clone / "labs" / "01-neuron.ipynb").read_bytes()

    venv_size = _size(clone / ".venv")
    print(f"\nREADME's first command left a virtual environment of {venv_size / 2**30:.2f} GiB")
    assert venv_size < VENV_LIMIT, f"{venv_size / 2**30:.2f} GiB"
    python = str(clone / ".venv" / "bin" / "python")
    # The students' tools: the labs' imports and `dlcourse validate`, not the instructor's nbgrader.
    check = subprocess.run(
        [python, "-c", "import dlcourse.explorers.widgets, nbclient, ipywidgets, importlib.util as u; "
         "print(u.find_spec('nbgrader') is None)"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert check.returncode == 0 and check.stdout.strip() == "True", check.stderr

    # 2. Run again with nothing changed: no pip, and the command that opens JupyterLab comes last.
    again = subprocess.run([base_python, "start.py", "--no-open"], cwd=clone, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing to install" in again.stdout and "-m pip" not in again.stdout, again.stdout
    command = again.stdout.strip().splitlines()[-1].split()
    assert command[:3] == [python, "-m", "jupyterlab"] and ("--allow-root" in command) == (os.geteuid() == 0)

    # 3. The instructor's way in, as README prints it.
    instructor = subprocess.run(
        [base_python, "start.py", "--instructor"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert instructor.returncode == 0, instructor.stdout[-3000:] + instructor.stderr[-3000:]
    assert "bubblewrap is installed" in instructor.stdout
    made = _in_activated_course(clone, "nbgrader generate_assignment 01-neuron", env)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
    course = clone / "course"
    release = nbformat.read(course / "release" / "01-neuron" / "01-neuron.ipynb", as_version=4)
    source = read_source("01-neuron")
    model = solved(release, source)
    wrong = solved(release, source)
    cell = next(c for c in solution_cells(wrong) if "relu" in defined_functions(c.source))
    params = ", ".join(defined_functions(cell.source)["relu"])
    cell.source += f"\n\ndef relu({params}):\n    return np.maximum({params.split(',')[0]}, 0.1)\n"
    for student, nb in (("model", model), ("blank", release), ("wrong", wrong)):
        _submit(course, student, nb)
    # README's workflow grades with `dlcourse grade` (nbgrader autograde in parallel); step 4 uses nbgrader's own.
    assert "\ndlcourse grade 01-neuron " in readme and "\nnbgrader export --to grades.csv" in readme
    graded = _in_activated_course(clone, "dlcourse grade 01-neuron\nnbgrader export --to grades.csv", env)
    assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr[-4000:]
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in graded_cells(source)}
    tests = {
        nbgrader_meta(c)["grade_id"]: exercises_in(c.source) for c in graded_cells(source) if c.cell_type == "code"
    }
    full = sum(points[g] for g in tests)
    relu_points = sum(points[g] for g, names in tests.items() if "relu" in names)
    assert 0 < relu_points < full
    assert _grades(course / "grades.csv") == {"model": full, "blank": 0.0, "wrong": full - relu_points}

    # 4. A sandbox that cannot start (no user namespaces, say): grading stops, says why, records nothing.
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    (broken / "bwrap").chmod(0o755)
    second = clone / "course2"
    second.mkdir()
    shutil.copy(course / "nbgrader_config.py", second)
    shutil.copytree(course / "source" / "01-neuron", second / "source" / "01-neuron")
    assert _in_activated_course(clone, "nbgrader generate_assignment 01-neuron", env, "course2").returncode == 0
    _submit(second, "model", model)
    refused = _in_activated_course(clone, f"export PATH={broken}:$PATH\nnbgrader autograde 01-neuron", env, "course2")
    assert refused.returncode != 0
    assert "No permissions to create new namespace" in refused.stdout + refused.stderr
    assert not (second / "autograded").exists() or not any((second / "autograded").iterdir())
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{second / 'gradebook.db'}") as gb:
        with pytest.raises(MissingEntry):
            gb.find_submission("01-neuron", "model")


def test_the_tests_run_on_two_workers_unless_the_arguments_choose(monkeypatch):
    monkeypatch.setattr(start.os, "cpu_count", lambda: 2)
    assert start.pytest_workers(["-m", "not slow"]) == ["-n", "2", "--dist", "loadgroup"]
    for chosen in (["-n", "4"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"]):
        assert start.pytest_workers(chosen) == [], chosen
    monkeypatch.setattr(start.os, "cpu_count", lambda: 1)
    assert start.pytest_workers([]) == []
