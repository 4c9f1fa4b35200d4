"""Inverted dropout (Srivastava et al., 2014): zero each entry with probability p, scale the rest by 1/(1-p).

Scaling at training time keeps every activation's expected value unchanged, so evaluation needs no
rescaling. With no autograd to remember the mask, the mask is explicit: draw it with ``dropout_mask``
(or let ``dropout`` draw it from ``rng``) and hand the same mask to ``dropout_backward``.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, generator, probability


def dropout_mask(shape, p=0.5, rng=None):
    """Boolean keep-mask of the given shape: True with probability 1 - p."""
    probability(p, "p")
    rng = generator(rng)
    return rng.random(shape) >= p


def _check_mask(mask, shape):
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape {shape}, got {mask.dtype} of shape {mask.shape}")
    return mask


def _keep_and_scale(a, mask, p, training):
    """a * mask / (1 - p) in training, a unchanged in eval: dropout and its gradient are the same map."""
    if not training or p == 0:
        return a
    if p == 1:
        return np.zeros_like(a)
    return (a * mask / (1 - p)).astype(a.dtype, copy=False)


def dropout(x, p=0.5, training=True, *, rng=None, mask=None):
    """x: any shape. In training, returns x * mask / (1 - p); in eval (training=False), x unchanged.

    rng: a numpy Generator the mask is drawn from (ignored when ``mask`` is given)
    mask: optional boolean keep-mask of x's shape, e.g. from ``dropout_mask``
    """
    x = as_float_array(x, "x")
    p = probability(p, "p")
    if training and 0 < p < 1:
        mask = dropout_mask(x.shape, p, rng) if mask is None else _check_mask(mask, x.shape)
    return _keep_and_scale(x, mask, p, training)


def dropout_backward(dout, mask, p=0.5, training=True):
    """Gradient of ``dropout``: the same mask and the same 1/(1-p) scale applied to dout."""
    dout = as_float_array(dout, "dout")
    p = probability(p, "p")
    if training and 0 < p < 1:
        mask = _check_mask(mask, dout.shape)
    return _keep_and_scale(dout, mask, p, training)
