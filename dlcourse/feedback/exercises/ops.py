"""Test cases for the operations that have a twin in ``dlcourse.functional``."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from .base import Case, Exercise, known

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _with_exact_zeros(rng, *shape):
    x = _normal(rng, *shape)
    x.flat[:: max(1, x.size // 4)] = 0.0  # the kink of relu and leaky_relu
    return x


# --- activations ----------------------------------------------------------------------------------------


def _activation_cases(rng, hidden):
    cases = [
        Case({"x": np.array([-2.0, -0.5, 0.0, 0.5, 2.0])}, "a few points around 0"),
        Case({"x": _with_exact_zeros(rng, 4, 5)}, "a batch with exact zeros"),
        Case({"x": np.array([-1000.0, -50.0, 50.0, 1000.0])}, "large inputs"),
    ]
    if hidden:
        cases += [Case({"x": _with_exact_zeros(rng, 3, 4, 5) * 10}, "rank 3, wide range") for _ in range(3)]
    return cases


def _activation_backward_cases(rng, hidden):
    return [
        Case({"dout": _normal(rng, *c.kwargs["x"].shape), "x": c.kwargs["x"]}, c.label)
        for c in _activation_cases(rng, hidden)
    ]


def _leaky_cases(rng, hidden):
    cases = _activation_cases(rng, hidden)
    return cases + [Case({"x": _with_exact_zeros(rng, 6), "negative_slope": 0.2}, "negative_slope=0.2")]


def _leaky_backward_cases(rng, hidden):
    cases = _activation_backward_cases(rng, hidden)
    x = _with_exact_zeros(rng, 6)
    return cases + [Case({"dout": _normal(rng, 6), "x": x, "negative_slope": 0.2}, "negative_slope=0.2")]


for _name in ("step", "relu", "sigmoid", "tanh"):
    EXERCISES.append(Exercise(_name, getattr(F, _name), _activation_cases, mistakes=known(_name)))
for _name in ("relu_backward", "sigmoid_backward", "tanh_backward"):
    EXERCISES.append(Exercise(_name, getattr(F, _name), _activation_backward_cases, mistakes=known(_name)))
EXERCISES.append(Exercise("leaky_relu", F.leaky_relu, _leaky_cases, mistakes=known("leaky_relu")))
EXERCISES.append(
    Exercise("leaky_relu_backward", F.leaky_relu_backward, _leaky_backward_cases, mistakes=known("leaky_relu_backward"))
)


# --- softmax and losses ---------------------------------------------------------------------------------


def _softmax_cases(rng, hidden):
    cases = [
        Case({"x": _normal(rng, 4, 5)}, "a batch of 4 rows"),
        Case({"x": np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.0]])}, "logits of +-1000"),
        Case({"x": _normal(rng, 6)}, "a single vector"),
    ]
    if hidden:
        cases += [
            Case({"x": _normal(rng, 3, 7) * 300}, "large logits"),
            Case({"x": _normal(rng, 5, 4), "dim": 0}, "dim=0"),
        ]
    return cases


def _targets(rng, n, c):
    return rng.integers(0, c, size=n)


def _cross_entropy_cases(rng, hidden):
    cases = [
        Case({"logits": _normal(rng, 5, 4), "target": _targets(rng, 5, 4)}, "5 examples, 4 classes"),
        Case(
            {"logits": np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 2000.0]]), "target": np.array([1, 0])},
            "confidently wrong logits of +-1000",
        ),
        Case({"logits": np.zeros((3, 10)), "target": np.array([0, 4, 9])}, "a uniform guess over 10 classes"),
    ]
    if hidden:
        cases += [Case({"logits": _normal(rng, 8, 6) * 50, "target": _targets(rng, 8, 6)}, "large logits")]
    return cases


def _mse_cases(rng, hidden):
    cases = [
        Case({"pred": _normal(rng, 6), "target": _normal(rng, 6)}, "vectors"),
        Case({"pred": _normal(rng, 4, 3), "target": _normal(rng, 4, 3)}, "a batch of 4"),
    ]
    if hidden:
        cases.append(Case({"pred": _normal(rng, 2, 3, 5), "target": _normal(rng, 2, 3, 5)}, "rank 3"))
    return cases


EXERCISES.append(Exercise("softmax", F.softmax, _softmax_cases, mistakes=known("softmax")))
EXERCISES.append(Exercise("log_softmax", F.log_softmax, _softmax_cases, mistakes=known("log_softmax")))
EXERCISES.append(Exercise("cross_entropy", F.cross_entropy, _cross_entropy_cases, mistakes=known("cross_entropy")))
EXERCISES.append(
    Exercise(
        "cross_entropy_backward",
        F.cross_entropy_backward,
        _cross_entropy_cases,
        mistakes=known("cross_entropy_backward"),
    )
)
EXERCISES.append(Exercise("mse_loss", F.mse_loss, _mse_cases, mistakes=known("mse_loss")))
EXERCISES.append(Exercise("mse_loss_backward", F.mse_loss_backward, _mse_cases, mistakes=known("mse_loss_backward")))


# --- linear ---------------------------------------------------------------------------------------------


def _linear_cases(rng, hidden, backward=False):
    shapes = [(4, 3, 2), (1, 5, 5), (6, 2, 7)] + ([(9, 4, 3), (3, 8, 1)] if hidden else [])
    cases = []
    for n, d_in, d_out in shapes:
        kw = {"x": _normal(rng, n, d_in), "weight": _normal(rng, d_out, d_in), "bias": _normal(rng, d_out)}
        if backward:
            kw = {"dout": _normal(rng, n, d_out), **kw}
        cases.append(Case(kw, f"{n} examples, {d_in} -> {d_out} features"))
    return cases


EXERCISES.append(Exercise("linear", F.linear, _linear_cases, mistakes=known("linear")))
EXERCISES.append(
    Exercise(
        "linear_backward",
        F.linear_backward,
        lambda rng, hidden: _linear_cases(rng, hidden, True),
        output_names=("dx", "dweight", "dbias"),
        mistakes=known("linear_backward"),
    )
)


# --- convolution ----------------------------------------------------------------------------------------

# (N, C_in, H, W), (C_out, kH, kW), stride, padding: each row is there to catch a particular bug
_CONV_SETTINGS = [
    ((2, 3, 6, 6), (4, 3, 3), 1, 0),  # the plain case
    ((2, 2, 7, 7), (3, 3, 3), 2, 0),  # stride 2
    ((1, 3, 5, 7), (2, 2, 3), 1, 1),  # padding, non-square input and kernel
    ((2, 2, 8, 9), (3, 3, 2), (3, 2), (2, 1)),  # different strides and paddings along H and W
]
_CONV_HIDDEN = [
    ((3, 4, 9, 6), (5, 3, 3), 3, 1),
    ((2, 1, 10, 10), (2, 5, 5), 2, 2),
    ((2, 3, 7, 8), (2, 4, 1), (1, 2), (0, 1)),
]


def _conv_cases(rng, hidden, backward=False):
    cases = []
    for x_shape, (c_out, kh, kw), stride, padding in _CONV_SETTINGS + (_CONV_HIDDEN if hidden else []):
        x = _normal(rng, *x_shape)
        weight = _normal(rng, c_out, x_shape[1], kh, kw)
        kwargs = {"x": x, "weight": weight, "bias": _normal(rng, c_out), "stride": stride, "padding": padding}
        if backward:
            out_shape = F.conv2d(x, weight, None, stride, padding).shape
            kwargs = {"dout": _normal(rng, *out_shape), **kwargs}
        cases.append(Case(kwargs))
    return cases


def _conv_speed_case(rng):
    return {
        "x": rng.standard_normal((8, 3, 32, 32)),
        "weight": rng.standard_normal((16, 3, 3, 3)),
        "bias": rng.standard_normal(16),
        "stride": 1,
        "padding": 1,
    }


# Lab 06: gradient checks of the backward passes, on inputs without ties (max pooling is not
# differentiable where two entries of a window are equal).
def _pool_gradient_case(rng):
    x = rng.standard_normal((2, 2, 6, 6))
    return {"dout": rng.standard_normal((2, 2, 3, 3)), "x": x, "kernel_size": 3, "stride": 2, "padding": 1}


def _conv_gradient_case(rng):
    x, w = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2))
    return {
        "dout": rng.standard_normal((2, 3, 3, 3)),
        "x": x,
        "weight": w,
        "bias": rng.standard_normal(3),
        "stride": (2, 2),
        "padding": (1, 0),
    }


EXERCISES.append(
    Exercise(
        "conv2d",
        F.conv2d,
        _conv_cases,
        mistakes=known("conv2d"),
        speed_case=_conv_speed_case,
        speed_hint=(
            "loops over output pixels are the usual cause: gather every window at once "
            "(im2col, or np.lib.stride_tricks.sliding_window_view) and do one matrix product or einsum"
        ),
    )
)
EXERCISES.append(
    Exercise(
        "conv2d_backward",
        F.conv2d_backward,
        lambda rng, hidden: _conv_cases(rng, hidden, True),
        output_names=("dx", "dweight", "dbias"),
        given=("F.conv2d",),
        mistakes=known("conv2d_backward"),
        gradient_of=(F.conv2d, ("x", "weight", "bias")),
        gradient_case=_conv_gradient_case,
    )
)


# --- pooling --------------------------------------------------------------------------------------------

# (N, C, H, W), kernel_size, stride, padding
_POOL_SETTINGS = [
    ((2, 2, 4, 4), 2, None, 0),  # the default stride = kernel_size
    ((1, 2, 5, 5), 3, 2, 0),  # overlapping windows
    ((2, 1, 6, 5), (2, 3), (2, 1), 1),  # padding, non-square everything
]
_POOL_HIDDEN = [((2, 3, 7, 7), 3, 1, 1), ((1, 2, 8, 6), 2, 1, 0), ((2, 2, 9, 9), 3, 3, 1)]


def _pool_cases(rng, hidden, backward=False):
    cases = []
    for x_shape, k, s, p in _POOL_SETTINGS + (_POOL_HIDDEN if hidden else []):
        # Small integers make ties inside a window common; all-negative values expose zero padding.
        x = rng.integers(-4, 2, size=x_shape).astype(float) - 0.5 * (p > 0)
        kwargs = {"x": x, "kernel_size": k, "stride": s, "padding": p}
        if backward:
            out_shape = F.max_pool2d(x, k, s, p).shape
            kwargs = {"dout": _normal(rng, *out_shape), **kwargs}
        cases.append(Case(kwargs, "integer-valued input: ties are likely"))
    return cases


for _name in ("max_pool2d", "avg_pool2d"):
    EXERCISES.append(Exercise(_name, getattr(F, _name), _pool_cases, mistakes=known(_name)))
    EXERCISES.append(
        Exercise(
            f"{_name}_backward",
            getattr(F, f"{_name}_backward"),
            lambda rng, hidden: _pool_cases(rng, hidden, True),
            mistakes=known(f"{_name}_backward"),
            output_names=("dx",),
            gradient_of=(getattr(F, _name), ("x",)),
            gradient_case=_pool_gradient_case,
        )
    )


# --- batch norm and dropout ---------------------------------------------------------------------------


def _batch_norm_cases(rng, hidden, backward=False):
    cases = []
    for shape, training in [((6, 3), True), ((4, 2, 3, 3), True), ((5, 3), False)] + (
        [((3, 4, 2, 5), True), ((2, 4, 3, 3), False)] if hidden else []
    ):
        c = shape[1]
        x = _normal(rng, *shape) * 3 + 1
        kwargs = {
            "x": x,
            "running_mean": _normal(rng, c) * 0.1,
            "running_var": 1 + rng.random(c),
            "weight": 1 + _normal(rng, c) * 0.1,
            "bias": _normal(rng, c) * 0.1,
            "training": training,
        }
        if backward:
            kwargs = {"dout": _normal(rng, *shape), **kwargs}
        cases.append(Case(kwargs, "training" if training else "eval"))
    return cases


EXERCISES.append(
    Exercise(
        "batch_norm",
        F.batch_norm,
        _batch_norm_cases,
        output_names=("output",),
        mutates=("running_mean", "running_var"),
        runner="batch_norm",
        mistakes=known("batch_norm"),
    )
)
EXERCISES.append(
    Exercise(
        "batch_norm_backward",
        F.batch_norm_backward,
        lambda rng, hidden: _batch_norm_cases(rng, hidden, True),
        output_names=("dx", "dweight", "dbias"),
        mistakes=known("batch_norm_backward"),
        gradient_of=(F.batch_norm, ("x", "weight", "bias")),
        gradient_case=lambda rng: _batch_norm_cases(rng, False, True)[1].kwargs,  # (4, 2, 3, 3), training
    )
)


def _dropout_cases(rng, hidden):
    cases = []
    for shape, p, training in [((4, 5), 0.5, True), ((3, 6), 0.2, True), ((4, 5), 0.5, False)] + (
        [((2, 3, 4), 0.7, True)] if hidden else []
    ):
        cases.append(
            Case(
                {"x": _normal(rng, *shape), "p": p, "training": training, "mask": rng.random(shape) >= p},
                f"p={p}, {'training' if training else 'eval'}",
            )
        )
    return cases


EXERCISES.append(Exercise("dropout", F.dropout, _dropout_cases, mistakes=known("dropout")))
