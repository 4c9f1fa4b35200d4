"""Data augmentation for image batches (N, C, H, W): label-preserving changes that enlarge a small set."""

from __future__ import annotations

import numpy as np

from ..validation import generator


def random_shift(X, max_shift=2, rng=None):
    """Shift each image by up to ``max_shift`` pixels in each direction, filling with zeros.

    A digit moved by two pixels is still the same digit, so the network learns not to care where it is.
    returns: a new array of X's shape
    """
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"X must be a batch of images (N, C, H, W), got shape {X.shape}")
    if not isinstance(max_shift, (int, np.integer)) or max_shift < 0 or 2 * max_shift >= min(X.shape[2:]):
        raise ValueError(f"max_shift must be an int in [0, {(min(X.shape[2:]) - 1) // 2}], got {max_shift!r}")
    rng = generator(rng)
    m = max_shift
    n, c, h, w = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (m, m), (m, m)))
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)  # (N, H): which padded rows each image keeps
    cols = dx[:, None] + np.arange(w)
    return padded[
        np.arange(n)[:, None, None, None],
        np.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
