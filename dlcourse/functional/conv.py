"""2-D convolution (cross-correlation, as in every deep-learning library) and its backward pass.

Layout is NCHW, weights are (C_out, C_in, kH, kW), as in ``torch.nn.functional.conv2d``.

How it is fast without loops over pixels: the padded input is stored channels-first as a grid of shape
(C_in, N * Hp * Wp). For stride 1, the input pixel under kernel tap (i, j) of the output at flat grid
position q is q + i * Wp + j, so each tap's receptive-field row of the im2col matrix is one *contiguous*
slice of the grid. The whole batch then needs kH * kW slice copies and a single matrix product; positions
whose window runs off the right or bottom edge are computed and thrown away (a small waste that buys
contiguous memory). The backward pass adds the same slices back, which is col2im with contiguous adds.
Strided convolutions, and small maps where that waste would be large (a ResNet's 7x7 and 4x4 stages), work
channels-last instead: the padded input is stored (N, Hp, Wp, C), each tap's window is one strided slice
whose rows are runs of C (stride > 1) or W_out * C (stride 1) contiguous values, and the columns matrix is
(N * H_out * W_out, kH * kW * C). Both layouts loop over kernel taps only, never over pixels. ``im2col``
keeps the textbook per-image layout for the labs.
"""

from __future__ import annotations

import numpy as np

from ..validation import as_float_array, pair, result_dtype, vector
from .scratch import scratch
from .windows import output_size, sliding_windows
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


# Most extra grid positions the contiguous stride-1 path may compute, by input channels. Copying a tap's window
# channels-last moves runs of C values, which is slow for few channels and fast for many (measured with
# benchmarks/conv_speed.py: the 4x4 and 8x8 maps of 32 and 64 channels go faster channels-last, LeNet's 14x14
# map of 6 channels and a ResNet's 7x7 map of 16 twice as fast channels-first).
WASTE_LIMIT = 2.0
WASTE_LIMIT_MANY_CHANNELS = 1.4
MANY_CHANNELS = 32


class _Grid:
    """Index bookkeeping for one convolution: the padded input and the columns matrix, in one of two layouts.

    Channels-first (stride 1 on large maps): grid (C, N, Hp, Wp), columns (C*kH*kW, M), products
    weight (C_out, C*kH*kW) @ columns. Channels-last (otherwise): grid (N, Hp, Wp, C), columns
    (M, kH*kW*C), products columns @ weight (kH*kW*C, C_out). ``weight_matrix``, ``product`` and
    ``backward_products`` hide the difference from the forward and backward passes.
    """

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
        limit = WASTE_LIMIT_MANY_CHANNELS if self.c >= MANY_CHANNELS else WASTE_LIMIT
        self.unit_stride = stride == (1, 1) and self.span <= limit * self.n * self.ho * self.wo
        self.m = self.span if self.unit_stride else self.n * self.ho * self.wo

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> the zero-padded grid, (C, N, Hp, Wp) or channels-last (N, Hp, Wp, C), one copy."""
        ph, pw = self.padding
        if self.unit_stride:
            grid = scratch("grid", (self.c, self.n, self.hp, self.wp), x.dtype)
            inner, source = grid, x.transpose(1, 0, 2, 3)
        else:
            grid = scratch("grid", (self.n, self.hp, self.wp, self.c), x.dtype)
            inner, source = grid.transpose(0, 3, 1, 2), x
        if ph or pw:
            inner[:, :, :ph] = 0
            inner[:, :, self.hp - ph :] = 0
            inner[:, :, :, :pw] = 0
            inner[:, :, :, self.wp - pw :] = 0
        inner[:, :, ph : self.hp - ph, pw : self.wp - pw] = source
        return grid

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """Inverse of ``to_grid``: crop the padding and return (N, C, H, W)."""
        ph, pw = self.padding
        if self.unit_stride:
            inner = grid.transpose(1, 0, 2, 3)
        else:
            inner = grid.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(inner[:, :, ph : self.hp - ph, pw : self.wp - pw])

    def _tap(self, grid: np.ndarray, i: int, j: int) -> np.ndarray:
        """Channels-last: the input under tap (i, j) of every output position, (N, H_out, W_out, C), a view."""
        sh, sw = self.stride
        return grid[:, i : i + sh * (self.ho - 1) + 1 : sh, j : j + sw * (self.wo - 1) + 1 : sw]

    def columns(self, grid: np.ndarray) -> np.ndarray:
        """The im2col matrix of the whole batch: (C*kH*kW, span) channels-first, (M, kH*kW*C) channels-last."""
        if self.unit_stride:
            flat = grid.reshape(self.c, self.size)
            cols = scratch("columns", (self.c, self.kh, self.kw, self.span), grid.dtype)
            for i in range(self.kh):
                for j in range(self.kw):
                    start = i * self.wp + j
                    cols[:, i, j] = flat[:, start : start + self.span]
            return cols.reshape(-1, self.span)
        cols = scratch("columns", (self.n, self.ho, self.wo, self.kh, self.kw, self.c), grid.dtype)
        for i in range(self.kh):
            for j in range(self.kw):
                cols[:, :, :, i, j] = self._tap(grid, i, j)
        return cols.reshape(self.m, -1)

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
        grid = scratch("grid", (self.n, self.hp, self.wp, self.c), dcols.dtype, zero=True)
        dcols = dcols.reshape(self.n, self.ho, self.wo, self.kh, self.kw, self.c)
        for i in range(self.kh):
            for j in range(self.kw):
                self._tap(grid, i, j)[...] += dcols[:, :, :, i, j]
        return grid

    def weight_matrix(self, weight: np.ndarray) -> np.ndarray:
        """weight (C_out, C, kH, kW) as the left factor (C_out, C*kH*kW) or the right factor (kH*kW*C, C_out)."""
        if self.unit_stride:
            return weight.reshape(weight.shape[0], -1)
        return weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])

    def product(self, weight_matrix: np.ndarray, cols: np.ndarray, dtype) -> np.ndarray:
        """The convolution as one matrix product: (C_out, span) channels-first, (M, C_out) channels-last."""
        if self.unit_stride:
            out = scratch("product", (weight_matrix.shape[0], cols.shape[1]), dtype)
            return np.matmul(weight_matrix, cols, out=out)
        return np.matmul(cols, weight_matrix, out=scratch("product", (cols.shape[0], weight_matrix.shape[1]), dtype))

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """The matrix product -> (N, C_out, H_out, W_out)."""
        if self.unit_stride:
            c_out = out.shape[0]
            full = scratch("outputs", (c_out, self.size), out.dtype)
            full[:, : self.span] = out
            out = full.reshape(c_out, self.n, self.hp, self.wp)[:, :, : self.ho, : self.wo].transpose(1, 0, 2, 3)
        else:
            out = out.reshape(self.n, self.ho, self.wo, -1).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out)

    def adjoint_outputs(self, dout: np.ndarray) -> np.ndarray:
        """Adjoint of ``outputs``: dout (N, C_out, H_out, W_out) -> (C_out, span) with zeros at discarded
        positions (channels-first), or (M, C_out) (channels-last)."""
        c_out = dout.shape[1]
        if self.unit_stride:
            full = scratch("outputs", (c_out, self.n, self.hp, self.wp), dout.dtype, zero=True)
            full[:, :, : self.ho, : self.wo] = dout.transpose(1, 0, 2, 3)
            return full.reshape(c_out, self.size)[:, : self.span]
        mat = scratch("outputs", (self.n, self.ho, self.wo, c_out), dout.dtype)
        mat[...] = dout.transpose(0, 2, 3, 1)
        return mat.reshape(self.m, c_out)

    def backward_products(self, dout_mat, weight_matrix, cols, weight_shape, dtype):
        """(dweight in weight's shape, dcols in the columns' layout) from the two matrix products."""
        if self.unit_stride:
            dweight = (cols @ dout_mat.T).T.reshape(weight_shape)  # this order splits better across threads
            dcols = np.matmul(weight_matrix.T, dout_mat, out=scratch("product", cols.shape, dtype))
            return dweight, dcols
        c_out, c, kh, kw = weight_shape
        dweight = (cols.T @ dout_mat).reshape(kh, kw, c, c_out).transpose(3, 2, 0, 1)
        dcols = np.matmul(dout_mat, weight_matrix.T, out=scratch("product", cols.shape, dtype))
        return np.ascontiguousarray(dweight), dcols


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
    out = plan.product(plan.weight_matrix(weight.astype(dtype, copy=False)), cols, dtype)
    result = plan.outputs(out)
    if bias is not None:
        result += bias.astype(dtype, copy=False)[:, None, None]
    return result


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
    dout_mat = plan.adjoint_outputs(dout.astype(dtype, copy=False))
    weight_matrix = plan.weight_matrix(weight.astype(dtype, copy=False))
    dweight, dcols = plan.backward_products(dout_mat, weight_matrix, cols, weight.shape, dtype)
    dx = plan.from_grid(plan.fold_columns(dcols))
    dbias = dout.sum(axis=(0, 2, 3), dtype=dtype) if bias is not None else None
    return dx, dweight, dbias
