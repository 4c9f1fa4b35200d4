"""Plausible wrong answers, each a working implementation of one specific bug.

They serve twice. The feedback checks run them on the learner's inputs: when the learner's result equals a
mistake's result, the check can name the bug instead of only saying "wrong". The test suite feeds them to
the hidden tests to prove those tests reject real bugs, not just blank answers.

Each mistake has the signature of the function it imitates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..functional.windows import fold_windows, pad2d, sliding_windows
from ..optim import rules as R
from ..validation import pair


@dataclass(frozen=True)
class Mistake:
    name: str
    hint: str
    fn: Callable


# --- activations ----------------------------------------------------------------------------------------


def sigmoid_overflowing_ratio(x):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(x, dtype=float))
        return e / (1 + e)


def sigmoid_backward_on_input(dout, x):
    return dout * x * (1 - x)


def sigmoid_backward_sigmoid_twice(dout, x):
    s = F.sigmoid(F.sigmoid(x))  # the derivative formula applied to the sigmoid's output instead of its input
    return dout * s * (1 - s)


def sigmoid_backward_no_dout(dout, x):
    s = F.sigmoid(x)
    return s * (1 - s) * np.ones_like(dout)


def tanh_backward_on_input(dout, x):
    return dout * (1 - np.asarray(x) ** 2)


def relu_backward_at_zero(dout, x):
    return np.where(np.asarray(x) >= 0, dout, 0.0)


def relu_backward_returns_input(dout, x):
    return np.where(np.asarray(x) > 0, x, 0.0)


def leaky_relu_wrong_side(x, negative_slope=0.01):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x * negative_slope, x)


def leaky_relu_backward_as_relu(dout, x, negative_slope=0.01):
    return np.where(np.asarray(x) > 0, dout, 0.0)


# --- softmax and losses ---------------------------------------------------------------------------------


def softmax_no_max_subtraction(x, dim=-1):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(x, dtype=float))
        return e / e.sum(axis=dim, keepdims=True)


def softmax_global_max(x, dim=-1):
    x = np.asarray(x, dtype=float)
    with np.errstate(under="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(x - x.max())  # one maximum for the whole array: a row far below it underflows to all zeros
        return e / e.sum(axis=dim, keepdims=True)


def softmax_wrong_axis(x, dim=-1):
    x = np.asarray(x, dtype=float)
    return F.softmax(x, dim=0 if x.ndim > 1 else -1)


def log_softmax_of_softmax(x, dim=-1):
    with np.errstate(divide="ignore"):
        return np.log(F.softmax(x, dim))


def cross_entropy_sum(logits, target):
    return F.cross_entropy(logits, target) * np.shape(logits)[0]


def cross_entropy_log_of_softmax(logits, target):
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        p = softmax_no_max_subtraction(logits, 1)
        return -np.mean(np.log(p[np.arange(len(target)), target]))


def cross_entropy_backward_not_averaged(logits, target):
    return F.cross_entropy_backward(logits, target) * np.shape(logits)[0]


def cross_entropy_backward_no_onehot(logits, target):
    return F.softmax(logits, dim=1) / np.shape(logits)[0]


def mse_loss_sum(pred, target):
    return np.sum((np.asarray(pred) - np.asarray(target)) ** 2)


def mse_loss_backward_no_two(pred, target):
    return F.mse_loss_backward(pred, target) / 2


def mse_loss_backward_not_averaged(pred, target):
    return F.mse_loss_backward(pred, target) * np.size(pred)


# --- linear ---------------------------------------------------------------------------------------------


def linear_no_bias(x, weight, bias=None):
    return F.linear(x, weight)


def linear_backward_bias_mean(dout, x, weight, bias=None):
    dx, dw, db = F.linear_backward(dout, x, weight, bias)
    return dx, dw, None if db is None else db / np.asarray(dout).reshape(-1, np.shape(weight)[0]).shape[0]


def linear_backward_weight_transposed(dout, x, weight, bias=None):
    dx, dw, db = F.linear_backward(dout, x, weight, bias)
    return dx, dw.T, db


def linear_backward_weight_mean(dout, x, weight, bias=None):
    dx, dw, db = F.linear_backward(dout, x, weight, bias)
    return dx, dw / np.asarray(dout).reshape(-1, np.shape(weight)[0]).shape[0], db


# --- convolution ----------------------------------------------------------------------------------------


def conv2d_flipped_kernel(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, np.asarray(weight)[:, :, ::-1, ::-1], bias, stride, padding)


def conv2d_ignores_stride(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, 1, padding)


def conv2d_one_sided_padding(x, weight, bias=None, stride=1, padding=0):
    ph, pw = pair(padding, "padding", 0)
    xp = np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (ph, 0), (pw, 0)))
    return F.conv2d(xp, weight, bias, stride, 0)


def conv2d_no_bias(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, None, stride, padding)


def conv2d_channels_last(x, weight, bias=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float)
    n, c, h, w = x.shape
    as_nhwc = x.reshape(n, h, w, c).transpose(0, 3, 1, 2)  # the same memory read in the wrong order
    return F.conv2d(as_nhwc, weight, bias, stride, padding)


def _conv_backward_with(dout, x, weight, bias, stride, padding, *, flip=True, accumulate=True):
    """conv2d_backward with one step done wrongly: dX without the 180-degree rotation, or overwriting."""
    x = np.asarray(x, dtype=float)
    weight = np.asarray(weight, dtype=float)
    dout = np.asarray(dout, dtype=float)
    dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
    if flip and accumulate:
        return dx, dw, db
    stride, padding = pair(stride, "stride", 1), pair(padding, "padding", 0)
    kh, kw = weight.shape[2:]
    w_used = weight if flip else weight[:, :, ::-1, ::-1]
    n, c = x.shape[:2]
    ho, wo = dout.shape[2:]
    cols = np.einsum("noyx,ocij->ncijyx", dout, w_used)
    hp, wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if accumulate:
        dxp = fold_windows(cols, (n, c, hp, wp), stride)
    else:  # each window overwrites what the previous one wrote
        dxp = np.zeros((n, c, hp, wp))
        for i in range(kh):
            for j in range(kw):
                for oy in range(ho):
                    for ox in range(wo):
                        dxp[:, :, oy * stride[0] + i, ox * stride[1] + j] = cols[:, :, i, j, oy, ox]
    return dxp[:, :, padding[0] : padding[0] + x.shape[2], padding[1] : padding[1] + x.shape[3]], dw, db


def conv2d_backward_unrotated(dout, x, weight, bias=None, stride=1, padding=0):
    return _conv_backward_with(dout, x, weight, bias, stride, padding, flip=False)


def conv2d_backward_overwrites(dout, x, weight, bias=None, stride=1, padding=0):
    return _conv_backward_with(dout, x, weight, bias, stride, padding, accumulate=False)


def conv2d_backward_bias_mean(dout, x, weight, bias=None, stride=1, padding=0):
    dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
    return dx, dw, None if db is None else db / (np.size(dout) / np.shape(dout)[1])


def conv2d_backward_weight_mean(dout, x, weight, bias=None, stride=1, padding=0):
    dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
    return dx, dw / np.shape(x)[0], db


def conv2d_backward_ignores_stride(dout, x, weight, bias=None, stride=1, padding=0):
    dout = np.asarray(dout, dtype=float)
    s = pair(stride, "stride", 1)
    if s == (1, 1):
        return F.conv2d_backward(dout, x, weight, bias, stride, padding)
    # Spread dout as if the windows were adjacent: the same numbers land in the wrong places.
    ph, pw = pair(padding, "padding", 0)
    kh, kw = np.shape(weight)[2:]
    h1, w1 = np.shape(x)[2] + 2 * ph - kh + 1, np.shape(x)[3] + 2 * pw - kw + 1
    d1 = np.zeros(dout.shape[:2] + (h1, w1))
    d1[:, :, : dout.shape[2], : dout.shape[3]] = dout
    return F.conv2d_backward(d1, x, weight, bias, 1, padding)


# --- pooling --------------------------------------------------------------------------------------------


def _windows_at_unit_steps(op, x, kernel_size, stride, padding):
    """The right output shape, but window (i, j) starting at row i and column j instead of i*stride, j*stride."""
    h_out, w_out = op(x, kernel_size, stride, padding).shape[2:]
    return op(x, kernel_size, 1, padding)[:, :, :h_out, :w_out]


def conv2d_window_start_not_strided(x, weight, bias=None, stride=1, padding=0):
    h_out, w_out = F.conv2d(x, weight, bias, stride, padding).shape[2:]
    return F.conv2d(x, weight, bias, 1, padding)[:, :, :h_out, :w_out]


def max_pool2d_window_start_not_strided(x, kernel_size, stride=None, padding=0):
    return _windows_at_unit_steps(F.max_pool2d, x, kernel_size, stride, padding)


def avg_pool2d_window_start_not_strided(x, kernel_size, stride=None, padding=0):
    return _windows_at_unit_steps(F.avg_pool2d, x, kernel_size, stride, padding)


def max_pool2d_ignores_stride(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, 1, padding)


def max_pool2d_zero_padding(x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    return sliding_windows(pad2d(np.asarray(x, dtype=float), pair(padding, "padding", 0)), k, s).max(axis=(2, 3))


def avg_pool2d_ignores_stride(x, kernel_size, stride=None, padding=0):
    return F.avg_pool2d(x, kernel_size, 1, padding)


def _max_backward(dout, x, kernel_size, stride, padding, *, ties, accumulate=True):
    x = np.asarray(x, dtype=float)
    dout = np.asarray(dout, dtype=float)
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    windows = sliding_windows(pad2d(x, p, -np.inf), k, s)  # (N, C, kH, kW, H_out, W_out)
    is_max = windows == windows.max(axis=(2, 3), keepdims=True)
    if ties in ("first", "last"):  # keep a single winner per window
        flat = is_max.reshape(is_max.shape[:2] + (-1,) + is_max.shape[4:])
        pick = np.argmax(flat, axis=2) if ties == "first" else flat.shape[2] - 1 - np.argmax(flat[:, :, ::-1], axis=2)
        is_max = (np.arange(flat.shape[2]).reshape(1, 1, -1, 1, 1) == pick[:, :, None]).reshape(is_max.shape)
    share = is_max.sum(axis=(2, 3), keepdims=True) if ties == "split" else 1
    cols = np.where(is_max, dout[:, :, None, None] / share, 0.0)
    hp, wp = x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]
    if accumulate:
        dxp = fold_windows(cols, x.shape[:2] + (hp, wp), s)
    else:
        dxp = np.zeros(x.shape[:2] + (hp, wp))
        ho, wo = dout.shape[2:]
        for oy in range(ho):
            for ox in range(wo):
                region = dxp[:, :, oy * s[0] : oy * s[0] + k[0], ox * s[1] : ox * s[1] + k[1]]
                region[...] = np.where(is_max[..., oy, ox], cols[..., oy, ox], region)
    return dxp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]]


def max_pool2d_backward_split_ties(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="split")


def max_pool2d_backward_all_ties(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="all")


def max_pool2d_backward_last_tie(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="last")


def max_pool2d_backward_overwrites(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="first", accumulate=False)


def max_pool2d_backward_as_average(dout, x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    return F.avg_pool2d_backward(dout, x, kernel_size, stride, padding) * (k[0] * k[1])


def avg_pool2d_backward_not_divided(dout, x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    return F.avg_pool2d_backward(dout, x, kernel_size, stride, padding) * (k[0] * k[1])


def avg_pool2d_backward_overwrites(dout, x, kernel_size, stride=None, padding=0):
    x = np.asarray(x, dtype=float)
    dout = np.asarray(dout, dtype=float)
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    dxp = np.zeros(x.shape[:2] + (x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]))
    for oy in range(dout.shape[2]):
        for ox in range(dout.shape[3]):
            dxp[:, :, oy * s[0] : oy * s[0] + k[0], ox * s[1] : ox * s[1] + k[1]] = dout[:, :, oy, ox, None, None] / (
                k[0] * k[1]
            )
    return dxp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]]


# --- batch norm and dropout ---------------------------------------------------------------------------


def batch_norm_unbiased_normalisation(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    x = np.asarray(x, dtype=float)
    if not training:
        return F.batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // x.shape[1]
    out = F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)  # updates running stats
    var, mean = x.var(axis=axes) * m / (m - 1), x.mean(axis=axes)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        out = out * np.reshape(weight, shape)
    if bias is not None:
        out = out + np.reshape(bias, shape)
    return out


def batch_norm_eval_uses_batch(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    return (
        F.batch_norm(x, None, None, weight, bias, True, momentum, eps)
        if not training
        else F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    )


def _bn_training_stats(x, axes):
    return x.mean(axis=axes), x.var(axis=axes)


def _bn_apply(x, mean, var, weight, bias, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = out * weight.reshape(shape) if weight is not None else out
    return out + bias.reshape(shape) if bias is not None else out


def _bn_with(x, running_mean, running_var, weight, bias, training, momentum, eps, *, mistake):
    """Batch norm in training mode with one slip in its statistics or their running averages."""
    x = np.asarray(x, dtype=float)
    if not training:
        return F.batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // x.shape[1]
    mean, var = _bn_training_stats(x, axes)
    unbiased = var * m / (m - 1)
    if mistake == "running_var_biased":
        new_mean, new_var = mean, var
    elif mistake == "momentum_reversed":
        new_mean = momentum * running_mean + (1 - momentum) * mean
        new_var = momentum * running_var + (1 - momentum) * unbiased
    else:
        new_mean, new_var = mean, unbiased
    if mistake == "momentum_reversed":
        running_mean[...], running_var[...] = new_mean, new_var
    else:
        running_mean *= 1 - momentum
        running_mean += momentum * new_mean
        running_var *= 1 - momentum
        running_var += momentum * new_var
    if mistake == "running_stats_in_training":
        return _bn_apply(x, running_mean, running_var, weight, bias, eps)
    if mistake == "per_sample":  # statistics over each example's own values
        sample_axes = tuple(range(1, x.ndim))
        mu, v = x.mean(axis=sample_axes, keepdims=True), x.var(axis=sample_axes, keepdims=True)
        out = (x - mu) / np.sqrt(v + eps)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        out = out * weight.reshape(shape) if weight is not None else out
        return out + bias.reshape(shape) if bias is not None else out
    return _bn_apply(x, mean, var, weight, bias, eps)


def batch_norm_running_var_biased(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                                  eps=1e-5):  # fmt: skip
    return _bn_with(x, running_mean, running_var, weight, bias, training, momentum, eps, mistake="running_var_biased")


def batch_norm_momentum_reversed(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                                 eps=1e-5):  # fmt: skip
    return _bn_with(x, running_mean, running_var, weight, bias, training, momentum, eps, mistake="momentum_reversed")


def batch_norm_running_stats_in_training(x, running_mean, running_var, weight=None, bias=None, training=False,
                                         momentum=0.1, eps=1e-5):  # fmt: skip
    return _bn_with(
        x, running_mean, running_var, weight, bias, training, momentum, eps, mistake="running_stats_in_training"
    )


def batch_norm_per_sample(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                          eps=1e-5):  # fmt: skip
    return _bn_with(x, running_mean, running_var, weight, bias, training, momentum, eps, mistake="per_sample")


def batch_norm_backward_constant_stats(dout, x, running_mean, running_var, weight=None, bias=None, training=False,
                                       eps=1e-5):  # fmt: skip
    """Treats the batch mean and variance as constants: dx = dout * weight / std, also in training."""
    dx, dweight, dbias = F.batch_norm_backward(dout, x, running_mean, running_var, weight, bias, False, eps)
    if training:
        axes = (0,) + tuple(range(2, np.ndim(x)))
        mean, var = _bn_training_stats(np.asarray(x, dtype=float), axes)
        shape = (1, -1) + (1,) * (np.ndim(x) - 2)
        g = dout * weight.reshape(shape) if weight is not None else dout
        dx = g / np.sqrt(var.reshape(shape) + eps)
        x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
        dweight = (dout * x_hat).sum(axis=axes) if weight is not None else None
    return dx, dweight, dbias


def batch_norm_backward_dweight_on_x(dout, x, running_mean, running_var, weight=None, bias=None, training=False,
                                     eps=1e-5):  # fmt: skip
    """dweight summed against x instead of the normalised x_hat."""
    dx, dweight, dbias = F.batch_norm_backward(dout, x, running_mean, running_var, weight, bias, training, eps)
    axes = (0,) + tuple(range(2, np.ndim(x)))
    return dx, (np.asarray(dout) * np.asarray(x)).sum(axis=axes) if weight is not None else None, dbias


def dropout_not_inverted(x, p=0.5, training=True, *, rng=None, mask=None):
    out = F.dropout(x, p, training, rng=rng, mask=mask)
    return out * (1 - p) if training else out


def dropout_in_eval(x, p=0.5, training=True, *, rng=None, mask=None):
    return F.dropout(x, p, True, rng=rng, mask=mask)


# --- lab 05: padding, output size, loops, parameter count ---------------------------------------------


def pad2d_one_sided(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (ph, 0), (pw, 0)))


def pad2d_every_axis(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((ph, ph), (ph, ph), (ph, ph), (pw, pw)))


def pad2d_swapped(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (pw, pw), (ph, ph)))


def _output_size_variant(sides=2, mode="as asked", round_up=False, plus_one=1):
    """conv_output_size with one thing changed: padding on `sides` sides, strictness `mode` ("always",
    "never" or "as asked"), rounding up instead of down, or without the + 1."""

    def conv_output_size(n, kernel_size, stride=1, padding=0, strict=False):
        strict = strict if mode == "as asked" else mode == "always"
        span = n + sides * padding - kernel_size
        if span < 0 or (strict and span % stride):
            raise ValueError("does not fit")
        return (-(-span // stride) if round_up else span // stride) + plus_one

    return conv_output_size


conv_output_size_always_strict = _output_size_variant(mode="always")
conv_output_size_never_strict = _output_size_variant(mode="never")
conv_output_size_rounds_up = _output_size_variant(round_up=True)
conv_output_size_one_padding = _output_size_variant(sides=1)
conv_output_size_no_plus_one = _output_size_variant(plus_one=0)


def correlate2d_flipped(image, kernel, stride=1):
    from ..functional.naive import correlate2d

    return correlate2d(image, np.asarray(kernel)[::-1, ::-1], stride)


def correlate2d_ignores_stride(image, kernel, stride=1):
    from ..functional.naive import correlate2d

    return correlate2d(image, kernel, 1)


def conv2d_param_count_no_bias(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    return out_channels * in_channels * kh * kw


def conv2d_param_count_no_in_channels(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    return out_channels * kh * kw + (out_channels if bias else 0)


def conv2d_param_count_bias_per_weight(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    weights = out_channels * in_channels * kh * kw
    return 2 * weights if bias else weights


# --- lab 02: gradient descent and the update rules -----------------------------------------------


def momentum_forgets_state(param, grad, state, lr=0.01, momentum=0.9):
    buf = momentum * state.get("momentum_buffer", 0.0) + grad
    return param - lr * buf, state  # the new buffer is never handed back


def momentum_dampened(param, grad, state, lr=0.01, momentum=0.9):
    buf = momentum * state.get("momentum_buffer", 0.0) + (1 - momentum) * grad
    return param - lr * buf, {**state, "momentum_buffer": buf}


def nesterov_as_momentum(param, grad, state, lr=0.01, momentum=0.9):
    return R.momentum_update(param, grad, state, lr, momentum)


def adagrad_sqrt_last(param, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", 0.0) + grad * grad
    return param - lr * grad / np.sqrt(total + eps), {**state, "sum": total}


def rmsprop_sum(param, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    return R.adagrad_update(param, grad, state, lr, eps)


def adam_no_bias_correction(param, grad, state, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
    v = beta2 * state.get("v", 0.0) + (1 - beta2) * grad * grad
    return param - lr * m / (np.sqrt(v) + eps), {"step": state.get("step", 0) + 1, "m": m, "v": v}


def adam_step_not_counted(param, grad, state, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    new, st = R.adam_update(param, grad, {**state, "step": 0}, lr, beta1, beta2, eps)
    return new, {**st, "step": 0}


def adam_step_off_by_one(param, grad, state, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    # The step counted from 2: the bias correction uses beta^(t + 1) on step t.
    new, st = R.adam_update(param, grad, {**state, "step": state.get("step", 0) + 1}, lr, beta1, beta2, eps)
    return new, {**st, "step": st["step"] - 1}


def sgd_ascent(param, grad, state, lr=0.01):
    return param + lr * grad, state


def linear_regression_gd_no_two(X, y, lr=0.1, steps=100):
    from ..reference.regression import linear_regression_gd

    return linear_regression_gd(X, y, lr / 2, steps)


def linear_regression_gd_loss_after(X, y, lr=0.1, steps=100):
    from ..reference.regression import linear_regression_gd

    w, b, losses = linear_regression_gd(X, y, lr, steps + 1)
    w_prev, b_prev, _ = linear_regression_gd(X, y, lr, steps)
    return w_prev, b_prev, losses[1:]


def linear_regression_gd_no_bias(X, y, lr=0.1, steps=100):
    X, y = np.asarray(X, float), np.asarray(y, float)
    w, losses = np.zeros(X.shape[1]), []
    for _ in range(steps):
        r = X @ w - y
        losses.append(float(np.mean(r**2)))
        w = w - lr * 2 * (X.T @ r) / len(y)
    return w, 0.0, losses


# --- the catalogue: every known bug of each exercise, with the hint a learner should read ---------------

CATALOGUE: dict[str, list[Mistake]] = {
    "sigmoid": [
        Mistake(
            "sigmoid_overflowing_ratio",
            "sigmoid gave nan for large inputs: exp(x) / (1 + exp(x)) is inf / inf; use exp(-|x|) and two branches",
            sigmoid_overflowing_ratio,
        ),
    ],
    "sigmoid_backward": [
        Mistake(
            "sigmoid_backward_on_input",
            "the derivative of sigmoid is s * (1 - s) with s = sigmoid(x); you used x in place of s",
            sigmoid_backward_on_input,
        ),
        Mistake(
            "sigmoid_backward_sigmoid_twice",
            "sigmoid_backward receives x, the sigmoid's input: compute s = sigmoid(x) once and return dout * s * "
            "(1 - s); yours applied the sigmoid twice (the formula evaluated at sigmoid(x))",
            sigmoid_backward_sigmoid_twice,
        ),
        Mistake(
            "sigmoid_backward_no_dout",
            "you returned the derivative without multiplying by dout (the chain rule)",
            sigmoid_backward_no_dout,
        ),
    ],
    "tanh_backward": [
        Mistake(
            "tanh_backward_on_input",
            "the derivative of tanh is 1 - tanh(x)**2; you used 1 - x**2",
            tanh_backward_on_input,
        ),
    ],
    "relu_backward": [
        Mistake(
            "relu_backward_at_zero",
            "the gradient flows only where x > 0; you let it through at x == 0 too (or used x >= 0)",
            relu_backward_at_zero,
        ),
        Mistake(
            "relu_backward_returns_input",
            "relu_backward returns dout where x > 0, not x itself",
            relu_backward_returns_input,
        ),
    ],
    "leaky_relu": [
        Mistake(
            "leaky_relu_wrong_side",
            "negative_slope scales the negative side only; you scaled the positive side",
            leaky_relu_wrong_side,
        ),
    ],
    "leaky_relu_backward": [
        Mistake(
            "leaky_relu_backward_as_relu",
            "on the negative side the gradient is dout * negative_slope, not 0 (that is plain ReLU)",
            leaky_relu_backward_as_relu,
        ),
    ],
    "softmax": [
        Mistake(
            "softmax_no_max_subtraction",
            "softmax overflowed to nan/inf for large inputs: subtract the maximum of each row before exp",
            softmax_no_max_subtraction,
        ),
        Mistake(
            "softmax_global_max",
            "subtract each row's own maximum (x.max(axis=dim, keepdims=True)): with the maximum of the whole array, "
            "every exp of a row far below it underflows to 0, and 0 / 0 gives nan",
            softmax_global_max,
        ),
        Mistake(
            "softmax_wrong_axis",
            "you normalised over the wrong axis: each row (the last axis, dim=-1) must sum to 1",
            softmax_wrong_axis,
        ),
    ],
    "log_softmax": [
        Mistake(
            "log_softmax_of_softmax",
            "log(softmax(x)) underflows to -inf; use x - max - log(sum(exp(x - max)))",
            log_softmax_of_softmax,
        ),
    ],
    "cross_entropy": [
        Mistake("cross_entropy_sum", "the loss is the mean over the batch, not the sum", cross_entropy_sum),
        Mistake(
            "cross_entropy_log_of_softmax",
            "log of a softmax that underflowed to 0 gives inf; compute log-softmax with the log-sum-exp trick",
            cross_entropy_log_of_softmax,
        ),
    ],
    "cross_entropy_backward": [
        Mistake(
            "cross_entropy_backward_not_averaged",
            "the gradient of the batch mean is (softmax - one_hot) / N: you did not divide by N",
            cross_entropy_backward_not_averaged,
        ),
        Mistake(
            "cross_entropy_backward_no_onehot",
            "subtract 1 at each row's correct class: the gradient is softmax minus the one-hot target",
            cross_entropy_backward_no_onehot,
        ),
    ],
    "mse_loss": [
        Mistake("mse_loss_sum", "the loss is the mean of the squared errors, not the sum", mse_loss_sum),
    ],
    "mse_loss_backward": [
        Mistake(
            "mse_loss_backward_no_two", "d/dp (p - t)**2 = 2 (p - t): the factor 2 is missing", mse_loss_backward_no_two
        ),
        Mistake(
            "mse_loss_backward_not_averaged",
            "the loss is a mean, so its gradient is divided by the number of entries",
            mse_loss_backward_not_averaged,
        ),
    ],
    "linear": [
        Mistake("linear_no_bias", "the bias is missing: add b to every row of x @ W.T", linear_no_bias),
    ],
    "linear_backward": [
        Mistake(
            "linear_backward_bias_mean", "dbias sums dout over the batch; you took the mean", linear_backward_bias_mean
        ),
        Mistake(
            "linear_backward_weight_transposed",
            "dweight must have weight's shape (out_features, in_features): dout.T @ x, not x.T @ dout",
            linear_backward_weight_transposed,
        ),
        Mistake(
            "linear_backward_weight_mean",
            "dweight sums over the batch; dividing by the batch size belongs in the loss, not here",
            linear_backward_weight_mean,
        ),
    ],
    "conv2d": [
        Mistake(
            "conv2d_window_start_not_strided",
            "output (i, j) is the window starting at row i * stride and column j * stride of the padded input; "
            "yours start at i, j",
            conv2d_window_start_not_strided,
        ),
        Mistake(
            "conv2d_flipped_kernel",
            "your kernel is flipped: deep-learning conv2d is a cross-correlation, so do not rotate the filter",
            conv2d_flipped_kernel,
        ),
        Mistake(
            "conv2d_ignores_stride",
            "the stride was ignored: step the window by the stride, so H_out = (H + 2P - K) // S + 1",
            conv2d_ignores_stride,
        ),
        Mistake(
            "conv2d_one_sided_padding",
            "padding went on one side only: pad P zeros on both the top/bottom and the left/right",
            conv2d_one_sided_padding,
        ),
        Mistake(
            "conv2d_no_bias", "the bias is missing: add bias[o] to every pixel of output channel o", conv2d_no_bias
        ),
        Mistake(
            "conv2d_channels_last",
            "you read x as NHWC (channels last); PyTorch and this course use NCHW: x[n, c, h, w]",
            conv2d_channels_last,
        ),
    ],
    "conv2d_backward": [
        Mistake(
            "conv2d_backward_unrotated",
            "dX is the full convolution of dout with the filter rotated by 180 degrees; yours is not rotated",
            conv2d_backward_unrotated,
        ),
        Mistake(
            "conv2d_backward_overwrites",
            "where windows overlap, their gradients must be added (+=), not overwritten (=)",
            conv2d_backward_overwrites,
        ),
        Mistake(
            "conv2d_backward_bias_mean",
            "dbias is the sum of dout over the batch and every position, not the mean",
            conv2d_backward_bias_mean,
        ),
        Mistake(
            "conv2d_backward_weight_mean",
            "dweight sums over every image of the batch; you averaged over the batch",
            conv2d_backward_weight_mean,
        ),
        Mistake(
            "conv2d_backward_ignores_stride",
            "the stride was ignored in the backward pass: dout[.., i, j] belongs to the window at (i*S, j*S)",
            conv2d_backward_ignores_stride,
        ),
    ],
    "max_pool2d": [
        Mistake(
            "max_pool2d_window_start_not_strided",
            "output (i, j) pools the window starting at row i * stride and column j * stride; yours start at i, j",
            max_pool2d_window_start_not_strided,
        ),
        Mistake(
            "max_pool2d_ignores_stride",
            "the stride was ignored: by default the pooling window moves by kernel_size (no overlap)",
            max_pool2d_ignores_stride,
        ),
        Mistake(
            "max_pool2d_zero_padding",
            "pad max pooling with -inf, not 0: a zero from the padding must never win the max",
            max_pool2d_zero_padding,
        ),
    ],
    "avg_pool2d": [
        Mistake(
            "avg_pool2d_window_start_not_strided",
            "output (i, j) averages the window starting at row i * stride and column j * stride; yours start at i, j",
            avg_pool2d_window_start_not_strided,
        ),
        Mistake(
            "avg_pool2d_ignores_stride",
            "the stride was ignored: by default the pooling window moves by kernel_size (no overlap)",
            avg_pool2d_ignores_stride,
        ),
    ],
    "max_pool2d_backward": [
        Mistake(
            "max_pool2d_backward_split_ties",
            "where entries tie for a window's maximum the max has no derivative, so a convention is needed: torch "
            "(and this course) sends the whole gradient to the first maximum in row-major order; yours splits it "
            "among the tied entries",
            max_pool2d_backward_split_ties,
        ),
        Mistake(
            "max_pool2d_backward_all_ties",
            "with ties in a window, send the gradient to one maximum (the first), not to every tied entry",
            max_pool2d_backward_all_ties,
        ),
        Mistake(
            "max_pool2d_backward_last_tie",
            "with ties, torch sends the gradient to the first maximum in row-major order; yours picks the last",
            max_pool2d_backward_last_tie,
        ),
        Mistake(
            "max_pool2d_backward_overwrites",
            "where pooling windows overlap, add (+=) their gradients; yours overwrites (=)",
            max_pool2d_backward_overwrites,
        ),
        Mistake(
            "max_pool2d_backward_as_average",
            "max pooling routes each gradient to the window's maximum only; you spread it like average pooling",
            max_pool2d_backward_as_average,
        ),
    ],
    "avg_pool2d_backward": [
        Mistake(
            "avg_pool2d_backward_not_divided",
            "each entry of a window gets dout / (kH * kW): the division by the window size is missing",
            avg_pool2d_backward_not_divided,
        ),
        Mistake(
            "avg_pool2d_backward_overwrites",
            "where pooling windows overlap, add (+=) their gradients; yours overwrites (=)",
            avg_pool2d_backward_overwrites,
        ),
    ],
    "batch_norm": [
        Mistake(
            "batch_norm_unbiased_normalisation",
            "normalise with the biased variance (divide by m); the unbiased one (m - 1) is only for running_var",
            batch_norm_unbiased_normalisation,
        ),
        Mistake(
            "batch_norm_eval_uses_batch",
            "in eval mode (training=False) normalise with the running statistics, not the batch's own",
            batch_norm_eval_uses_batch,
        ),
        Mistake(
            "batch_norm_running_var_biased",
            "running_var averages the unbiased variance (divide by m - 1), as PyTorch does; normalise with the "
            "biased one",
            batch_norm_running_var_biased,
        ),
        Mistake(
            "batch_norm_momentum_reversed",
            "running = (1 - momentum) * running + momentum * batch statistic: momentum weighs the new batch",
            batch_norm_momentum_reversed,
        ),
        Mistake(
            "batch_norm_running_stats_in_training",
            "in training mode normalise with the batch's own mean and variance; the running ones are for eval",
            batch_norm_running_stats_in_training,
        ),
        Mistake(
            "batch_norm_per_sample",
            "statistics are per channel, over the batch and the positions (axes 0, 2, 3), not per example",
            batch_norm_per_sample,
        ),
    ],
    "batch_norm_backward": [
        Mistake(
            "batch_norm_backward_constant_stats",
            "in training mode the mean and variance depend on x too: dx has two more terms, the means of g and "
            "of g * x_hat over each channel",
            batch_norm_backward_constant_stats,
        ),
        Mistake(
            "batch_norm_backward_dweight_on_x",
            "weight multiplies the normalised x_hat, so dweight sums dout * x_hat, not dout * x",
            batch_norm_backward_dweight_on_x,
        ),
    ],
    "dropout": [
        Mistake(
            "dropout_not_inverted",
            "inverted dropout divides the kept entries by (1 - p) so the expected value does not change",
            dropout_not_inverted,
        ),
        Mistake("dropout_in_eval", "at evaluation (training=False) dropout must return x unchanged", dropout_in_eval),
    ],
    "pad2d": [
        Mistake(
            "pad2d_one_sided",
            "pad both sides: P zeros above and below, P zeros left and right (the output grows by 2P)",
            pad2d_one_sided,
        ),
        Mistake(
            "pad2d_every_axis",
            "pad only the height and width (the last two axes), never the batch or channel axes",
            pad2d_every_axis,
        ),
        Mistake(
            "pad2d_swapped",
            "padding is (pH, pW): the first number pads the height, the second the width",
            pad2d_swapped,
        ),
    ],
    "conv_output_size": [
        Mistake(
            "conv_output_size_always_strict",
            "by default round down, as PyTorch does (the rows no window reaches are ignored); raise ValueError "
            "for a stride that does not fit only when strict=True",
            conv_output_size_always_strict,
        ),
        Mistake(
            "conv_output_size_never_strict",
            "with strict=True, raise ValueError when (n + 2P - F) is not a multiple of the stride",
            conv_output_size_never_strict,
        ),
        Mistake(
            "conv_output_size_rounds_up",
            "round down, not up: a window that would run past the edge does not exist",
            conv_output_size_rounds_up,
        ),
        Mistake(
            "conv_output_size_one_padding",
            "padding is added on both sides: use n + 2P, not n + P",
            conv_output_size_one_padding,
        ),
        Mistake(
            "conv_output_size_no_plus_one",
            "count the first window too: the size is floor((n + 2P - F) / S) + 1",
            conv_output_size_no_plus_one,
        ),
    ],
    "correlate2d": [
        Mistake(
            "correlate2d_flipped",
            "your kernel is flipped: cross-correlation slides the kernel as it is, without rotating it",
            correlate2d_flipped,
        ),
        Mistake(
            "correlate2d_ignores_stride",
            "the stride was ignored: the window starts at (i*S, j*S)",
            correlate2d_ignores_stride,
        ),
    ],
    "conv2d_param_count": [
        Mistake(
            "conv2d_param_count_no_bias",
            "each output channel has one bias: add out_channels when bias=True",
            conv2d_param_count_no_bias,
        ),
        Mistake(
            "conv2d_param_count_no_in_channels",
            "every filter spans all input channels: out_channels * in_channels * kH * kW weights",
            conv2d_param_count_no_in_channels,
        ),
        Mistake(
            "conv2d_param_count_bias_per_weight",
            "there is one bias per output channel, not one per weight",
            conv2d_param_count_bias_per_weight,
        ),
    ],
    "linear_regression_gd": [
        Mistake(
            "linear_regression_gd_no_two",
            "the gradient of the mean squared error has a factor 2: w -= lr * 2 X^T r / n",
            linear_regression_gd_no_two,
        ),
        Mistake(
            "linear_regression_gd_loss_after",
            "record the loss before each step (losses[0] is the loss of w = 0, b = 0)",
            linear_regression_gd_loss_after,
        ),
        Mistake(
            "linear_regression_gd_no_bias", "the bias learns too: b -= lr * 2 * mean(r)", linear_regression_gd_no_bias
        ),
    ],
    "sgd_update": [
        Mistake("sgd_ascent", "step against the gradient: p - lr * g (you climbed the loss)", sgd_ascent),
    ],
    "momentum_update": [
        Mistake(
            "momentum_forgets_state",
            "return the updated buffer in the state, or every step starts again from b = g (plain SGD)",
            momentum_forgets_state,
        ),
        Mistake(
            "momentum_dampened",
            "the buffer is mu * b + g; scaling g by (1 - mu) is dampening, which torch does not use by default",
            momentum_dampened,
        ),
    ],
    "nesterov_update": [
        Mistake(
            "nesterov_as_momentum",
            "Nesterov steps by g + mu * b (a look-ahead), not by b alone like plain momentum",
            nesterov_as_momentum,
        ),
    ],
    "adagrad_update": [
        Mistake("adagrad_sqrt_last", "eps goes outside the square root: g / (sqrt(s) + eps)", adagrad_sqrt_last),
    ],
    "rmsprop_update": [
        Mistake(
            "rmsprop_sum",
            "RMSprop keeps a running *average* alpha * v + (1 - alpha) * g^2, not Adagrad's growing sum",
            rmsprop_sum,
        ),
    ],
    "adam_update": [
        Mistake(
            "adam_no_bias_correction",
            "divide m and v by (1 - beta^t): without bias correction the first steps are far too small",
            adam_no_bias_correction,
        ),
        Mistake(
            "adam_step_off_by_one",
            "the first step has t = 1 (bias correction 1 - beta^1): your step count runs one ahead; increment it "
            "once per call, before the correction",
            adam_step_off_by_one,
        ),
        Mistake(
            "adam_step_not_counted",
            "count the steps in the state: t goes 1, 2, 3, ... and the bias correction depends on it",
            adam_step_not_counted,
        ),
    ],
}
