"""Softmax and the losses, each with its gradient.

Everything here is stable for logits of any size: softmax subtracts the row maximum before exp, and
log_softmax uses the log-sum-exp identity instead of taking the log of a softmax that may be 0.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, class_targets, same_shape


def _axis(x: np.ndarray, dim: int) -> int:
    if not isinstance(dim, (int, np.integer)) or not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"dim must be an int in [{-x.ndim}, {x.ndim - 1}] for an input of shape {x.shape}, got {dim!r}"
        )
    return int(dim)


def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along ``dim``."""
    x = as_float_array(x, "x")
    axis = _axis(x, dim)
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def log_softmax(x, dim=-1):
    """log(softmax(x)) along ``dim``, as x - max - log(sum(exp(x - max)))."""
    x = as_float_array(x, "x")
    axis = _axis(x, dim)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _check_logits(logits, target):
    logits = as_float_array(logits, "logits", ndim=2)
    target = class_targets(target, logits.shape[0], logits.shape[1])
    return logits, target


def cross_entropy(logits, target):
    """Mean negative log-likelihood of the correct classes.

    logits: unnormalised scores of shape (N, C)
    target: integer class indices of shape (N,), each in [0, C)
    returns: a scalar, mean over the batch
    """
    logits, target = _check_logits(logits, target)
    logp = log_softmax(logits, dim=1)
    return -logp[np.arange(logits.shape[0]), target].mean()


def cross_entropy_backward(logits, target):
    """Gradient of ``cross_entropy`` (the batch mean) with respect to the logits: (softmax - one_hot) / N."""
    logits, target = _check_logits(logits, target)
    n = logits.shape[0]
    grad = softmax(logits, dim=1)
    grad[np.arange(n), target] -= 1
    return grad / n


def mse_loss(pred, target):
    """Mean of the squared differences over every entry."""
    pred = as_float_array(pred, "pred")
    target = as_float_array(target, "target")
    same_shape(pred, target, "pred", "target")
    return np.mean((pred - target) ** 2)


def mse_loss_backward(pred, target):
    """Gradient of ``mse_loss`` with respect to pred: 2 * (pred - target) / number of entries."""
    pred = as_float_array(pred, "pred")
    target = as_float_array(target, "target")
    same_shape(pred, target, "pred", "target")
    return 2 * (pred - target) / pred.size
