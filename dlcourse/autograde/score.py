"""Score one test cell of a submission where the learner's code cannot reach: the trusted half of grading.

The test cell's source comes from nbgrader's gradebook (the instructor's version, hidden tests included), never
from the submission. It runs here, in the grader's process, with ``check_exercise`` and friends from
``dlcourse.feedback.checks``; every name it uses that the grader does not define (``conv2d``, ``relu``, ...) is the
learner's function of that name in a fresh sandboxed process (``remote.LearnerProcess``) that has defined
the submission's answer cells. The reference runs here, the learner's code there, and only plain data
crosses. Whatever the learner's code does, it cannot change the checks, the cases or the points.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
from dataclasses import dataclass, field

import numpy as np

from ..feedback.checks import GIVEN_NAMESPACES, CheckFailed, check_exercise, check_gradient, check_speed, given_helper
from .remote import LearnerProcess, LearnerProcessError, RemoteFunction
from .sandbox import Limits

# Installed distributions an answer cell may import besides an exercise's own, when it names them: a cell that
# plots its own result runs in grading too (drawing into memory, with matplotlib's Agg backend).
OPTIONAL_PACKAGES = {"matplotlib": ("matplotlib", "pylab")}


@dataclass
class Verdict:
    passed: bool
    printed: str = ""  # what the checks printed (one line per passing check)
    message: str = ""  # why it failed, for the learner
    notes: list[str] = field(default_factory=list)  # answer-cell statements that could not be run
    seconds: float = 0.0


def exercises_named(test_source: str) -> list[str]:
    """The exercises a test cell checks: its string constants that name a registered exercise."""
    from ..feedback.exercises import EXERCISES

    names = {
        node.value
        for node in ast.walk(ast.parse(test_source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in EXERCISES
    }
    return sorted(names)


def worker_packages(exercises, answer_cells: list[str]) -> list[str]:
    """The distributions the learner's process may import: NumPy, what the exercises add, and matplotlib
    where an answer cell names it."""
    packages = {"numpy", *(p for e in exercises for p in e.packages)}
    for package, words in OPTIONAL_PACKAGES.items():
        if any(word in cell for cell in answer_cells for word in words):
            packages.add(package)
    return sorted(packages)


class _LearnerNames(dict):
    """A test cell's local names: what it assigns, and otherwise the learner's function of that name."""

    def __init__(self, process: LearnerProcess, grader_globals: dict):
        super().__init__()
        self.process, self.grader_globals = process, grader_globals

    def __missing__(self, name):
        if name in self.grader_globals or hasattr(builtins, name):
            raise KeyError(name)  # let Python find it among the grader's names or the builtins
        return RemoteFunction(self.process, name)


def score_test_cell(
    test_source: str, answer_cells: list[str], *, deadline: float = 60.0, limits: Limits | None = None
) -> Verdict:
    """Run one (trusted) test cell against the learner's answer cells, isolated; never raises for anything
    the learner did."""
    import time

    from ..feedback.exercises import EXERCISES

    limits = limits or Limits()
    start = time.monotonic()
    names = exercises_named(test_source)
    exercises = [EXERCISES[n] for n in names]
    given = {g: given_helper(g) for e in exercises for g in e.given}
    modules = sorted({m for e in exercises for m in e.modules})
    packages = worker_packages(exercises, answer_cells)
    grader_globals = {
        "__builtins__": builtins,
        "np": np,
        "check_exercise": check_exercise,
        "check_speed": check_speed,
        "check_gradient": check_gradient,
    }
    for alias, module in GIVEN_NAMESPACES.items():
        grader_globals[alias] = importlib.import_module(module)
    printed = io.StringIO()
    with LearnerProcess(
        answer_cells,
        given=given,
        modules=modules,
        packages=packages,
        deadline=deadline,
        limits=limits,
        label=f"test of {', '.join(names) or 'no exercise'}",
    ) as process:
        notes = list(process.problems)
        try:
            with contextlib.redirect_stdout(printed):
                exec(
                    compile(test_source, "<test cell>", "exec"), grader_globals, _LearnerNames(process, grader_globals)
                )
        except CheckFailed as failed:
            return Verdict(False, printed.getvalue(), _with_notes(str(failed), notes), notes, time.monotonic() - start)
        except LearnerProcessError as err:  # the test cell called a learner's function itself
            return Verdict(False, printed.getvalue(), _with_notes(str(err), notes), notes, time.monotonic() - start)
        except Exception as err:  # noqa: BLE001 - a fault in the test itself: fail the cell, say so
            message = f"the grader could not run this test ({type(err).__name__}: {err}); tell your instructor"
            return Verdict(False, printed.getvalue(), message, notes, time.monotonic() - start)
    return Verdict(True, printed.getvalue(), "", notes, time.monotonic() - start)


def _with_notes(message: str, notes: list[str]) -> str:
    if not notes:
        return message
    listed = "\n".join(f"    {n}" for n in notes[:5])
    return (
        f"{message}\n  note: grading runs only your answer cells, with NumPy as np and nothing from the course "
        f"package; these of them stopped early there:\n{listed}"
    )
