"""Test cases for lab 07: a CNN's layer table and receptive fields, flatten, a small CNN's forward and backward
passes, one training step, and LeNet-5 in PyTorch. Each exercise's known mistakes sit beside it."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...models import LeNet5
from ...reference import cnn
from ..mistakes import Mistake
from .base import TORCH_MODULE, Case, Exercise, behaviour_case

EXERCISES: list[Exercise] = []  # this module's exercises, in the order the lab meets them

# --- the layer table ------------------------------------------------------------------------------------------

SMALL_STACK = [
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "relu"},
    {"type": "pool", "kernel_size": 3, "stride": 2},
    {"type": "flatten"},
    {"type": "linear", "out_features": 5, "bias": False},
]


def _random_stack(rng, size, flat_end=True):
    """Conv/pool/relu layers that fit an input of ``size`` (H, W), then (optionally) flatten and linear layers."""
    layers, (h, w) = [], size
    for _ in range(int(rng.integers(2, 5))):
        kind = "conv" if rng.random() < 0.6 else "pool"
        k = int(rng.integers(1, min(h, w, 7) + 1))
        spec = {"type": kind, "kernel_size": k}
        if kind == "conv":
            spec["out_channels"] = int(rng.integers(1, 33))
            spec["stride"], spec["padding"] = int(rng.integers(1, 3)), int(rng.integers(0, (k + 1) // 2 + 1))
            if rng.random() < 0.3:
                spec["bias"] = False
        elif rng.random() < 0.5:
            spec["stride"] = int(rng.integers(1, k + 1))
        kk, s, p = cnn.window(spec)
        if h + 2 * p < kk or w + 2 * p < kk:
            continue
        layers.append(spec)
        h, w = (h + 2 * p - kk) // s + 1, (w + 2 * p - kk) // s + 1
        if rng.random() < 0.5:
            layers.append({"type": "relu"})
    if flat_end:
        layers.append({"type": "flatten"})
        for _ in range(int(rng.integers(1, 3))):
            layers.append({"type": "linear", "out_features": int(rng.integers(1, 65))})
            if rng.random() < 0.3:
                layers[-1]["bias"] = False
    return layers


def _table_cases(rng, hidden):
    cases = [
        Case({"layers": cnn.LENET5, "input_shape": (1, 28, 28)}, "LeNet-5 on a 1x28x28 digit"),
        Case({"layers": SMALL_STACK, "input_shape": (3, 32, 24)}, "stride 2 with padding, pool 3 stride 2, no bias"),
        Case(
            {
                "layers": [
                    {"type": "conv", "out_channels": 4, "kernel_size": 3},
                    {"type": "linear", "out_features": 2},
                ],
                "input_shape": (1, 8, 8),
            },
            "a linear layer on an unflattened input: raise ValueError",
        ),
    ]
    if hidden:  # drawn fresh each time, so that no table of answers can pass
        for _ in range(4):
            size = (int(rng.integers(8, 41)), int(rng.integers(8, 41)))
            cases.append(Case({"layers": _random_stack(rng, size), "input_shape": (int(rng.integers(1, 5)), *size)}))
        k = int(rng.integers(6, 10))
        cases.append(
            Case(
                {"layers": [{"type": "conv", "out_channels": 2, "kernel_size": k}], "input_shape": (1, k - 1, k + 3)},
                "a kernel larger than the input: raise ValueError",
            )
        )
    return cases


def _table_with(layers, input_shape, *, bias=True, padding=True, pool_stride=True, in_channels=True):
    """The layer table, with one of the usual slips switched on."""
    shape, table = tuple(input_shape), []
    for spec in layers:
        spec = dict(spec)
        if not padding:
            spec["padding"] = 0
        if not pool_stride and spec["type"] == "pool":
            spec.setdefault("stride", 1)
        if not bias:
            spec["bias"] = False
        ((shape, params),) = cnn.layer_table([spec], shape) if len(shape) == 3 else _flat_row(spec, shape)
        if not in_channels and spec["type"] == "conv":
            k, c_out = spec["kernel_size"], spec["out_channels"]
            params = c_out * k * k + (c_out if spec.get("bias", True) else 0)
        table.append((shape, params))
    return table


def _flat_row(spec, shape):
    if spec["type"] in ("conv", "pool"):
        raise ValueError("a conv or pool layer after flatten")
    if spec["type"] == "linear":
        out = spec["out_features"]
        return [((out,), out * shape[0] + (out if spec.get("bias", True) else 0))]
    return [(shape, 0)]


EXERCISES.append(
    Exercise(
        "layer_table",
        cnn.layer_table,
        _table_cases,
        runner="layer_table",
        mistakes=[
            Mistake(
                "no_bias",
                "each conv and linear layer also learns one bias per output (unless bias is False)",
                lambda layers, input_shape: _table_with(layers, input_shape, bias=False),
            ),
            Mistake(
                "padding_ignored",
                "padding adds P rows and columns on each side: H_out = (H + 2P - K) // S + 1",
                lambda layers, input_shape: _table_with(layers, input_shape, padding=False),
            ),
            Mistake(
                "pool_stride_one",
                "a pool layer without a stride moves by its kernel size (torch's default), not by 1",
                lambda layers, input_shape: _table_with(layers, input_shape, pool_stride=False),
            ),
            Mistake(
                "no_in_channels",
                "every filter spans all input channels: a conv layer has C_out * C_in * K * K weights",
                lambda layers, input_shape: _table_with(layers, input_shape, in_channels=False),
            ),
        ],
    )
)

# --- receptive fields ------------------------------------------------------------------------------------------

THREE_3X3 = [{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"}] * 3
STRIDED = [
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": 2},
    {"type": "pool", "kernel_size": 2},
    {"type": "conv", "out_channels": 8, "kernel_size": 3},
    {"type": "pool", "kernel_size": 3, "stride": 1},
]


def _field_cases(rng, hidden):
    cases = [
        Case({"layers": cnn.LENET5[:6]}, "LeNet-5's convolutional layers"),
        Case({"layers": THREE_3X3}, "three 3x3 convolutions"),
        Case({"layers": STRIDED}, "stride 2, then pooling, then stride 1"),
    ]
    if hidden:
        for _ in range(3):
            cases.append(Case({"layers": _random_stack(rng, (200, 200), flat_end=False)}))
        cases.append(Case({"layers": [*THREE_3X3, {"type": "flatten"}]}, "a flatten layer: raise ValueError"))
    return cases


def _fields_with(layers, *, jump=True, product=True, update_first=False, pool_stride=True):
    size, step, sizes, steps = 1, 1, [], []
    for spec in layers:
        if spec["type"] in ("flatten", "linear"):
            raise ValueError("receptive fields are for conv, pool and relu layers")
        spec = dict(spec)
        if not pool_stride and spec["type"] == "pool":
            spec.setdefault("stride", 1)
        k, s, _ = cnn.window(spec)
        new_step = step * s if product else s
        size += (k - 1) * ((new_step if update_first else step) if jump else 1)
        step = new_step
        sizes.append(size)
        steps.append(step)
    return sizes, steps


EXERCISES.append(
    Exercise(
        "receptive_fields",
        cnn.receptive_fields,
        _field_cases,
        runner="receptive_fields",
        mistakes=[
            Mistake(
                "no_jump",
                "a layer's kernel spans K units of its input, and those units are `jump` input pixels apart: "
                "size grows by (K - 1) * jump of the layer below",
                lambda layers: _fields_with(layers, jump=False),
            ),
            Mistake(
                "jump_not_a_product",
                "strides compound: the jump after a layer is the jump before it times the layer's stride",
                lambda layers: _fields_with(layers, product=False),
            ),
            Mistake(
                "jump_updated_first",
                "grow the size with the jump of the layer's input, before multiplying in the layer's own stride",
                lambda layers: _fields_with(layers, update_first=True),
            ),
            Mistake(
                "pool_stride_one",
                "a pool layer without a stride moves by its kernel size (torch's default), not by 1",
                lambda layers: _fields_with(layers, pool_stride=False),
            ),
        ],
    )
)

# --- flatten -----------------------------------------------------------------------------------------------------


def _flatten_cases(rng, hidden):
    shapes = [(2, 3, 4, 5), (1, 16, 5, 5), (3, 2, 1, 6)] + ([(4, 7, 3, 2), (2, 5, 6)] if hidden else [])
    return [Case({"x": rng.standard_normal(s)}, f"x of shape {s}") for s in shapes]


def _unflatten_cases(rng, hidden):
    shapes = [(2, 3, 4, 5), (1, 16, 5, 5)] + ([(4, 7, 3, 2), (3, 2, 6, 1)] if hidden else [])
    return [
        Case({"dout": rng.standard_normal((s[0], int(np.prod(s[1:])))), "x_shape": s}, f"x_shape {s}") for s in shapes
    ]


def _flatten_channels_last(x):
    return np.moveaxis(np.asarray(x), 1, -1).reshape(len(x), -1)


def _flatten_all(x):
    return np.asarray(x).reshape(-1)


def _unflatten_channels_last(dout, x_shape):
    n, c, *rest = x_shape
    return np.moveaxis(np.asarray(dout).reshape(n, *rest, c), -1, 1)


def _unflatten_fortran(dout, x_shape):
    return np.asarray(dout).reshape(x_shape, order="F")


ORDER_HINT = (
    "flatten in C order, channel by channel (torch.flatten(x, 1), x.reshape(len(x), -1)); the linear layer's "
    "weights are laid out in that order"
)
EXERCISES.append(
    Exercise(
        "flatten",
        cnn.flatten,
        _flatten_cases,
        mistakes=[
            Mistake("channels_last", ORDER_HINT, _flatten_channels_last),
            Mistake(
                "batch_flattened", "keep the batch axis: the output is (N, C*H*W), one row per example", _flatten_all
            ),
        ],
    )
)
EXERCISES.append(
    Exercise(
        "flatten_backward",
        cnn.flatten_backward,
        _unflatten_cases,
        mistakes=[
            Mistake(
                "channels_last",
                "undo exactly what the forward pass did: reshape dout to x_shape in the same (C) order",
                _unflatten_channels_last,
            ),
            Mistake(
                "fortran_order",
                "reshape in NumPy's default C order, the order the forward pass used; order='F' scrambles entries",
                _unflatten_fortran,
            ),
        ],
    )
)

# --- the small CNN's forward and backward passes ------------------------------------------------------------------

CNN_GIVEN = ("F.conv2d", "F.relu", "F.max_pool2d", "F.linear")
CNN_BACKWARD_GIVEN = ("F.conv2d_backward", "F.relu_backward", "F.max_pool2d_backward", "F.linear_backward")


def _cnn_params(rng, c, c1, hw, k):
    h, w = hw
    return {
        "conv.weight": rng.standard_normal((c1, c, 3, 3)) * 0.5,
        "conv.bias": rng.standard_normal(c1) * 0.1,
        "fc.weight": rng.standard_normal((k, c1 * (h // 2) * (w // 2))) * 0.2,
        "fc.bias": rng.standard_normal(k) * 0.1,
    }


SETTINGS = [(2, 1, 3, (6, 6), 4), (3, 2, 4, (4, 8), 3)]
HIDDEN_SETTINGS = [(4, 3, 5, (8, 6), 5), (1, 1, 2, (2, 2), 2)]


def _cnn_cases(rng, hidden):
    cases = []
    for n, c, c1, hw, k in SETTINGS + (HIDDEN_SETTINGS if hidden else []):
        cases.append(
            Case(
                {"x": rng.standard_normal((n, c, *hw)), "params": _cnn_params(rng, c, c1, hw, k)},
                f"x {(n, c, *hw)}, {c1} filters, {k} classes",
            )
        )
    return cases


def _cnn_forward_with(x, params, *, padding=1, relu=True, flat=cnn.flatten):
    conv_out = F.conv2d(x, params["conv.weight"], params["conv.bias"], padding=padding)
    relu_out = F.relu(conv_out) if relu else conv_out
    pool_out = F.max_pool2d(relu_out, 2)
    return F.linear(flat(pool_out), params["fc.weight"], params["fc.bias"]), (x, conv_out, relu_out, pool_out)


EXERCISES.append(
    Exercise(
        "cnn_forward",
        cnn.cnn_forward,
        _cnn_cases,
        runner="cnn_forward",
        given=CNN_GIVEN,
        mistakes=[
            Mistake(
                "no_padding",
                "the convolution keeps H and W: pass padding=1 to F.conv2d for a 3x3 kernel",
                lambda x, params: _cnn_forward_with(x, params, padding=0),
            ),
            Mistake(
                "no_relu",
                "apply F.relu to the convolution's output before pooling",
                lambda x, params: _cnn_forward_with(x, params, relu=False),
            ),
            Mistake(
                "channels_last_flatten",
                ORDER_HINT,
                lambda x, params: _cnn_forward_with(x, params, flat=_flatten_channels_last),
            ),
        ],
    )
)


def _backward_cases(rng, hidden):
    cases = []
    for case in _cnn_cases(rng, hidden):
        scores, cache = cnn.cnn_forward(**case.kwargs)
        kwargs = {"dscores": rng.standard_normal(scores.shape), "cache": cache, "params": case.kwargs["params"]}
        cases.append(Case(kwargs, case.label))
    return cases


def _cnn_backward_with(dscores, cache, params, *, pool="max", relu=True, unflatten=cnn.flatten_backward, padding=1):
    x, conv_out, relu_out, pool_out = cache
    dflat, dfc_w, dfc_b = F.linear_backward(dscores, cnn.flatten(pool_out), params["fc.weight"], params["fc.bias"])
    dpool = unflatten(dflat, pool_out.shape)
    if pool == "max":
        drelu = F.max_pool2d_backward(dpool, relu_out, 2)
    else:  # every entry of a window gets the window's gradient, as if pooling were not there
        drelu = np.repeat(np.repeat(dpool, 2, axis=2), 2, axis=3)
    dconv = F.relu_backward(drelu, conv_out) if relu else drelu
    _, dconv_w, dconv_b = F.conv2d_backward(dconv, x, params["conv.weight"], params["conv.bias"], padding=padding)
    return {"conv.weight": dconv_w, "conv.bias": dconv_b, "fc.weight": dfc_w, "fc.bias": dfc_b}


EXERCISES.append(
    Exercise(
        "cnn_backward",
        cnn.cnn_backward,
        _backward_cases,
        runner="cnn_backward",
        given=CNN_BACKWARD_GIVEN,
        mistakes=[
            Mistake(
                "pooling_skipped",
                "the gradient must go back through the max pool: F.max_pool2d_backward sends each entry of dpool "
                "to its window's maximum only",
                lambda dscores, cache, params: _cnn_backward_with(dscores, cache, params, pool="skip"),
            ),
            Mistake(
                "relu_skipped",
                "go back through the ReLU too: F.relu_backward(drelu, conv_out) zeroes the gradient where the "
                "convolution's output was negative",
                lambda dscores, cache, params: _cnn_backward_with(dscores, cache, params, relu=False),
            ),
            Mistake(
                "channels_last_unflatten",
                "undo the flatten in the order the forward pass used: reshape dflat to pool_out's shape (C order)",
                lambda dscores, cache, params: _cnn_backward_with(
                    dscores, cache, params, unflatten=_unflatten_channels_last
                ),
            ),
            Mistake(
                "backward_without_padding",
                "F.conv2d_backward needs the padding the forward pass used (padding=1)",
                lambda dscores, cache, params: _cnn_backward_with(dscores, cache, params, padding=0),
            ),
        ],
    )
)

# --- one training step ---------------------------------------------------------------------------------------------


def _step_cases(rng, hidden):
    cases = []
    for n, c, c1, hw, k in SETTINGS + (HIDDEN_SETTINGS[:1] if hidden else []):
        cases.append(
            Case(
                {
                    "params": _cnn_params(rng, c, c1, hw, k),
                    "x": rng.standard_normal((n, c, *hw)),
                    "y": rng.integers(0, k, n),
                    "lr": float(rng.choice([0.05, 0.1, 0.3])),
                },
                f"a batch of {n}, {k} classes",
            )
        )
    return cases


def _step_with(params, x, y, lr, *, average=True, sign=-1.0, loss_after=False, in_place=True):
    scores, cache = cnn.cnn_forward(x, params)
    loss = float(F.cross_entropy(scores, y))
    dscores = F.softmax(scores)
    dscores[np.arange(len(y)), y] -= 1
    grads = cnn.cnn_backward(dscores / (len(y) if average else 1), cache, params)
    if in_place:
        for key, grad in grads.items():
            params[key] += sign * lr * grad
    else:
        params = {key: params[key] - lr * grad for key, grad in grads.items()}  # a new dict, lost on return
    return float(F.cross_entropy(cnn.cnn_forward(x, params)[0], y)) if loss_after else loss


EXERCISES.append(
    Exercise(
        "train_step",
        cnn.train_step,
        _step_cases,
        runner="train_steps",
        mutates=("params",),
        given=CNN_GIVEN + CNN_BACKWARD_GIVEN + ("F.cross_entropy", "F.softmax"),
        mistakes=[
            Mistake(
                "not_averaged",
                "the loss is the mean over the batch, so its gradient is (softmax - one_hot) / N",
                lambda params, x, y, lr: _step_with(params, x, y, lr, average=False),
            ),
            Mistake(
                "ascent",
                "step against the gradient: params[key] -= lr * grads[key]",
                lambda params, x, y, lr: _step_with(params, x, y, lr, sign=1.0),
            ),
            Mistake(
                "loss_after_update",
                "return the loss of the forward pass you differentiated, before the update",
                lambda params, x, y, lr: _step_with(params, x, y, lr, loss_after=True),
            ),
            Mistake(
                "not_in_place",
                "update the arrays in params in place (params[key] -= ...): a new dict is lost when the "
                "function returns",
                lambda params, x, y, lr: _step_with(params, x, y, lr, in_place=False),
            ),
        ],
    )
)

# --- LeNet-5 in PyTorch ---------------------------------------------------------------------------------------------


def _module_cases(rng, hidden):
    """Structure cases first (shapes and parameter counts, cheap and telling), then each one's behaviour."""
    cases = [Case({"num_classes": 10, "in_channels": 1}, "LeNet5()"), Case({"num_classes": 3, "in_channels": 1})]
    if hidden:
        cases.append(Case({"num_classes": int(rng.integers(2, 30)), "in_channels": int(rng.integers(2, 5))}))
    return cases + [behaviour_case(rng, c) for c in cases]


def _lenet_with(num_classes=10, in_channels=1, *, bias=True, padding=2, pool="max", hidden_relu=True, last=None):
    """LeNet-5 with one thing changed; ``last``: an activation after the scores, or "zeros" for a forward pass
    that returns zeros of the right shape while holding every layer."""
    import torch
    from torch import nn

    side = (28 + 2 * padding - 4) // 2 - 4  # after conv 5, pool 2, conv 5 (then pool 2 halves it)
    pooling = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
    relu = [nn.ReLU()] if hidden_relu else []
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=padding, bias=bias),
        nn.ReLU(),
        pooling(2),
        nn.Conv2d(6, 16, 5, bias=bias),
        nn.ReLU(),
        pooling(2),
        nn.Flatten(),
        nn.Linear(16 * (side // 2) ** 2, 120, bias=bias),
        *relu,
        nn.Linear(120, 84, bias=bias),
        *relu,
        nn.Linear(84, num_classes, bias=bias),
        *([nn.ReLU()] if last == "relu" else []),
    )
    if last != "zeros":
        return layers

    class Hollow(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers

        def forward(self, x):
            return torch.zeros(len(x), num_classes)

    return Hollow()


def _lenet_mistake(name, hint, **changes):
    return Mistake(name, hint, lambda num_classes=10, in_channels=1: _lenet_with(num_classes, in_channels, **changes))


EXERCISES.append(
    Exercise(
        "LeNet5",
        LeNet5,
        _module_cases,
        **TORCH_MODULE,
        mistakes=[
            _lenet_mistake(
                "no_bias",
                "keep the biases: nn.Conv2d and nn.Linear learn one per output channel or feature by default",
                bias=False,
            ),
            _lenet_mistake(
                "no_padding",
                "the first convolution pads by 2, so that 28x28 stays 28x28 and the flattened size is 16*5*5",
                padding=0,
            ),
            _lenet_mistake(
                "forward_returns_zeros",
                "forward must apply your layers to x and return the last linear layer's output: yours returns "
                "the same zeros whatever the input and the weights",
                last="zeros",
            ),
            _lenet_mistake(
                "average_pooling",
                "pool with nn.MaxPool2d(2), the largest value of each 2x2 window, not its average",
                pool="avg",
            ),
            _lenet_mistake(
                "no_relu_between_linear_layers",
                "a ReLU follows each of the first two linear layers (120 and 84 features); without it the three "
                "linear layers collapse into one linear map",
                hidden_relu=False,
            ),
            _lenet_mistake(
                "relu_on_scores",
                "the last linear layer's output are the class scores: no ReLU after it (it clips every negative "
                "score to 0)",
                last="relu",
            ),
        ],
    )
)
