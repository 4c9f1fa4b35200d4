"""Test cases for lab 09: a residual block's forward and backward passes in NumPy, the per-layer gradient norms,
and BasicBlock and ResNet-18 in PyTorch. Each exercise's known mistakes sit beside it."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...architectures import resnet18
from ...models import BasicBlock
from ...reference import resnet
from ..mistakes import Mistake
from .base import TORCH_MODULE, USES_TORCH, Case, Exercise, behaviour_case

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the lab meets them

BLOCK_GIVEN = ("F.conv2d", "F.batch_norm", "F.relu")
BLOCK_BACKWARD_GIVEN = BLOCK_GIVEN + ("F.conv2d_backward", "F.batch_norm_backward", "F.relu_backward")

# --- the residual block in NumPy --------------------------------------------------------------------------------


def block_params(rng, c_in, c_out, projection):
    """Random parameters of a basic block (reference/resnet.py's names), float64; batch-norm scales near 1."""
    params = {
        "conv1.weight": rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2 / (9 * c_in)),
        "bn1.weight": rng.uniform(0.5, 1.5, c_out),
        "bn1.bias": rng.standard_normal(c_out) * 0.2,
        "conv2.weight": rng.standard_normal((c_out, c_out, 3, 3)) * np.sqrt(2 / (9 * c_out)),
        "bn2.weight": rng.uniform(0.5, 1.5, c_out),
        "bn2.bias": rng.standard_normal(c_out) * 0.2,
    }
    if projection:
        params["shortcut.weight"] = rng.standard_normal((c_out, c_in, 1, 1)) * np.sqrt(2 / c_in)
        params["shortcut_bn.weight"] = rng.uniform(0.5, 1.5, c_out)
        params["shortcut_bn.bias"] = rng.standard_normal(c_out) * 0.2
    return params


VISIBLE_BLOCKS = [((2, 4, 6, 6), 4, 1), ((3, 3, 8, 8), 6, 2)]  # (x shape, C_out, stride)


def _block_cases(rng, hidden):
    settings = list(VISIBLE_BLOCKS)
    if hidden:  # fresh shapes each time: an identity block, a stride-1 projection (channels change), odd sizes
        c = int(rng.integers(2, 6))
        settings += [
            ((int(rng.integers(2, 5)), c, int(rng.integers(4, 8)), int(rng.integers(4, 8))), c, 1),
            ((2, c, 5, 5), c + int(rng.integers(1, 4)), 1),
            ((2, c, int(rng.choice([7, 9])), 6), int(rng.integers(2, 8)), 2),
        ]
    cases = []
    for shape, c_out, stride in settings:
        projection = stride != 1 or shape[1] != c_out
        cases.append(
            Case(
                {
                    "x": rng.standard_normal(shape),
                    "params": block_params(rng, shape[1], c_out, projection),
                    "stride": stride,
                },
                f"x {shape}, {c_out} output channels, stride {stride}"
                + (" (projection)" if projection else " (identity)"),
            )
        )
    return cases


def _block_with(x, params, stride=1, *, mistake=None):
    """The forward pass with one of the usual slips; returns the output and the intermediates it used."""
    bn = resnet._bn
    s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
    c1 = F.conv2d(x, params["conv1.weight"], stride=s1, padding=1)
    b1 = bn(c1, params, "bn1")
    h = b1 if mistake == "no_inner_relu" else F.relu(b1)
    c2 = F.conv2d(h, params["conv2.weight"], stride=s2, padding=1)
    branch = bn(c2, params, "bn2")
    if "shortcut.weight" in params:
        cs = F.conv2d(x, params["shortcut.weight"], stride=stride)
        skip = cs if mistake == "shortcut_without_bn" else bn(cs, params, "shortcut_bn")
    else:
        skip = x
    if mistake == "skip_after_relu":
        return F.relu(branch) + skip
    if mistake == "no_final_relu":
        return branch + skip
    return F.relu(branch + skip)


def _forward_mistake(name, hint):
    return Mistake(name, hint, lambda x, params, stride=1: _block_with(x, params, stride, mistake=name))


EXERCISES.append(
    Exercise(
        "residual_block",
        resnet.residual_block,
        _block_cases,
        given=BLOCK_GIVEN,
        mistakes=[
            _forward_mistake(
                "skip_after_relu",
                "add the shortcut before the last ReLU: relu(bn2(...) + shortcut(x)), not relu(bn2(...)) + x",
            ),
            _forward_mistake(
                "no_final_relu", "the block ends with a ReLU applied to the sum of the branch and the shortcut"
            ),
            _forward_mistake(
                "stride_on_conv2", "the stride belongs to the first 3x3 convolution (conv1); conv2 always has stride 1"
            ),
            _forward_mistake(
                "no_inner_relu", "there is a ReLU between bn1 and conv2: conv -> BN -> ReLU -> conv -> BN"
            ),
            _forward_mistake(
                "shortcut_without_bn",
                "the projection shortcut is a 1x1 convolution followed by its own batch norm (shortcut_bn)",
            ),
        ],
    )
)


def _backward_cases(rng, hidden):
    cases = []
    for case in _block_cases(rng, hidden):
        out = resnet.residual_block(**case.kwargs)
        cases.append(Case({"dout": rng.standard_normal(out.shape), **case.kwargs}, case.label))
    return cases


def _block_backward_with(dout, x, params, stride=1, *, mistake=None):
    """The backward pass with one of the usual slips."""
    bn_back = resnet._bn_backward
    if mistake == "batch_stats_constant":  # batch norm differentiated as if its mean and variance were fixed

        def bn_back(d, z, p, name):
            mean, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
            return F.batch_norm_backward(d, z, mean, var, p[f"{name}.weight"], p[f"{name}.bias"], training=False)

    projection = "shortcut.weight" in params
    f = resnet.forward_pass(x, params, stride, projection)
    dsum = dout if mistake == "final_relu_skipped" else F.relu_backward(dout, f["branch"] + f["skip"])
    grads = {}
    dc2, grads["bn2.weight"], grads["bn2.bias"] = bn_back(dsum, f["c2"], params, "bn2")
    dh, grads["conv2.weight"], _ = F.conv2d_backward(dc2, f["h"], params["conv2.weight"], padding=1)
    db1 = dh if mistake == "inner_relu_skipped" else F.relu_backward(dh, f["b1"])
    dc1, grads["bn1.weight"], grads["bn1.bias"] = bn_back(db1, f["c1"], params, "bn1")
    dx, grads["conv1.weight"], _ = F.conv2d_backward(dc1, x, params["conv1.weight"], stride=stride, padding=1)
    if projection:
        dcs, grads["shortcut_bn.weight"], grads["shortcut_bn.bias"] = bn_back(dsum, f["cs"], params, "shortcut_bn")
        dx_skip, grads["shortcut.weight"], _ = F.conv2d_backward(dcs, x, params["shortcut.weight"], stride=stride)
    else:
        dx_skip = dsum
    grads["x"] = dx if mistake == "shortcut_gradient_dropped" else dx + dx_skip
    return grads


def _backward_mistake(name, hint):
    return Mistake(
        name, hint, lambda dout, x, params, stride=1: _block_backward_with(dout, x, params, stride, mistake=name)
    )


EXERCISES.append(
    Exercise(
        "residual_block_backward",
        resnet.residual_block_backward,
        _backward_cases,
        runner="residual_block_backward",
        given=BLOCK_BACKWARD_GIVEN,
        mistakes=[
            _backward_mistake(
                "shortcut_gradient_dropped",
                "x feeds both the branch and the shortcut, so dx is the sum of the gradients coming back along "
                "both; the identity shortcut passes the upstream gradient straight through",
            ),
            _backward_mistake(
                "final_relu_skipped",
                "go back through the last ReLU first: F.relu_backward(dout, branch + shortcut) is what both paths "
                "receive",
            ),
            _backward_mistake(
                "inner_relu_skipped",
                "between conv2 and bn1 there is a ReLU: send dh through F.relu_backward(dh, bn1's output)",
            ),
            _backward_mistake(
                "batch_stats_constant",
                "in training mode the batch's mean and variance depend on every input: use "
                "F.batch_norm_backward with training=True",
            ),
        ],
    )
)

# --- the per-layer gradient norms ----------------------------------------------------------------------------------


def _norm_cases(rng, hidden):
    cases = []
    for seed, depth, batch_norm, start_in_eval in ((0, 2, True, False), (1, 3, False, False)) + (
        ((int(rng.integers(10**6)), int(rng.integers(2, 5)), True, True),) if hidden else ()
    ):
        n, k = int(rng.integers(4, 9)), 3
        cases.append(
            Case(
                {
                    "seed": seed,
                    "depth": depth,
                    "batch_norm": batch_norm,
                    "start_in_eval": start_in_eval,
                    "x": rng.standard_normal((n, 2, 6, 6)),
                    "y": rng.integers(0, k, n),
                },
                f"{depth} conv layers"
                + (" with batch norm" if batch_norm else "")
                + (", model handed over in eval mode" if start_in_eval else ""),
            )
        )
    return cases


def _norms_with(model, x, y, *, mistake=None):
    import torch

    if mistake != "no_zero_grad":
        model.zero_grad()
    model.train(mistake != "eval_mode")
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction="sum" if mistake == "summed_loss" else "mean")
    loss.backward()
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    if mistake == "every_parameter":
        return [float(p.grad.norm()) for p in model.parameters()]
    if mistake == "weight_norms":
        return [float(m.weight.norm()) for m in layers]
    norms = [float(m.weight.grad.norm()) for m in layers]
    if mistake == "squared":
        return [v * v for v in norms]
    return norms[::-1] if mistake == "output_first" else norms


def _norms_mistake(name, hint):
    return Mistake(name, hint, lambda model, x, y: _norms_with(model, x, y, mistake=name))


EXERCISES.append(
    Exercise(
        "gradient_norms",
        resnet.gradient_norms,
        _norm_cases,
        runner="gradient_norms",
        **USES_TORCH,
        rtol=1e-6,
        mistakes=[
            _norms_mistake(
                "no_zero_grad",
                "backward() adds to .grad: call model.zero_grad() first, or a training step's leftovers count",
            ),
            _norms_mistake(
                "eval_mode", "measure in training mode (model.train()): batch norm uses the batch's statistics"
            ),
            _norms_mistake(
                "summed_loss", "the loss is the mean cross-entropy over the batch (F.cross_entropy's default)"
            ),
            _norms_mistake(
                "every_parameter",
                "one norm per Conv2d or Linear layer, of its weight's gradient only: no biases, no batch-norm "
                "parameters",
            ),
            _norms_mistake("weight_norms", "measure the gradient (layer.weight.grad), not the weight itself"),
            _norms_mistake("squared", "the L2 norm is the square root of the sum of squares: .norm()"),
            _norms_mistake("output_first", "list the layers from input to output, in the order of model.modules()"),
        ],
    )
)

# --- BasicBlock and ResNet-18 in PyTorch --------------------------------------------------------------------------


def _basic_block_cases(rng, hidden):
    cases = [
        Case({"in_channels": 8, "out_channels": 8, "stride": 1, "input_shape": (8, 8, 8), "trace": True}, "identity"),
        Case({"in_channels": 8, "out_channels": 16, "stride": 2, "input_shape": (8, 8, 8), "trace": True}),
    ]
    if hidden:
        c = int(rng.integers(2, 9))
        cases += [
            Case({"in_channels": c, "out_channels": c, "stride": 2, "input_shape": (c, 9, 7), "trace": True}),
            Case({"in_channels": c, "out_channels": c + 3, "stride": 1, "input_shape": (c, 6, 6), "trace": True}),
            Case({"in_channels": c, "out_channels": c, "stride": 1, "input_shape": (c, 5, 5), "trace": True}),
        ]
    return cases + [behaviour_case(rng, c) for c in cases]


def _basic_block_with(in_channels, out_channels, stride=1, *, mistake=None):
    import torch
    from torch import nn

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
            bias = mistake == "conv_bias"
            tracked = mistake != "batch_norm_without_running_statistics"
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, s1, 1, bias=bias)
            self.bn1 = nn.BatchNorm2d(out_channels, track_running_stats=tracked)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, s2, 1, bias=bias)
            self.bn2 = nn.BatchNorm2d(out_channels, track_running_stats=tracked)
            self.shortcut = nn.Sequential()
            if mistake == "always_projection" or stride != 1 or in_channels != out_channels:
                self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias))
                if mistake != "projection_without_bn":
                    self.shortcut.append(nn.BatchNorm2d(out_channels, track_running_stats=tracked))

        def forward(self, x):
            if mistake == "batch_norm_declared_unused":
                return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))
            if mistake == "relu_before_batch_norm":
                out = self.bn1(torch.relu(self.conv1(x)))
            else:
                out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if mistake == "no_shortcut_in_forward":  # (the shortcut never runs)
                return torch.relu(out)
            shortcut = self.shortcut[:1](x) if mistake == "shortcut_batch_norm_unused" else self.shortcut(x)
            if mistake == "skip_after_relu":
                return torch.relu(out) + shortcut
            if mistake == "no_final_relu":
                return out + shortcut
            return torch.relu(out + shortcut)

    return Wrong()


def _block_mistake(name, hint):
    return Mistake(
        name,
        hint,
        lambda in_channels, out_channels, stride=1: _basic_block_with(in_channels, out_channels, stride, mistake=name),
    )


EXERCISES.append(
    Exercise(
        "BasicBlock",
        BasicBlock,
        _basic_block_cases,
        **TORCH_MODULE,
        mistakes=[
            _block_mistake(
                "always_projection",
                "use the projection only where the shape changes (stride != 1 or in_channels != out_channels); "
                "elsewhere the shortcut is the identity, with no parameters",
            ),
            _block_mistake(
                "projection_without_bn", "the projection shortcut is nn.Conv2d(..., 1, stride) then nn.BatchNorm2d"
            ),
            _block_mistake("conv_bias", "convolutions followed by batch norm need no bias (bias=False): BN cancels it"),
            _block_mistake("stride_on_conv2", "the stride belongs to conv1; conv2 keeps the size (stride 1)"),
            _block_mistake(
                "no_shortcut_in_forward",
                "forward must add the shortcut: relu(bn2(conv2(...)) + self.shortcut(x)); an identity shortcut "
                "(an empty nn.Sequential) returns x itself",
            ),
            _block_mistake(
                "skip_after_relu", "add the shortcut before the last ReLU: torch.relu(out + self.shortcut(x))"
            ),
            _block_mistake(
                "batch_norm_declared_unused",
                "apply the batch norms you declared: conv1, bn1, ReLU, then conv2, bn2; a layer that forward never "
                "calls changes nothing",
            ),
            _block_mistake(
                "relu_before_batch_norm", "each layer is convolution, then batch norm, then ReLU: relu(bn1(conv1(x)))"
            ),
            _block_mistake(
                "no_final_relu", "the block ends with a ReLU after the sum: relu(bn2(conv2(...)) + shortcut(x))"
            ),
            _block_mistake(
                "shortcut_batch_norm_unused",
                "the projection shortcut applies its batch norm after the 1x1 convolution: both, in that order",
            ),
            _block_mistake(
                "batch_norm_without_running_statistics",
                "keep nn.BatchNorm2d's defaults: in training it tracks running statistics of the batches, and in "
                "eval mode it normalises with them",
            ),
        ],
    )
)


def _resnet_cases(rng, hidden):
    cases = [
        Case({"num_classes": 1000, "in_channels": 3, "input_shape": (3, 64, 64), "trace": True}, "ResNet-18, ImageNet"),
        Case({"num_classes": 10, "in_channels": 1, "input_shape": (1, 32, 32), "trace": True}),
    ]
    if hidden:
        c = int(rng.integers(1, 5))
        cases.append(
            Case(
                {"num_classes": int(rng.integers(2, 200)), "in_channels": c, "input_shape": (c, 48, 40), "trace": True}
            )
        )
    # One behaviour case (a ResNet-18 in float64 takes most of a second on each side), on the random case when
    # hidden; 33 pixels is the smallest side that leaves the last stage 2x2 pixels, so that its batch norms
    # see 8 values per channel (at 32, one per image: training mode would map each channel to +-1).
    return cases + [
        behaviour_case(rng, cases[-1], size=(33, 41)) if hidden else behaviour_case(rng, cases[0], size=(33, 33))
    ]


def _resnet18_with(num_classes=1000, in_channels=3, *, mistake=None):
    from torch import nn

    blocks, channels = [], 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for block in range(3 if mistake == "three_blocks" else 2):
            stride = 2 if stage and not block else 1
            blocks.append(
                _basic_block_with(channels, width, stride, mistake="no_shortcut_in_forward")
                if mistake == "no_skip_connections"
                else BasicBlock(channels, width, stride)
            )
            channels = width
    stem = (
        [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)]
        if mistake == "small_stem"
        else [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)]
    )
    pool = [] if mistake == "no_max_pool" else [nn.MaxPool2d(3, 2, 1)]
    relu = [] if mistake == "no_stem_relu" else [nn.ReLU(inplace=True)]
    head = nn.AdaptiveMaxPool2d(1) if mistake == "global_max_pool" else nn.AdaptiveAvgPool2d(1)
    return nn.Sequential(
        *stem, nn.BatchNorm2d(64), *relu, *pool, *blocks, head, nn.Flatten(), nn.Linear(512, num_classes)
    )


def _resnet_mistake(name, hint):
    return Mistake(
        name, hint, lambda num_classes=1000, in_channels=3: _resnet18_with(num_classes, in_channels, mistake=name)
    )


EXERCISES.append(
    Exercise(
        "resnet18",
        resnet18,
        _resnet_cases,
        **TORCH_MODULE,
        mistakes=[
            _resnet_mistake("three_blocks", "ResNet-18 has two BasicBlocks per stage: 4 stages x 2 blocks x 2 convs"),
            _resnet_mistake("small_stem", "the stem is a 7x7 convolution with stride 2 and padding 3 (64 filters)"),
            _resnet_mistake("no_max_pool", "after the stem comes a 3x3 max pool with stride 2 and padding 1"),
            _resnet_mistake(
                "no_skip_connections",
                "every BasicBlock adds its shortcut before its last ReLU; without the skip connections ResNet-18 "
                "is a plain 18-layer network",
            ),
            _resnet_mistake("no_stem_relu", "the stem is convolution, batch norm, ReLU, then the max pool"),
            _resnet_mistake(
                "global_max_pool", "the head averages each channel over the image: nn.AdaptiveAvgPool2d(1)"
            ),
        ],
    )
)
