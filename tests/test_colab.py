"""The labs where Colab's versions are: ipywidgets 7, Colab's numpy and matplotlib, the course installed with
``--no-deps`` as each lab's set-up cell installs it. Every lab's solution is executed there by
test_course.py (its ``executed_solutions`` fixture runs on this kernel); here: the environment is what it
claims to be, and the explorers' widgets work on ipywidgets 7 as the tests drive them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from course_helpers import LABS, ROOT, setup_cell, source_notebook

pytestmark = pytest.mark.slow


def _kernel_python(kernel_name: str) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().get_kernel_spec(kernel_name).argv[0]


def _pinned() -> dict[str, str]:
    lines = (Path(__file__).with_name("colab-packages.txt")).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_the_environment_has_colabs_versions_and_the_course_without_its_own(colab_kernel):
    python = _kernel_python(colab_kernel)
    code = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{n: m.version(n) for n in {sorted(_pinned())!r} + ['dlcourse']}}))"
    )
    versions = json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    for name, pinned in _pinned().items():
        assert versions[name].split("+")[0] == pinned, f"{name} {versions[name]}, Colab has {pinned}"
    assert versions["ipywidgets"].startswith("7."), "Colab's ipywidgets is 7.x"
    import dlcourse

    assert versions["dlcourse"] == dlcourse.__version__


def test_the_set_up_cell_installs_as_this_environment_was_made():
    """What the fixture emulates is what every lab's set-up cell does on Colab."""
    for lab in LABS:
        setup = setup_cell(source_notebook(lab)).source
        install = re.search(r'\[sys\.executable, "-m", "pip", "install", (.*?)\]', setup, re.S).group(1)
        assert '"--no-deps"' in install and '"mlxtend"' in install and '"dlcourse @ git+https://' in install, lab


def test_the_explorers_widgets_work_on_ipywidgets_7(colab_kernel):
    """tests/test_explorers.py, run by the Colab-like Python: every widget built, driven and redrawn there."""
    python = _kernel_python(colab_kernel)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest", "pytest-timeout"],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [python, "-P", "-m", "pytest", "tests/test_explorers.py", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout and sys.executable != python
