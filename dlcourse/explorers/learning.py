"""Lab 02's explorers: the learning rate on a quadratic, and a race of optimisers on 2-D loss surfaces."""

from __future__ import annotations

import numpy as np

from ..optim import rules as R
from .atomic import all_or_nothing
from .figures import new_figure


class LearningRateExplorer:
    """Gradient descent on f(x) = a/2 * x^2 from x0: x <- x - lr * a * x = (1 - lr * a) * x.

    The iterates shrink when |1 - lr a| < 1, i.e. 0 < lr < 2 / a (the stability limit); they alternate in
    sign when lr > 1 / a, and grow without bound when lr > 2 / a.
    """

    def __init__(self, curvature=1.0, lr=0.5, x0=4.0, steps=20):
        self.curvature, self.lr, self.x0, self.steps = 1.0, 0.5, 4.0, 20
        self.set(curvature=curvature, lr=lr, x0=x0, steps=steps)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key in ("curvature", "lr") and not value > 0:
                raise ValueError(f"{key} must be positive, got {value!r}")
            if key == "steps" and (int(value) != value or value < 1):
                raise ValueError(f"steps must be a positive int, got {value!r}")
            if key not in ("curvature", "lr", "x0", "steps"):
                raise ValueError(f"unknown parameter {key!r}")
            setattr(self, key, int(value) if key == "steps" else float(value))
        return self

    def factor(self) -> float:
        return 1 - self.lr * self.curvature

    def stability_limit(self) -> float:
        return 2 / self.curvature

    def path(self):
        return self.x0 * self.factor() ** np.arange(self.steps + 1)

    def regime(self) -> str:
        f = self.factor()
        if np.isclose(f, 0):
            return "reaches the minimum in one step (lr = 1/a)"
        if 0 < f < 1:
            return "converges smoothly"
        if -1 < f < 0:
            return "converges, oscillating around the minimum"
        if np.isclose(f, -1):
            return "oscillates forever between +x0 and -x0 (lr = 2/a, the stability limit)"
        return "diverges (lr > 2/a)"

    def figure(self):
        fig = new_figure((10, 3.6))
        ax_f, ax_t = fig.subplots(1, 2)
        xs = self.path()
        reach = max(abs(self.x0) * 1.2, min(np.max(np.abs(xs)), 50 * abs(self.x0)))
        grid = np.linspace(-reach, reach, 300)
        ax_f.plot(grid, 0.5 * self.curvature * grid**2, color="0.6")
        shown = xs[np.abs(xs) <= reach]
        ax_f.plot(shown, 0.5 * self.curvature * shown**2, "o-", color="tab:red", ms=4)
        ax_f.set_xlabel("x")
        ax_f.set_title(f"f(x) = {self.curvature:g}/2 x^2, lr = {self.lr:g}", fontsize=9)
        ax_t.semilogy(np.arange(len(xs)), np.maximum(np.abs(xs), 1e-300), "o-", ms=3)
        ax_t.set_xlabel("step")
        ax_t.set_ylabel("|x - minimum|")
        ax_t.set_title(
            f"factor per step 1 - lr*a = {self.factor():.2f}; limit 2/a = {self.stability_limit():.2f}", fontsize=9
        )
        fig.suptitle(self.regime(), fontsize=10)
        return fig


def _ravine(p):
    x, y = p
    return 0.5 * (x**2 + 20 * y**2), np.array([x, 20 * y])


def _rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 10 * (y - x**2) ** 2, np.array([-2 * (1 - x) - 40 * x * (y - x**2), 20 * (y - x**2)])


def _saddle(p):
    x, y = p
    return 0.5 * (x**2 - y**2) + 0.25 * y**4, np.array([x, -y + y**3])


SURFACES = {"ravine": (_ravine, (0.0, 0.0)), "rosenbrock": (_rosenbrock, (1.0, 1.0)), "saddle": (_saddle, (0.0, 1.0))}
ADAPTIVE = ("adagrad", "rmsprop", "adam")


class OptimizerRace:
    """Several update rules from the same start on a 2-D loss surface.

    lr drives sgd, momentum and nesterov; adaptive_lr drives adagrad, rmsprop and adam (their steps are
    scaled per coordinate, so they want a different learning rate).
    """

    def __init__(
        self,
        surface="ravine",
        optimizers=("sgd", "momentum", "adam"),
        lr=0.07,  # above 1/20, the steep direction's inverse curvature: plain SGD zig-zags across the ravine
        adaptive_lr=0.3,
        momentum=0.5,
        start_x=-4.0,
        start_y=2.0,
        steps=60,
    ):
        self.surface, self.optimizers = "ravine", ("sgd",)
        self.lr, self.adaptive_lr, self.momentum, self.start_x, self.start_y, self.steps = (
            lr,
            adaptive_lr,
            momentum,
            start_x,
            start_y,
            steps,
        )
        self.set(
            surface=surface,
            optimizers=optimizers,
            lr=lr,
            adaptive_lr=adaptive_lr,
            momentum=momentum,
            start_x=start_x,
            start_y=start_y,
            steps=steps,
        )

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "surface":
                if value not in SURFACES:
                    raise ValueError(f"surface must be one of {sorted(SURFACES)}, got {value!r}")
            elif key == "optimizers":
                unknown = set(value) - set(R.RULES)
                if unknown:
                    raise ValueError(f"unknown optimizer(s) {sorted(unknown)}; choose from {sorted(R.RULES)}")
                value = tuple(value)
            elif key in ("lr", "adaptive_lr") and not value > 0:
                raise ValueError(f"{key} must be positive, got {value!r}")
            elif key == "momentum" and not 0 <= value < 1:
                raise ValueError(f"momentum must be in [0, 1), got {value!r}")
            elif key not in ("start_x", "start_y", "steps", "lr", "adaptive_lr", "momentum"):
                raise ValueError(f"unknown parameter {key!r}")
            setattr(self, key, value)
        return self

    def loss(self, p):
        return SURFACES[self.surface][0](np.asarray(p, dtype=float))[0]

    def _hyper(self, name):
        if name in ADAPTIVE:
            return {"lr": self.adaptive_lr}
        return {"lr": self.lr} if name == "sgd" else {"lr": self.lr, "momentum": self.momentum}

    def paths(self):
        """name -> array (steps + 1, 2) of positions; a run that blows up stops where it left the plot."""
        fn = SURFACES[self.surface][0]
        out = {}
        for name in self.optimizers:
            p, state, path = np.array([self.start_x, self.start_y], dtype=float), {}, []
            path.append(p.copy())
            with np.errstate(all="ignore"):
                for _ in range(int(self.steps)):
                    p, state = R.RULES[name](p, fn(p)[1], state, **self._hyper(name))
                    if not np.all(np.isfinite(p)) or np.max(np.abs(p)) > 1e6:
                        break
                    path.append(p.copy())
            out[name] = np.array(path)
        return out

    def final_losses(self):
        return {name: float(self.loss(path[-1])) for name, path in self.paths().items()}

    def figure(self):
        fig = new_figure((6.5, 5))
        ax = fig.add_subplot()
        paths = self.paths()
        xs = np.linspace(-5, 5, 200)
        X, Y = np.meshgrid(xs, np.linspace(-3, 3, 160))
        Z = SURFACES[self.surface][0](np.stack([X, Y]))[0]
        ax.contour(X, Y, np.log1p(Z - Z.min()), levels=25, cmap="Greys", linewidths=0.7)
        ax.plot(*SURFACES[self.surface][1], "k*", ms=12)
        for name, path in paths.items():
            ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1.2, label=f"{name}: loss {self.loss(path[-1]):.3g}")
        ax.set_xlim(-5, 5)
        ax.set_ylim(-3, 3)
        ax.set_xlabel("x (first parameter)", fontsize=11)
        ax.set_ylabel("y (second parameter)", fontsize=11)
        ax.legend(fontsize=9, loc="lower right")
        ax.set_title(f"{self.surface}: {int(self.steps)} steps from ({self.start_x:g}, {self.start_y:g})", fontsize=12)
        return fig
