"""Test cases for lab 03: numerical gradients, relative error, and a two-layer MLP by hand."""

from __future__ import annotations

import numpy as np

from ... import gradcheck
from ...reference import mlp
from ..mistakes import Mistake
from .base import Case, Exercise, known

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them


def _numgrad_cases(rng, hidden):
    cases = []
    for name, shape, h in [
        ("sum of sin(x) * c", (4,), 1e-3),
        ("sum of x^3 * c", (2, 3), 1e-3),
        ("log-sum-exp of x * c", (5,), 1e-4),
    ] + ([("sum of x^3 * c", (3, 2, 2), 1e-2)] if hidden else []):
        cases.append(
            Case(
                {"function": name, "x": rng.standard_normal(shape), "c": rng.standard_normal(shape), "h": h},
                f"f(x) = {name}, h = {h}",
            )
        )
    return cases


def _forward_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    base = f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f() - base) / h
        x[i] = old
    return grad


def _not_restored(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        grad[i] = (plus - f()) / (2 * h)
    return grad


def _divided_by_h(f, x, h=1e-6):
    return gradcheck.numerical_gradient(f, x, h) * 2


EXERCISES.append(
    Exercise(
        "numerical_gradient",
        gradcheck.numerical_gradient,
        _numgrad_cases,
        runner="numerical_gradient",
        rtol=1e-6,
        mistakes=known("numerical_gradient")
        + [
            Mistake(
                "forward_difference",
                "use the centred difference (f(x + h) - f(x - h)) / 2h: the one-sided one is far less accurate",
                _forward_difference,
            ),
            Mistake("not_restored", "put each entry back to its original value after perturbing it", _not_restored),
            Mistake("divided_by_h", "the centred difference divides by 2h, not h", _divided_by_h),
        ],
    )
)


def _relerr_cases(rng, hidden):
    a = rng.standard_normal((3, 4))
    cases = [
        Case({"a": a, "b": a + 1e-7 * rng.standard_normal((3, 4))}, "nearly equal"),
        Case({"a": np.array([1.0, 0.0, -2.0]), "b": np.array([1.5, 0.0, -2.0])}, "an exact zero in both"),
        Case({"a": np.array([3.0]), "b": np.array([-3.0])}, "opposite signs"),
    ]
    if hidden:
        cases.append(Case({"a": np.array([1e-20, 2.0]), "b": np.array([3e-20, 2.0])}, "tiny values"))
        b = rng.standard_normal((2, 5))
        b[0, int(rng.integers(5))] = 0.0
        cases.append(
            Case({"a": np.where(b == 0, 0.0, b * rng.uniform(0.5, 1.5, b.shape)), "b": b}, "random, with a zero")
        )
    return cases


def _relerr_no_eps(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))


def _relerr_mean(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.mean(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


EXERCISES.append(
    Exercise(
        "relative_error",
        gradcheck.relative_error,
        _relerr_cases,
        mistakes=known("relative_error")
        + [
            Mistake("no_eps", "where both entries are 0, 0/0 is nan: divide by max(|a| + |b|, 1e-12)", _relerr_no_eps),
            Mistake("mean", "report the largest relative error over the entries, not the mean", _relerr_mean),
        ],
    )
)


def _mlp_cases(rng, hidden, backward=False):
    cases = []
    for n, d, h, c in [(5, 2, 4, 2), (8, 3, 6, 3)] + ([(4, 5, 2, 4)] if hidden else []):
        kw = {"X": rng.standard_normal((n, d)), "params": mlp.init_mlp(d, h, c, rng)}
        kw["params"]["b1"] = rng.standard_normal(h) * 0.5
        kw["params"]["b2"] = rng.standard_normal(c) * 0.5
        if backward:
            kw["dscores"] = rng.standard_normal((n, c))
            kw["cache"] = mlp.mlp_forward(kw["X"], kw["params"])[1]  # given to the learner, as in the lab
        cases.append(Case(kw, f"{n} examples, {d} -> {h} -> {c}"))
    return cases


def _forward_relu_on_scores(X, params):
    scores, cache = mlp.mlp_forward(X, params)
    return np.maximum(scores, 0), cache


def _backward_without_relu(dscores, cache, params):
    X, z1, h1 = cache
    return mlp.mlp_backward(dscores, (X, np.abs(z1) + 1, h1), params)


EXERCISES.append(
    Exercise(
        "mlp_forward",
        mlp.mlp_forward,
        _mlp_cases,
        runner="mlp_forward",
        mistakes=known("mlp_forward")
        + [
            Mistake(
                "relu_on_scores",
                "the scores are the last linear layer's output: no ReLU after it",
                _forward_relu_on_scores,
            )
        ],
    )
)
EXERCISES.append(
    Exercise(
        "mlp_backward",
        mlp.mlp_backward,
        lambda rng, hidden: _mlp_cases(rng, hidden, True),
        runner="mlp_backward",
        mistakes=known("mlp_backward")
        + [
            Mistake(
                "no_relu_backward",
                "between the layers, multiply by relu'(z1): the gradient is 0 where z1 <= 0",
                _backward_without_relu,
            )
        ],
    )
)
