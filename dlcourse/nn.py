"""NumPy layers built on ``dlcourse.functional``: enough to train LeNet-5 and a small ResNet without torch.

Each layer has ``forward(x)`` (also ``layer(x)``), which remembers what its backward pass needs, and
``backward(dout)``, which returns the gradient with respect to its input and *adds* the gradients of its
parameters to ``param.grad`` (as torch accumulates into ``.grad``; call ``zero_grad()`` between steps).
Names and constructor arguments follow ``torch.nn``.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .validation import generator, pair, probability


class Parameter:
    """An array that learns, with the gradient accumulated by backward passes."""

    def __init__(self, data: np.ndarray, name: str = ""):
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)
        self.name = name

    def __repr__(self):
        return f"Parameter({self.name or '?'}, shape={self.data.shape})"


_rng = generator


def _kaiming(shape, fan_in, rng, dtype):
    # He et al. (2015): variance 2 / fan_in keeps activations from shrinking through ReLU layers.
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Module:
    training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover
        raise NotImplementedError

    def children(self) -> list[Module]:
        return []

    def parameters(self) -> list[Parameter]:
        own = [v for v in vars(self).values() if isinstance(v, Parameter)]
        return own + [p for child in self.children() for p in child.parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad.fill(0)

    def train(self, mode: bool = True):
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def _need_forward(self):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache


class Linear(Module):
    """y = x W^T + b. weight: (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        rng = _rng(rng)
        self.weight = Parameter(_kaiming((out_features, in_features), in_features, rng, dtype), "weight")
        self.bias = Parameter(np.zeros(out_features, dtype), "bias") if bias else None
        self._cache = None

    def forward(self, x):
        self._cache = x
        return F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, dout):
        x = self._need_forward()
        dx, dw, db = F.linear_backward(dout, x, self.weight.data, None if self.bias is None else self.bias.data)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def __repr__(self):
        return f"Linear({self.weight.data.shape[1]}, {self.weight.data.shape[0]})"


class Conv2d(Module):
    """2-D convolution over NCHW input. weight: (out_channels, in_channels, kH, kW)."""

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=None, dtype=np.float32
    ):
        rng = _rng(rng)
        kh, kw = pair(kernel_size, "kernel_size", 1)
        self.stride, self.padding = pair(stride, "stride", 1), pair(padding, "padding", 0)
        fan_in = in_channels * kh * kw
        self.weight = Parameter(_kaiming((out_channels, in_channels, kh, kw), fan_in, rng, dtype), "weight")
        self.bias = Parameter(np.zeros(out_channels, dtype), "bias") if bias else None
        self._cache = None

    def forward(self, x):
        self._cache = x
        b = None if self.bias is None else self.bias.data
        return F.conv2d(x, self.weight.data, b, self.stride, self.padding)

    def backward(self, dout):
        x = self._need_forward()
        b = None if self.bias is None else self.bias.data
        dx, dw, db = F.conv2d_backward(dout, x, self.weight.data, b, self.stride, self.padding)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def __repr__(self):
        o, i, kh, kw = self.weight.data.shape
        return f"Conv2d({i}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding})"


class _Elementwise(Module):
    forward_fn = backward_fn = None

    def __init__(self):
        self._cache = None

    def forward(self, x):
        self._cache = x
        return type(self).forward_fn(x)

    def backward(self, dout):
        return type(self).backward_fn(dout, self._need_forward())

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(_Elementwise):
    forward_fn, backward_fn = F.relu, F.relu_backward


class Sigmoid(_Elementwise):
    forward_fn, backward_fn = F.sigmoid, F.sigmoid_backward


class Tanh(_Elementwise):
    forward_fn, backward_fn = F.tanh, F.tanh_backward


class _Pool(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self._cache = None

    def forward(self, x):
        self._cache = x
        return self.pool(x, self.kernel_size, self.stride, self.padding)

    def backward(self, dout):
        return self.pool_backward(dout, self._need_forward(), self.kernel_size, self.stride, self.padding)

    def __repr__(self):
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size})"


class MaxPool2d(_Pool):
    pool, pool_backward = staticmethod(F.max_pool2d), staticmethod(F.max_pool2d_backward)


class AvgPool2d(_Pool):
    pool, pool_backward = staticmethod(F.avg_pool2d), staticmethod(F.avg_pool2d_backward)


class BatchNorm2d(Module):
    """Batch normalisation over the channels of (N, C, H, W) (or (N, C)) input, with running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        self.weight = Parameter(np.ones(num_features, dtype), "weight")
        self.bias = Parameter(np.zeros(num_features, dtype), "bias")
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)
        self.eps, self.momentum = eps, momentum
        self._cache = None

    def forward(self, x):
        self._cache = (x, self.training)
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight.data,
            self.bias.data,
            self.training,
            self.momentum,
            self.eps,
        )

    def backward(self, dout):
        x, training = self._need_forward()
        dx, dw, db = F.batch_norm_backward(
            dout, x, self.running_mean, self.running_var, self.weight.data, self.bias.data, training, self.eps
        )
        self.weight.grad += dw
        self.bias.grad += db
        return dx

    def __repr__(self):
        return f"BatchNorm2d({self.weight.data.shape[0]})"


BatchNorm1d = BatchNorm2d  # the functional op handles (N, C) as well


class Dropout(Module):
    """Inverted dropout with its own random generator; identity in eval mode."""

    def __init__(self, p=0.5, rng=None):
        self.p = probability(p, "p")
        self.rng = _rng(rng)
        self._cache = None

    def forward(self, x):
        if not self.training or self.p == 0:
            self._cache = None
            return x
        self._cache = F.dropout_mask(np.shape(x), self.p, self.rng)
        return F.dropout(x, self.p, True, mask=self._cache)

    def backward(self, dout):
        if self._cache is None:
            return dout
        return F.dropout_backward(dout, self._cache, self.p)

    def __repr__(self):
        return f"Dropout(p={self.p})"


class Flatten(Module):
    """(N, ...) -> (N, prod(...))."""

    def __init__(self):
        self._cache = None

    def forward(self, x):
        self._cache = np.shape(x)
        return np.reshape(x, (self._cache[0], -1))

    def backward(self, dout):
        return np.reshape(dout, self._need_forward())

    def __repr__(self):
        return "Flatten()"


class Sequential(Module):
    def __init__(self, *layers):
        self.layers = list(layers)

    def children(self):
        return self.layers

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


class ResidualBlock(Module):
    """He et al. (2016) basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).

    The shortcut is the identity when shapes agree, else a 1x1 convolution with the block's stride and a
    batch norm (the projection shortcut).
    """

    def __init__(self, in_channels, out_channels, stride=1, rng=None, dtype=np.float32):
        rng = _rng(rng)
        self.branch = Sequential(
            Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, rng=rng, dtype=dtype),
            BatchNorm2d(out_channels, dtype=dtype),
            ReLU(),
            Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, rng=rng, dtype=dtype),
            BatchNorm2d(out_channels, dtype=dtype),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, 0, bias=False, rng=rng, dtype=dtype),
                BatchNorm2d(out_channels, dtype=dtype),
            )
        else:
            self.shortcut = Sequential()
        self.out_relu = ReLU()

    def children(self):
        return [self.branch, self.shortcut, self.out_relu]

    def forward(self, x):
        return self.out_relu(self.branch(x) + self.shortcut(x))

    def backward(self, dout):
        dsum = self.out_relu.backward(dout)
        return self.branch.backward(dsum) + self.shortcut.backward(dsum)

    def __repr__(self):
        first = self.branch[0]
        o, i = first.weight.data.shape[:2]
        return f"ResidualBlock({i}, {o}, stride={first.stride[0]})"


class _Loss:
    """A loss that remembers its inputs, so that ``backward()`` returns the gradient for the prediction."""

    forward_fn = backward_fn = None

    def __init__(self):
        self._cache = None

    def __call__(self, pred, target):
        self._cache = (pred, target)
        return float(type(self).forward_fn(pred, target))

    def backward(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss was computed")
        pred, target = self._cache
        return type(self).backward_fn(pred, target).astype(np.asarray(pred).dtype, copy=False)


class CrossEntropyLoss(_Loss):
    """Mean cross-entropy of logits (N, C) against integer targets (N,); backward() -> dlogits."""

    forward_fn, backward_fn = staticmethod(F.cross_entropy), staticmethod(F.cross_entropy_backward)


class MSELoss(_Loss):
    """Mean squared error; backward() -> dpred."""

    forward_fn, backward_fn = staticmethod(F.mse_loss), staticmethod(F.mse_loss_backward)


def lenet5(num_classes=10, in_channels=1, rng=None, dtype=np.float32):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for 1x28x28 input: 61,706 parameters."""
    rng = _rng(rng)
    return Sequential(
        Conv2d(in_channels, 6, 5, padding=2, rng=rng, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Conv2d(6, 16, 5, rng=rng, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(16 * 5 * 5, 120, rng=rng, dtype=dtype),
        ReLU(),
        Linear(120, 84, rng=rng, dtype=dtype),
        ReLU(),
        Linear(84, num_classes, rng=rng, dtype=dtype),
    )


def small_resnet(
    num_classes=10, in_channels=1, widths=(8, 16, 32), blocks_per_stage=1, stem_pool=False, rng=None, dtype=np.float32
):
    """A small ResNet: a 3x3 stem (then 2x2 max pooling if ``stem_pool``, which quarters the cost of every
    later layer), one stage per width (downsampling by 2 after the first), global average pooling and a linear
    classifier."""
    rng = _rng(rng)
    layers = [
        Conv2d(in_channels, widths[0], 3, 1, 1, bias=False, rng=rng, dtype=dtype),
        BatchNorm2d(widths[0], dtype=dtype),
        ReLU(),
    ]
    if stem_pool:
        layers.append(MaxPool2d(2))
    channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(ResidualBlock(channels, width, stride, rng=rng, dtype=dtype))
            channels = width
    layers += [GlobalAvgPool2d(), Linear(channels, num_classes, rng=rng, dtype=dtype)]
    return Sequential(*layers)


class GlobalAvgPool2d(Module):
    """(N, C, H, W) -> (N, C): the mean of each feature map."""

    def __init__(self):
        self._cache = None

    def forward(self, x):
        self._cache = np.shape(x)
        return np.mean(x, axis=(2, 3))

    def backward(self, dout):
        n, c, h, w = self._need_forward()
        return np.broadcast_to(np.asarray(dout)[:, :, None, None] / (h * w), (n, c, h, w)).copy()

    def __repr__(self):
        return "GlobalAvgPool2d()"
