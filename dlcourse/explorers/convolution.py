"""Lab 05's convolution explorer: a kernel sliding over a small image, one output value at a time."""

from __future__ import annotations

import numpy as np

from .atomic import all_or_nothing
from .figures import TITLE_SIZE, label_cells, new_figure, signed_image

KERNELS = {
    "vertical edge": np.array([[1.0, 0.0, -1.0]] * 3),
    "horizontal edge": np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]]),
    "Sobel x": np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "box blur": np.full((3, 3), 1 / 9),
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    "identity": np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "2x2 ones": np.ones((2, 2)),
    "5x5 ones": np.ones((5, 5)),
}

# The 6x6 image of the worked example in lab 05.
EXAMPLE_IMAGE = np.array(
    [
        [3, 0, 1, 2, 4, 7],
        [1, 5, 8, 9, 3, 1],
        [2, 7, 2, 5, 1, 3],
        [0, 1, 3, 1, 7, 8],
        [4, 2, 1, 6, 2, 8],
        [2, 4, 5, 2, 3, 9],
    ],
    dtype=float,
)


def _int(value, name, minimum):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}, got {value!r}")
    return int(value)


class ConvExplorer:
    """Cross-correlation of one image with one kernel, with stride, zero padding and dilation.

    ``position`` picks one output value (row-major index); ``window()``, ``products()`` and ``value()``
    show how it is computed. Settings with no valid output are reported by ``problem()``, never raised.
    """

    def __init__(self, image=EXAMPLE_IMAGE, kernel="vertical edge", stride=1, padding=0, dilation=1, position=0):
        self.image = np.asarray(image, dtype=float)
        if self.image.ndim != 2:
            raise ValueError(f"image must be 2-D (H, W), got shape {self.image.shape}")
        self.kernel_name = "vertical edge"
        self.stride, self.padding, self.dilation, self.position = 1, 0, 1, 0
        self.set(kernel=kernel, stride=stride, padding=padding, dilation=dilation, position=position)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "kernel":
                if value not in KERNELS:
                    raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {value!r}")
                self.kernel_name = value
            elif key in ("stride", "dilation"):
                setattr(self, key, _int(value, key, 1))
            elif key in ("padding", "position"):
                setattr(self, key, _int(value, key, 0))
            else:
                raise ValueError(f"unknown parameter {key!r}")
        return self

    @property
    def kernel(self):
        return KERNELS[self.kernel_name]

    def span(self):
        """The extent of the dilated kernel: (k - 1) * dilation + 1 along each axis."""
        return tuple((k - 1) * self.dilation + 1 for k in self.kernel.shape)

    def padded(self):
        return np.pad(self.image, self.padding)

    def problem(self) -> str | None:
        """Why there is no output, or None when the settings work."""
        hp, wp = self.padded().shape
        sh, sw = self.span()
        if sh > hp or sw > wp:
            return (
                f"impossible: the {'dilated ' if self.dilation > 1 else ''}kernel spans {sh}x{sw}, more than the "
                f"padded input {hp}x{wp}; lower the dilation or add padding"
            )
        return None

    def note(self) -> str | None:
        """A warning about settings that work but drop input: the stride does not fit exactly."""
        if self.problem():
            return None
        leftovers = [(n - s) % self.stride for n, s in zip(self.padded().shape, self.span())]
        if any(leftovers):
            return (
                f"the stride does not fit: {max(leftovers)} row(s)/column(s) at the bottom or right are never "
                f"covered: PyTorch ignores them, and so does conv_output_size unless strict=True"
            )
        return None

    def output_shape(self):
        if self.problem():
            return None
        return tuple((n - s) // self.stride + 1 for n, s in zip(self.padded().shape, self.span()))

    def macs(self) -> int:
        """Multiply-adds for the whole output: each output value costs kH * kW."""
        shape = self.output_shape()
        return 0 if shape is None else int(np.prod(shape) * self.kernel.size)

    def _cell(self):
        ho, wo = self.output_shape()
        p = min(self.position, ho * wo - 1)
        return divmod(p, wo)

    def window(self):
        """Padded-input coordinates (row, col) under each kernel tap for the current output value."""
        if self.problem():
            return []
        i, j = self._cell()
        kh, kw = self.kernel.shape
        return [
            (i * self.stride + u * self.dilation, j * self.stride + v * self.dilation)
            for u in range(kh)
            for v in range(kw)
        ]

    def products(self):
        """(input value, weight, product) for each tap of the current window."""
        xp = self.padded()
        return [(xp[r, c], w, xp[r, c] * w) for (r, c), w in zip(self.window(), self.kernel.ravel())]

    def value(self) -> float:
        return float(sum(p for _, _, p in self.products()))

    def output(self):
        """The whole output map, or None when the settings are impossible."""
        shape = self.output_shape()
        if shape is None:
            return None
        xp, (kh, kw), d, s = self.padded(), self.kernel.shape, self.dilation, self.stride
        out = np.zeros(shape)
        for u in range(kh):  # one shifted, strided slice per kernel tap
            for v in range(kw):
                out += (
                    self.kernel[u, v]
                    * xp[u * d : u * d + s * (shape[0] - 1) + 1 : s, v * d : v * d + s * (shape[1] - 1) + 1 : s]
                )
        return out

    def describe(self) -> str:
        if self.problem():
            return self.problem()
        terms = " + ".join(f"{a:g}*{w:g}" for a, w, _ in self.products())
        ho, wo = self.output_shape()
        text = f"output {ho}x{wo}, {self.macs()} multiply-adds; value at {self._cell()}: {terms} = {self.value():g}"
        return text + (f"\nnote: {self.note()}" if self.note() else "")

    def figure(self):
        fig = new_figure((11, 4.2))
        ax_in, ax_k, ax_out = fig.subplots(1, 3, width_ratios=[3, 1.5, 2.5])
        xp = self.padded()
        p = self.padding
        pad = np.ones(xp.shape, dtype=bool)
        pad[p : xp.shape[0] - p, p : xp.shape[1] - p] = False
        # Light greys (the largest value at 40 % of the map), so the window outlines stand out.
        image = ax_in.imshow(xp, cmap="Greys", vmin=xp.min(), vmax=xp.max() + 1.5 * np.ptp(xp) + 1e-9)
        label_cells(ax_in, image, xp, "{:g}", muted=pad)
        for r, c in self.window():
            ax_in.add_patch(_square(r, c, "tab:orange"))
        for rows, cols in self.ignored():  # input no window reaches (the stride does not fit)
            ax_in.add_patch(_hatch(rows, cols))
        ax_in.set_title(f"input (padding {p}, stride {self.stride}, dilation {self.dilation})", fontsize=TITLE_SIZE)
        label_cells(ax_k, signed_image(ax_k, self.kernel), self.kernel, "{:.2g}")
        ax_k.set_title(f"kernel: {self.kernel_name}", fontsize=TITLE_SIZE)
        out = self.output()
        if out is None:
            ax_out.text(
                0.5,
                0.5,
                self.problem(),
                ha="center",
                va="center",
                wrap=True,
                fontsize=10,
                color="tab:red",
                transform=ax_out.transAxes,
            )
        else:
            label_cells(ax_out, signed_image(ax_out, out), out)
            ax_out.add_patch(_square(*self._cell(), "tab:orange"))
            ax_out.set_title(f"output {out.shape[0]}x{out.shape[1]}, {self.macs()} MACs", fontsize=TITLE_SIZE)
        for ax in (ax_in, ax_k, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(self.describe(), fontsize=10, wrap=True)
        return fig

    def ignored(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Blocks of the padded input that no window covers, as ((row0, row1), (col0, col1)) half-open ranges."""
        shape = self.output_shape()
        if shape is None:
            return []
        hp, wp = self.padded().shape
        sh, sw = self.span()
        last_row, last_col = (shape[0] - 1) * self.stride + sh, (shape[1] - 1) * self.stride + sw
        blocks = []
        if last_row < hp:
            blocks.append(((last_row, hp), (0, wp)))
        if last_col < wp:
            blocks.append(((0, hp), (last_col, wp)))
        return blocks


def _hatch(rows, cols):
    from matplotlib.patches import Rectangle

    (r0, r1), (c0, c1) = rows, cols
    return Rectangle(
        (c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, hatch="///", edgecolor="tab:red", linewidth=0.8
    )


def _square(r, c, color):
    from matplotlib.patches import Rectangle

    return Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=color, linewidth=2)
