"""Test cases for lab 02: gradient descent on linear regression and the optimiser update rules."""

from __future__ import annotations

from ...optim import rules as R
from ...reference import regression
from .base import Case, Exercise, known

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them

# Each rule's hyper-parameters in the cases: defaults first, then others that expose bugs.
_HYPER = {
    "sgd_update": [{"lr": 0.1}, {"lr": 0.03}],
    "momentum_update": [{"lr": 0.05, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.5}],
    "nesterov_update": [{"lr": 0.05, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.5}],
    "adagrad_update": [{"lr": 0.5, "eps": 1e-10}, {"lr": 0.1, "eps": 1e-3}],
    "rmsprop_update": [{"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, {"lr": 0.05, "alpha": 0.9, "eps": 1e-3}],
    "adam_update": [
        {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 1e-3},
    ],
}


def _trajectory_cases(name):
    def cases(rng, hidden):
        out = []
        for hyper in _HYPER[name] * (2 if hidden else 1):
            shape = (3,) if not out else (2, 3)
            out.append(
                Case(
                    {
                        "param": rng.standard_normal(shape),
                        "grads": [rng.standard_normal(shape) for _ in range(12)],
                        "hyper": hyper,
                    },
                    "12 steps",
                )
            )
        return out

    return cases


for _name, _rule in R.RULES.items():
    EXERCISES.append(
        Exercise(
            f"{_name}_update",
            _rule,
            _trajectory_cases(f"{_name}_update"),
            runner="trajectory",
            output_names=("parameter after each step",),
            rtol=1e-6,
            mistakes=known(f"{_name}_update"),
        )
    )


def _regression_cases(rng, hidden):
    cases = []
    for n, d, lr, steps in [(40, 1, 0.1, 50), (60, 3, 0.05, 80)] + ([(30, 2, 0.2, 30)] if hidden else []):
        X = rng.standard_normal((n, d))
        y = X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
        cases.append(Case({"X": X, "y": y, "lr": lr, "steps": steps}, f"{n} points, {d} feature(s)"))
    return cases


EXERCISES.append(
    Exercise(
        "linear_regression_gd",
        regression.linear_regression_gd,
        _regression_cases,
        output_names=("w", "b", "losses"),
        mistakes=known("linear_regression_gd"),
    )
)
