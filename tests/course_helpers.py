"""Helpers for the course tests: read the nbgrader source notebooks and build simulated submissions."""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import os
import re
import socket
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "source"
LABS = sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").is_file())
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (Debian's chromium or playwright missing), or None."""
    import importlib.util
    import shutil

    if not shutil.which("chromium"):
        return "Debian's chromium is not installed (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return 'the playwright package is not installed (python -m pip install -e ".[test]")'
    return None


def free_port() -> int:
    """A localhost port nothing listens on, for a JupyterLab started by a test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_RUN_LOCKS: dict = {}


def run_lock():
    """This xdist worker's open lock file for the run (shared by the run's workers), or None outside xdist."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return None
    if run not in _RUN_LOCKS:
        _RUN_LOCKS[run] = open(Path(tempfile.gettempdir()) / f"dlcourse-tests-{run}.lock", "a")  # noqa: SIM115
    return _RUN_LOCKS[run]


@contextlib.contextmanager
def machine_to_myself():
    """While timing something against a budget (a lab top to bottom in two minutes), or running a heavy lab
    against a deadline (Run All in the browser): the other xdist worker finishes its current test and starts no
    other until this block ends. Every test holds the run's lock shared (tests/conftest.py); this turns the
    current test's hold exclusive, and back."""
    import fcntl

    lock = run_lock()
    if lock is None:
        yield
        return
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_SH)


def scratch_config(course: Path, *, seconds_per_test: int, cell_timeout: int | None = None) -> None:
    """The course's nbgrader_config.py in a scratch course, with shorter time limits.

    The shipped limits (60 s a test cell, 120 s a notebook cell) are sized for a loaded grading machine; a test
    class's looping and hanging submissions would each wait them out in full. What is tested (a loop costs its own
    cell, the run carries on) holds at any limit, and the model answers' slowest test cell takes 0.3 s in labs
    01-06 and 6 s in lab 09 (score_test_cell here, on one idle core), so a few times that is still generous.
    """
    import shutil

    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    lines = [f"c.ScoreTests.seconds_per_test = {seconds_per_test}"]
    if cell_timeout is not None:
        lines.append(f"c.Execute.timeout = {cell_timeout}")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\n# tests: shorter time limits (course_helpers.scratch_config)\n" + "\n".join(lines) + "\n")


def source_notebook(lab: str) -> nbformat.NotebookNode:
    """The lab's source notebook: read and validated once per test session, a fresh copy per call (callers
    edit what they get)."""
    return copy.deepcopy(_read_source(lab, (SOURCE / lab / f"{lab}.ipynb").stat().st_mtime_ns))


@functools.cache
def _read_source(lab: str, mtime_ns: int) -> nbformat.NotebookNode:  # mtime: a notebook rewritten is read again
    return nbformat.read(SOURCE / lab / f"{lab}.ipynb", as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_cells(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"]


def graded_cells(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]


def setup_cell(nb):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "setup")


def without_demos(nb, release):
    """A copy of a submission without the release's worked examples and explorers (its code cells that carry no
    nbgrader metadata); set-up, answer and test cells, markdown and any cell the learner added stay.

    The simulated students that probe grading (cheats, faults, tampering) need not train the lab's networks:
    their points are decided out of process from the answer cells, and the model answer and the blank lab
    still run every demo. A real learner may delete those cells too.
    """
    demos = {c.source for c in release.cells if c.cell_type == "code" and not nbgrader_meta(c)}
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and not nbgrader_meta(c) and c.source in demos)]
    return nb


def strip_markers(src: str) -> str:
    """What a learner who wrote the model answer would have in the cell: no nbgrader markers."""
    return "\n".join(line for line in src.splitlines() if line.strip() not in MARKERS)


def hidden_part(src: str) -> str:
    match = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", src, re.S)
    return match.group(1) if match else ""


def exercises_in(test_src: str) -> list[str]:
    return sorted(
        set(re.findall(r'check_exercise\("([A-Za-z0-9_]+)"', test_src))
        | set(re.findall(r'"([A-Za-z0-9_]+)": [A-Za-z0-9_]+[,}]', test_src))
    )


def defined_functions(src: str) -> dict[str, list[str]]:
    """Names of top-level functions in a cell and their parameters (positional, then keyword-only)."""
    tree = ast.parse(src)
    return {
        n.name: [a.arg for a in n.args.args + n.args.kwonlyargs] for n in tree.body if isinstance(n, ast.FunctionDef)
    }


def defined_classes(src: str) -> list[str]:
    """Names of the top-level classes in a cell."""
    return [n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef)]


def call_arguments(src: str, name: str) -> str:
    """How to pass a function's own parameters on: "x, p, training, rng=rng, mask=mask"."""
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ", ".join([a.arg for a in node.args.args] + [f"{a.arg}={a.arg}" for a in node.args.kwonlyargs])


def positional_parameters(src: str, name: str) -> list[str]:
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return [a.arg for a in node.args.args]


def _signature(params_src: str) -> str:
    return params_src


def written_cells(nb):
    """The answer cells of the written questions, graded by hand (markdown solution cells)."""
    return [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "markdown"]


def solved(release, source):
    """The released notebook with every solution cell filled in by the model answer, the written answers too."""
    answers = {
        nbgrader_meta(c)["grade_id"]: strip_markers(c.source) for c in solution_cells(source) + written_cells(source)
    }
    nb = copy.deepcopy(release)
    for cell in solution_cells(nb) + written_cells(nb):
        cell.source = answers[nbgrader_meta(cell)["grade_id"]]
    return nb


def _function_header(src: str, name: str) -> str:
    """The `def name(...):` line of a function in a cell, as the learner was given it."""
    tree = ast.parse(src)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(src, node).splitlines()[0]


def delegating(release, source):
    """Every graded function hands its work to its twin in dlcourse, imported by name."""
    from dlcourse.feedback.exercises import EXERCISES

    nb = copy.deepcopy(release)
    for cell, src_cell in zip(solution_cells(nb), solution_cells(source)):
        lines = []
        for name in defined_classes(src_cell.source):  # a torch.nn.Module: subclass the reference's
            if name in EXERCISES:
                ref = EXERCISES[name].reference
                lines.append(f"from {ref.__module__} import {ref.__name__} as _reference_{name}")
                lines.append(f"class {name}(_reference_{name}):\n    pass")
        for name in defined_functions(src_cell.source):
            if name not in EXERCISES:  # a helper the lab gives, not a graded function
                continue
            ref = EXERCISES[name].reference
            lines.append(f"from {ref.__module__} import {ref.__name__} as _reference_{name}")
            lines.append(_function_header(src_cell.source, name))
            lines.append(f"    return _reference_{name}({call_arguments(src_cell.source, name)})")
        cell.source = "\n".join(lines)
    return nb


def _independent(source, name, cell_src) -> bool:
    """True when no other solution cell calls ``name`` (so breaking it affects one test cell only)."""
    others = [c.source for c in solution_cells(source) if c.source != cell_src]
    called = re.compile(rf"\b{name}\(")
    own_cell_rest = cell_src.replace(_function_header(cell_src, name), "")
    return not any(called.search(o) for o in others) and not called.search(own_cell_rest)


def torch_delegating(release, source):
    """The model answer, except one function with a torch.nn.functional twin calls torch instead.

    Returns (notebook, grade_id of the test cell that should lose its points), or (None, None) when the
    lab has no such function.
    """
    import torch.nn.functional as TF

    nb = solved(release, source)
    for cell, src_cell in zip(solution_cells(nb), solution_cells(source)):
        for name in defined_functions(src_cell.source):
            if hasattr(TF, name) and _independent(source, name, src_cell.source):
                args = ", ".join(positional_parameters(src_cell.source, name))
                cell.source += (
                    f"\n\nimport torch\n\n{_function_header(src_cell.source, name)}\n"
                    f"    args = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in ({args},)]\n"
                    f"    return torch.nn.functional.{name}(*args).numpy()\n"
                )
                tests = [c for c in graded_cells(source) if name in exercises_in(c.source)]
                return nb, nbgrader_meta(tests[0])["grade_id"]
    return None, None


def tampered(release, source):
    """The model answer, with every test cell replaced by `pass` and the first test cell deleted."""
    nb = solved(release, source)
    first = None
    for cell in graded_cells(nb):
        first = first or cell
        cell.source = "pass  # the learner replaced the tests"
    nb.cells.remove(first)
    return nb, nbgrader_meta(first)["grade_id"]


def noisy(release, source):
    """The model answer, with every graded function writing to stderr and warning each time it runs."""
    nb = solved(release, source)
    for cell, src_cell in zip(solution_cells(nb), solution_cells(source)):
        names = list(defined_functions(src_cell.source))
        cell.source += (
            "\n\nimport sys as _sys, warnings as _warnings\n"
            "def _noisy(f):\n"
            "    def g(*args, **kwargs):\n"
            "        print('debug output on stderr', file=_sys.stderr)\n"
            "        _warnings.warn('a harmless warning', UserWarning)\n"
            "        return f(*args, **kwargs)\n"
            "    return g\n"
            + "".join(f"{n} = _noisy({n})\n" for n in names)
            + "_warnings.warn('a warning at definition time', DeprecationWarning)\n"
        )
    return nb


def looping(release, source):
    """The model answer, except one graded function that no other answer calls never returns.

    Returns (nb, the id of the test cell that should lose its points).
    """
    nb = solved(release, source)
    cell, src_cell, name = next(
        (c, s, n)
        for c, s in zip(solution_cells(nb), solution_cells(source))
        for n in defined_functions(s.source)
        if _independent(source, n, s.source)
    )
    cell.source += f"\n\n{_function_header(src_cell.source, name)}\n    while True:\n        pass\n"
    tests = [c for c in graded_cells(source) if name in exercises_in(c.source)]
    return nb, nbgrader_meta(tests[0])["grade_id"]
