"""Plausible wrong answers, each a working implementation of one specific bug.

They serve twice. The feedback checks run them on the learner's inputs: when the learner's result equals a
mistake's result, the check can name the bug instead of only saying "wrong". The test suite feeds them to
the hidden tests to prove those tests reject real bugs, not just blank answers.

Each mistake has the signature of the function it imitates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import functional as F
from .functional.windows import fold_windows, pad2d, sliding_windows
from .validation import pair


@dataclass(frozen=True)
class Mistake:
    name: str
    hint: str
    fn: Callable


MISTAKES: dict[str, list[Mistake]] = {}


def mistake(target: str, hint: str):
    """Register the decorated function as a known bug of ``target`` with the hint a learner should read."""

    def register(fn):
        MISTAKES.setdefault(target, []).append(Mistake(fn.__name__, hint, fn))
        return fn

    return register


# --- activations ----------------------------------------------------------------------------------------

@mistake("sigmoid", "sigmoid gave nan for large inputs: exp(x) / (1 + exp(x)) is inf / inf; use exp(-|x|) and two branches")
def sigmoid_overflowing_ratio(x):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(x, dtype=float))
        return e / (1 + e)


@mistake("sigmoid_backward", "the derivative of sigmoid is s * (1 - s) with s = sigmoid(x); you used x in place of s")
def sigmoid_backward_on_input(dout, x):
    return dout * x * (1 - x)


@mistake("sigmoid_backward", "you returned the derivative without multiplying by dout (the chain rule)")
def sigmoid_backward_no_dout(dout, x):
    s = F.sigmoid(x)
    return s * (1 - s) * np.ones_like(dout)


@mistake("tanh_backward", "the derivative of tanh is 1 - tanh(x)**2; you used 1 - x**2")
def tanh_backward_on_input(dout, x):
    return dout * (1 - np.asarray(x) ** 2)


@mistake("relu_backward", "the gradient flows only where x > 0; you let it through at x == 0 too (or used x >= 0)")
def relu_backward_at_zero(dout, x):
    return np.where(np.asarray(x) >= 0, dout, 0.0)


@mistake("relu_backward", "relu_backward returns dout where x > 0, not x itself")
def relu_backward_returns_input(dout, x):
    return np.where(np.asarray(x) > 0, x, 0.0)


@mistake("leaky_relu", "negative_slope scales the negative side only; you scaled the positive side")
def leaky_relu_wrong_side(x, negative_slope=0.01):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x * negative_slope, x)


@mistake("leaky_relu_backward", "on the negative side the gradient is dout * negative_slope, not 0 (that is plain ReLU)")
def leaky_relu_backward_as_relu(dout, x, negative_slope=0.01):
    return np.where(np.asarray(x) > 0, dout, 0.0)


# --- softmax and losses ---------------------------------------------------------------------------------

@mistake("softmax", "softmax overflowed to nan/inf for large inputs: subtract the maximum of each row before exp")
def softmax_no_max_subtraction(x, dim=-1):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(x, dtype=float))
        return e / e.sum(axis=dim, keepdims=True)


@mistake("softmax", "you normalised over the wrong axis: each row (the last axis, dim=-1) must sum to 1")
def softmax_wrong_axis(x, dim=-1):
    x = np.asarray(x, dtype=float)
    return F.softmax(x, dim=0 if x.ndim > 1 else -1)


@mistake("log_softmax", "log(softmax(x)) underflows to -inf; use x - max - log(sum(exp(x - max)))")
def log_softmax_of_softmax(x, dim=-1):
    with np.errstate(divide="ignore"):
        return np.log(F.softmax(x, dim))


@mistake("cross_entropy", "the loss is the mean over the batch, not the sum")
def cross_entropy_sum(logits, target):
    return F.cross_entropy(logits, target) * np.shape(logits)[0]


@mistake("cross_entropy", "log of a softmax that underflowed to 0 gives inf; compute log-softmax with the log-sum-exp trick")
def cross_entropy_log_of_softmax(logits, target):
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        p = softmax_no_max_subtraction(logits, 1)
        return -np.mean(np.log(p[np.arange(len(target)), target]))


@mistake("cross_entropy_backward", "the gradient of the batch mean is (softmax - one_hot) / N: you did not divide by N")
def cross_entropy_backward_not_averaged(logits, target):
    return F.cross_entropy_backward(logits, target) * np.shape(logits)[0]


@mistake("cross_entropy_backward", "subtract 1 at each row's correct class: the gradient is softmax minus the one-hot target")
def cross_entropy_backward_no_onehot(logits, target):
    return F.softmax(logits, dim=1) / np.shape(logits)[0]


@mistake("mse_loss", "the loss is the mean of the squared errors, not the sum")
def mse_loss_sum(pred, target):
    return np.sum((np.asarray(pred) - np.asarray(target)) ** 2)


@mistake("mse_loss_backward", "d/dp (p - t)**2 = 2 (p - t): the factor 2 is missing")
def mse_loss_backward_no_two(pred, target):
    return F.mse_loss_backward(pred, target) / 2


@mistake("mse_loss_backward", "the loss is a mean, so its gradient is divided by the number of entries")
def mse_loss_backward_not_averaged(pred, target):
    return F.mse_loss_backward(pred, target) * np.size(pred)


# --- linear ---------------------------------------------------------------------------------------------

@mistake("linear", "the bias is missing: add b to every row of x @ W.T")
def linear_no_bias(x, weight, bias=None):
    return F.linear(x, weight)


@mistake("linear_backward", "dbias sums dout over the batch; you took the mean")
def linear_backward_bias_mean(dout, x, weight, bias=None):
    dx, dw, db = F.linear_backward(dout, x, weight, bias)
    return dx, dw, None if db is None else db / np.asarray(dout).reshape(-1, np.shape(weight)[0]).shape[0]


@mistake("linear_backward", "dweight sums over the batch; dividing by the batch size belongs in the loss, not here")
def linear_backward_weight_mean(dout, x, weight, bias=None):
    dx, dw, db = F.linear_backward(dout, x, weight, bias)
    return dx, dw / np.asarray(dout).reshape(-1, np.shape(weight)[0]).shape[0], db


# --- convolution ----------------------------------------------------------------------------------------

@mistake("conv2d", "your kernel is flipped: deep-learning conv2d is a cross-correlation, so do not rotate the filter")
def conv2d_flipped_kernel(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, np.asarray(weight)[:, :, ::-1, ::-1], bias, stride, padding)


@mistake("conv2d", "the stride was ignored: step the window by the stride, so H_out = (H + 2P - K) // S + 1")
def conv2d_ignores_stride(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, 1, padding)


@mistake("conv2d", "padding went on one side only: pad P zeros on both the top/bottom and the left/right")
def conv2d_one_sided_padding(x, weight, bias=None, stride=1, padding=0):
    ph, pw = pair(padding, "padding", 0)
    xp = np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (ph, 0), (pw, 0)))
    return F.conv2d(xp, weight, bias, stride, 0)


@mistake("conv2d", "the bias is missing: add bias[o] to every pixel of output channel o")
def conv2d_no_bias(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, None, stride, padding)


@mistake("conv2d", "you read x as NHWC (channels last); PyTorch and this course use NCHW: x[n, c, h, w]")
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


@mistake("conv2d_backward", "dX is the full convolution of dout with the filter rotated by 180 degrees; yours is not rotated")
def conv2d_backward_unrotated(dout, x, weight, bias=None, stride=1, padding=0):
    return _conv_backward_with(dout, x, weight, bias, stride, padding, flip=False)


@mistake("conv2d_backward", "where windows overlap, their gradients must be added (+=), not overwritten (=)")
def conv2d_backward_overwrites(dout, x, weight, bias=None, stride=1, padding=0):
    return _conv_backward_with(dout, x, weight, bias, stride, padding, accumulate=False)


@mistake("conv2d_backward", "dbias is the sum of dout over the batch and every position, not the mean")
def conv2d_backward_bias_mean(dout, x, weight, bias=None, stride=1, padding=0):
    dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
    return dx, dw, None if db is None else db / (np.size(dout) / np.shape(dout)[1])


@mistake("conv2d_backward", "dweight sums over every image of the batch; you averaged over the batch")
def conv2d_backward_weight_mean(dout, x, weight, bias=None, stride=1, padding=0):
    dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
    return dx, dw / np.shape(x)[0], db


@mistake("conv2d_backward", "the stride was ignored in the backward pass: dout[.., i, j] belongs to the window at (i*S, j*S)")
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

@mistake("max_pool2d", "the stride was ignored: by default the pooling window moves by kernel_size (no overlap)")
def max_pool2d_ignores_stride(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, 1, padding)


@mistake("max_pool2d", "pad max pooling with -inf, not 0: a zero from the padding must never win the max")
def max_pool2d_zero_padding(x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    return sliding_windows(pad2d(np.asarray(x, dtype=float), pair(padding, "padding", 0)), k, s).max(axis=(2, 3))


@mistake("avg_pool2d", "the stride was ignored: by default the pooling window moves by kernel_size (no overlap)")
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
    cols = np.where(is_max, dout[:, :, None, None], 0.0)
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


@mistake("max_pool2d_backward", "with ties in a window, send the gradient to one maximum (the first), not to every tied entry")
def max_pool2d_backward_all_ties(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="all")


@mistake("max_pool2d_backward", "with ties, torch sends the gradient to the first maximum in row-major order; yours picks the last")
def max_pool2d_backward_last_tie(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="last")


@mistake("max_pool2d_backward", "where pooling windows overlap, add (+=) their gradients; yours overwrites (=)")
def max_pool2d_backward_overwrites(dout, x, kernel_size, stride=None, padding=0):
    return _max_backward(dout, x, kernel_size, stride, padding, ties="first", accumulate=False)


@mistake("max_pool2d_backward", "max pooling routes each gradient to the window's maximum only; you spread it like average pooling")
def max_pool2d_backward_as_average(dout, x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    return F.avg_pool2d_backward(dout, x, kernel_size, stride, padding) * (k[0] * k[1])


@mistake("avg_pool2d_backward", "each entry of a window gets dout / (kH * kW): the division by the window size is missing")
def avg_pool2d_backward_not_divided(dout, x, kernel_size, stride=None, padding=0):
    k = pair(kernel_size, "kernel_size", 1)
    return F.avg_pool2d_backward(dout, x, kernel_size, stride, padding) * (k[0] * k[1])


@mistake("avg_pool2d_backward", "where pooling windows overlap, add (+=) their gradients; yours overwrites (=)")
def avg_pool2d_backward_overwrites(dout, x, kernel_size, stride=None, padding=0):
    x = np.asarray(x, dtype=float)
    dout = np.asarray(dout, dtype=float)
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    dxp = np.zeros(x.shape[:2] + (x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]))
    for oy in range(dout.shape[2]):
        for ox in range(dout.shape[3]):
            dxp[:, :, oy * s[0] : oy * s[0] + k[0], ox * s[1] : ox * s[1] + k[1]] = dout[:, :, oy, ox, None, None] / (k[0] * k[1])
    return dxp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]]


# --- batch norm and dropout ---------------------------------------------------------------------------

@mistake("batch_norm", "normalise with the biased variance (divide by m); the unbiased one (m - 1) is only for running_var")
def batch_norm_unbiased_normalisation(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
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


@mistake("batch_norm", "in eval mode (training=False) normalise with the running statistics, not the batch's own")
def batch_norm_eval_uses_batch(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return F.batch_norm(x, None, None, weight, bias, True, momentum, eps) if not training else F.batch_norm(
        x, running_mean, running_var, weight, bias, training, momentum, eps)


@mistake("dropout", "inverted dropout divides the kept entries by (1 - p) so the expected value does not change")
def dropout_not_inverted(x, p=0.5, training=True, *, rng=None, mask=None):
    out = F.dropout(x, p, training, rng=rng, mask=mask)
    return out * (1 - p) if training else out


@mistake("dropout", "at evaluation (training=False) dropout must return x unchanged")
def dropout_in_eval(x, p=0.5, training=True, *, rng=None, mask=None):
    return F.dropout(x, p, True, rng=rng, mask=mask)


# --- lab 05: padding, output size, loops, parameter count ---------------------------------------------

@mistake("pad2d", "pad both sides: P zeros above and below, P zeros left and right (the output grows by 2P)")
def pad2d_one_sided(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (ph, 0), (pw, 0)))


@mistake("pad2d", "pad only the height and width (the last two axes), never the batch or channel axes")
def pad2d_every_axis(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((ph, ph), (ph, ph), (ph, ph), (pw, pw)))


@mistake("pad2d", "padding is (pH, pW): the first number pads the height, the second the width")
def pad2d_swapped(x, padding):
    ph, pw = pair(padding, "padding", 0)
    return np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (pw, pw), (ph, ph)))


@mistake("conv_output_size", "when (n + 2P - F) is not a multiple of the stride, raise ValueError instead of rounding down")
def conv_output_size_floors(n, kernel_size, stride=1, padding=0):
    return (n + 2 * padding - kernel_size) // stride + 1


@mistake("conv_output_size", "padding is added on both sides: use n + 2P, not n + P")
def conv_output_size_one_padding(n, kernel_size, stride=1, padding=0):
    span = n + padding - kernel_size
    if span < 0 or span % stride:
        raise ValueError("does not fit")
    return span // stride + 1


@mistake("conv_output_size", "count the first window too: the size is (n + 2P - F) / S + 1")
def conv_output_size_no_plus_one(n, kernel_size, stride=1, padding=0):
    span = n + 2 * padding - kernel_size
    if span < 0 or span % stride:
        raise ValueError("does not fit")
    return span // stride


@mistake("correlate2d", "your kernel is flipped: cross-correlation slides the kernel as it is, without rotating it")
def correlate2d_flipped(image, kernel, stride=1):
    from .naive import correlate2d

    return correlate2d(image, np.asarray(kernel)[::-1, ::-1], stride)


@mistake("correlate2d", "the stride was ignored: the window starts at (i*S, j*S)")
def correlate2d_ignores_stride(image, kernel, stride=1):
    from .naive import correlate2d

    return correlate2d(image, kernel, 1)


@mistake("conv2d_param_count", "each output channel has one bias: add out_channels when bias=True")
def conv2d_param_count_no_bias(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    return out_channels * in_channels * kh * kw


@mistake("conv2d_param_count", "every filter spans all input channels: out_channels * in_channels * kH * kW weights")
def conv2d_param_count_no_in_channels(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    return out_channels * kh * kw + (out_channels if bias else 0)


@mistake("conv2d_param_count", "there is one bias per output channel, not one per weight")
def conv2d_param_count_bias_per_weight(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = pair(kernel_size, "kernel_size", 1)
    weights = out_channels * in_channels * kh * kw
    return 2 * weights if bias else weights


# --- lab 02: gradient descent and the update rules -----------------------------------------------

def _rule_variant(kind):
    from . import update_rules as R

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

    def sgd_ascent(param, grad, state, lr=0.01):
        return param + lr * grad, state

    return locals()[kind]


for _target, _kind, _hint in [
    ("sgd_update", "sgd_ascent", "step against the gradient: p - lr * g (you climbed the loss)"),
    ("momentum_update", "momentum_forgets_state", "return the updated buffer in the state, or every step starts again from b = g (plain SGD)"),
    ("momentum_update", "momentum_dampened", "the buffer is mu * b + g; scaling g by (1 - mu) is dampening, which torch does not use by default"),
    ("nesterov_update", "nesterov_as_momentum", "Nesterov steps by g + mu * b (a look-ahead), not by b alone like plain momentum"),
    ("adagrad_update", "adagrad_sqrt_last", "eps goes outside the square root: g / (sqrt(s) + eps)"),
    ("rmsprop_update", "rmsprop_sum", "RMSprop keeps a running *average* alpha * v + (1 - alpha) * g^2, not Adagrad's growing sum"),
    ("adam_update", "adam_no_bias_correction", "divide m and v by (1 - beta^t): without bias correction the first steps are far too small"),
    ("adam_update", "adam_step_not_counted", "count the steps in the state: t goes 1, 2, 3, ... and the bias correction depends on it"),
]:
    MISTAKES.setdefault(_target, []).append(Mistake(_kind, _hint, _rule_variant(_kind)))


@mistake("linear_regression_gd", "the gradient of the mean squared error has a factor 2: w -= lr * 2 X^T r / n")
def linear_regression_gd_no_two(X, y, lr=0.1, steps=100):
    from .regression import linear_regression_gd

    return linear_regression_gd(X, y, lr / 2, steps)


@mistake("linear_regression_gd", "record the loss before each step (losses[0] is the loss of w = 0, b = 0)")
def linear_regression_gd_loss_after(X, y, lr=0.1, steps=100):
    from .regression import linear_regression_gd

    w, b, losses = linear_regression_gd(X, y, lr, steps + 1)
    w_prev, b_prev, _ = linear_regression_gd(X, y, lr, steps)
    return w_prev, b_prev, losses[1:]


@mistake("linear_regression_gd", "the bias learns too: b -= lr * 2 * mean(r)")
def linear_regression_gd_no_bias(X, y, lr=0.1, steps=100):
    X, y = np.asarray(X, float), np.asarray(y, float)
    w, losses = np.zeros(X.shape[1]), []
    for _ in range(steps):
        r = X @ w - y
        losses.append(float(np.mean(r**2)))
        w = w - lr * 2 * (X.T @ r) / len(y)
    return w, 0.0, losses
