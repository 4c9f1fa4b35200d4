"""``dlcourse validate``: the students' check of a whole lab, without nbgrader (README, "For students")."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from course_helpers import LABS, ROOT, nbgrader_meta, solved, source_notebook, without_demos

from dlcourse.notebook_check import EVENT_MIME, announce_checks, cell_results, planned_checks, summary
from dlcourse.notebook_check import main as validate_main

LAB = LABS[0]


def _validate(path, cwd):
    return subprocess.run(
        [sys.executable, "-m", "dlcourse", "validate", str(path)], capture_output=True, text=True, cwd=cwd
    )


def _listed(stdout: str) -> list[tuple[str, str]]:
    """(mark, name) of every check line validate printed: '  cell 12: ✘ tanh does not match ...'."""
    return re.findall(r"^  cell \d+: ([\u2714\u2718]) ([A-Za-z_]\w*)", stdout, re.M)


# --- which checks a cell means to run, and how a run is read back --------------------------------------


def test_the_checks_a_cell_means_to_run_are_read_from_its_code():
    loop = 'for name, fn in {"step": step, "tanh": tanh}.items():\n    check_exercise(name, fn)'
    assert planned_checks(loop) == [("check_exercise", "step"), ("check_exercise", "tanh")]
    both = 'check_exercise("conv2d", conv2d)\ncheck_speed("conv2d", conv2d)'
    assert planned_checks(both) == [("check_exercise", "conv2d"), ("check_speed", "conv2d")]
    nested = 'for n in ["a", "b"]:\n    check_exercise(n, f)\n    check_gradient(n, f)'
    assert planned_checks(nested) == [
        ("check_exercise", "a"),
        ("check_gradient", "a"),
        ("check_exercise", "b"),
        ("check_gradient", "b"),
    ]
    assert planned_checks("for n in names:\n    check_exercise(n, f)") is None  # names only the run knows
    assert planned_checks("assert f(1) == 2") == []
    assert planned_checks('def later():\n    check_exercise("x", f)\ncheck_exercise("a", f)') == [
        ("check_exercise", "a")
    ]


def _event(name, status, message="", kind="check_exercise"):
    data = {EVENT_MIME: {"kind": kind, "name": name, "status": status, "message": message}}
    return nbformat.v4.new_output("display_data", data=data)


def _stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


LOOP = 'for name, fn in {"step": step, "tanh": tanh, "relu": relu}.items():\n    check_exercise(name, fn)'


def _ran_cell(outputs, source=LOOP):
    cell = nbformat.v4.new_code_cell(source, execution_count=3)
    cell.outputs = outputs
    return cell


def test_a_cell_that_stops_at_its_second_check_lists_all_three_by_name():
    cell = _ran_cell(
        [
            _event("step", "started"),
            _stdout("\u2714 step: matches the reference on 3 test cases\n"),
            _event("step", "passed"),
            _event("tanh", "started"),
            _event("tanh", "failed", "tanh does not match the reference on case 2 of 3"),
            _error("CheckFailed", "tanh does not match the reference on case 2 of 3\n  inputs: x (3,)"),
        ]
    )
    results = cell_results(11, cell, "test_activations")
    assert [(r.passed, r.message) for r in results] == [
        (True, "\u2714 step: matches the reference on 3 test cases"),
        (False, "\u2718 tanh does not match the reference on case 2 of 3"),
        (False, "\u2718 relu: not run (tanh failed before it)"),
    ]
    assert summary(results) == "1 of 3 checks pass; fix the ones marked \u2718"


def test_an_error_outside_the_checks_leaves_them_not_run_and_is_listed_apart():
    results = cell_results(11, _ran_cell([_error("NameError", "name 'tanh' is not defined")]), "test_activations")
    assert [r.message for r in results] == [
        "\u2718 step: not run (the cell raised first)",
        "\u2718 tanh: not run (the cell raised first)",
        "\u2718 relu: not run (the cell raised first)",
        "\u2718 the cell raised NameError: name 'tanh' is not defined",
    ]
    assert [r.is_check for r in results] == [True, True, True, False]
    assert summary(results) == "0 of 3 checks pass, and 1 other error; fix the ones marked \u2718"


def test_without_announcements_the_printed_lines_say_what_passed():
    cell = _ran_cell(
        [_stdout("\u2714 step: matches the reference on 3 test cases\n"), _error("CheckFailed", "tanh is wrong")]
    )
    assert [(r.passed, r.message) for r in cell_results(11, cell, "test_activations", announced=False)] == [
        (True, "\u2714 step: matches the reference on 3 test cases"),
        (False, "\u2718 tanh is wrong"),
        (False, "\u2718 relu: not run (tanh failed before it)"),
    ]
    finished = _ran_cell([_stdout("\u2714 step: ok\n\u2714 tanh: ok\n\u2714 relu: ok\n")])
    assert summary(cell_results(11, finished, "test_activations", announced=False)) == "3 of 3 checks pass"


def test_a_check_cell_of_plain_asserts_is_one_check_named_by_its_id():
    assert [(r.passed, r.message) for r in cell_results(4, _ran_cell([], "assert f(1) == 2"), "test_f")] == [
        (True, "\u2714 test_f: passed")
    ]
    failed = cell_results(4, _ran_cell([_error("AssertionError", "")], "assert f(1) == 2"), "test_f")
    assert [(r.passed, r.message) for r in failed] == [(False, "\u2718 test_f: AssertionError")]


def test_announced_checks_report_the_notebooks_calls_and_not_the_explorers(monkeypatch):
    import IPython.display

    from dlcourse.feedback import checks

    events = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw: events.append(data[EVENT_MIME]))
    for kind in ("check_exercise", "check_speed", "check_gradient"):  # restored after the test
        monkeypatch.setattr(checks, kind, getattr(checks, kind))
    announce_checks()
    checks.working_functions({"relu": lambda x: x}, ["relu"])  # the explorers' quiet tries: not announced
    assert events == []
    with pytest.raises(checks.CheckFailed):
        checks.check_exercise("relu", lambda x: x)
    assert [(e["name"], e["status"]) for e in events] == [("relu", "started"), ("relu", "failed")]
    assert events[1]["message"].startswith("relu does not match the reference")


def test_a_path_that_is_not_a_lab_is_refused_with_a_reason(tmp_path, capsys):
    with pytest.raises(SystemExit):
        validate_main([str(tmp_path / "notes.txt")])
    assert "expected the path of a lab notebook (.ipynb)" in capsys.readouterr().err
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), tmp_path / "x.ipynb")
    with pytest.raises(SystemExit):
        validate_main([str(tmp_path / "x.ipynb")])
    assert "has no check cells" in capsys.readouterr().err


# Lab 01's checks by name, in order: five cells, two of them loops.
LAB01_CHECKS = [
    "weighted_sum",
    *("step", "sigmoid", "tanh", "relu", "leaky_relu"),
    *("sigmoid_backward", "tanh_backward", "relu_backward", "leaky_relu_backward"),
    "perceptron_update",
    "train_perceptron",
]


@pytest.mark.slow
def test_the_blank_lab_fails_every_check_and_the_solved_lab_passes(tmp_path):
    assert LAB == "01-neuron"
    proc = _validate(ROOT / "labs" / f"{LAB}.ipynb", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [name for _, name in _listed(proc.stdout)] == LAB01_CHECKS, proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith("  cell ")]
    assert len(lines) == len(LAB01_CHECKS), proc.stdout
    # The first check of each cell stops it: a stub; those after it in the cell did not run.
    assert all("\u2718" in line and ("is not implemented yet" in line or "not run" in line) for line in lines)
    assert sum("is not implemented yet" in line for line in lines) == 5, proc.stdout
    assert f"0 of {len(lines)} checks pass" in proc.stdout and "Traceback" not in proc.stdout

    # The model answer, without the demos (they do not change what the checks see).
    release = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)
    nbformat.write(without_demos(solved(release, source_notebook(LAB)), release), tmp_path / f"{LAB}.ipynb")
    proc = _validate(tmp_path / f"{LAB}.ipynb", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _listed(proc.stdout) == [("\u2714", name) for name in LAB01_CHECKS], proc.stdout
    assert f"{len(lines)} of {len(lines)} checks pass" in proc.stdout


@pytest.mark.slow
def test_two_wrong_functions_in_one_check_cell_are_each_listed_and_counted(tmp_path):
    """The report that looked like a pass: tanh and tanh_backward wrong printed two ✔ lines and no ✘. Here
    tanh and relu are wrong in one check cell (relu is not run: tanh's failure stops the cell, as in Jupyter),
    and tanh_backward in another."""
    release = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)
    nb = without_demos(solved(release, source_notebook(LAB)), release)
    answers = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells if nbgrader_meta(c).get("solution")}
    answers[
        "activations"
    ].source += "\n\ndef tanh(x):\n    return 2 * np.tanh(x)\n\n\ndef relu(x):\n    return np.abs(x)\n"
    answers["derivatives"].source += "\n\ndef tanh_backward(dout, x):\n    return dout * (1 - np.tanh(x))\n"
    nbformat.write(nb, tmp_path / "lab.ipynb")
    proc = _validate(tmp_path / "lab.ipynb", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failing = {"tanh", "relu", "leaky_relu", "tanh_backward", "relu_backward", "leaky_relu_backward"}
    assert _listed(proc.stdout) == [("\u2718" if n in failing else "\u2714", n) for n in LAB01_CHECKS], proc.stdout
    assert "\u2718 tanh does not match the reference" in proc.stdout
    assert "\u2718 tanh_backward does not match the reference" in proc.stdout
    assert "\u2718 relu: not run (tanh failed before it)" in proc.stdout
    assert "\u2718 relu_backward: not run (tanh_backward failed before it)" in proc.stdout
    # The totals count what is listed.
    assert f"6 of {len(LAB01_CHECKS)} checks pass; fix the ones marked \u2718" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_a_crashing_cell_before_the_checks_is_reported_not_hidden(tmp_path):
    release = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)
    nb = without_demos(solved(release, source_notebook(LAB)), release)
    first_answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells[first_answer].source += "\nraise RuntimeError('my own bug')"
    nbformat.write(nb, tmp_path / "lab.ipynb")
    proc = _validate(tmp_path / "lab.ipynb", tmp_path)
    assert proc.returncode == 1 and "(not a check) raised RuntimeError: my own bug" in proc.stdout, proc.stdout
    n = len(LAB01_CHECKS)  # every check passes on what the cell defined before it raised: listed apart
    assert f"{n} of {n} checks pass, and 1 other error; fix the ones marked \u2718" in proc.stdout, proc.stdout
