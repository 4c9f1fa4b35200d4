"""What a trained CNN learned (lab 07): first-layer filters, feature maps of one image, confusion matrix, the
most confident mistakes, and a 2-D map of learned features. Plots return figures; the viewer is plain state."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..validation import as_float_array
from .atomic import all_or_nothing
from .figures import CLASS_COLORS, new_figure


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """counts[i, j]: examples of class i predicted as class j, (num_classes, num_classes) ints."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def confident_mistakes(probs, y_true, k: int = 12) -> np.ndarray:
    """Indices of the k wrongly classified examples with the highest predicted probability, most confident first."""
    probs, y_true = as_float_array(probs, "probs"), np.asarray(y_true)
    if probs.ndim != 2 or len(probs) != len(y_true):
        raise ValueError(f"probs must be (N, classes) with N = len(y_true) = {len(y_true)}, got {probs.shape}")
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    return wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:k]


def plot_filters(weight, title="first-layer filters"):
    """Each filter of a conv weight (C_out, C_in, k, k), channel 0, on a colour scale centred at zero."""
    weight = as_float_array(weight, "weight")
    if weight.ndim != 4:
        raise ValueError(f"weight must be (C_out, C_in, kH, kW), got shape {weight.shape}")
    n = len(weight)
    fig = new_figure((1.6 * n + 0.8, 2.2))
    axes = np.atleast_1d(fig.subplots(1, n))
    limit = np.abs(weight[:, 0]).max() or 1.0
    for i, ax in enumerate(axes):
        im = ax.imshow(weight[i, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {i}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="weight")
    fig.suptitle(title, fontsize=12)
    return fig


def plot_confusion(counts, title="confusion matrix (test digits)"):
    counts = np.asarray(counts)
    fig = new_figure((5.2, 4.6))
    ax = fig.add_subplot()
    im = ax.imshow(counts, cmap="Blues")
    threshold = counts.max() / 2
    for (i, j), c in np.ndenumerate(counts):
        if c:
            ax.text(j, i, str(c), ha="center", va="center", fontsize=9, color="white" if c > threshold else "black")
    ticks = np.arange(len(counts))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted class", fontsize=11)
    ax.set_ylabel("true class", fontsize=11)
    ax.set_title(title, fontsize=12)
    fig.colorbar(im, ax=ax, label="examples")
    return fig


def plot_mistakes(images, y_true, probs, indices, title="the most confident mistakes"):
    """The images at ``indices`` with their true label, the prediction and its probability."""
    images = np.asarray(images)
    fig = new_figure((1.5 * max(len(indices), 1) + 0.5, 2.2))
    axes = np.atleast_1d(fig.subplots(1, max(len(indices), 1)))
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, indices):
        pred = int(np.argmax(probs[i]))
        ax.imshow(images[i].squeeze(), cmap="gray_r")
        ax.set_title(f"true {y_true[i]}\nsaid {pred} ({probs[i, pred]:.0%})", fontsize=10)
    fig.suptitle(title, fontsize=12)
    return fig


def plot_embedding(points, labels, title="penultimate features, t-SNE"):
    """A 2-D map of examples, one colour per class, with each class's label at its median position."""
    points, labels = as_float_array(points, "points"), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points must be (N, 2) with N = len(labels), got {points.shape}")
    fig = new_figure((6, 5.5))
    ax = fig.add_subplot()
    colors = list(CLASS_COLORS) + ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    for c in np.unique(labels):
        inside = labels == c
        color = colors[int(c) % len(colors)]
        ax.scatter(*points[inside].T, s=6, color=color, alpha=0.7)
        ax.text(*np.median(points[inside], axis=0), str(c), fontsize=14, weight="bold", color=color)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=12)
    return fig


def _layer_name(index, layer) -> str:
    return f"{index}: {type(layer).__name__}"


class FeatureMapViewer:
    """Every 4-D activation of a NumPy network (dlcourse.nn.Sequential) for one image, and its prediction.

    images: (N, C, H, W); labels: (N,); index: the image shown
    """

    def __init__(self, model, images, labels, index=0):
        self.model, self.images, self.labels = model, np.asarray(images), np.asarray(labels)
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise ValueError(f"images must be (N, C, H, W) with N = len(labels), got {self.images.shape}")
        self.index = 0
        self.set(index=index)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key != "index":
                raise ValueError(f"unknown parameter {key!r}")
            if int(value) != value or not 0 <= value < len(self.images):
                raise ValueError(f"index must be an int in 0..{len(self.images) - 1}, got {value!r}")
            self.index = int(value)
        return self

    def activations(self) -> list[tuple[str, np.ndarray]]:
        """(name, output of shape (C, H, W)) after every layer that keeps a spatial layout, in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            x, out = self.images[self.index : self.index + 1], []
            for i, layer in enumerate(self.model.layers):
                x = layer(x)
                if np.ndim(x) == 4:
                    out.append((_layer_name(i, layer), x[0]))
        finally:
            self.model.train(was_training)
        return out

    def probabilities(self) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            return F.softmax(self.model(self.images[self.index : self.index + 1]))[0]
        finally:
            self.model.train(was_training)

    def figure(self):
        maps = [(name, a) for name, a in self.activations() if "ReLU" in name or "Pool" in name]
        width = max(len(a) for _, a in maps)
        fig = new_figure((min(1.0 * width, 16) + 1, 1.15 * (len(maps) + 2)))
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.6, len(maps)])
        ax, bars = top.subplots(1, 2, width_ratios=[1, 5])
        ax.imshow(self.images[self.index, 0], cmap="gray_r")
        ax.set_axis_off()
        ax.set_title(f"digit #{self.index} (label {self.labels[self.index]})", fontsize=10)
        probs = self.probabilities()
        colors = ["tab:green" if c == self.labels[self.index] else "tab:gray" for c in range(len(probs))]
        bars.bar(np.arange(len(probs)), probs, color=colors)
        bars.set_xticks(np.arange(len(probs)))
        bars.set_ylim(0, 1)
        bars.set_ylabel("probability", fontsize=10)
        bars.set_title(f"predicted {int(np.argmax(probs))} (green: the true class)", fontsize=10)
        grid = np.atleast_2d(bottom.subplots(len(maps), width))
        for row, (name, acts) in enumerate(maps):
            for ch, ax in enumerate(grid[row]):
                ax.set_axis_off()
                if ch < len(acts):
                    ax.imshow(acts[ch], cmap="viridis")
                if ch == 0:
                    ax.set_title(f"{name} {acts.shape[1]}x{acts.shape[2]}", fontsize=9, loc="left")
        return fig
