"""Plots used across the labs. Each takes arrays and an optional ``ax``, returns the Figure, and never
calls ``plt.show()``; figures are made without pyplot's global state so that nothing piles up in memory."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


class CourseFigure(Figure):
    """A Figure that shows itself as a PNG wherever IPython displays it.

    Figures made without pyplot get no PNG formatter until the inline backend happens to be switched on,
    and would show as "<Figure size ...>" in a cell or inside a widget. ``_repr_png_`` makes them render
    the same in JupyterLab, Colab, nbconvert and autograding.
    """

    def _repr_png_(self):
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=90)
        return buf.getvalue()


def new_figure(figsize=(5, 4)) -> CourseFigure:
    return CourseFigure(figsize=figsize, layout="constrained")


def new_axes(ax=None, figsize=(5, 4)):
    """The given axes, or fresh axes on a new figure that is not registered with pyplot."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


TITLE_SIZE = 11  # readable at JupyterLab's default zoom, where a figure is shrunk to the notebook's width


def signed_image(ax, values, cmap="coolwarm", colorbar=True):
    """Show signed values on a colour map centred at zero (0 is white, equal magnitudes get equal strength),
    with a colour bar; returns the image."""
    values = np.asarray(values, dtype=float)
    limit = float(np.max(np.abs(values))) if values.size else 0.0
    limit = limit if limit > 0 else 1.0
    image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    return image


def label_cells(ax, image, values, fmt="{:.3g}", fontsize=8, muted=None):
    """Write each value on its cell, white on dark cells and black on light ones, so every number stays
    legible whatever the colour map. ``muted``: a boolean mask of cells to write in grey (padding)."""
    values = np.asarray(values, dtype=float)
    rgba = image.cmap(image.norm(values))
    luminance = 0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]
    for (r, c), value in np.ndenumerate(values):
        color = "white" if luminance[r, c] < 0.5 else "black"
        if muted is not None and muted[r, c]:
            color = "0.55"
        ax.text(c, r, fmt.format(value), ha="center", va="center", fontsize=fontsize, color=color)


def grid_over(X, resolution=150, margin=0.5):
    """A (resolution x resolution) grid covering the points X (n, 2) with a margin: (xx, yy, points)."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()]


def plot_points(X, y, ax=None, title=None):
    """Scatter 2-D points coloured by class."""
    fig, ax = new_axes(ax)
    for k in np.unique(y):
        ax.scatter(
            *X[y == k].T,
            s=18,
            color=CLASS_COLORS[int(k) % len(CLASS_COLORS)],
            edgecolor="white",
            linewidth=0.5,
            label=f"class {k}",
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_decision_surface(
    xx, yy, zz, X=None, y=None, ax=None, title=None, levels=(0.5,), vmin=0.0, vmax=1.0, colorbar=None
):
    """Colour a grid by the model's output zz (shape of xx) and draw the decision contour(s).

    The colours span [vmin, vmax] whatever zz holds, so panels drawn with the same limits compare;
    ``colorbar``: a label, to add a colour bar that says what the colours mean.
    """
    fig, ax = new_axes(ax)
    cmap = ListedColormap(np.linspace([0.80, 0.88, 0.97], [0.98, 0.83, 0.83], 64))
    surface = ax.contourf(xx, yy, zz, levels=np.linspace(vmin, vmax, 33), cmap=cmap, extend="both")
    if colorbar:
        fig.colorbar(surface, ax=ax, fraction=0.046, pad=0.03, ticks=np.linspace(vmin, vmax, 3)).set_label(colorbar)
    if levels and np.nanmin(zz) < max(levels) and np.nanmax(zz) > min(levels):
        ax.contour(xx, yy, zz, levels=list(levels), colors="k", linewidths=1.5)
    if X is not None:
        plot_points(X, y, ax=ax)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    if title:
        ax.set_title(title)
    return fig


def plot_curves(curves: dict, ax=None, xlabel="epoch", ylabel="", title=None, logy=False):
    """Line plot of named sequences, e.g. {'train': [...], 'validation': [...]}."""
    fig, ax = new_axes(ax)
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig
