"""What an exercise is: its reference, its test cases, how to call it, and its known mistakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..guard import FORBIDDEN
from ..mistakes import CATALOGUE, Mistake

__all__ = ["TORCH_MODULE", "USES_TORCH", "Case", "Exercise", "Mistake", "known"]

# An exercise written with PyTorch: torch is the tool, so the sandbox has it and the guard lets it be called;
# the course's reference is still forbidden.
USES_TORCH = {"packages": ("numpy", "torch"), "forbidden": tuple(m for m in FORBIDDEN if m != "torch")}
# ...that builds a torch.nn.Module, graded on its structure by the torch_module runner.
TORCH_MODULE = {"runner": "torch_module", **USES_TORCH}


def known(name: str) -> list[Mistake]:
    """The catalogued mistakes of exercise ``name`` (dlcourse.feedback.mistakes.CATALOGUE)."""
    return list(CATALOGUE.get(name, []))


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
    mistakes: list[Mistake] = field(default_factory=list)  # known wrong answers: known(name) + the module's own
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

    def run(self, fn, kwargs):
        if self.runner is None:
            return fn(**kwargs)
        from . import runners

        return getattr(runners, self.runner)(fn, kwargs)
