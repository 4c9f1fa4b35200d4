"""The framework's training loop for ``dlcourse.nn`` models: mini-batches, ``fit`` with a tqdm progress bar and
a learning-rate schedule, ``predict`` and ``accuracy``. Lab 04's other answers are in
``dlcourse.reference.training``."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .validation import generator


def batches(X, y, batch_size, rng=None, shuffle=True):
    """Yield (X_batch, y_batch) pairs covering the data once; the last batch may be smaller."""
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same length, got {n} and {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = generator(rng).permutation(n) if shuffle else np.arange(n)
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


def fit(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    *,
    epochs=1,
    batch_size=64,
    rng=None,
    X_val=None,
    y_val=None,
    progress=True,
    on_epoch_end=None,
    augment=None,
    lr_schedule=None,
):
    """Train for ``epochs`` passes over (X, y); returns a history dict of per-epoch lists.

    augment(X_batch, rng) -> X_batch changes each training batch (e.g. ``dlcourse.data.random_shift``)
    lr_schedule(epoch) -> learning rate, set on the optimiser before each epoch (e.g. ``cosine(lr, epochs)``)

    history keys: 'loss' (mean training loss), 'train_acc' (running accuracy during the epoch) and, with
    validation data, 'val_acc'. on_epoch_end(epoch, history) is called after each epoch (live plots).
    """
    rng = generator(rng)
    history = {"loss": [], "train_acc": []} | ({"val_acc": []} if X_val is not None else {})
    n_batches = -(-len(X) // batch_size)
    for epoch in range(epochs):
        model.train()
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(epoch))
        total, correct, seen = 0.0, 0, 0
        bar = tqdm(
            batches(X, y, batch_size, rng),
            total=n_batches,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
        )
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
