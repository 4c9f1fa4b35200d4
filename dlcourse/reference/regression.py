"""Linear and logistic regression trained by full-batch gradient descent: lab 02's reference."""

from __future__ import annotations

import numpy as np

from ..functional import sigmoid
from ..validation import as_float_array, integer, positive_number


def _check(X, y, lr, steps):
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", ndim=1)
    if len(y) != len(X):
        raise ValueError(f"y must have one entry per row of X ({len(X)}), got {len(y)}")
    positive_number(lr, "lr")
    integer(steps, "steps")
    return X, y


def linear_regression_gd(X, y, lr=0.1, steps=100):
    """Fit y ~ X w + b by gradient descent on the mean squared error, from w = 0, b = 0.

    Each step: r = X w + b - y; w -= lr * 2 X^T r / n; b -= lr * 2 mean(r).
    returns: (w (D,), b, losses) with losses[t] the MSE *before* step t (steps entries)
    """
    X, y = _check(X, y, lr, steps)
    n = len(y)
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(steps):
        r = X @ w + b - y
        losses.append(float(np.mean(r**2)))
        w = w - lr * 2 * (X.T @ r) / n
        b = b - lr * 2 * float(np.mean(r))
    return w, b, losses


def logistic_regression_gd(X, y, lr=0.5, steps=200):
    """Fit P(y = 1 | x) = sigmoid(x w + b) by gradient descent on the mean binary cross-entropy.

    The gradient of the mean cross-entropy with respect to the logits is (p - y) / n.
    returns: (w, b, losses) with losses[t] the cross-entropy before step t
    """
    X, y = _check(X, y, lr, steps)
    n = len(y)
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(steps):
        z = X @ w + b
        p = sigmoid(z)
        # log(1 + e^z) - y z, written with logaddexp so that large |z| cannot overflow
        losses.append(float(np.mean(np.logaddexp(0, z) - y * z)))
        w = w - lr * (X.T @ (p - y)) / n
        b = b - lr * float(np.mean(p - y))
    return w, b, losses
