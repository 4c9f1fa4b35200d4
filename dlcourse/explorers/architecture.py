"""Lab 08's architecture explorer: what each layer of AlexNet, VGG16, GoogLeNet, ResNet-18 or a network you
type costs in parameters, multiply-adds and activation memory, for a batch size and a number format."""

from __future__ import annotations

import functools

import numpy as np

from ..reference.architectures import layer_costs
from .atomic import all_or_nothing
from .figures import new_figure
from .receptive_field import parse_stack

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
SMALL_DEFAULT = "conv3 c16 p1, relu, pool2, conv3 c32 p1, relu, pool2, flatten, fc10"
NETWORKS = ("AlexNet", "VGG16", "GoogLeNet", "ResNet-18", "small (type its layers)")


@functools.cache
def named_network_rows(name: str) -> tuple[tuple, tuple]:
    """(layer, output shape, parameters, multiply-adds, stored values) per leaf layer, per example, and the
    input's size: counted by running the model on PyTorch's meta device (no weights are allocated)."""
    import torch

    from .. import architectures as A

    builders = {
        "AlexNet": (A.alexnet, (1, 3, 227, 227)),
        "VGG16": (A.vgg16, (1, 3, 224, 224)),
        "GoogLeNet": (A.googlenet, (1, 3, 224, 224)),
        "ResNet-18": (A.resnet18, (1, 3, 224, 224)),
    }
    build, size = builders[name]
    with torch.device("meta"):
        model = build()
        rows = A.profile(model, size)
    return tuple((f"{n} ({kind})", shape[1:], p, m, s) for n, kind, shape, p, m, s in rows), size[1:]


class ArchitectureExplorer:
    """Per-layer costs of one network, and the memory a batch needs for inference and for training.

    Memory model (float weights and activations of one format, ``dtype``):
    - inference keeps the weights and, at any moment, one layer's input and output: weights + batch * the
      largest (input + output) pair of consecutive stored values;
    - training with Adam keeps the weights, their gradients and Adam's two moving averages (4 copies), plus
      every stored activation of the batch (the input included) for the backward pass.
    """

    def __init__(self, network="VGG16", batch_size=32, dtype="float32", layers=SMALL_DEFAULT):
        self.network, self.batch_size, self.dtype, self.layers = "VGG16", 32, "float32", SMALL_DEFAULT
        self.set(network=network, batch_size=batch_size, dtype=dtype, layers=layers)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "network":
                if value not in NETWORKS:
                    raise ValueError(f"network must be one of {NETWORKS}, got {value!r}")
                self.network = value
            elif key == "batch_size":
                if int(value) != value or value < 1:
                    raise ValueError(f"batch_size must be a positive int, got {value!r}")
                self.batch_size = int(value)
            elif key == "dtype":
                if value not in BYTES:
                    raise ValueError(f"dtype must be one of {tuple(BYTES)}, got {value!r}")
                self.dtype = value
            elif key == "layers":
                layer_costs(parse_stack(value), (1, 28, 28))  # raises if the network cannot be built
                self.layers = value
            else:
                raise ValueError(f"unknown parameter {key!r}")
        return self

    def rows(self) -> tuple[tuple, tuple]:
        """((name, output shape, parameters, macs, stored values) per layer, input shape)."""
        if self.network in NETWORKS[:4]:
            return named_network_rows(self.network)
        specs = parse_stack(self.layers)
        rows = layer_costs(specs, (1, 28, 28))
        names = [f"{i}: {s['type']}" for i, s in enumerate(specs)]
        return tuple((n, *r) for n, r in zip(names, rows)), (1, 28, 28)

    def totals(self) -> dict:
        rows, input_shape = self.rows()
        size, batch = BYTES[self.dtype], self.batch_size
        params = sum(r[2] for r in rows)
        stored = [int(np.prod(input_shape))] + [r[4] for r in rows if r[4]]
        peak_pair = max(a + b for a, b in zip(stored, stored[1:])) if len(stored) > 1 else stored[0]
        return {
            "parameters": params,
            "multiply-adds per example": sum(r[3] for r in rows),
            "stored values per example": sum(stored),
            "inference memory (bytes)": size * (params + batch * peak_pair),
            "training memory (bytes)": size * (4 * params + batch * sum(stored)),
        }

    def figure(self):
        rows, _ = self.rows()
        shown = [r for r in rows if r[2] or r[3] or r[4]]
        names = [r[0] for r in shown]
        fig = new_figure((13, 0.22 * len(shown) + 2.2))
        axes = fig.subplots(1, 3, sharey=True)
        y = np.arange(len(shown))
        mb = BYTES[self.dtype] * self.batch_size / 2**20
        panels = [
            ([r[2] / 1e6 for r in shown], "parameters (millions)", "tab:blue"),
            ([r[3] / 1e6 for r in shown], "multiply-adds per example (millions)", "tab:orange"),
            ([r[4] * mb for r in shown], f"activations, batch {self.batch_size}, {self.dtype} (MiB)", "tab:green"),
        ]
        for ax, (values, title, color) in zip(axes, panels):
            ax.barh(y, values, color=color)
            ax.set_title(title, fontsize=11)
            ax.grid(axis="x", alpha=0.3)
        axes[0].set_yticks(y, names, fontsize=7 if len(shown) > 30 else 9)
        axes[0].invert_yaxis()
        t = self.totals()
        giga_macs = t["multiply-adds per example"] / 1e9
        inference_mib, training_mib = t["inference memory (bytes)"] / 2**20, t["training memory (bytes)"] / 2**20
        fig.suptitle(
            f"{self.network}: {t['parameters']:,} parameters, {giga_macs:.2f} G multiply-adds per example; memory "
            f"for a batch of {self.batch_size} in {self.dtype}: inference {inference_mib:,.0f} MiB, training with "
            f"Adam {training_mib:,.0f} MiB",
            fontsize=11,
        )
        return fig
