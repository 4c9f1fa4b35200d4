"""Test cases for lab 01: the weighted sum and the perceptron rule."""

from __future__ import annotations

import numpy as np

from ...data import make_blobs
from ...reference import neuron
from ..mistakes import Mistake
from .base import Case, Exercise, known

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them


def _weighted_sum_cases(rng, hidden):
    cases = [
        Case({"x": np.array([1.0, 2.0]), "w": np.array([0.5, -1.0]), "b": 0.25}, "one input"),
        Case({"x": rng.standard_normal((5, 3)), "w": rng.standard_normal(3), "b": -0.7}, "a batch of 5"),
    ]
    if hidden:
        cases += [Case({"x": rng.standard_normal((7, 4)), "w": rng.standard_normal(4), "b": float(rng.normal())})]
    return cases


def _update_cases(rng, hidden):
    cases = []
    for y, sign in [(1, -1), (0, 1), (1, 1), (0, -1)] + ([(1, -1), (0, 1)] if hidden else []):
        w = rng.standard_normal(2)
        x = rng.standard_normal(2)
        b = float(sign * (abs(x @ w) + 0.5) - x @ w)  # puts x . w + b on the chosen side of 0
        cases.append(
            Case(
                {"w": w, "b": b, "x": x, "y": y, "lr": float(rng.choice([1.0, 0.5]))},
                "misclassified" if (sign > 0) != (y == 1) else "already correct",
            )
        )
    return cases


def _train_cases(rng, hidden):
    cases = []
    for seed in range(2 + 2 * hidden):
        X, y = make_blobs(40, centers=2, spread=0.5, rng=np.random.default_rng(int(rng.integers(1 << 30)) + seed))
        cases.append(Case({"X": X, "y": y, "lr": 1.0, "epochs": 50}, "two separable blobs"))
    return cases


def _update_wrong_sign(w, b, x, y, lr=1.0):
    pred = float(np.dot(x, w) + b > 0)
    return w - lr * (y - pred) * np.asarray(x), b - lr * (y - pred)


def _update_no_bias(w, b, x, y, lr=1.0):
    new_w, _ = neuron.perceptron_update(w, b, x, y, lr)
    return new_w, b


def _train_never_stops(X, y, lr=1.0, epochs=20):
    """Keeps going after an epoch without mistakes."""
    w, b, mistakes = neuron.train_perceptron(X, y, lr, epochs)
    return w, b, mistakes + [0] * (epochs - len(mistakes))


def _train_without_bias(X, y, lr=1.0, epochs=20):
    w, b, mistakes = np.zeros(np.shape(X)[1]), 0.0, []
    for _ in range(epochs):
        count = 0
        for xi, yi in zip(np.asarray(X, float), y):
            new_w, _ = neuron.perceptron_update(w, b, xi, int(yi), lr)
            count += int(not np.array_equal(new_w, w))
            w = new_w
        mistakes.append(count)
        if count == 0:
            break
    return w, b, mistakes


def _train_counts_after_update(X, y, lr=1.0, epochs=20):
    """Counts the mistakes the *updated* neuron makes on the whole set, not those seen during the epoch."""
    w, b, mistakes = np.zeros(np.shape(X)[1]), 0.0, []
    for _ in range(epochs):
        for xi, yi in zip(np.asarray(X, float), y):
            w, b = neuron.perceptron_update(w, b, xi, int(yi), lr)
        count = int(np.sum((np.asarray(X, float) @ w + b > 0).astype(int) != y))
        mistakes.append(count)
        if count == 0:
            break
    return w, b, mistakes


def _weighted_sum_no_bias(x, w, b):
    return np.asarray(x) @ np.asarray(w)


EXERCISES.append(
    Exercise(
        "weighted_sum",
        neuron.weighted_sum,
        _weighted_sum_cases,
        mistakes=known("weighted_sum")
        + [Mistake("weighted_sum_no_bias", "add the bias b after the dot product", _weighted_sum_no_bias)],
    )
)
EXERCISES.append(
    Exercise(
        "perceptron_update",
        neuron.perceptron_update,
        _update_cases,
        output_names=("w", "b"),
        mutates=(),
        mistakes=known("perceptron_update")
        + [
            Mistake(
                "wrong_sign",
                "the rule moves w towards x when y = 1 was missed: w + lr * (y - y_hat) * x",
                _update_wrong_sign,
            ),
            Mistake("no_bias", "the bias learns too: b + lr * (y - y_hat)", _update_no_bias),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "train_perceptron",
        neuron.train_perceptron,
        _train_cases,
        output_names=("w", "b", "mistakes"),
        mistakes=known("train_perceptron")
        + [
            Mistake(
                "never_stops",
                "stop after the first epoch without a mistake: the data are separated",
                _train_never_stops,
            ),
            Mistake(
                "no_bias",
                "update the bias as well as w, or the boundary must pass through the origin",
                _train_without_bias,
            ),
            Mistake(
                "counts_after_update",
                "count the examples misclassified *during* the epoch, as they are seen",
                _train_counts_after_update,
            ),
        ],
    )
)
