"""Lab 01's explorers: one neuron's decision surface, and an activation function with its derivative."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .atomic import all_or_nothing
from .figures import grid_over, new_axes, plot_decision_surface


@dataclass(frozen=True)
class Activation:
    name: str
    forward: callable
    derivative: callable
    threshold: float  # the output value that separates the two classes
    output_range: tuple[float, float]


def _derivative(backward):
    return lambda x, **kw: backward(np.ones_like(x), x, **kw)


ACTIVATIONS = {
    "step": Activation("step", F.step, _derivative(F.step_backward), 0.5, (0.0, 1.0)),
    "sigmoid": Activation("sigmoid", F.sigmoid, _derivative(F.sigmoid_backward), 0.5, (0.0, 1.0)),
    "tanh": Activation("tanh", F.tanh, _derivative(F.tanh_backward), 0.0, (-1.0, 1.0)),
    "relu": Activation("relu", F.relu, _derivative(F.relu_backward), 0.0, (0.0, np.inf)),
    "leaky_relu": Activation("leaky_relu", F.leaky_relu, _derivative(F.leaky_relu_backward), 0.0, (-np.inf, np.inf)),
}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class NeuronExplorer:
    """One neuron y = f(w1 x1 + w2 x2 + b) on 2-D data: its output over the plane and its accuracy.

    Whatever the activation, the neuron says "class 1" where z = w1 x1 + w2 x2 + b > 0, so its decision
    boundary is the straight line z = 0; the activation only changes how steeply the output changes.
    """

    def __init__(self, X, y, w1=1.0, w2=1.0, b=0.0, activation="sigmoid"):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"X must have shape (n, 2), got {X.shape}")
        self.X, self.y = X, np.asarray(y)
        self.w1, self.w2, self.b = float(w1), float(w2), float(b)
        self.activation = _activation(activation).name

    @all_or_nothing
    def set(self, **params):
        """Change any of w1, w2, b, activation; unknown names raise ValueError."""
        for key, value in params.items():
            if key not in ("w1", "w2", "b", "activation"):
                raise ValueError(f"unknown parameter {key!r}; expected w1, w2, b or activation")
            setattr(self, key, _activation(value).name if key == "activation" else float(value))
        return self

    def z(self, points):
        return points @ np.array([self.w1, self.w2]) + self.b

    def output(self, points):
        return _activation(self.activation).forward(self.z(points))

    def predict(self, points=None):
        points = self.X if points is None else points
        return (self.z(points) > 0).astype(int)

    def accuracy(self) -> float:
        return float(np.mean(self.predict() == self.y))

    def boundary(self) -> str:
        """The decision boundary as an equation, or a note when there is none."""
        if self.w1 == 0 and self.w2 == 0:
            return "no boundary: with w1 = w2 = 0 the output is the same everywhere"
        return f"{self.w1:+.2f}*x1 {self.w2:+.2f}*x2 {self.b:+.2f} = 0"

    def surface(self, resolution=120):
        xx, yy, points = grid_over(self.X, resolution)
        return xx, yy, self.output(points).reshape(xx.shape)

    def figure(self, ax=None):
        xx, yy, zz = self.surface()
        act = _activation(self.activation)
        finite = [v for v in act.output_range if np.isfinite(v)]
        vmin = act.output_range[0] if np.isfinite(act.output_range[0]) else np.min(zz)
        vmax = act.output_range[1] if np.isfinite(act.output_range[1]) else np.max(zz)
        del finite
        fig = plot_decision_surface(
            xx,
            yy,
            zz,
            self.X,
            self.y,
            ax=ax,
            levels=(act.threshold,),
            vmin=vmin,
            vmax=vmax,
            title=f"{act.name}: accuracy {self.accuracy():.0%}",
        )
        fig.axes[0].set_xlabel(f"$x_1$    boundary: {self.boundary()}")
        return fig


class ActivationExplorer:
    """An activation function and its derivative over an interval, with where it saturates."""

    def __init__(self, name="sigmoid", negative_slope=0.01, x_min=-6.0, x_max=6.0, point=0.0):
        self.name = _activation(name).name
        self.negative_slope = float(negative_slope)
        self.x_min, self.x_max, self.point = float(x_min), float(x_max), float(point)
        if not self.x_min < self.x_max:
            raise ValueError(f"x_min must be below x_max, got {x_min} and {x_max}")

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key not in ("name", "negative_slope", "x_min", "x_max", "point"):
                raise ValueError(f"unknown parameter {key!r}")
            setattr(self, key, _activation(value).name if key == "name" else float(value))
        return self

    def _kwargs(self):
        return {"negative_slope": self.negative_slope} if self.name == "leaky_relu" else {}

    def values(self, n=400):
        """(x, f(x), f'(x)) on n points of [x_min, x_max]."""
        act = _activation(self.name)
        x = np.linspace(self.x_min, self.x_max, n)
        return x, act.forward(x, **self._kwargs()), act.derivative(x, **self._kwargs())

    def at_point(self):
        """(f(point), f'(point))."""
        act = _activation(self.name)
        x = np.array([self.point])
        return float(act.forward(x, **self._kwargs())[0]), float(act.derivative(x, **self._kwargs())[0])

    def saturated_fraction(self, tol=0.01):
        """Fraction of the interval where |f'(x)| < tol: there, almost no gradient passes back."""
        _, _, d = self.values()
        return float(np.mean(np.abs(d) < tol))

    def figure(self, ax=None):
        x, f, d = self.values()
        fig, ax = new_axes(ax, figsize=(6, 3.6))
        ax.plot(x, f, label=f"{self.name}(x)", lw=2)
        ax.plot(x, d, label="derivative", lw=2, ls="--")
        flat = np.abs(d) < 0.01
        ax.fill_between(
            x, 0, 1, where=flat, transform=ax.get_xaxis_transform(), color="0.85", label="|derivative| < 0.01"
        )
        fx, dx = self.at_point()
        ax.plot([self.point], [fx], "ko")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.axvline(0, color="0.5", lw=0.5)
        ax.set_title(
            f"at x = {self.point:.2f}: f = {fx:.4f}, f' = {dx:.4f}; "
            f"flat on {self.saturated_fraction():.0%} of the range"
        )
        ax.legend(loc="upper left", fontsize=8)
        return fig
