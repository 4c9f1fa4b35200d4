"""Lab 08's answers: what each layer of a network costs (shape, parameters, multiply-adds, stored values),
and the multiply-adds of an Inception module, naive or with 1x1 bottlenecks.

Layers are lab 07's dicts (``dlcourse.reference.cnn``). Conventions, as in the lab:

- multiply-adds (MACs) for one example: a convolution's output value costs C_in * K * K, a linear layer's
  output value costs its number of inputs; biases, ReLU and pooling are not counted;
- stored values (activations) for one example: the values of a layer's output, which the backward pass
  needs; ReLU (computed in place) and flatten (a view) add none. The network's total adds its input.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .cnn import layer_table

# AlexNet (Krizhevsky et al., 2012) on one device (the original split conv2, conv4, conv5 over two GPUs).
ALEXNET = [
    {"type": "conv", "out_channels": 96, "kernel_size": 11, "stride": 4},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 3, "stride": 2},
    {"type": "conv", "out_channels": 256, "kernel_size": 5, "padding": 2},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 3, "stride": 2},
    {"type": "conv", "out_channels": 384, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv", "out_channels": 384, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv", "out_channels": 256, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 3, "stride": 2},
    {"type": "flatten"},
    {"type": "linear", "out_features": 4096},
    {"type": "relu"},
    {"type": "linear", "out_features": 4096},
    {"type": "relu"},
    {"type": "linear", "out_features": 1000},
]


def vgg16_layers(num_classes: int = 1000) -> list[dict]:
    """VGG16 (Simonyan and Zisserman, 2015, configuration D): thirteen 3x3 convolutions in five blocks, each
    block ending in a 2x2 max pool, then three linear layers."""
    layers = []
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [{"type": "conv", "out_channels": width, "kernel_size": 3, "padding": 1}, {"type": "relu"}]
        layers.append({"type": "pool", "kernel_size": 2})
    layers.append({"type": "flatten"})
    for features in (4096, 4096):
        layers += [{"type": "linear", "out_features": features}, {"type": "relu"}]
    return layers + [{"type": "linear", "out_features": num_classes}]


VGG16 = vgg16_layers()


def layer_costs(layers, input_shape):
    """Per layer: (output_shape, parameters, multiply-adds, stored values), for one example.

    layers: lab 07's layer dicts; input_shape: (C, H, W). Raises ValueError as ``layer_table`` does.
    """
    table = layer_table(layers, input_shape)
    rows, shape = [], tuple(int(s) for s in input_shape)
    for spec, (out_shape, params) in zip(layers, table):
        values = int(np.prod(out_shape))
        if spec["type"] == "conv":
            k = spec["kernel_size"]
            macs = values * shape[0] * k * k
        elif spec["type"] == "linear":
            macs = values * shape[0]
        else:
            macs = 0
        stored = 0 if spec["type"] in ("relu", "flatten") else values
        rows.append((out_shape, params, macs, stored))
        shape = out_shape
    return rows


def _count(value, name, minimum=0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def inception_macs(in_channels, height, width, c1, c3, c5, r3=0, r5=0, pool_proj=0):
    """Output channels and multiply-adds of one Inception module, for one example.

    Four branches see the same (in_channels, height, width) input and keep its height and width: a 1x1
    convolution to c1 channels; a 3x3 convolution to c3 (after a 1x1 reduction to r3 channels when r3 > 0);
    a 5x5 convolution to c5 (after a 1x1 reduction to r5 when r5 > 0); a 3x3 max pool (stride 1, padding 1)
    followed by a 1x1 projection to pool_proj channels when pool_proj > 0 (otherwise all in_channels pass).
    Returns (out_channels, macs).
    """
    c_in, h, w = (_count(v, n, 1) for v, n in ((in_channels, "in_channels"), (height, "height"), (width, "width")))
    c1, c3, c5, r3, r5, pool_proj = (
        _count(v, n) for v, n in ((c1, "c1"), (c3, "c3"), (c5, "c5"), (r3, "r3"), (r5, "r5"), (pool_proj, "pool_proj"))
    )
    per_pixel = c1 * c_in
    per_pixel += (r3 * c_in + c3 * r3 * 9) if r3 else c3 * c_in * 9
    per_pixel += (r5 * c_in + c5 * r5 * 25) if r5 else c5 * c_in * 25
    per_pixel += pool_proj * c_in
    out_channels = c1 + c3 + c5 + (pool_proj if pool_proj else c_in)
    return out_channels, h * w * per_pixel
