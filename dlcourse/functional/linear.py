"""The fully connected layer y = x W^T + b and its backward pass."""

from __future__ import annotations

from ..validation import as_float_array, result_dtype, vector


def _check_linear_args(x, weight, bias):
    x = as_float_array(x, "x")
    weight = as_float_array(weight, "weight", ndim=2)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (..., in_features), got a scalar")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"feature mismatch: x has {x.shape[-1]} features (shape {x.shape}) but weight expects "
            f"{weight.shape[1]} (shape {weight.shape}, (out_features, in_features))"
        )
    if bias is not None:
        bias = vector(bias, "bias", weight.shape[0], of="output feature")
    return x, weight, bias


def linear(x, weight, bias=None):
    """x: (..., in_features); weight: (out_features, in_features); bias: (out_features,) or None.

    returns: (..., out_features)
    """
    x, weight, bias = _check_linear_args(x, weight, bias)
    out = x @ weight.T
    if bias is not None:
        out = out + bias
    return out.astype(result_dtype(x, weight, bias), copy=False)


def linear_backward(dout, x, weight, bias=None):
    """dout: (..., out_features). returns (dx, dweight, dbias); dbias is None when bias is None."""
    x, weight, bias = _check_linear_args(x, weight, bias)
    dout = as_float_array(dout, "dout")
    expected = x.shape[:-1] + (weight.shape[0],)
    if dout.shape != expected:
        raise ValueError(f"dout must have the forward output's shape {expected}, got {dout.shape}")
    flat_dout = dout.reshape(-1, weight.shape[0])
    flat_x = x.reshape(-1, weight.shape[1])
    dx = dout @ weight
    dweight = flat_dout.T @ flat_x  # sums over every leading (batch) position
    dbias = flat_dout.sum(axis=0) if bias is not None else None
    return dx, dweight, dbias
