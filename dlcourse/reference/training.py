"""Lab 04's answers: the train/validation split, weight penalties, one training epoch and early stopping.

(The mini-batch iterator, also an answer of lab 04, is the framework's own: ``dlcourse.train.batches``.)
"""

from __future__ import annotations

import numpy as np

from ..train import batches
from ..validation import generator, integer, probability


def train_val_split(X, y, val_fraction=0.2, rng=None):
    """Shuffle once with rng.permutation, hold out the first round(val_fraction * n) for validation.

    returns: X_train, y_train, X_val, y_val
    """
    probability(val_fraction, "val_fraction", allow_one=False)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    rng = generator(rng)
    order = rng.permutation(len(X))
    n_val = int(round(val_fraction * len(X)))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def l2_penalty(weights, lam):
    """lam * sum of squared entries over a list of weight arrays."""
    return lam * sum(float(np.sum(np.asarray(w) ** 2)) for w in weights)


def l2_penalty_grad(weights, lam):
    """The gradient of l2_penalty for each array: 2 * lam * w."""
    return [2 * lam * np.asarray(w, dtype=float) for w in weights]


def l1_penalty(weights, lam):
    """lam * sum of absolute values over a list of weight arrays."""
    return lam * sum(float(np.sum(np.abs(w))) for w in weights)


def l1_penalty_grad(weights, lam):
    """A (sub)gradient of l1_penalty: lam * sign(w), 0 where w == 0."""
    return [lam * np.sign(np.asarray(w, dtype=float)) for w in weights]


def train_epoch(model, loss_fn, optimizer, X, y, batch_size=32, rng=None):
    """One pass over (X, y) in shuffled mini-batches: zero the gradients, forward, loss, backward, step.

    returns: the mean training loss over the examples (each batch's loss weighted by its size)
    """
    total, count = 0.0, 0
    for xb, yb in batches(X, y, batch_size, rng):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward())
        optimizer.step()
        total += loss * len(yb)
        count += len(yb)
    return total / count


def should_stop(val_losses, patience=3):
    """True when the last ``patience`` validation losses are all no better than the best one before them."""
    integer(patience, "patience")
    losses = list(val_losses)
    if len(losses) <= patience:
        return False
    return min(losses[-patience:]) >= min(losses[:-patience])
