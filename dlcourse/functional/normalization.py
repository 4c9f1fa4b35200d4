"""Batch normalisation (Ioffe & Szegedy, 2015) with running statistics, and its backward pass.

Signature as in ``torch.nn.functional.batch_norm``: in training mode the batch's own mean and biased
variance normalise it, and the running statistics (if given) are updated in place with
running = (1 - momentum) * running + momentum * batch_stat, using the *unbiased* variance as torch does.
In eval mode the running statistics normalise and nothing is updated. Channels are axis 1: x is (N, C) or
(N, C, H, W).
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, positive_number, probability, vector


def _reduce_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _channel_view(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _check_bn_args(x, running_mean, running_var, weight, bias, training, eps):
    x = as_float_array(x, "x", ndim=(2, 3, 4))
    c = x.shape[1]
    positive_number(eps, "eps")
    stats = []
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is None:
            if not training:
                raise ValueError(f"{name} is required in eval mode (training=False): it is what normalises x")
            stats.append(None)
            continue
        if not isinstance(v, np.ndarray) or v.shape != (c,) or not np.issubdtype(v.dtype, np.floating):
            raise ValueError(
                f"{name} must be a float NumPy array of shape ({c},), one entry per channel, "
                f"got {getattr(v, 'shape', type(v).__name__)}"
            )
        stats.append(v)
    weight = vector(weight, "weight", c, of="channel") if weight is not None else None
    bias = vector(bias, "bias", c, of="channel") if bias is not None else None
    if training:
        count = x.size // c
        if count < 2:
            raise ValueError(
                f"training mode needs more than one value per channel to estimate a variance, got x of shape {x.shape}"
            )
    return x, stats[0], stats[1], weight, bias


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """x: (N, C) or (N, C, H, W); running_mean, running_var, weight, bias: (C,). returns: like x."""
    x, running_mean, running_var, weight, bias = _check_bn_args(
        x, running_mean, running_var, weight, bias, training, eps
    )
    probability(momentum, "momentum")
    axes = _reduce_axes(x)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        count = x.size // x.shape[1]
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    out = (x - _channel_view(mean, x.ndim)) / np.sqrt(_channel_view(var, x.ndim) + eps)
    if weight is not None:
        out = out * _channel_view(weight, x.ndim)
    if bias is not None:
        out = out + _channel_view(bias, x.ndim)
    return out.astype(x.dtype, copy=False)


def batch_norm_backward(dout, x, running_mean, running_var, weight=None, bias=None, training=False, eps=1e-5):
    """Gradients of ``batch_norm`` for the same arguments: (dx, dweight, dbias), None where not given.

    In training mode the batch mean and variance depend on x, which adds two terms to dx:
    dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps), with g = dout * weight.
    """
    x, running_mean, running_var, weight, bias = _check_bn_args(
        x, running_mean, running_var, weight, bias, training, eps
    )
    dout = as_float_array(dout, "dout")
    if dout.shape != x.shape:
        raise ValueError(f"dout must have the shape of x {x.shape}, got {dout.shape}")
    axes = _reduce_axes(x)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(_channel_view(var, x.ndim) + eps)
    x_hat = (x - _channel_view(mean, x.ndim)) * inv_std
    g = dout * _channel_view(weight, x.ndim) if weight is not None else dout
    if training:
        dx = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) * inv_std
    else:
        dx = g * inv_std
    dweight = (dout * x_hat).sum(axis=axes) if weight is not None else None
    dbias = dout.sum(axis=axes) if bias is not None else None
    return dx.astype(x.dtype, copy=False), dweight, dbias
