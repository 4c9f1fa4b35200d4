"""Sizes and costs of convolution layers: output size, parameter count, multiply-adds."""

from __future__ import annotations

from numbers import Integral

from ..validation import pair


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        rule = "a positive int" if minimum == 1 else "a non-negative int"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return int(value)


def conv_output_size(n, kernel_size, stride=1, padding=0, strict=False):
    """Output length along one axis: floor((n + 2 * padding - kernel_size) / stride) + 1, as PyTorch computes it.

    The windows start at 0, stride, 2 * stride, ... and each must end inside the padded input. When
    (n + 2 * padding - kernel_size) is not a multiple of the stride, the last (n + 2P - F) % S rows (or
    columns) of the padded input are covered by no window and silently ignored; ``strict=True`` raises
    ValueError instead, saying how many. Raises ValueError when the kernel is larger than the padded input.
    """
    n = _positive_int(n, "n")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = _positive_int(stride, "stride")
    padding = _positive_int(padding, "padding", minimum=0)
    if not isinstance(strict, bool):
        raise ValueError(f"strict must be True or False, got {strict!r}")
    span = n + 2 * padding - kernel_size
    if span < 0:
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the padded input {n} + 2*{padding} = {n + 2 * padding}"
        )
    if strict and span % stride:
        raise ValueError(
            f"stride {stride} does not fit: (n + 2P - F) = ({n} + 2*{padding} - {kernel_size}) = {span} is not a "
            f"multiple of {stride}, so the last {span % stride} row(s) would be ignored; change the padding or the "
            "stride"
        )
    return span // stride + 1


def conv2d_param_count(in_channels, out_channels, kernel_size, bias=True):
    """Learnable numbers in a Conv2d layer: out_channels * in_channels * kH * kW weights, plus one bias per
    output channel."""
    in_channels = _positive_int(in_channels, "in_channels")
    out_channels = _positive_int(out_channels, "out_channels")
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    return out_channels * in_channels * kh * kw + (out_channels if bias else 0)


def conv2d_macs(in_channels, out_channels, kernel_size, output_hw):
    """Multiply-adds of one forward pass for one image: each output value costs in_channels * kH * kW."""
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    ho, wo = pair(output_hw, "output_hw", minimum=1)
    return _positive_int(out_channels, "out_channels") * ho * wo * _positive_int(in_channels, "in_channels") * kh * kw
