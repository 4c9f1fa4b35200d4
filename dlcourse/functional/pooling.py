"""Max and average pooling over NCHW images, with their backward passes.

Defaults follow ``torch.nn.functional``: stride defaults to the kernel size, max pooling pads with -inf,
average pooling pads with zeros and counts them (``count_include_pad=True``). Where several entries of a
window tie for the maximum, the gradient goes to the first one in row-major order, as in torch.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, pair
from .windows import fold_windows, output_size, pad2d, sliding_windows, unpad2d


def _check_pool_args(x, kernel_size, stride, padding):
    x = as_float_array(x, "x", ndim=4)
    kernel = pair(kernel_size, "kernel_size", minimum=1)
    stride = kernel if stride is None else pair(stride, "stride", minimum=1)
    padding = pair(padding, "padding", minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"padding must be at most half the kernel size (kernel_size={kernel}), got padding={padding}; "
            f"a window made mostly of padding has nothing to pool"
        )
    out_h = output_size(x.shape[2], kernel[0], stride[0], padding[0], what="input height")
    out_w = output_size(x.shape[3], kernel[1], stride[1], padding[1], what="input width")
    return x, kernel, stride, padding, (out_h, out_w)


def _check_dout(dout, shape):
    dout = as_float_array(dout, "dout", ndim=4)
    if dout.shape != shape:
        raise ValueError(f"dout must have the forward output's shape {shape}, got {dout.shape}")
    return dout


def _max_positions(x, kernel, stride, padding):
    """Flat index (i * kW + j) of the maximum inside each window: shape (N, C, H_out, W_out)."""
    windows = sliding_windows(pad2d(x, padding, value=-np.inf), kernel, stride)
    n, c, kh, kw, ho, wo = windows.shape
    return windows.reshape(n, c, kh * kw, ho, wo).argmax(axis=2)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each kH x kW window.

    x: input of shape (N, C, H, W)
    kernel_size, stride, padding: an int or a pair; stride defaults to kernel_size
    returns: output of shape (N, C, H_out, W_out)
    """
    x, kernel, stride, padding, _ = _check_pool_args(x, kernel_size, stride, padding)
    windows = sliding_windows(pad2d(x, padding, value=-np.inf), kernel, stride)
    return windows.max(axis=(2, 3))


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of ``max_pool2d`` with respect to x: each output's gradient goes to its window's maximum.

    dout: upstream gradient of shape (N, C, H_out, W_out)
    returns: dx of shape (N, C, H, W); overlapping windows add their contributions
    """
    x, kernel, stride, padding, (ho, wo) = _check_pool_args(x, kernel_size, stride, padding)
    dout = _check_dout(dout, (x.shape[0], x.shape[1], ho, wo))
    winner = _max_positions(x, kernel, stride, padding)
    offsets = np.arange(kernel[0] * kernel[1]).reshape(1, 1, kernel[0], kernel[1], 1, 1)
    cols = np.where(winner[:, :, None, None] == offsets, dout[:, :, None, None], 0).astype(dout.dtype)
    padded_shape = x.shape[:2] + (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    return np.ascontiguousarray(unpad2d(fold_windows(cols, padded_shape, stride), padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each kH x kW window (zero padding counts towards the mean, as in torch).

    x: input of shape (N, C, H, W)
    returns: output of shape (N, C, H_out, W_out)
    """
    x, kernel, stride, padding, _ = _check_pool_args(x, kernel_size, stride, padding)
    windows = sliding_windows(pad2d(x, padding), kernel, stride)
    return windows.mean(axis=(2, 3))


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of ``avg_pool2d``: each output spreads dout / (kH * kW) evenly over its window.

    dout: upstream gradient of shape (N, C, H_out, W_out)
    returns: dx of shape (N, C, H, W)
    """
    x, kernel, stride, padding, (ho, wo) = _check_pool_args(x, kernel_size, stride, padding)
    dout = _check_dout(dout, (x.shape[0], x.shape[1], ho, wo))
    share = dout / (kernel[0] * kernel[1])
    cols = np.broadcast_to(share[:, :, None, None], share.shape[:2] + kernel + share.shape[2:])
    padded_shape = x.shape[:2] + (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    return np.ascontiguousarray(unpad2d(fold_windows(cols, padded_shape, stride), padding))
