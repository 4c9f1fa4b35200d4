"""Grading works in every Python environment the course makes or names (issue: the instructor's way in).

start.py makes ``.venv`` with ``venv.EnvBuilder`` (a copied interpreter), ``python -m venv`` links to the base
interpreter, ``--copies`` copies it, and Binder's conda or a system Python runs from its own prefix. Each
layout here is a real environment made on the spot, given this test run's packages through a ``.pth`` file;
in each, a sandboxed worker is started and one of the learner's functions is called through it. Before the fix,
the copied layouts failed with bwrap's ``execvp .../bin/python: No such file or directory``, which reached the
learner as "your code's process ended unexpectedly" and scored 0.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from dlcourse.autograde.sandbox import unsandboxed

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not unsandboxed(), reason="grading needs bubblewrap (apt-get install bubblewrap)"
)

PROBE = r"""
import json, sys
from dlcourse.autograde.remote import LearnerProcess
with LearnerProcess(["import numpy as np\ndef double(x):\n    return 2 * np.asarray(x)\n"], deadline=60) as p:
    outcome, changed, _ = p.call("double", {"x": [1.0, 2.0]})
    print(json.dumps({"outcome": outcome.tolist(), "failure": p.failure, "executable": sys.executable}))
"""


def _this_runs_packages() -> list[str]:
    """The site folders this test run imports dlcourse, numpy and nbgrader from."""
    return [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]


def _give_packages(python_prefix: Path) -> None:
    purelib = sysconfig.get_paths(vars={"base": str(python_prefix), "platbase": str(python_prefix)})["purelib"]
    Path(purelib).mkdir(parents=True, exist_ok=True)
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(_this_runs_packages())]
    (Path(purelib) / "zz_dlcourse_test.pth").write_text("\n".join(lines) + "\n")


def _probe(python: str | Path, *extra: str) -> dict:
    proc = subprocess.run([str(python), *extra, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "layout",
    ["start.py (EnvBuilder, copied interpreter)", "python -m venv (links)", "python -m venv --copies"],
)
def test_a_learners_function_is_called_from_every_kind_of_virtual_environment(tmp_path, layout):
    env = tmp_path / "env"
    symlinks = layout == "python -m venv (links)"
    venv.EnvBuilder(with_pip=False, symlinks=symlinks).create(env)
    python = env / "bin" / "python"
    assert python.is_symlink() == symlinks
    _give_packages(env)
    result = _probe(python)
    assert result["failure"] is None and result["outcome"] == [2.0, 4.0]
    assert result["executable"] == str(python)


def test_a_learners_function_is_called_from_a_python_that_is_its_own_prefix(tmp_path):
    """Binder's conda environment and a system Python: no pyvenv.cfg, the packages inside the prefix."""
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    boot = ";".join(f"site.addsitedir({p!r})" for p in dict.fromkeys(_this_runs_packages()))
    code = f"import site;{boot};exec(compile({PROBE!r}, 'probe', 'exec'))"
    proc = subprocess.run([str(base), "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failure"] is None and result["outcome"] == [2.0, 4.0]


def test_a_sandbox_that_cannot_start_is_the_graders_fault_not_the_learners(tmp_path, monkeypatch):
    """bwrap that fails (no user namespaces, say) raises SandboxFailure with bwrap's own words; it is never
    turned into a learner's failed check."""
    from dlcourse.autograde.remote import LearnerProcess, SandboxFailure

    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.delenv("DLCOURSE_UNSANDBOXED", raising=False)
    with pytest.raises(SandboxFailure, match="No permissions to create new namespace"):
        LearnerProcess(["def f(x):\n    return x\n"])
