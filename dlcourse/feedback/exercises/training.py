"""Test cases for lab 04: batches, the split, penalties, dropout backward, one training epoch, early stopping."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ... import train
from ...reference import training
from ..mistakes import Mistake
from .base import Case, Exercise, known

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them


def _data(rng, n, d=3):
    return rng.standard_normal((n, d)), rng.integers(0, 3, n)


def _batch_cases(rng, hidden):
    out = []
    for n, bs in [(10, 3), (8, 4), (5, 8)] + ([(23, 5), (7, 1)] if hidden else []):
        X, y = _data(rng, n)
        out.append(
            Case({"X": X, "y": y, "batch_size": bs, "seed": int(rng.integers(1000))}, f"{n} examples, batch_size {bs}")
        )
    return out


def _batches_unshuffled(X, y, batch_size, rng=None):
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size], y[start : start + batch_size]


def _batches_drop_last(X, y, batch_size, rng=None):
    for xb, yb in train.batches(X, y, batch_size, rng):
        if len(yb) == batch_size:
            yield xb, yb


def _batches_separate_shuffles(X, y, batch_size, rng=None):
    ox, oy = rng.permutation(len(X)), rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[ox[start : start + batch_size]], y[oy[start : start + batch_size]]


EXERCISES.append(
    Exercise(
        "batches",
        train.batches,
        _batch_cases,
        runner="batches",
        mistakes=known("batches")
        + [
            Mistake(
                "unshuffled",
                "shuffle once per epoch with rng.permutation(len(X)) before cutting batches",
                _batches_unshuffled,
            ),
            Mistake(
                "drop_last", "keep the last, smaller batch: every example is used once per epoch", _batches_drop_last
            ),
            Mistake(
                "separate_shuffles",
                "use one permutation for both X and y, or the labels no longer match their inputs",
                _batches_separate_shuffles,
            ),
        ],
    )
)


def _split_cases(rng, hidden):
    out = []
    for n, frac in [(10, 0.3), (50, 0.2)] + ([(40, 0.1)] if hidden else []):
        X, y = _data(rng, n)
        out.append(
            Case(
                {"X": X, "y": y, "val_fraction": frac, "seed": int(rng.integers(1000))},
                f"{n} examples, {frac:.0%} held out",
            )
        )
    return out


def _split_val_last(X, y, val_fraction=0.2, rng=None):
    order = rng.permutation(len(X))
    n_train = len(X) - int(round(val_fraction * len(X)))
    return X[order[:n_train]], y[order[:n_train]], X[order[n_train:]], y[order[n_train:]]


def _split_unshuffled(X, y, val_fraction=0.2, rng=None):
    n_val = int(round(val_fraction * len(X)))
    return X[n_val:], y[n_val:], X[:n_val], y[:n_val]


def _penalty_cases(rng, hidden):
    out = [
        Case({"weights": [rng.standard_normal((3, 2)), rng.standard_normal(4)], "lam": 0.1}, "two arrays"),
        Case({"weights": [np.array([[0.0, -2.0], [1.5, 0.0]])], "lam": 0.5}, "exact zeros"),
    ]
    if hidden:
        out.append(Case({"weights": [rng.standard_normal((2, 2, 3))], "lam": 1e-3}))
    return out


def _dropout_backward_cases(rng, hidden):
    out = []
    for shape, p, is_training in [((4, 5), 0.5, True), ((3, 6), 0.2, True), ((4, 5), 0.5, False)] + (
        [((2, 3, 4), 0.7, True)] if hidden else []
    ):
        out.append(
            Case(
                {"dout": rng.standard_normal(shape), "mask": rng.random(shape) >= p, "p": p, "training": is_training},
                f"p={p}, {'training' if is_training else 'eval'}",
            )
        )
    return out


def _dropout_backward_unscaled(dout, mask, p=0.5, training=True):
    return dout * mask if training else dout


def _dropout_backward_ignores_mask(dout, mask, p=0.5, training=True):
    return dout / (1 - p) if training else dout


def _epoch_cases(rng, hidden):
    out = []
    for n, bs in [(30, 8), (24, 6)] + ([(17, 5)] if hidden else []):
        X, y = _data(rng, n, 4)
        out.append(
            Case({"X": X, "y": y, "batch_size": bs, "seed": int(rng.integers(1000))}, f"{n} examples, batch_size {bs}")
        )
    return out


def _epoch_no_zero_grad(model, loss_fn, optimizer, X, y, batch_size=32, rng=None):
    total, count = 0.0, 0
    for xb, yb in train.batches(X, y, batch_size, rng):
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward())
        optimizer.step()
        total, count = total + loss * len(yb), count + len(yb)
    return total / count


def _epoch_mean_of_batches(model, loss_fn, optimizer, X, y, batch_size=32, rng=None):
    losses = []
    for xb, yb in train.batches(X, y, batch_size, rng):
        optimizer.zero_grad()
        losses.append(loss_fn(model(xb), yb))
        model.backward(loss_fn.backward())
        optimizer.step()
    return float(np.mean(losses))


def _stop_cases(rng, hidden):
    series = [
        ([1.0, 0.8, 0.7, 0.71, 0.72, 0.73], 3),
        ([1.0, 0.8, 0.7, 0.71, 0.69], 3),
        ([0.5, 0.5, 0.5], 2),
        ([1.0, 0.9], 3),
        ([0.9, 0.8, 0.85, 0.84, 0.86, 0.83], 4),
        ([1.0, 0.5, 0.9, 0.8, 0.7], 2),  # improving lately, but still worse than the best: stop
        ([0.9, 1.0, 0.6, 1.1], 2),
    ]  # the last value is bad, but a new best came within patience: go on
    if hidden:  # and series drawn fresh, with ties (rounded values), so that no table of answers passes
        series += [([0.3, 0.2, 0.2, 0.2], 2), ([2.0, 1.0, 1.5, 0.9, 1.2], 1)]
        for _ in range(5):
            length = int(rng.integers(2, 11))
            series.append(([float(v) for v in np.round(rng.uniform(0.2, 1.0, length), 1)], int(rng.integers(1, 5))))
    return [Case({"val_losses": s, "patience": p}, f"patience {p}") for s, p in series]


def _stop_last_only(val_losses, patience=3):
    losses = list(val_losses)
    return len(losses) > patience and losses[-1] >= losses[-1 - patience]


def _stop_strict(val_losses, patience=3):
    losses = list(val_losses)
    return len(losses) > patience and min(losses[-patience:]) > min(losses[:-patience])


EXERCISES.append(
    Exercise(
        "train_val_split",
        training.train_val_split,
        _split_cases,
        runner="split",
        mistakes=known("train_val_split")
        + [
            Mistake(
                "val_last",
                "hold out the *first* round(val_fraction * n) shuffled indices, train on the rest",
                _split_val_last,
            ),
            Mistake(
                "unshuffled",
                "shuffle with rng.permutation(len(X)) before splitting: data files are often sorted by class",
                _split_unshuffled,
            ),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "l2_penalty",
        training.l2_penalty,
        _penalty_cases,
        mistakes=known("l2_penalty")
        + [
            Mistake(
                "norm",
                "the L2 penalty is lam times the sum of *squares*, not lam times the norm (its square root)",
                lambda weights, lam: lam * float(np.sqrt(sum(np.sum(np.asarray(w) ** 2) for w in weights))),
            ),
            Mistake(
                "no_lam",
                "multiply the sum by lam",
                lambda weights, lam: sum(float(np.sum(np.asarray(w) ** 2)) for w in weights),
            ),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "l1_penalty",
        training.l1_penalty,
        _penalty_cases,
        mistakes=known("l1_penalty")
        + [
            Mistake(
                "signed_sum",
                "sum the absolute values: negative weights must not cancel positive ones",
                lambda weights, lam: lam * sum(float(np.sum(w)) for w in weights),
            )
        ],
    )
)
EXERCISES.append(
    Exercise(
        "l2_penalty_grad",
        training.l2_penalty_grad,
        _penalty_cases,
        runner="penalty_grad",
        mistakes=known("l2_penalty_grad")
        + [
            Mistake(
                "no_two",
                "d/dw (lam * w^2) = 2 * lam * w: the factor 2 is missing",
                lambda weights, lam: [lam * np.asarray(w) for w in weights],
            )
        ],
    )
)
EXERCISES.append(
    Exercise(
        "l1_penalty_grad",
        training.l1_penalty_grad,
        _penalty_cases,
        runner="penalty_grad",
        mistakes=known("l1_penalty_grad")
        + [
            Mistake(
                "uses_w",
                "d/dw (lam * |w|) = lam * sign(w), not lam * w",
                lambda weights, lam: [lam * np.asarray(w) for w in weights],
            )
        ],
    )
)
EXERCISES.append(
    Exercise(
        "dropout_backward",
        F.dropout_backward,
        _dropout_backward_cases,
        mistakes=known("dropout_backward")
        + [
            Mistake(
                "unscaled",
                "scale the gradient by 1 / (1 - p), as the forward pass scaled the kept activations",
                _dropout_backward_unscaled,
            ),
            Mistake(
                "ignores_mask",
                "the dropped entries get no gradient: multiply by the same mask",
                _dropout_backward_ignores_mask,
            ),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "train_epoch",
        training.train_epoch,
        _epoch_cases,
        runner="epoch",
        forbidden=("dlcourse.reference.training", "torch"),
        modules=("dlcourse.nn", "dlcourse.optim"),
        mistakes=known("train_epoch")
        + [
            Mistake(
                "no_zero_grad",
                "call optimizer.zero_grad() before each backward pass: gradients accumulate otherwise",
                _epoch_no_zero_grad,
            ),
            Mistake(
                "mean_of_batches",
                "weight each batch's loss by its size: a smaller last batch must count less",
                _epoch_mean_of_batches,
            ),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "should_stop",
        training.should_stop,
        _stop_cases,
        mistakes=known("should_stop")
        + [
            Mistake(
                "last_only",
                "compare the best of the last `patience` losses with the best before them, not just two values",
                _stop_last_only,
            ),
            Mistake(
                "strict",
                "a loss equal to the best so far is no improvement: stop when min(recent) >= best before",
                _stop_strict,
            ),
        ],
    )
)
