"""Sliding windows over NCHW images: the one piece of index arithmetic that conv and pooling share.

``sliding_windows`` returns a strided *view* (no copy) of every kH x kW window; ``fold_windows`` is its
adjoint: it adds per-window values back onto the image, summing where windows overlap. Both loop over
kernel offsets only (kH * kW iterations at most), never over pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def output_size(n: int, kernel: int, stride: int, padding: int, *, what: str = "input") -> int:
    """Output length along one axis: floor((n + 2 * padding - kernel) / stride) + 1.

    Raises ``ValueError`` when the kernel is larger than the padded input.
    """
    padded = n + 2 * padding
    if kernel > padded:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded {what} ({n} + 2*{padding} = {padded}); "
            f"use a smaller kernel or more padding"
        )
    return (padded - kernel) // stride + 1


def pad2d(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of x (N, C, H, W) by padding = (pH, pW) on both sides."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def sliding_windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """View of every window of an already padded xp (N, C, Hp, Wp).

    Returns an array of shape (N, C, kH, kW, H_out, W_out) whose entry [n, c, i, j, oh, ow] is
    xp[n, c, oh * sH + i, ow * sW + j]. Kernel offsets come before output positions so that reshaping
    to (N, C*kH*kW, H_out*W_out) gives the im2col matrix in the weight's (C_in, kH, kW) order.
    """
    n, c, hp, wp = xp.shape
    kh, kw = kernel
    sh, sw = stride
    ho = (hp - kh) // sh + 1
    wo = (wp - kw) // sw + 1
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(n, c, kh, kw, ho, wo), strides=(s0, s1, s2, s3, s2 * sh, s3 * sw), writeable=False)


def fold_windows(cols: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """Adjoint of ``sliding_windows``: sum cols (N, C, kH, kW, H_out, W_out) back into (N, C, Hp, Wp).

    Where windows overlap (stride < kernel), the contributions add up, which is exactly what the chain
    rule asks of a gradient.
    """
    n, c, kh, kw, ho, wo = cols.shape
    sh, sw = stride
    out = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += cols[:, :, i, j]
    return out


def unpad2d(xp: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Drop the border that ``pad2d`` added."""
    ph, pw = padding
    h, w = xp.shape[-2:]
    return xp[..., ph : h - ph, pw : w - pw]
