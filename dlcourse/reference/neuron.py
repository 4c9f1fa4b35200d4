"""A single artificial neuron and the perceptron learning rule (Rosenblatt, 1958): lab 01's reference."""

from __future__ import annotations

import numpy as np

from ..functional import step
from ..validation import as_float_array, integer, positive_number


def _check_neuron_args(x, w):
    x = as_float_array(x, "x", ndim=(1, 2))
    w = as_float_array(w, "w", ndim=1)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[-1]} features (shape {x.shape}) but w has {w.shape[0]} weights")
    return x, w


def weighted_sum(x, w, b):
    """z = x . w + b.

    x: one input of shape (D,) or a batch of shape (N, D)
    w: weights of shape (D,); b: a number
    returns: a number for one input, shape (N,) for a batch
    """
    x, w = _check_neuron_args(x, w)
    return x @ w + float(b)


def perceptron_update(w, b, x, y, lr=1.0):
    """One step of the perceptron rule on one example: w += lr * (y - y_hat) * x, b += lr * (y - y_hat).

    w: (D,); b: number; x: one example (D,); y: its label, 0 or 1; y_hat = step(x . w + b)
    returns: the new (w, b); w and b are not changed in place
    """
    x, w = _check_neuron_args(x, w)
    if x.ndim != 1:
        raise ValueError(f"x must be one example of shape (D,), got {x.shape}")
    if y not in (0, 1):
        raise ValueError(f"y must be a label 0 or 1, got {y!r}")
    positive_number(lr, "lr")
    error = y - float(step(weighted_sum(x, w, b)))
    return w + lr * error * x, float(b) + lr * error


def train_perceptron(X, y, lr=1.0, epochs=20):
    """Run the perceptron rule over (X, y) in order, epoch after epoch, starting from w = 0, b = 0.

    Stops after the first epoch without a mistake (the data are separated) or after ``epochs`` epochs.
    X: (N, D); y: (N,) labels 0 or 1
    returns: (w, b, mistakes) where mistakes[e] counts misclassified examples seen during epoch e
    """
    X = as_float_array(X, "X", ndim=2)
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"y must hold one label 0 or 1 per row of X, shape ({X.shape[0]},), got {y.shape}")
    integer(epochs, "epochs")
    w, b = np.zeros(X.shape[1]), 0.0
    mistakes = []
    for _ in range(epochs):
        count = 0
        for xi, yi in zip(X, y):
            new_w, new_b = perceptron_update(w, b, xi, int(yi), lr)
            count += int(new_b != b or not np.array_equal(new_w, w))
            w, b = new_w, new_b
        mistakes.append(count)
        if count == 0:
            break
    return w, b, mistakes
