"""2-D convolution (cross-correlation, as in every deep-learning library) and its backward pass.

Layout is NCHW, weights are (C_out, C_in, kH, kW), as in ``torch.nn.functional.conv2d``.

How it is fast without loops over pixels: the padded input is stored channels-first as a grid of shape
(C_in, N * Hp * Wp). For stride 1, the input pixel under kernel tap (i, j) of the output at flat grid
position q is q + i * Wp + j, so each tap's receptive-field row of the im2col matrix is one *contiguous*
slice of the grid. The whole batch then needs kH * kW slice copies and a single matrix product; positions
whose window runs off the right or bottom edge are computed and thrown away (a small waste that buys
contiguous memory). The backward pass adds the same slices back, which is col2im with contiguous adds.
Strided convolutions gather their windows with a strided view instead. ``im2col`` keeps the textbook
per-image layout for the labs.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, pair, result_dtype, vector
from .scratch import scratch
from .windows import fold_windows, output_size, sliding_windows
from .windows import pad2d as pad2d_unchecked


def _check_conv_args(x, weight, bias, stride, padding):
    x = as_float_array(x, "x", ndim=4)
    weight = as_float_array(weight, "weight", ndim=4)
    stride = pair(stride, "stride", minimum=1)
    padding = pair(padding, "padding", minimum=0)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}, NCHW) but weight expects "
            f"{weight.shape[1]} input channels (shape {weight.shape}, (C_out, C_in, kH, kW))"
        )
    if bias is not None:
        bias = vector(bias, "bias", weight.shape[0], of="output channel")
    out_h = output_size(x.shape[2], weight.shape[2], stride[0], padding[0], what="input height")
    out_w = output_size(x.shape[3], weight.shape[3], stride[1], padding[1], what="input width")
    return x, weight, bias, stride, padding, (out_h, out_w)


def pad2d(x, padding):
    """Zero-pad the height and width of x (N, C, H, W) by padding (an int or (pH, pW)) on both sides.

    returns: a new array of shape (N, C, H + 2*pH, W + 2*pW)
    """
    x = as_float_array(x, "x", ndim=4)
    padded = pad2d_unchecked(x, pair(padding, "padding", minimum=0))
    return padded.copy() if padded is x else padded


def im2col(x: np.ndarray, kernel, stride=1, padding=0) -> np.ndarray:
    """Receptive fields of x (N, C, H, W) as a matrix of shape (N, C*kH*kW, H_out*W_out).

    Row k = (c * kH + i) * kW + j of image n holds input channel c under kernel tap (i, j) for every output
    position, so ``weight.reshape(C_out, -1) @ im2col(x, ...)`` is the convolution of image n.
    """
    x = as_float_array(x, "x", ndim=4)
    kernel, stride, padding = pair(kernel, "kernel", 1), pair(stride, "stride", 1), pair(padding, "padding", 0)
    output_size(x.shape[2], kernel[0], stride[0], padding[0], what="input height")
    output_size(x.shape[3], kernel[1], stride[1], padding[1], what="input width")
    windows = sliding_windows(pad2d_unchecked(x, padding), kernel, stride)
    n, c, kh, kw, ho, wo = windows.shape
    return windows.reshape(n, c * kh * kw, ho * wo)


WASTE_LIMIT = 1.35  # most extra grid positions the contiguous stride-1 path may compute


class _Grid:
    """Index bookkeeping for one convolution: the channels-first padded grid and the columns matrix."""

    def __init__(self, x_shape, kernel, stride, padding, out_hw):
        self.n, self.c, h, w = x_shape
        self.kh, self.kw = kernel
        self.stride, self.padding = stride, padding
        self.ho, self.wo = out_hw
        self.hp, self.wp = h + 2 * padding[0], w + 2 * padding[1]
        self.size = self.n * self.hp * self.wp
        # Stride 1: outputs live at every grid position q < span; the last tap of the last one is the
        # grid's last entry. Positions past the right or bottom edge are wasted work, so the contiguous
        # path is taken only when they are few (large maps); small maps gather their windows instead.
        self.span = self.size - ((self.kh - 1) * self.wp + self.kw - 1)
        self.unit_stride = stride == (1, 1) and self.span <= WASTE_LIMIT * self.n * self.ho * self.wo

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> zero-padded grid (C, N, Hp, Wp), one copy."""
        ph, pw = self.padding
        grid = scratch("grid", (self.c, self.n, self.hp, self.wp), x.dtype)
        if ph or pw:
            grid[:, :, :ph] = 0
            grid[:, :, self.hp - ph :] = 0
            grid[:, :, :, :pw] = 0
            grid[:, :, :, self.wp - pw :] = 0
        grid[:, :, ph : self.hp - ph, pw : self.wp - pw] = x.transpose(1, 0, 2, 3)
        return grid

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """Inverse of ``to_grid``: crop the padding and return (N, C, H, W)."""
        ph, pw = self.padding
        return np.ascontiguousarray(grid[:, :, ph : self.hp - ph, pw : self.wp - pw].transpose(1, 0, 2, 3))

    def columns(self, grid: np.ndarray) -> np.ndarray:
        """The im2col matrix of the whole batch: (C*kH*kW, M), M = span (stride 1) or N*H_out*W_out."""
        if self.unit_stride:
            flat = grid.reshape(self.c, self.size)
            cols = scratch("columns", (self.c, self.kh, self.kw, self.span), grid.dtype)
            for i in range(self.kh):
                for j in range(self.kw):
                    start = i * self.wp + j
                    cols[:, i, j] = flat[:, start : start + self.span]
            return cols.reshape(-1, self.span)
        windows = sliding_windows(grid, (self.kh, self.kw), self.stride)  # (C, N, kH, kW, H_out, W_out)
        cols = scratch("columns", (self.c, self.kh, self.kw, self.n, self.ho, self.wo), grid.dtype)
        cols[...] = windows.transpose(0, 2, 3, 1, 4, 5)
        return cols.reshape(self.c * self.kh * self.kw, -1)

    def fold_columns(self, dcols: np.ndarray) -> np.ndarray:
        """Adjoint of ``columns``: add each column entry back onto the grid position it came from."""
        if self.unit_stride:
            flat = scratch("grid", (self.c, self.size), dcols.dtype, zero=True)
            dcols = dcols.reshape(self.c, self.kh, self.kw, self.span)
            for i in range(self.kh):
                for j in range(self.kw):
                    start = i * self.wp + j
                    flat[:, start : start + self.span] += dcols[:, i, j]
            return flat.reshape(self.c, self.n, self.hp, self.wp)
        dcols = dcols.reshape(self.c, self.kh, self.kw, self.n, self.ho, self.wo).transpose(0, 3, 1, 2, 4, 5)
        return fold_windows(dcols, (self.c, self.n, self.hp, self.wp), self.stride)

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """(C_out, M) from the matrix product -> (N, C_out, H_out, W_out)."""
        c_out = out.shape[0]
        if self.unit_stride:
            full = scratch("outputs", (c_out, self.size), out.dtype)
            full[:, : self.span] = out
            out = full.reshape(c_out, self.n, self.hp, self.wp)[:, :, : self.ho, : self.wo]
        else:
            out = out.reshape(c_out, self.n, self.ho, self.wo)
        return np.ascontiguousarray(out.transpose(1, 0, 2, 3))

    def adjoint_outputs(self, dout: np.ndarray) -> np.ndarray:
        """Adjoint of ``outputs``: dout (N, C_out, H_out, W_out) -> (C_out, M), zeros at discarded positions."""
        c_out = dout.shape[1]
        if self.unit_stride:
            full = scratch("outputs", (c_out, self.n, self.hp, self.wp), dout.dtype, zero=True)
            full[:, :, : self.ho, : self.wo] = dout.transpose(1, 0, 2, 3)
            return full.reshape(c_out, self.size)[:, : self.span]
        return np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(c_out, -1)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation.

    x: input of shape (N, C_in, H, W)
    weight: filters of shape (C_out, C_in, kH, kW)
    bias: optional, shape (C_out,)
    stride, padding: an int or a pair (along H, along W); padding is zeros on both sides
    returns: output of shape (N, C_out, H_out, W_out), H_out = (H + 2*pH - kH) // sH + 1
    """
    x, weight, bias, stride, padding, out_hw = _check_conv_args(x, weight, bias, stride, padding)
    dtype = result_dtype(x, weight, bias)
    plan = _Grid(x.shape, weight.shape[2:], stride, padding, out_hw)
    cols = plan.columns(plan.to_grid(x.astype(dtype, copy=False)))
    out = np.matmul(
        weight.reshape(weight.shape[0], -1).astype(dtype, copy=False),
        cols,
        out=scratch("product", (weight.shape[0], cols.shape[1]), dtype),
    )
    if bias is not None:
        out += bias.astype(dtype, copy=False)[:, None]
    return plan.outputs(out)


def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    """Gradients of ``conv2d`` with respect to its input, weight and bias.

    dout: upstream gradient of shape (N, C_out, H_out, W_out)
    x, weight, bias, stride, padding: as given to the forward pass
    returns: (dx, dweight, dbias) with the shapes of x, weight and bias; dbias is None when bias is None
    """
    x, weight, bias, stride, padding, out_hw = _check_conv_args(x, weight, bias, stride, padding)
    dout = as_float_array(dout, "dout", ndim=4)
    expected = (x.shape[0], weight.shape[0]) + out_hw
    if dout.shape != expected:
        raise ValueError(f"dout must have the forward output's shape {expected}, got {dout.shape}")
    dtype = result_dtype(x, weight, bias, dout)
    plan = _Grid(x.shape, weight.shape[2:], stride, padding, out_hw)
    cols = plan.columns(plan.to_grid(x.astype(dtype, copy=False)))
    dout_mat = plan.adjoint_outputs(dout.astype(dtype, copy=False))  # (C_out, M)
    dweight = (dout_mat @ cols.T).reshape(weight.shape)
    dcols = np.matmul(
        weight.reshape(weight.shape[0], -1).astype(dtype, copy=False).T,
        dout_mat,
        out=scratch("product", cols.shape, dtype),
    )
    dx = plan.from_grid(plan.fold_columns(dcols))
    dbias = dout.sum(axis=(0, 2, 3), dtype=dtype) if bias is not None else None
    return dx, dweight, dbias
