"""The ImageNet architectures of lab 08 and the ResNets of lab 09 (18, 34 and 50 layers, basic and bottleneck
blocks) in PyTorch, and a profiler that counts what each layer costs: parameters, multiply-adds and stored
values, measured by running the model.

Build large models on PyTorch's "meta" device to count them without allocating their weights:

>>> with torch.device("meta"):
...     rows = profile(vgg16(), (1, 3, 224, 224))
"""

from __future__ import annotations

import torch
from torch import nn

from .models import BasicBlock
from .reference.architectures import ALEXNET, vgg16_layers


def from_layers(layers, in_channels: int) -> nn.Sequential:
    """Lab 07/08's layer dicts as torch modules (a linear layer's inputs found from the shapes)."""
    from .reference.cnn import window

    modules, channels, features = [], in_channels, None
    for spec in layers:
        k, s, p = window(spec)
        if spec["type"] == "conv":
            modules.append(nn.Conv2d(channels, spec["out_channels"], k, s, p, bias=spec.get("bias", True)))
            channels = spec["out_channels"]
        elif spec["type"] == "pool":
            modules.append(nn.MaxPool2d(k, s, p))
        elif spec["type"] == "relu":
            modules.append(nn.ReLU(inplace=True))
        elif spec["type"] == "flatten":
            modules.append(nn.Flatten())
        elif spec["type"] == "linear":
            modules.append(nn.LazyLinear(spec["out_features"], bias=spec.get("bias", True)))
        else:
            raise ValueError(f"unknown layer type {spec['type']!r}")
        features = spec.get("out_features", features)
    return nn.Sequential(*modules)


def alexnet(input_size=(1, 3, 227, 227)) -> nn.Sequential:
    """AlexNet on one device, for 227x227 images (the lazy linear layers are sized by one forward pass)."""
    model = from_layers(ALEXNET, input_size[1])
    _materialise(model, input_size)
    return model


def vgg16(num_classes=1000, input_size=(1, 3, 224, 224)) -> nn.Sequential:
    model = from_layers(vgg16_layers(num_classes), input_size[1])
    _materialise(model, input_size)
    return model


def _materialise(model, input_size):
    device = next((b.device for b in model.buffers()), None) or torch.empty(0).device
    with torch.no_grad():
        model(torch.zeros(input_size, device=device))


def vgg_block(in_channels: int, out_channels: int, num_convs: int) -> nn.Sequential:
    """num_convs 3x3 convolutions (padding 1) with ReLU, then a 2x2 max pool: the unit VGG repeats."""
    layers, channels = [], in_channels
    for _ in range(num_convs):
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]
        channels = out_channels
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class Inception(nn.Module):
    """Szegedy et al. (2015): four branches over the same input, concatenated along the channels: a 1x1
    convolution; 1x1 then 3x3; 1x1 then 5x5; 3x3 max pool then 1x1. Each convolution is followed by ReLU."""

    def __init__(self, in_channels, c1, r3, c3, r5, c5, pool_proj):
        super().__init__()

        def conv(cin, cout, k):
            return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True)]

        self.branch1 = nn.Sequential(*conv(in_channels, c1, 1))
        self.branch3 = nn.Sequential(*conv(in_channels, r3, 1), *conv(r3, c3, 3))
        self.branch5 = nn.Sequential(*conv(in_channels, r5, 1), *conv(r5, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


# GoogLeNet's nine modules: (in_channels, c1, r3, c3, r5, c5, pool_proj), from Table 1 of Szegedy et al.
GOOGLENET_MODULES = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def googlenet(num_classes=1000) -> nn.Sequential:
    """GoogLeNet without its two auxiliary classifiers (used only in training) and without the local response
    normalisation: a stem, nine Inception modules with pooling between stages, global average pooling, one
    linear layer."""
    m = {name: Inception(*args) for name, args in GOOGLENET_MODULES.items()}
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(64, 64, 1), nn.ReLU(inplace=True), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        m["3a"], m["3b"], nn.MaxPool2d(3, 2, ceil_mode=True),
        m["4a"], m["4b"], m["4c"], m["4d"], m["4e"], nn.MaxPool2d(3, 2, ceil_mode=True),
        m["5a"], m["5b"], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4), nn.Linear(1024, num_classes),
    )  # fmt: skip


class Bottleneck(nn.Module):
    """He et al. (2016)'s bottleneck block for deep ResNets: a 1x1 convolution reduces the channels to
    ``width``, a 3x3 convolution (carrying the stride) works at that width, a 1x1 convolution expands to
    4 * width; batch norm after each, the shortcut added before the last ReLU (a 1x1 projection where the
    shape changes). At 256 channels it costs 69,632 weights where two 3x3 convolutions cost 1,179,648."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * self.expansion
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        return torch.relu(self.expand(self.conv(self.reduce(x))) + self.shortcut(x))


RESNET_STAGES = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3))}


def resnet(depth: int = 18, num_classes: int = 1000, in_channels: int = 3) -> nn.Sequential:
    """ResNet-18, -34 or -50 (He et al., 2016): a 7x7 stride-2 stem and 3x3 max pool, four stages (64, 128, 256,
    512 channels, or 4x that out of bottlenecks; each stage after the first halves the size), global average
    pooling, one linear layer. Parameters for 1,000 classes: 11,689,512, 21,797,672 and 25,557,032."""
    if depth not in RESNET_STAGES:
        raise ValueError(f"depth must be one of {sorted(RESNET_STAGES)}, got {depth!r}")
    block, counts = RESNET_STAGES[depth]
    blocks, channels = [], 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for i in range(count):
            blocks.append(block(channels, width, 2 if stage and not i else 1))
            channels = width * getattr(block, "expansion", 1)
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes),
    )  # fmt: skip


def resnet18(num_classes=1000, in_channels=3) -> nn.Sequential:
    """ResNet-18 (He et al., 2016): a 7x7 stem, four stages of two basic blocks (64, 128, 256, 512 channels,
    halving the size from the second stage on), global average pooling, one linear layer: 11,689,512
    parameters for 1,000 classes."""
    return resnet(18, num_classes, in_channels)


# --- the profiler ------------------------------------------------------------------------------------------------


def _macs(module, inputs, output) -> int:
    """Multiply-adds of one leaf layer for the whole batch (biases, activations and pooling not counted)."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


STORES_NOTHING = (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)  # in place, views, or no-ops at inference


def profile(model: nn.Module, input_size: tuple[int, ...]) -> list[tuple]:
    """Run one batch through ``model`` (on its device; use "meta" for large models) and list each leaf layer
    in the order it ran: (name, type, output shape, parameters, multiply-adds, stored values), the last two
    per example. ReLU, flatten and dropout store nothing (the convention of lab 08)."""
    rows, hooks = [], []
    batch = input_size[0]
    for name, module in model.named_modules():
        if list(module.children()):
            continue
        params = sum(p.numel() for p in module.parameters(recurse=False))

        def record(m, inputs, output, name=name, params=params):
            stored = 0 if isinstance(m, STORES_NOTHING) else output.numel() // batch
            rows.append(
                (name, type(m).__name__, tuple(output.shape), params, _macs(m, inputs, output) // batch, stored)
            )

        hooks.append(module.register_forward_hook(record))
    first = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_size, device=first.device, dtype=first.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows
