"""Test cases for labs 05 and 06: padding, output size, convolution by loops and vectorised, parameter count."""

from __future__ import annotations

from ... import functional as F
from ...functional import naive
from ...reference import conv_arithmetic
from .base import Case, Exercise, known
from .ops import _conv_cases

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the labs meet them


def _pad_cases(rng, hidden):
    cases = [
        Case({"x": rng.standard_normal((2, 3, 4, 5)), "padding": 1}, "padding=1"),
        Case({"x": rng.standard_normal((1, 2, 3, 3)), "padding": (2, 1)}, "padding=(2, 1): height 2, width 1"),
        Case({"x": rng.standard_normal((1, 1, 2, 2)), "padding": 0}, "padding=0"),
    ]
    if hidden:
        cases.append(Case({"x": rng.standard_normal((3, 1, 5, 2)), "padding": (0, 3)}, "padding=(0, 3)"))
    return cases


def _output_size_cases(rng, hidden):
    settings = [
        (6, 3, 1, 0, False),
        (7, 3, 2, 0, False),
        (28, 5, 1, 2, False),
        (8, 3, 2, 0, False),  # the stride does not fit: the last row is ignored
        (8, 3, 2, 0, True),  # ... and strict says so
        (5, 7, 1, 0, False),  # a kernel larger than the input
        (32, 3, 2, 1, False),
    ]
    if hidden:  # drawn fresh each time: windows that fit exactly, strides that do not fit, kernels too large
        settings = [(*_fitting_size(rng), bool(rng.integers(2))) for _ in range(4)]
        settings += [(*_misfitting_size(rng), strict) for strict in (False, False, True, True)]
        n = int(rng.integers(2, 6))
        settings.append((n, n + 2 * int(rng.integers(1, 3)) + 1, 1, int(rng.integers(0, 2)), False))
        settings = [settings[i] for i in rng.permutation(len(settings))]
    return [
        Case({"n": n, "kernel_size": f, "stride": s, "padding": p, "strict": strict}) for n, f, s, p, strict in settings
    ]


def _fitting_size(rng):
    kernel, stride, padding = int(rng.integers(1, 12)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
    outputs = int(rng.integers(1, 60))
    n = (outputs - 1) * stride + kernel - 2 * padding
    return (n, kernel, stride, padding) if n > 0 else (kernel, kernel, stride, 0)


def _misfitting_size(rng):
    n, kernel, stride, padding = _fitting_size(rng)
    stride = max(stride, 2)
    n = n + int(rng.integers(1, stride))  # a few pixels the last window cannot reach
    return (n, kernel, stride, padding) if (n + 2 * padding - kernel) % stride else (n + 1, kernel, stride, padding)


def _correlate_cases(rng, hidden):
    cases = [
        Case({"image": rng.standard_normal((6, 6)), "kernel": rng.standard_normal((3, 3)), "stride": 1}),
        Case({"image": rng.standard_normal((7, 7)), "kernel": rng.standard_normal((3, 3)), "stride": 2}),
        Case(
            {"image": rng.standard_normal((5, 8)), "kernel": rng.standard_normal((2, 3)), "stride": 1},
            "non-square image and kernel",
        ),
    ]
    if hidden:
        cases.append(
            Case({"image": rng.standard_normal((9, 7)), "kernel": rng.standard_normal((3, 2)), "stride": (3, 1)})
        )
    return cases


def _param_count_cases(rng, hidden):
    settings = [(3, 16, 3, True), (1, 6, 5, True), (64, 128, 1, False), (16, 32, (3, 1), True)]
    if hidden:  # drawn fresh each time, so that no table of answers can pass
        settings = []
        for bias in (True, False, True, bool(rng.integers(2))):
            kernel = int(rng.integers(1, 12))
            if rng.random() < 0.4:
                kernel = (kernel, int(rng.integers(1, 8)))
            settings.append((int(rng.integers(1, 513)), int(rng.integers(1, 513)), kernel, bias))
    return [Case({"in_channels": i, "out_channels": o, "kernel_size": k, "bias": b}) for i, o, k, b in settings]


EXERCISES.append(Exercise("pad2d", F.pad2d, _pad_cases, mistakes=known("pad2d")))
EXERCISES.append(
    Exercise(
        "conv_output_size", conv_arithmetic.conv_output_size, _output_size_cases, mistakes=known("conv_output_size")
    )
)
EXERCISES.append(Exercise("correlate2d", naive.correlate2d, _correlate_cases, mistakes=known("correlate2d")))
EXERCISES.append(Exercise("conv2d_naive", naive.conv2d, _conv_cases, mistakes=known("conv2d")))
EXERCISES.append(
    Exercise(
        "conv2d_param_count",
        conv_arithmetic.conv2d_param_count,
        _param_count_cases,
        mistakes=known("conv2d_param_count"),
    )
)
