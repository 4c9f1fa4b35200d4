"""Lab 06's pooling explorer: the forward pass and where each output's gradient lands in the input."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .atomic import all_or_nothing
from .figures import TITLE_SIZE, label_cells, new_figure

# A 6x6 input with ties (the two 9s of the top-left window, the 7s and 5s of the last rows).
EXAMPLE_INPUT = np.array(
    [
        [1, 9, 2, 4, 0, 3],
        [9, 3, 5, 1, 8, 2],
        [0, 2, 6, 6, 1, 4],
        [7, 1, 3, 2, 5, 5],
        [4, 7, 0, 1, 5, 2],
        [2, 3, 8, 6, 1, 0],
    ],
    dtype=float,
)


class PoolExplorer:
    """Max or average pooling of one 2-D input, with the gradient routed back from one output (or all).

    selected: row-major index of the output whose gradient (1) is sent back, or None for all outputs
    """

    def __init__(self, x=EXAMPLE_INPUT, kind="max", kernel_size=2, stride=2, selected=None):
        self.x = np.asarray(x, dtype=float)
        if self.x.ndim != 2:
            raise ValueError(f"x must be 2-D (H, W), got shape {self.x.shape}")
        self.kind, self.kernel_size, self.stride, self.selected = "max", 2, 2, None
        self.set(kind=kind, kernel_size=kernel_size, stride=stride, selected=selected)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "kind":
                if value not in ("max", "avg"):
                    raise ValueError(f"kind must be 'max' or 'avg', got {value!r}")
                self.kind = value
            elif key in ("kernel_size", "stride"):
                if int(value) != value or value < 1:
                    raise ValueError(f"{key} must be a positive int, got {value!r}")
                setattr(self, key, int(value))
            elif key == "selected":
                self.selected = None if value is None or value < 0 else int(value)
            else:
                raise ValueError(f"unknown parameter {key!r}")
        return self

    def problem(self) -> str | None:
        if self.kernel_size > min(self.x.shape):
            k, (h, w) = self.kernel_size, self.x.shape
            return f"impossible: a {k}x{k} window does not fit in a {h}x{w} input"
        return None

    def _ops(self):
        return (F.max_pool2d, F.max_pool2d_backward) if self.kind == "max" else (F.avg_pool2d, F.avg_pool2d_backward)

    def output(self):
        if self.problem():
            return None
        return self._ops()[0](self.x[None, None], self.kernel_size, self.stride)[0, 0]

    def upstream(self):
        """The gradient arriving at the output: 1 at the selected output (or everywhere), 0 elsewhere."""
        out = self.output()
        dout = np.zeros_like(out) if self.selected is not None else np.ones_like(out)
        if self.selected is not None:
            dout.flat[min(self.selected, out.size - 1)] = 1.0
        return dout

    def routing(self):
        """The gradient each input entry receives: max pooling routes to the first maximum of each window,
        average pooling spreads 1 / k^2 over the window; overlapping windows add up."""
        if self.problem():
            return None
        return self._ops()[1](self.upstream()[None, None], self.x[None, None], self.kernel_size, self.stride)[0, 0]

    def receivers(self):
        """Input positions that receive a non-zero gradient."""
        r = self.routing()
        return [] if r is None else [tuple(int(i) for i in idx) for idx in np.argwhere(r != 0)]

    def windows(self) -> list[tuple[int, int]]:
        """Top-left input coordinates of every pooling window, in the output's row-major order."""
        out = self.output()
        if out is None:
            return []
        return [(i * self.stride, j * self.stride) for i in range(out.shape[0]) for j in range(out.shape[1])]

    def figure(self):
        fig = new_figure((11, 3.9))
        axes = fig.subplots(1, 3)
        out, grad = self.output(), self.routing()
        panels = [
            (self.x, "input (windows outlined)", "Blues"),
            (out, f"{self.kind} pool {self.kernel_size}x{self.kernel_size}, stride {self.stride}", "Blues"),
            (grad, "gradient reaching the input", "Oranges"),
        ]
        for ax, (arr, title, cmap) in zip(axes, panels):
            ax.set_xticks([])
            ax.set_yticks([])
            if arr is None:
                ax.text(
                    0.5,
                    0.5,
                    self.problem(),
                    ha="center",
                    va="center",
                    wrap=True,
                    fontsize=10,
                    color="tab:red",
                    transform=ax.transAxes,
                )
                continue
            label_cells(ax, ax.imshow(arr, cmap=cmap), arr)
            ax.set_title(title, fontsize=TITLE_SIZE)
        windows = self.windows()
        for index, (r, c) in enumerate(windows):
            chosen = self.selected is not None and index == min(self.selected, len(windows) - 1)
            for ax in (axes[0], axes[2]):  # where each window reads from, and where its gradient lands
                ax.add_patch(_outline(r, c, self.kernel_size, chosen))
        chosen = "every output" if self.selected is None else f"output #{self.selected}"
        fig.suptitle(
            f"dL/d(output) = 1 at {chosen}; {len(self.receivers())} input entries receive gradient", fontsize=10
        )
        return fig


def _outline(r, c, k, chosen):
    from matplotlib.patches import Rectangle

    return Rectangle(
        (c - 0.5, r - 0.5),
        k,
        k,
        fill=False,
        edgecolor="tab:red" if chosen else "0.35",
        linewidth=2.5 if chosen else 0.8,
        linestyle="-" if chosen else "--",
        zorder=3 if chosen else 2,
    )
