"""What an exercise is: its reference, its test cases, how to call it, and its known mistakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..guard import FORBIDDEN
from ..mistakes import CATALOGUE, Mistake

__all__ = ["TORCH_MODULE", "USES_TORCH", "Case", "Exercise", "Mistake", "behaviour_case", "known"]

# An exercise written with PyTorch: torch is the tool, so the sandbox has it and the guard lets it be called;
# the course's reference is still forbidden.
USES_TORCH = {"packages": ("numpy", "torch"), "forbidden": tuple(m for m in FORBIDDEN if m != "torch")}
# ...that builds a torch.nn.Module, graded by the torch_module runner: structure cases, then behaviour cases.
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
    forbidden: tuple[str, ...] | None = None  # modules the learner may not call (default: feedback.guard.FORBIDDEN)
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


BEHAVIOUR = "behaviour: your module and the reference's, with the same random weights"


def behaviour_case(rng, structure: Case, batch: int = 2, size: tuple[int, int] | None = None) -> Case:
    """The behaviour case of a torch module's structure case: the same arguments, a random input x of shape
    (batch, C, H, W) (H, W: ``size`` or the structure case's) and the seed both sides draw weights from."""
    kwargs = {k: v for k, v in structure.kwargs.items() if k not in ("input_shape", "trace")}
    channels, *hw = structure.kwargs.get("input_shape", (structure.kwargs.get("in_channels", 1), 28, 28))
    x = rng.standard_normal((batch, channels, *(size or hw)))
    return Case({**kwargs, "x": x, "weights_seed": int(rng.integers(2**31))}, BEHAVIOUR)
