"""Mini-batches, a train/validation split, weight penalties, one training epoch, early stopping and a
training loop with a tqdm progress bar, for ``dlcourse.nn`` models (lab 04's reference)."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .validation import probability


def batches(X, y, batch_size, rng=None, shuffle=True):
    """Yield (X_batch, y_batch) pairs covering the data once; the last batch may be smaller."""
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same length, got {n} and {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = (rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]


def predict(model, X, batch_size=500):
    """Class predictions (argmax of the logits) in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        out = [np.argmax(model(X[i : i + batch_size]), axis=1) for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def accuracy(model, X, y, batch_size=500) -> float:
    return float(np.mean(predict(model, X, batch_size) == y))


def fit(model, loss_fn, optimizer, X, y, *, epochs=1, batch_size=64, rng=None, X_val=None, y_val=None,
        progress=True, on_epoch_end=None, augment=None, lr_schedule=None):
    """Train for ``epochs`` passes over (X, y); returns a history dict of per-epoch lists.

    augment(X_batch, rng) -> X_batch changes each training batch (e.g. ``dlcourse.data.random_shift``)
    lr_schedule(epoch) -> learning rate, set on the optimiser before each epoch (e.g. ``cosine(lr, epochs)``)

    history keys: 'loss' (mean training loss), 'train_acc' (running accuracy during the epoch) and, with
    validation data, 'val_acc'. on_epoch_end(epoch, history) is called after each epoch (live plots).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    history = {"loss": [], "train_acc": []} | ({"val_acc": []} if X_val is not None else {})
    n_batches = -(-len(X) // batch_size)
    for epoch in range(epochs):
        model.train()
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(epoch))
        total, correct, seen = 0.0, 0, 0
        bar = tqdm(batches(X, y, batch_size, rng), total=n_batches, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=False)
        for xb, yb in bar:
            if augment is not None:
                xb = augment(xb, rng)
            optimizer.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            model.backward(loss_fn.backward())
            optimizer.step()
            total += loss * len(yb)
            correct += int(np.sum(np.argmax(logits, axis=1) == yb))
            seen += len(yb)
            bar.set_postfix(loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}")
        history["loss"].append(total / seen)
        history["train_acc"].append(correct / seen)
        if X_val is not None:
            history["val_acc"].append(accuracy(model, X_val, y_val))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history


def cosine(lr, epochs):
    """Cosine decay from lr to 0 over ``epochs`` (Loshchilov & Hutter, 2017), as a schedule for ``fit``."""
    return lambda epoch: lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def train_val_split(X, y, val_fraction=0.2, rng=None):
    """Shuffle once with rng.permutation, hold out the first round(val_fraction * n) for validation.

    returns: X_train, y_train, X_val, y_val
    """
    probability(val_fraction, "val_fraction", allow_one=False)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
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
    if not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"patience must be a positive int, got {patience!r}")
    losses = list(val_losses)
    if len(losses) <= patience:
        return False
    return min(losses[-patience:]) >= min(losses[:-patience])
