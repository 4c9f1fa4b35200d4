"""A student's install: ``pip install .`` (not editable, no extras) into a fresh virtual environment.

The package, its data and a lab's set-up cell must work there; the instructor's command must say what to
install instead of failing with ModuleNotFoundError.
"""

import os
import subprocess
import venv

import pytest
from course_helpers import LABS, ROOT, setup_cell, source_notebook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student_python(tmp_path_factory):
    env = tmp_path_factory.mktemp("student-venv")
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The CPU build first, as README advises on a machine without a GPU (here it comes from the local cache).
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    subprocess.run(pip + [str(ROOT)], check=True)
    return python


CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the student's venv and nothing else


def _run(python, code, cwd):
    return subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd, env=CLEAN_ENV)


def test_the_package_imports_from_a_plain_install(student_python, tmp_path):
    proc = _run(
        student_python,
        "import dlcourse, dlcourse.functional, dlcourse.nn, dlcourse.feedback; print(dlcourse.__file__)",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "site-packages" in proc.stdout  # the installed copy, not the repository
    proc = _run(
        student_python, "from dlcourse.data import load_digits; X, y = load_digits()[:2]; print(X.shape)", tmp_path
    )
    assert proc.returncode == 0 and "(4000," in proc.stdout, proc.stderr


@pytest.mark.parametrize("lab", LABS[:1] + LABS[-1:])
def test_a_labs_set_up_cell_runs(student_python, tmp_path, lab):
    code = "import matplotlib; matplotlib.use('Agg')\n" + setup_cell(source_notebook(lab)).source
    proc = _run(student_python, code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dlcourse is ready" in proc.stdout


def test_the_build_command_says_what_to_install(student_python, tmp_path):
    help_text = subprocess.run(
        [student_python, "-m", "dlcourse", "build", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=CLEAN_ENV,
    )
    assert help_text.returncode == 0 and "[instructor]" in help_text.stdout, help_text.stderr
    proc = subprocess.run(
        [student_python, "-m", "dlcourse", "build"], capture_output=True, text=True, cwd=ROOT, env=CLEAN_ENV
    )
    assert proc.returncode == 2 and "[instructor]" in proc.stderr and "Traceback" not in proc.stderr
