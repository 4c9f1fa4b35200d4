"""Loop-based convolution and pooling that read like the formulas.

These are the second oracle in the tests and the versions the labs explain; they are slow (Python loops
over every output pixel) and share their signatures with ``dlcourse.functional``. Inputs are validated
by the fast versions' own checks, so both raise the same errors.
"""

from __future__ import annotations

import numpy as np

from .conv import _check_conv_args
from .pooling import _check_pool_args
from .windows import pad2d as _pad  # the one padding helper: (x, (pH, pW), value)


def correlate2d(image, kernel, stride=1):
    """One channel, one filter, no padding: out[i, j] = sum_{u, v} kernel[u, v] * image[i*S + u, j*S + v].

    image: (H, W); kernel: (kH, kW); stride: an int or a pair. returns: (H_out, W_out)
    """
    x, w, _, (sh, sw), _, (ho, wo) = _check_conv_args(
        np.asarray(image)[None, None], np.asarray(kernel)[None, None], None, stride, 0
    )
    image, kernel = x[0, 0], w[0, 0]
    kh, kw = kernel.shape
    out = np.zeros((ho, wo), dtype=np.result_type(image, kernel))
    for i in range(ho):
        for j in range(wo):
            out[i, j] = np.sum(image[i * sh : i * sh + kh, j * sw : j * sw + kw] * kernel)
    return out


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xp[n, c, i*sH + u, j*sW + v]."""
    x, weight, bias, (sh, sw), padding, (ho, wo) = _check_conv_args(x, weight, bias, stride, padding)
    xp = _pad(x, padding)
    n_images, c_out = x.shape[0], weight.shape[0]
    kh, kw = weight.shape[2:]
    out = np.zeros((n_images, c_out, ho, wo), dtype=np.result_type(x, weight))
    for n in range(n_images):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    window = xp[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    out[n, o, i, j] = np.sum(window * weight[o]) + (bias[o] if bias is not None else 0)
    return out


def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    """Each output pixel sent w * dout to its window in x and window * dout to w: add those up."""
    x, weight, bias, (sh, sw), padding, (ho, wo) = _check_conv_args(x, weight, bias, stride, padding)
    dout = np.asarray(dout)
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp)
    dweight = np.zeros_like(weight)
    kh, kw = weight.shape[2:]
    for n in range(x.shape[0]):
        for o in range(weight.shape[0]):
            for i in range(ho):
                for j in range(wo):
                    g = dout[n, o, i, j]
                    dxp[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += g * weight[o]
                    dweight[o] += g * xp[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
    ph, pw = padding
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    dbias = dout.sum(axis=(0, 2, 3)) if bias is not None else None
    return dx, dweight, dbias


def _pool(x, kernel_size, stride, padding, reduce, pad_value):
    x, (kh, kw), (sh, sw), padding, (ho, wo) = _check_pool_args(x, kernel_size, stride, padding)
    xp = _pad(x, padding, pad_value)
    out = np.zeros(x.shape[:2] + (ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = reduce(xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3))
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """out[n, c, i, j] = max over the window of xp[n, c] at (i*sH, j*sW)."""
    return _pool(x, kernel_size, stride, padding, np.max, -np.inf)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """out[n, c, i, j] = mean over the window (padding zeros included)."""
    return _pool(x, kernel_size, stride, padding, np.mean, 0.0)


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Send each output's gradient to the first maximum of its window."""
    x, (kh, kw), (sh, sw), padding, (ho, wo) = _check_pool_args(x, kernel_size, stride, padding)
    xp = _pad(x, padding, -np.inf)
    dxp = np.zeros_like(xp)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(ho):
                for j in range(wo):
                    window = xp[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    dxp[n, c, i * sh + u, j * sw + v] += dout[n, c, i, j]
    ph, pw = padding
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Spread each output's gradient evenly over its window."""
    x, (kh, kw), (sh, sw), padding, (ho, wo) = _check_pool_args(x, kernel_size, stride, padding)
    dxp = np.zeros_like(_pad(x, padding))
    for i in range(ho):
        for j in range(wo):
            dxp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += dout[:, :, i, j, None, None] / (kh * kw)
    ph, pw = padding
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
