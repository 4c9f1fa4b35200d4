"""Test cases for lab 08: a network's costs per layer, the multiply-adds of an Inception module, and a VGG block
and an Inception module in PyTorch (batch norm's exercises live in ``ops``). Known mistakes sit beside them."""

from __future__ import annotations

import numpy as np

from ... import architectures
from ...reference import architectures as reference
from ..mistakes import Mistake
from .base import TORCH_MODULE, Case, Exercise, behaviour_case
from .network import SMALL_STACK, _random_stack

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the lab meets them


def _cost_cases(rng, hidden):
    cases = [
        Case({"layers": reference.ALEXNET[:3], "input_shape": (3, 227, 227)}, "AlexNet's conv1, ReLU and pool1"),
        Case({"layers": SMALL_STACK, "input_shape": (3, 32, 24)}, "stride 2 with padding, pool 3 stride 2, no bias"),
    ]
    if hidden:  # drawn fresh each time, and the whole of AlexNet
        cases.append(Case({"layers": reference.ALEXNET, "input_shape": (3, 227, 227)}, "AlexNet"))
        for _ in range(3):
            size = (int(rng.integers(8, 41)), int(rng.integers(8, 41)))
            cases.append(Case({"layers": _random_stack(rng, size), "input_shape": (int(rng.integers(1, 5)), *size)}))
    return cases


def _costs_with(layers, input_shape, *, conv_in_channels=True, bias=True, relu_stores=False, linear_macs=True):
    specs = [dict(s, bias=False) if not bias and s["type"] in ("conv", "linear") else s for s in layers]
    rows, shape = [], tuple(input_shape)
    for spec, row in zip(specs, reference.layer_costs(specs, input_shape)):
        out_shape, params, macs, stored = row
        if spec["type"] == "conv" and not conv_in_channels:
            macs //= shape[0]
        if spec["type"] == "linear" and not linear_macs:
            macs = params
        if spec["type"] == "relu" and relu_stores:
            stored = int(np.prod(out_shape))
        rows.append((out_shape, params, macs, stored))
        shape = out_shape
    return rows


EXERCISES.append(
    Exercise(
        "layer_costs",
        reference.layer_costs,
        _cost_cases,
        runner="layer_costs",
        mistakes=[
            Mistake(
                "macs_without_input_channels",
                "each output value of a convolution sums over all input channels: C_in * K * K multiply-adds",
                lambda layers, input_shape: _costs_with(layers, input_shape, conv_in_channels=False),
            ),
            Mistake(
                "no_bias",
                "each conv and linear layer also learns one bias per output (unless bias is False)",
                lambda layers, input_shape: _costs_with(layers, input_shape, bias=False),
            ),
            Mistake(
                "relu_stores",
                "ReLU runs in place and flatten is a view: they store no new values (count 0 for them)",
                lambda layers, input_shape: _costs_with(layers, input_shape, relu_stores=True),
            ),
            Mistake(
                "linear_macs_are_parameters",
                "a linear layer's multiply-adds are inputs * outputs; its bias adds parameters, not multiply-adds",
                lambda layers, input_shape: _costs_with(layers, input_shape, linear_macs=False),
            ),
        ],
    )
)

# --- the Inception module's arithmetic --------------------------------------------------------------------------


def _inception_cases(rng, hidden):
    lecture = {"in_channels": 256, "height": 28, "width": 28, "c1": 128, "c3": 192, "c5": 96}
    cases = [
        Case(lecture, "naive: 1x1 128, 3x3 192, 5x5 96 and a 3x3 pool on 28x28x256"),
        Case({**lecture, "r3": 64, "r5": 64, "pool_proj": 64}, "with 1x1 bottlenecks of 64"),
    ]
    if hidden:
        c, c1, r3, c3, r5, c5, proj = architectures.GOOGLENET_MODULES["4e"]
        cases.append(Case({"in_channels": c, "height": 14, "width": 14, "c1": c1, "c3": c3, "c5": c5, "r3": r3,
                           "r5": r5, "pool_proj": proj}, "GoogLeNet's module 4e"))  # fmt: skip
        for _ in range(3):
            draw = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
            kwargs = {"in_channels": draw(1, 600), "height": draw(1, 60), "width": draw(1, 60), "c1": draw(0, 300),
                      "c3": draw(1, 300), "c5": draw(1, 200)}  # fmt: skip
            if rng.random() < 0.75:
                kwargs.update(r3=draw(1, 200), r5=draw(1, 100), pool_proj=draw(1, 200))
            cases.append(Case(kwargs))
    return cases


def _inception_with(in_channels, height, width, c1, c3, c5, r3=0, r5=0, pool_proj=0, *, mistake=""):
    out, macs = reference.inception_macs(in_channels, height, width, c1, c3, c5, r3, r5, pool_proj)
    hw = height * width
    if mistake == "reductions_free":  # only the big convolutions counted
        macs -= hw * in_channels * (r3 + r5)
    elif mistake == "pool_adds_no_channels" and not pool_proj:
        out -= in_channels
    elif mistake == "no_input_channels":  # K * K per output value, as if every branch's input had one channel
        macs = hw * (c1 + (r3 + 9 * c3 if r3 else 9 * c3) + (r5 + 25 * c5 if r5 else 25 * c5) + pool_proj)
    elif mistake == "pool_projection_forgotten":
        macs -= hw * in_channels * pool_proj
    return out, macs


EXERCISES.append(
    Exercise(
        "inception_macs",
        reference.inception_macs,
        _inception_cases,
        runner="inception",
        mistakes=[
            Mistake(
                "reductions_free",
                "the 1x1 reductions cost multiply-adds too: r3 * C_in and r5 * C_in per pixel",
                lambda **kw: _inception_with(**kw, mistake="reductions_free"),
            ),
            Mistake(
                "pool_adds_no_channels",
                "without a projection, the max-pool branch passes all C_in input channels on to the output",
                lambda **kw: _inception_with(**kw, mistake="pool_adds_no_channels"),
            ),
            Mistake(
                "no_input_channels",
                "every filter spans all the channels of its branch's input: K * K * C_in multiply-adds per value",
                lambda **kw: _inception_with(**kw, mistake="no_input_channels"),
            ),
            Mistake(
                "pool_projection_forgotten",
                "the pool branch's 1x1 projection is a convolution too: pool_proj * C_in per pixel",
                lambda **kw: _inception_with(**kw, mistake="pool_projection_forgotten"),
            ),
        ],
    )
)

# --- the modules in PyTorch ------------------------------------------------------------------------------------------


def _block_cases(rng, hidden):
    cases = [
        Case({"in_channels": 3, "out_channels": 8, "num_convs": 2, "input_shape": (3, 16, 16)}),
        Case({"in_channels": 4, "out_channels": 6, "num_convs": 3, "input_shape": (4, 8, 12)}),
    ]
    if hidden:
        c = int(rng.integers(1, 9))
        cases.append(Case({"in_channels": c, "out_channels": int(rng.integers(1, 17)),
                           "num_convs": int(rng.integers(1, 5)), "input_shape": (c, 10, 14)}))  # fmt: skip
    return cases + [behaviour_case(rng, c) for c in cases]


def _hollow(layers, output_shape):
    """A module that holds ``layers`` and returns zeros of ``output_shape(x)`` without running them."""
    import torch
    from torch import nn

    class Hollow(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers

        def forward(self, x):
            return torch.zeros(output_shape(x))

    return Hollow()


def _vgg_block_with(in_channels, out_channels, num_convs, *, bias=True, pool="last", all_from_input=False,
                    last_relu=True, zeros=False):  # fmt: skip
    from torch import nn

    layers = []
    for i in range(num_convs):
        cin = in_channels if i == 0 or all_from_input else out_channels
        layers += [nn.Conv2d(cin, out_channels, 3, padding=1, bias=bias), nn.ReLU()]
    if not last_relu:
        layers.pop()
    if zeros:
        return _hollow(nn.Sequential(*layers), lambda x: (len(x), out_channels, x.shape[2] // 2, x.shape[3] // 2))
    if pool == "first":
        return nn.Sequential(nn.MaxPool2d(2), *layers)
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool == "last" else []))


def _vgg_mistake(name, hint, **changes):
    return Mistake(
        name,
        hint,
        lambda in_channels, out_channels, num_convs: _vgg_block_with(in_channels, out_channels, num_convs, **changes),
    )


EXERCISES.append(
    Exercise(
        "vgg_block",
        architectures.vgg_block,
        _block_cases,
        **TORCH_MODULE,
        mistakes=[
            _vgg_mistake(
                "no_pool", "a VGG block ends with a 2x2 max pool, which halves the height and width", pool=None
            ),
            _vgg_mistake("no_bias", "keep the convolutions' biases (nn.Conv2d has them by default)", bias=False),
            _vgg_mistake(
                "returns_zeros",
                "the block must apply its layers to x: yours returns the same zeros whatever the input and the weights",
                zeros=True,
            ),
            _vgg_mistake(
                "pool_first",
                "the convolutions come first and the 2x2 max pool last: pooling first throws away three pixels "
                "in four before any convolution sees them",
                pool="first",
            ),
            _vgg_mistake(
                "no_relu_after_last_conv",
                "every convolution is followed by ReLU, the last one too (before the pool)",
                last_relu=False,
            ),
        ],
    )
)


def _inception_module_cases(rng, hidden):
    """The widths of the four 1x1 convolutions (c1, r3, r5, pool_proj) differ in every case, so that the layers
    of the learner's module and the reference's pair up whatever order the branches run in."""
    cases = [
        Case({"in_channels": 16, "c1": 8, "r3": 4, "c3": 8, "r5": 2, "c5": 4, "pool_proj": 6,
              "input_shape": (16, 12, 12)}, "a small module"),
        Case({"in_channels": 3, "c1": 2, "r3": 5, "c3": 6, "r5": 1, "c5": 3, "pool_proj": 7,
              "input_shape": (3, 9, 7)}, "reductions wider than their input"),
    ]  # fmt: skip
    if hidden:
        c = int(rng.integers(1, 33))
        widths = dict(zip(("c1", "r3", "r5", "pool_proj"), (int(w) for w in rng.choice(16, 4, replace=False) + 1)))
        sizes = {**widths, "c3": int(rng.integers(1, 17)), "c5": int(rng.integers(1, 17))}
        cases.append(Case({"in_channels": c, **sizes, "input_shape": (c, 7, 9)}))
    return cases + [behaviour_case(rng, c) for c in cases]


def _inception_module_with(in_channels, c1, r3, c3, r5, c5, pool_proj, *, mistake=None):
    import torch
    from torch import nn

    def conv(cin, cout, k, relu=True):
        return [nn.Conv2d(cin, cout, k, padding=k // 2), *([nn.ReLU()] if relu else [])]

    reduce_relu = mistake != "no_relu_after_reductions"
    pool = nn.AvgPool2d(3, 1, 1) if mistake == "average_pool_branch" else nn.MaxPool2d(3, 1, 1)

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = nn.Sequential(*conv(in_channels, c1, 1))
            self.b3 = nn.Sequential(*conv(in_channels, r3, 1, reduce_relu), *conv(r3, c3, 3))
            self.b5 = nn.Sequential(*conv(in_channels, r5, 1, reduce_relu), *conv(r5, c5, 5))
            self.pool = nn.Sequential(
                pool, *([] if mistake == "pool_projection_forgotten" else conv(in_channels, pool_proj, 1))
            )

        def forward(self, x):
            if mistake == "returns_zeros":
                return torch.zeros(len(x), c1 + c3 + c5 + pool_proj, *x.shape[2:])
            branches = [self.b1(x), self.b3(x), self.b5(x), self.pool(x)]
            if mistake == "branches_out_of_order":
                branches = [branches[1], branches[0], branches[3], branches[2]]
            return torch.cat(branches, 1)

    return Wrong()


def _inception_module_mistake(name, hint):
    return Mistake(name, hint, lambda *args, **kwargs: _inception_module_with(*args, **kwargs, mistake=name))


EXERCISES.append(
    Exercise(
        "Inception",
        architectures.Inception,
        _inception_module_cases,
        **TORCH_MODULE,
        mistakes=[
            _inception_module_mistake(
                "pool_projection_forgotten", "the pool branch ends with a 1x1 convolution to pool_proj channels"
            ),
            _inception_module_mistake(
                "returns_zeros",
                "forward must run the four branches on x and concatenate their outputs: yours returns the same "
                "zeros whatever the input and the weights",
            ),
            _inception_module_mistake(
                "branches_out_of_order",
                "concatenate the branches in the order the exercise lists them: the 1x1 branch, then 3x3, then "
                "5x5, then the pool branch",
            ),
            _inception_module_mistake(
                "no_relu_after_reductions",
                "every convolution is followed by ReLU, the 1x1 reductions before the 3x3 and the 5x5 too",
            ),
            _inception_module_mistake(
                "average_pool_branch",
                "the pool branch max-pools (3x3, stride 1, padding 1) before its 1x1 convolution",
            ),
        ],
    )
)
