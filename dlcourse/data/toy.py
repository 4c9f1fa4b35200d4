"""Two-dimensional toy sets for labs 01-04. Each returns X of shape (n, 2) float64 and y of shape (n,) int.

Every generator takes an explicit ``rng`` (a numpy Generator, or an int seed) and a ``noise`` level, the
standard deviation of Gaussian jitter added to each point.
"""

from __future__ import annotations

import numpy as np

from ..validation import generator, integer, positive_number

_rng = generator


def _check(n, noise, minimum=2):
    integer(n, "n", minimum)
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")


def _shuffled(X, y, rng):
    order = rng.permutation(len(y))
    return X[order], y[order]


def make_moons(n=200, noise=0.1, rng=None):
    """Two interleaving half circles, labels 0 and 1."""
    _check(n, noise)
    rng = _rng(rng)
    n0 = n // 2
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n - n0)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.r_[np.zeros(n0, int), np.ones(n - n0, int)]
    return _shuffled(X + rng.normal(0, noise, X.shape), y, rng)


def make_circles(n=200, noise=0.05, factor=0.5, rng=None):
    """A small circle (label 1) inside a large one (label 0); factor is the ratio of their radii."""
    _check(n, noise)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    rng = _rng(rng)
    n0 = n // 2
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n - n0, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    y = np.r_[np.zeros(n0, int), np.ones(n - n0, int)]
    return _shuffled(X + rng.normal(0, noise, X.shape), y, rng)


def make_spiral(n=300, noise=0.1, classes=2, turns=1.0, rng=None):
    """Interleaved spiral arms, one per class."""
    _check(n, noise, minimum=classes)
    integer(classes, "classes", 2)
    positive_number(turns, "turns")
    rng = _rng(rng)
    sizes = [n // classes + (k < n % classes) for k in range(classes)]
    parts, labels = [], []
    for k, m in enumerate(sizes):
        r = np.linspace(0.05, 1, m)
        t = 2 * np.pi * turns * r + 2 * np.pi * k / classes
        parts.append(np.c_[r * np.cos(t), r * np.sin(t)])
        labels.append(np.full(m, k))
    X, y = np.concatenate(parts), np.concatenate(labels)
    return _shuffled(X + rng.normal(0, noise, X.shape), y, rng)


def make_xor(n=200, noise=0.1, rng=None):
    """Points in the four quadrants; label 1 where the signs of x1 and x2 differ (exclusive or)."""
    _check(n, noise)
    rng = _rng(rng)
    X = rng.uniform(-1, 1, size=(n, 2))
    X += np.sign(X) * 0.1  # keep a margin around the axes so the classes are clean before noise
    y = (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int)
    return X + rng.normal(0, noise, X.shape), y


def make_blobs(n=200, centers=2, spread=0.4, noise=0.0, rng=None):
    """Gaussian blobs of standard deviation ``spread`` around ``centers`` points on a circle of radius 2.

    centers: how many blobs (one class each), or an array of shape (k, 2) of centres
    """
    _check(n, noise)
    rng = _rng(rng)
    if isinstance(centers, (int, np.integer)):
        if centers < 2:
            raise ValueError(f"centers must be at least 2, got {centers}")
        angles = 2 * np.pi * np.arange(centers) / centers + np.pi / 4
        centers = 2 * np.c_[np.cos(angles), np.sin(angles)]
    centers = np.asarray(centers, dtype=float)
    if centers.ndim != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must be an int or an array of shape (k, 2), got shape {centers.shape}")
    y = np.arange(n) % len(centers)
    X = centers[y] + rng.normal(0, spread, (n, 2)) + rng.normal(0, noise, (n, 2))
    return _shuffled(X, y, rng)


DATASETS = {"moons": make_moons, "circles": make_circles, "spiral": make_spiral, "xor": make_xor, "blobs": make_blobs}


def make_dataset(name, n=200, noise=0.1, rng=None):
    """One of the toy sets by name: 'moons', 'circles', 'spiral', 'xor' or 'blobs'."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](n=n, noise=noise, rng=rng)
