"""Lab 07's receptive-field explorer: which input pixels one output unit of a conv/pool stack depends on,
by the recurrence and by sending a gradient back."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.patches import Rectangle

from .. import functional as F
from ..reference import cnn
from .atomic import all_or_nothing
from .figures import new_figure

LENET_FEATURES = "conv5 p2, relu, pool2, conv5, relu, pool2"
_ITEM = re.compile(r"^(conv|pool)(\d+)((?:\s+[spc]\d+)*)$|^(relu|flatten)$|^fc(\d+)$")
_OPTION = {"s": "stride", "p": "padding", "c": "out_channels"}


def parse_stack(text: str) -> list[dict]:
    """Layer dicts from a compact description: "conv5 c6 p2, relu, pool2, conv3 s2, flatten, fc10" (kernel,
    then optional output channels cN (default 1), stride sN and padding pN; a pool's stride defaults to its
    kernel; fcN is a linear layer with N outputs)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"describe the stack as text such as {LENET_FEATURES!r}, got {text!r}")
    layers = []
    for item in (part.strip() for part in text.split(",")):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(
                f"cannot read {item!r}: write convK, poolK or relu, with optional sN (stride), pN (padding)"
            )
        if match.group(4):
            layers.append({"type": match.group(4)})
            continue
        if match.group(5):
            layers.append({"type": "linear", "out_features": int(match.group(5))})
            continue
        spec = {"type": match.group(1), "kernel_size": int(match.group(2))}
        if spec["type"] == "conv":
            spec["out_channels"] = 1
        for option in match.group(3).split():
            if option[0] == "c" and spec["type"] != "conv":
                raise ValueError(f"{item!r}: only a conv layer has output channels (cN)")
            spec[_OPTION[option[0]]] = int(option[1:])
        if min(spec["kernel_size"], spec.get("stride", 1), spec.get("out_channels", 1)) < 1:
            raise ValueError(f"{item!r}: kernel, stride and channels must be at least 1")
        layers.append(spec)
    return layers


def formula_box(layers, row: int, col: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the input region output unit (row, col) sees, unclipped:
    going down through a layer, units a..b come from inputs a*s - p .. b*s - p + k - 1."""
    top, bottom, left, right = row, row, col, col
    for spec in reversed(layers):
        k, s, p = cnn.window(spec)
        top, bottom = top * s - p, bottom * s - p + k - 1
        left, right = left * s - p, right * s - p + k - 1
    return top, bottom, left, right


def gradient_region(layers, input_hw, row: int, col: int) -> np.ndarray:
    """Input pixels that receive a non-zero gradient from output unit (row, col).

    Weights are all ones and max pooling is replaced by average pooling, so that no path is cut: a real
    network's max pool sends the gradient to one pixel of each window, which hides the rest of the region."""
    shapes = [(1, 1, *input_hw)]
    for spec in layers:
        shapes.append((1, 1, *cnn.layer_table([spec], shapes[-1][1:])[0][0][1:]))
    grad = np.zeros(shapes[-1])
    grad[0, 0, row, col] = 1.0
    for spec, shape in zip(reversed(layers), reversed(shapes[:-1])):
        k, s, p = cnn.window(spec)
        if spec["type"] == "conv":
            grad = F.conv2d_backward(grad, np.zeros(shape), np.ones((1, 1, k, k)), None, s, p)[0]
        elif spec["type"] == "pool":
            grad = F.avg_pool2d_backward(grad, np.zeros(shape), k, s, p)
    return grad[0, 0] != 0


class ReceptiveFieldExplorer:
    """One output unit (row, col) of a stack of conv/pool/relu layers over an image; its receptive field.

    stack: a compact description (parse_stack); row, col: the unit, clipped to the output's size
    """

    def __init__(self, image=None, stack=LENET_FEATURES, row=2, col=2):
        self.image = np.zeros((28, 28)) if image is None else np.asarray(image, dtype=float).squeeze()
        if self.image.ndim != 2:
            raise ValueError(f"image must be 2-D (H, W), got shape {self.image.shape}")
        self.stack, self.layers, self.row, self.col = "", [], 0, 0
        self.set(stack=stack, row=row, col=col)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "stack":
                layers = parse_stack(value)
                if any(spec["type"] in ("flatten", "linear") for spec in layers):
                    raise ValueError("receptive fields are for conv, pool and relu layers: leave out flatten and fc")
                cnn.layer_table(layers, (1, *self.image.shape))  # raises when a window does not fit
                self.stack, self.layers = value, layers
            elif key in ("row", "col"):
                if int(value) != value or value < 0:
                    raise ValueError(f"{key} must be a non-negative int, got {value!r}")
                setattr(self, key, int(value))
            else:
                raise ValueError(f"unknown parameter {key!r}")
        h, w = self.output_hw()
        self.row, self.col = min(self.row, h - 1), min(self.col, w - 1)
        return self

    def output_hw(self) -> tuple[int, int]:
        return cnn.layer_table(self.layers, (1, *self.image.shape))[-1][0][1:]

    def sizes_and_jumps(self):
        return cnn.receptive_fields(self.layers)

    def box(self):
        return formula_box(self.layers, self.row, self.col)

    def region(self) -> np.ndarray:
        return gradient_region(self.layers, self.image.shape, self.row, self.col)

    def figure(self):
        fig = new_figure((10, 4.2))
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
        left.imshow(self.image, cmap="gray_r")
        mask = np.ma.masked_where(~self.region(), np.ones(self.image.shape))
        left.imshow(mask, cmap="autumn", alpha=0.45, vmin=0, vmax=1)
        top, bottom, lo, hi = self.box()
        left.add_patch(
            Rectangle((lo - 0.5, top - 0.5), hi - lo + 1, bottom - top + 1, fill=False, edgecolor="tab:blue", lw=2)
        )
        left.set_xlim(-0.5 + min(0, lo), self.image.shape[1] - 0.5 + max(0, hi - self.image.shape[1] + 1))
        left.set_ylim(self.image.shape[0] - 0.5 + max(0, bottom - self.image.shape[0] + 1), -0.5 + min(0, top))
        h, w = self.output_hw()
        left.set_title(
            f"output unit ({self.row}, {self.col}) of {h}x{w}\nblue box: formula; orange: non-zero gradient",
            fontsize=11,
        )
        sizes, jumps = self.sizes_and_jumps()
        names = [f"{i}: {s['type']}{s.get('kernel_size', '')}" for i, s in enumerate(self.layers)]
        y = np.arange(len(names))
        right.barh(y, sizes, color="tab:blue", label="receptive field size")
        right.barh(y, jumps, color="tab:orange", height=0.4, label="jump (input pixels between units)")
        for yi, (size, jump) in enumerate(zip(sizes, jumps)):
            right.text(size, yi, f" {size} (jump {jump})", va="center", fontsize=10)
        right.set_yticks(y, names, fontsize=10)
        right.invert_yaxis()
        right.set_xlabel("input pixels", fontsize=11)
        right.set_xlim(0, max(sizes) * 1.6)
        right.legend(loc="upper right", fontsize=9)
        right.set_title("size_l = size_(l-1) + (k_l - 1) * jump_(l-1);  jump_l = jump_(l-1) * s_l", fontsize=11)
        return fig
