"""Input checks shared by the public functions.

Every check raises ``ValueError`` with a message that names the argument, says what was expected and
what was given, so a learner can act on it without reading this file.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a floating NumPy array, checking its rank.

    Integer and boolean arrays are promoted to float64; float32 and float64 are kept as they are so that
    float32 in gives float32 out.
    """
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor: name the fix instead of failing later
        raise ValueError(f"{name} must be a NumPy array, got a torch tensor; use {name}.detach().cpu().numpy()")
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.float16:
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape} ({arr.ndim} dimensions)")
    return arr


def result_dtype(*arrays) -> np.dtype:
    """The floating dtype of a result: float32 only when every given array is float32."""
    present = [a.dtype for a in arrays if a is not None]
    return np.result_type(*present) if present else np.dtype(np.float64)


def pair(value, name: str, minimum: int) -> tuple[int, int]:
    """Normalise an int-or-pair hyper-parameter (stride, padding, kernel size) to a pair of ints."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, Integral):
        values = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) for v in value)
    ):
        values = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return values


def probability(p, name: str = "p", *, allow_one: bool = True) -> float:
    """A probability in [0, 1] (or [0, 1) when ``allow_one`` is False)."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {p!r}")
    upper_ok = p <= 1 if allow_one else p < 1
    if not (0 <= p and upper_ok):
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {p!r}")
    return float(p)


def integer(value, name: str, minimum: int = 1) -> int:
    """An int (not a bool, not a float) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}, got {value!r}")
    return int(value)


def generator(rng, name: str = "rng") -> np.random.Generator:
    """A NumPy Generator from ``rng``: None (fresh entropy), an int seed, or a Generator (used as it is, so that
    one Generator threads through a whole experiment)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, Integral) and not isinstance(rng, (bool, np.bool_))):
        return np.random.default_rng(rng)
    raise ValueError(f"{name} must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def positive_number(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def class_targets(target, n: int, n_classes: int, name: str = "target") -> np.ndarray:
    """Integer class labels of shape (n,) with values in [0, n_classes)."""
    t = np.asarray(target)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {t.shape}")
    if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
        if np.issubdtype(t.dtype, np.floating) and np.all(np.mod(t, 1) == 0):
            t = t.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer class indices, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        bad = t[(t < 0) | (t >= n_classes)]
        raise ValueError(
            f"{name} holds labels outside [0, {n_classes - 1}] for {n_classes} classes: {np.unique(bad)[:5].tolist()}"
        )
    return t.astype(np.int64, copy=False)


def vector(b, name: str, length: int, of: str) -> np.ndarray:
    """A 1-D parameter (bias, scale) whose length must equal a channel count."""
    arr = as_float_array(b, name)
    if arr.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), one entry per {of}, got {arr.shape}")
    return arr
