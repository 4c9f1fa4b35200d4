"""Lab 07's answers: a CNN's layer table and receptive fields, flatten, a small CNN's forward and backward
passes, and one training step.

Layers are described by plain dicts, the same ones the lab, the explorers and the hidden tests use::

    {"type": "conv", "out_channels": 6, "kernel_size": 5, "stride": 1, "padding": 2, "bias": True}
    {"type": "pool", "kernel_size": 2, "stride": 2}      # stride defaults to kernel_size, as in torch
    {"type": "relu"}
    {"type": "flatten"}
    {"type": "linear", "out_features": 120, "bias": True}

Kernels are square (one int); output sizes round down, as PyTorch's do.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .. import functional as F

LAYER_TYPES = ("conv", "pool", "relu", "flatten", "linear")

# The course's LeNet-5 (LeCun et al., 1998, with ReLU and max pooling) for 1x28x28 digits: 61,706 parameters.
LENET5 = [
    {"type": "conv", "out_channels": 6, "kernel_size": 5, "padding": 2},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 2},
    {"type": "conv", "out_channels": 16, "kernel_size": 5},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 2},
    {"type": "flatten"},
    {"type": "linear", "out_features": 120},
    {"type": "relu"},
    {"type": "linear", "out_features": 84},
    {"type": "relu"},
    {"type": "linear", "out_features": 10},
]


def _int(spec: dict, key: str, default=None, minimum=1) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{spec['type']} layer: {key} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_spec(spec, index: int) -> str:
    if not isinstance(spec, dict) or spec.get("type") not in LAYER_TYPES:
        got = spec.get("type") if isinstance(spec, dict) else spec
        raise ValueError(f"layer {index}: expected a dict with 'type' one of {LAYER_TYPES}, got {got!r}")
    return spec["type"]


def window(spec: dict) -> tuple[int, int, int]:
    """(kernel_size, stride, padding) of a conv or pool layer, with torch's defaults; (1, 1, 0) otherwise."""
    if spec["type"] == "conv":
        k = _int(spec, "kernel_size")
        return k, _int(spec, "stride", 1), _int(spec, "padding", 0, minimum=0)
    if spec["type"] == "pool":
        k = _int(spec, "kernel_size")
        return k, _int(spec, "stride", k), _int(spec, "padding", 0, minimum=0)
    return 1, 1, 0


def layer_table(layers, input_shape):
    """Output shape and parameter count of every layer of a stack.

    layers: list of layer dicts (module docstring); input_shape: (C, H, W) of one example, no batch axis
    Returns a list with one (output_shape, parameters) pair per layer; output_shape is a tuple of ints,
    (C, H, W) before flatten and (features,) after. Raises ValueError when a window does not fit its padded
    input or a linear layer meets an unflattened input.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got {input_shape!r}")
    table = []
    for index, spec in enumerate(layers):
        kind = _check_spec(spec, index)
        params = 0
        if kind in ("conv", "pool"):
            if len(shape) != 3:
                raise ValueError(f"layer {index} ({kind}) needs a (C, H, W) input, got {shape} (after a flatten?)")
            k, s, p = window(spec)
            c, h, w = shape
            if h + 2 * p < k or w + 2 * p < k:
                raise ValueError(f"layer {index} ({kind}): a {k}x{k} window does not fit in {h}x{w} padded by {p}")
            out_hw = ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            if kind == "conv":
                out_c = _int(spec, "out_channels")
                params = out_c * c * k * k + (out_c if spec.get("bias", True) else 0)
                shape = (out_c, *out_hw)
            else:
                shape = (c, *out_hw)
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "linear":
            if len(shape) != 1:
                raise ValueError(f"layer {index} (linear) needs a flat input, got shape {shape}: flatten first")
            out_f = _int(spec, "out_features")
            params = out_f * shape[0] + (out_f if spec.get("bias", True) else 0)
            shape = (out_f,)
        table.append((shape, params))
    return table


def receptive_fields(layers):
    """Receptive-field size and jump (distance in input pixels between neighbouring units) after each layer.

    layers: conv, pool and relu dicts. Starting from one pixel (size 1, jump 1), a layer with kernel k and
    stride s gives size_out = size_in + (k - 1) * jump_in and jump_out = jump_in * s (padding moves the
    field, it does not change its size). Returns (sizes, jumps), two lists with one int per layer.
    """
    size, jump, sizes, jumps = 1, 1, [], []
    for index, spec in enumerate(layers):
        kind = _check_spec(spec, index)
        if kind in ("flatten", "linear"):
            raise ValueError(f"layer {index} ({kind}): receptive fields are defined for conv, pool and relu layers")
        k, s, _ = window(spec)
        size, jump = size + (k - 1) * jump, jump * s
        sizes.append(size)
        jumps.append(jump)
    return sizes, jumps


def flatten(x):
    """(N, C, H, W) -> (N, C*H*W), entries in C order (channel, then row, then column), as torch.flatten(x, 1)."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
    return x.reshape(len(x), -1)


def flatten_backward(dout, x_shape):
    """Gradient of flatten: dout (N, C*H*W) back to x's shape (N, C, H, W), in the same C order."""
    dout, x_shape = np.asarray(dout), tuple(int(s) for s in x_shape)
    if dout.shape != (x_shape[0], int(np.prod(x_shape[1:]))):
        raise ValueError(
            f"dout must have shape (N, C*H*W) = {(x_shape[0], int(np.prod(x_shape[1:])))}, got {dout.shape}"
        )
    return dout.reshape(x_shape)


# The lab's small CNN: conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> flatten -> linear.
CNN_PARAMS = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")


def _check_params(params):
    missing = [k for k in CNN_PARAMS if k not in params]
    if missing:
        raise ValueError(f"params must hold {CNN_PARAMS}; missing {missing}")


def cnn_forward(x, params):
    """Scores of the small CNN, and the cache its backward pass needs.

    x: (N, C, H, W) with even H and W; params: conv.weight (C1, C, 3, 3), conv.bias (C1,),
    fc.weight (K, C1 * H/2 * W/2), fc.bias (K,)
    Returns (scores (N, K), cache) with cache = (x, conv_out, relu_out, pool_out).
    """
    _check_params(params)
    conv_out = F.conv2d(x, params["conv.weight"], params["conv.bias"], padding=1)
    relu_out = F.relu(conv_out)
    pool_out = F.max_pool2d(relu_out, 2)
    scores = F.linear(flatten(pool_out), params["fc.weight"], params["fc.bias"])
    return scores, (x, conv_out, relu_out, pool_out)


def cnn_backward(dscores, cache, params):
    """Gradients of the small CNN's parameters from dscores (N, K): a dict with the keys of params."""
    _check_params(params)
    x, conv_out, relu_out, pool_out = cache
    dflat, dfc_w, dfc_b = F.linear_backward(dscores, flatten(pool_out), params["fc.weight"], params["fc.bias"])
    dpool = flatten_backward(dflat, pool_out.shape)
    drelu = F.max_pool2d_backward(dpool, relu_out, 2)
    dconv = F.relu_backward(drelu, conv_out)
    _, dconv_w, dconv_b = F.conv2d_backward(dconv, x, params["conv.weight"], params["conv.bias"], padding=1)
    return {"conv.weight": dconv_w, "conv.bias": dconv_b, "fc.weight": dfc_w, "fc.bias": dfc_b}


def train_step(params, x, y, lr):
    """One step of gradient descent on the mean cross-entropy of a batch; updates params in place.

    Returns the loss before the update (a float). The gradient of the mean loss with respect to the scores is
    (softmax(scores) - one_hot(y)) / N.
    """
    scores, cache = cnn_forward(x, params)
    loss = float(F.cross_entropy(scores, y))
    dscores = F.softmax(scores)
    dscores[np.arange(len(y)), y] -= 1
    grads = cnn_backward(dscores / len(y), cache, params)
    for key, grad in grads.items():
        params[key] -= lr * grad
    return loss
