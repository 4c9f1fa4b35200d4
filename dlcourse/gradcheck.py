"""Numerical gradients by centred differences, and a one-call check of analytic gradients against them.

>>> check_gradients(lambda: loss(w), {"w": w}, {"w": dw})   # prints a small table, returns True/False
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .validation import as_float_array, generator, positive_number


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x by centred differences, (f(x + h e_i) - f(x - h e_i)) / 2h for every entry i.

    f: a function of no arguments returning a scalar that reads ``x`` (x is perturbed in place and
       restored after each entry, so f sees the change without being passed x)
    x: float64 array the gradient is taken with respect to; returns an array of x's shape
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(
            f"x must be a float64 NumPy array (float32 rounding swamps a finite difference), got "
            f"{getattr(x, 'dtype', type(x).__name__)}"
        )
    positive_number(h, "h")
    flat = x.reshape(-1)  # a view: writing flat perturbs x itself
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    return _centred_differences(f, flat, range(flat.size), h).reshape(x.shape)


def _centred_differences(f, flat, indices, h) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for each i in indices, perturbing ``flat`` (a view of x) in place."""
    out = np.empty(len(indices))
    for k, i in enumerate(indices):
        original = flat[i]
        flat[i] = original + h
        f_plus = float(f())
        flat[i] = original - h
        f_minus = float(f())
        flat[i] = original
        out[k] = (f_plus - f_minus) / (2 * h)
    return out


def numerical_gradient_of_array(f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-6):
    """Gradient of sum(f() * dout) with respect to x: what a backward pass given ``dout`` should return."""
    dout = as_float_array(dout, "dout")
    return numerical_gradient(lambda: np.sum(f() * dout), x, h)


def numerical_partials(f: Callable[[], float], x: np.ndarray, indices, h: float = 1e-6) -> np.ndarray:
    """Centred differences of f with respect to the flat entries ``indices`` of x only: one pair of calls
    each, for arrays too large to perturb entry by entry (a whole network's weights)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or not x.flags.c_contiguous:
        raise ValueError(f"x must be a contiguous float64 NumPy array, got {getattr(x, 'dtype', type(x).__name__)}")
    positive_number(h, "h")
    return _centred_differences(f, x.reshape(-1), list(indices), h)


def relative_error(a, b, eps: float = 1e-12) -> float:
    """max |a - b| / max(|a| + |b|, eps) over all entries: 0 when equal, about 1 when unrelated."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))


def check_gradients(
    f: Callable[[], float],
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    *,
    h: float = 1e-6,
    tol: float = 1e-6,
    verbose: bool = True,
    samples: int | None = None,
    rng=None,
) -> bool:
    """Compare analytic gradients with numerical ones and print a table; True when every row passes.

    f: scalar function of no arguments that reads the arrays in ``params``
    params: name -> float64 array that f depends on
    grads: name -> analytic gradient of f with respect to that array, same shape
    samples: check only this many entries of each array, drawn at random (rng), for large networks
    """
    missing = set(params) - set(grads)
    if missing:
        raise ValueError(f"grads has no entry for {sorted(missing)}; give one analytic gradient per parameter")
    rows = []
    for name, x in params.items():
        g = np.asarray(grads[name])
        if g.shape != x.shape:
            raise ValueError(f"gradient for {name!r} has shape {g.shape}, expected {x.shape} (the parameter's shape)")
        if samples is None or samples >= x.size:
            err = relative_error(g, numerical_gradient(f, x, h))
        else:
            picked = generator(rng).choice(x.size, size=samples, replace=False)
            err = relative_error(g.reshape(-1)[picked], numerical_partials(f, x, picked, h))
        rows.append((name, err, err <= tol))
    if verbose:
        width = max([16, *(len(name) + 2 for name, *_ in rows)])
        print(f"{'what':<{width}}{'max rel. error':>16}  result")
        for name, err, ok in rows:
            print(f"{name:<{width}}{err:>16.2e}  {'pass' if ok else 'FAIL'}")
    return all(ok for _, _, ok in rows)
