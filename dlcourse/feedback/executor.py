"""How a check calls a learner's function: one seam, whether the function lives in this process or in a sandbox.

``dlcourse.feedback.checks`` never calls a learner's function directly. It wraps it with ``executor(fn)`` and asks the
executor to call it on a case, to time it, or to guard it against handing its work to the course's reference:

- ``InProcess`` runs the function here: the courtesy checks in the learner's own kernel, and the reference
  and the catalogued mistakes everywhere;
- ``dlcourse.autograde.remote.RemoteFunction`` runs it in the learner's sandboxed process while grading; the
  case crosses as plain data, so does the outcome, and the grader's clock times it.

``call_on_copy`` is the calling convention both sides share (the sandboxed worker imports it too): a private
copy of the inputs, warnings silenced, the exercise's runner, and which inputs came back changed. This module
imports NumPy alone at load time, so it can sit in the worker's view of the package.
"""

from __future__ import annotations

import copy
import time
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager

import numpy as np


def runner_named(name: str | None):
    """The function in ``dlcourse.feedback.exercises.runners`` called ``name``; None for a plain call."""
    if name is None:
        return None
    from .exercises import runners

    runner = getattr(runners, name, None)
    if not callable(runner) or name.startswith("_"):
        raise ValueError(f"no runner called {name!r} in dlcourse.feedback.exercises.runners")
    return runner


def changed_inputs(before: dict, after: dict, mutates=()) -> list[str]:
    """The names of array inputs (other than those in ``mutates``) whose shape or values differ afterwards."""
    return [
        k
        for k, v in before.items()
        if isinstance(v, np.ndarray)
        and k not in mutates
        and isinstance(after.get(k), np.ndarray)
        and (after[k].shape != v.shape or not np.array_equal(v, after[k], equal_nan=True))
    ]


@contextmanager
def _quiet():
    """NumPy's warnings and floating-point complaints silenced, as for every call of a learner's function."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _prepared(fn, kwargs: dict, runner: str | None):
    """(a call of fn, through the named runner, on a private copy of kwargs, ready to run; that copy)."""
    kwargs = copy.deepcopy(kwargs)
    run = runner_named(runner)
    return ((lambda: run(fn, kwargs)) if run else (lambda: fn(**kwargs))), kwargs


def call_on_copy(fn, kwargs: dict, runner: str | None = None, mutates=()):
    """(outcome, names of inputs changed in place) of fn on a private copy of kwargs, through the named runner
    (see ``dlcourse.feedback.exercises.runners``), with NumPy's warnings silenced."""
    call, private = _prepared(fn, kwargs, runner)
    before = copy.deepcopy(private)
    with _quiet():
        outcome = call()
    return outcome, changed_inputs(before, private, mutates)


class Executor(ABC):
    """One of the learner's functions (or a class), as a check calls it."""

    __name__: str

    @abstractmethod
    def call(self, kwargs: dict, *, runner: str | None = None, mutates=()):
        """(outcome, names of inputs changed in place): the function on a private copy of kwargs, through the
        named runner. Raises what the function raised (rebuilt, for a sandboxed one)."""

    @abstractmethod
    def timed_call(self, kwargs: dict, *, runner: str | None = None):
        """(outcome, seconds) of one call on a private copy of kwargs; the seconds are measured by a clock the
        learner's code cannot change (the grader's, for a sandboxed function), copying excluded."""

    @abstractmethod
    def guard_own_work(self, exercise, cases, *, allowed=(), name: str = "") -> None:
        """Fail (DelegationError) if the function hands its work to the course's reference or torch."""

    def __call__(self, **kwargs):
        return self.call(kwargs)[0]


class InProcess(Executor):
    """A function in this process: the learner's in their own kernel, or the reference and mistakes anywhere."""

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __repr__(self) -> str:
        return f"<{self.__name__}, run in this process>"

    def call(self, kwargs, *, runner=None, mutates=()):
        return call_on_copy(self.fn, kwargs, runner, mutates)

    def timed_call(self, kwargs, *, runner=None):
        call, _ = _prepared(self.fn, kwargs, runner)
        with _quiet():
            start = time.perf_counter()
            outcome = call()
            seconds = time.perf_counter() - start
        return outcome, seconds

    def guard_own_work(self, exercise, cases, *, allowed=(), name=""):
        from .guard import FORBIDDEN, assert_own_work

        kwargs = copy.deepcopy(_first_accepted(exercise, cases).kwargs)  # an input the reference accepts
        with _quiet():
            assert_own_work(
                exercise.run,
                self.fn,
                kwargs,
                target=self.fn,
                allowed=list(allowed),
                name=name,
                forbidden=exercise.forbidden or FORBIDDEN,
            )


def _first_accepted(exercise, cases):
    for case in cases:
        try:
            call_on_copy(exercise.reference, case.kwargs, exercise.runner, exercise.mutates)
        except Exception:  # noqa: BLE001 - a case the reference rejects
            continue
        return case
    return cases[0]


def executor(fn) -> Executor:
    """fn as an Executor: itself if it is one already (a sandboxed function), else run in this process."""
    return fn if isinstance(fn, Executor) else InProcess(fn)
