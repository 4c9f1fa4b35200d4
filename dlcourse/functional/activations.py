"""Element-wise activations, each followed by its backward pass ``<name>_backward(dout, x)``.

A backward pass returns dout times the local derivative, so ``relu_backward(np.ones_like(x), x)`` is the
derivative itself. At the kink of relu and leaky_relu (x == 0) we use the left derivative, as torch does.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, same_shape


def _grad_args(dout, x):
    dout = as_float_array(dout, "dout")
    x = as_float_array(x, "x")
    same_shape(dout, x, "dout", "x")
    return dout, x


def step(x):
    """Heaviside step: 1 where x > 0, else 0 (the perceptron's activation)."""
    x = as_float_array(x, "x")
    return (x > 0).astype(x.dtype)


def step_backward(dout, x):
    """The step is flat almost everywhere, so no gradient flows through it: zeros like x."""
    dout, x = _grad_args(dout, x)
    return np.zeros_like(dout)


def relu(x):
    """max(0, x)."""
    x = as_float_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward(dout, x):
    dout, x = _grad_args(dout, x)
    return np.where(x > 0, dout, 0).astype(dout.dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, negative_slope * x elsewhere."""
    x = as_float_array(x, "x")
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)


def leaky_relu_backward(dout, x, negative_slope=0.01):
    dout, x = _grad_args(dout, x)
    return np.where(x > 0, dout, dout * negative_slope).astype(dout.dtype, copy=False)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    x = as_float_array(x, "x")
    # exp of a non-positive number never overflows; the two branches are the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(dout, x):
    dout, x = _grad_args(dout, x)
    s = sigmoid(x)
    return dout * s * (1 - s)


def tanh(x):
    x = as_float_array(x, "x")
    return np.tanh(x)


def tanh_backward(dout, x):
    dout, x = _grad_args(dout, x)
    return dout * (1 - np.tanh(x) ** 2)
