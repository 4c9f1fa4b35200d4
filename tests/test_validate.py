"""``dlcourse validate``: the students' check of a whole lab, without nbgrader (README, "For students")."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from course_helpers import LABS, ROOT, solved, source_notebook, without_demos

from dlcourse.notebook_check import main as validate_main

LAB = LABS[0]


def _validate(path, cwd):
    return subprocess.run(
        [sys.executable, "-m", "dlcourse", "validate", str(path)], capture_output=True, text=True, cwd=cwd
    )


def test_a_path_that_is_not_a_lab_is_refused_with_a_reason(tmp_path, capsys):
    with pytest.raises(SystemExit):
        validate_main([str(tmp_path / "notes.txt")])
    assert "expected the path of a lab notebook (.ipynb)" in capsys.readouterr().err
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), tmp_path / "x.ipynb")
    with pytest.raises(SystemExit):
        validate_main([str(tmp_path / "x.ipynb")])
    assert "has no check cells" in capsys.readouterr().err


@pytest.mark.slow
def test_the_blank_lab_fails_every_check_and_the_solved_lab_passes(tmp_path):
    release = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)
    proc = _validate(ROOT / "labs" / f"{LAB}.ipynb", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("  cell ")]
    assert lines and all("\u2718" in line and "is not implemented yet" in line for line in lines), proc.stdout
    assert f"0 of {len(lines)} checks pass" in proc.stdout and "Traceback" not in proc.stdout

    # The model answer, without the demos (they do not change what the checks see).
    nbformat.write(without_demos(solved(release, source_notebook(LAB)), release), tmp_path / f"{LAB}.ipynb")
    proc = _validate(tmp_path / f"{LAB}.ipynb", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(lines)} of {len(lines)} checks pass" in proc.stdout


@pytest.mark.slow
def test_a_crashing_cell_before_the_checks_is_reported_not_hidden(tmp_path):
    release = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)
    nb = without_demos(solved(release, source_notebook(LAB)), release)
    first_answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells[first_answer].source += "\nraise RuntimeError('my own bug')"
    nbformat.write(nb, tmp_path / "lab.ipynb")
    proc = _validate(tmp_path / "lab.ipynb", tmp_path)
    assert proc.returncode == 1 and "(not a check) raised RuntimeError: my own bug" in proc.stdout, proc.stdout
    assert "checks pass; fix the ones marked" in proc.stdout
