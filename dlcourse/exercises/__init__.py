"""The graded exercises: for each, the reference, the test cases and the known mistakes.

``EXERCISES[name]`` is what ``dlcourse.checks.check_exercise(name, fn)`` runs. Cases are drawn from an
``rng`` so visible tests (a fixed seed) and hidden tests (fresh draws, more and harder cases) share one
definition. Each case is chosen to expose a bug: strides that do not divide evenly, asymmetric padding,
ties in max pooling, logits of +-1000 and so on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..mistakes import MISTAKES, Mistake


@dataclass
class Case:
    kwargs: dict
    label: str = ""


@dataclass
class Exercise:
    name: str
    reference: Callable
    cases: Callable  # (rng, hidden: bool) -> list[Case]
    output_names: tuple[str, ...] = ("output",)
    rtol: float = 1e-5
    atol: float = 1e-7
    mutates: tuple[str, ...] = ()  # arguments the function is meant to change in place
    runner: str | None = None  # name of a function in .runners: (fn, kwargs) -> result or dict of named results
    extra_mistakes: list[Mistake] = field(default_factory=list)
    speed_case: Callable | None = None  # rng -> kwargs of a larger input, for check_speed
    speed_hint: str = ""
    gradient_of: tuple | None = None  # (forward function, names of the inputs it is differentiated by)
    gradient_case: Callable | None = None  # rng -> kwargs with dout, continuous values (no ties)
    forbidden: tuple[str, ...] | None = None  # modules the learner may not call (default: grading.FORBIDDEN)
    # What the learner's sandboxed process may import while graded: course modules (the framework a training
    # exercise hands over) and installed distributions. Nothing else exists there, the reference included.
    modules: tuple[str, ...] = ()
    packages: tuple[str, ...] = ("numpy",)
    given: tuple[str, ...] = ()  # helpers the learner's function may call, as the lab names them ("F.conv2d")

    @property
    def mistakes(self) -> list[Mistake]:
        return MISTAKES.get(self.name, []) + self.extra_mistakes

    def run(self, fn, kwargs):
        if self.runner is None:
            return fn(**kwargs)
        from . import runners

        return getattr(runners, self.runner)(fn, kwargs)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


from . import backprop, conv, learning, neuron, ops, training  # noqa: E402,F401  (registers the exercises)
