"""Lab 03's playground, in the spirit of TensorFlow Playground: a small MLP on a 2-D dataset.

Everything a learner can change is an attribute set through ``set``; ``train(epochs)`` runs minibatch
gradient descent with cross-entropy, an optional L1 or L2 penalty, inverted dropout on the hidden layers
and any rule from ``dlcourse.optim.rules``. The linear layers, ReLU and the loss run through ``ops``, so
the learner's own ``linear``, ``linear_backward`` and ``relu_backward`` can drive it; anything not given
uses the reference in ``dlcourse.functional``.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..data import make_dataset
from ..optim.rules import RULES
from ..reference.training import l1_penalty, l1_penalty_grad, l2_penalty, l2_penalty_grad
from .atomic import all_or_nothing
from .figures import TITLE_SIZE, grid_over, new_figure
from .neuron import ACTIVATIONS

FEATURES = {
    "x1": lambda X: X[:, 0],
    "x2": lambda X: X[:, 1],
    "x1^2": lambda X: X[:, 0] ** 2,
    "x2^2": lambda X: X[:, 1] ** 2,
    "x1*x2": lambda X: X[:, 0] * X[:, 1],
    "sin(x1)": lambda X: np.sin(X[:, 0]),
    "sin(x2)": lambda X: np.sin(X[:, 1]),
}
OPS = ("linear", "linear_backward", "relu", "relu_backward", "cross_entropy", "cross_entropy_backward")
DATA_PARAMS = ("dataset", "noise", "train_ratio", "n_points", "seed")
NET_PARAMS = ("features", "hidden", "activation")
TRAIN_PARAMS = ("lr", "regularization", "reg_rate", "optimizer", "dropout", "batch_size")


class Playground:
    def __init__(
        self,
        dataset="circles",
        noise=0.1,
        train_ratio=0.5,
        features=("x1", "x2"),
        hidden=(4, 2),
        activation="relu",
        lr=0.03,
        regularization="none",
        reg_rate=0.0,
        optimizer="sgd",
        dropout=0.0,
        batch_size=10,
        seed=0,
        n_points=300,
        ops=None,
    ):
        self.ops = {name: getattr(F, name) for name in OPS}
        unknown = set(ops or {}) - set(OPS)
        if unknown:
            raise ValueError(f"unknown op(s) {sorted(unknown)}; the playground can use {list(OPS)}")
        self.ops.update(ops or {})
        self.dataset, self.noise, self.train_ratio, self.n_points, self.seed = (
            dataset,
            noise,
            train_ratio,
            n_points,
            seed,
        )
        self.features, self.hidden, self.activation = tuple(features), tuple(hidden), activation
        self.lr, self.regularization, self.reg_rate = lr, regularization, reg_rate
        self.optimizer, self.dropout, self.batch_size = optimizer, dropout, batch_size
        self._validate()
        self.reset()

    # --- settings ------------------------------------------------------------------------------------

    def _validate(self):
        checks = [
            (self.dataset in ("circles", "moons", "spiral", "xor", "blobs"), f"unknown dataset {self.dataset!r}"),
            (0 <= self.noise <= 1, f"noise must be in [0, 1], got {self.noise!r}"),
            (0.1 <= self.train_ratio <= 0.9, f"train_ratio must be in [0.1, 0.9], got {self.train_ratio!r}"),
            (
                len(self.features) > 0 and set(self.features) <= set(FEATURES),
                f"features must be a non-empty choice from {list(FEATURES)}, got {self.features!r}",
            ),
            (
                all(isinstance(h, (int, np.integer)) and 1 <= h <= 16 for h in self.hidden) and len(self.hidden) <= 4,
                f"hidden must list at most 4 layer sizes from 1 to 16, got {self.hidden!r}",
            ),
            (
                self.activation in ACTIVATIONS and self.activation != "step",
                f"activation must be one of relu, leaky_relu, tanh, sigmoid, got {self.activation!r}",
            ),
            (self.lr > 0, f"lr must be positive, got {self.lr!r}"),
            (
                self.regularization in ("none", "L1", "L2"),
                f"regularization must be 'none', 'L1' or 'L2', got {self.regularization!r}",
            ),
            (self.reg_rate >= 0, f"reg_rate must be non-negative, got {self.reg_rate!r}"),
            (self.optimizer in RULES, f"optimizer must be one of {list(RULES)}, got {self.optimizer!r}"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout!r}"),
            (
                isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1,
                f"batch_size must be a positive int, got {self.batch_size!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @all_or_nothing
    def set(self, **params):
        """Change settings. New data or a new architecture restarts training; the others apply from now on."""
        unknown = set(params) - set(DATA_PARAMS + NET_PARAMS + TRAIN_PARAMS)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        for key, value in params.items():
            if key == "hidden" and isinstance(value, str):  # "4, 2" from a text box
                try:
                    value = tuple(int(v) for v in value.replace(",", " ").split())
                except ValueError:
                    raise ValueError(
                        f"hidden layers must be whole numbers separated by commas, got {value!r}"
                    ) from None
            params[key] = tuple(value) if key in ("features", "hidden") else value
        previous = {key: getattr(self, key) for key in params}
        for key, value in params.items():
            setattr(self, key, value)
        try:
            self._validate()
        except ValueError:  # leave the explorer as it was: a rejected setting must not linger
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        if set(params) & set(DATA_PARAMS + NET_PARAMS):
            self.reset()
        elif "optimizer" in params:
            self.states = [{} for _ in self.params]
        return self

    def reset(self):
        """Draw the data, split it, and initialise the network."""
        rng = np.random.default_rng(self.seed)
        X, y = make_dataset(self.dataset, n=self.n_points, noise=self.noise, rng=rng)
        y = (y > 0).astype(int) if self.dataset != "spiral" else y % 2  # two classes everywhere
        n_train = int(round(self.train_ratio * len(y)))
        self.X_train, self.y_train, self.X_test, self.y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        sizes = [len(self.features), *self.hidden, 2]
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.params += [rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in), np.zeros(fan_out)]
        self.states = [{} for _ in self.params]
        self.rng = rng
        self.epoch = 0
        self.history = {"train": [], "test": []}
        self._record()
        return self

    # --- the network -----------------------------------------------------------------------------------

    def inputs(self, X):
        return np.stack([FEATURES[f](X) for f in self.features], axis=1)

    def _act(self, z):
        if self.activation == "relu":
            return self.ops["relu"](z)
        return ACTIVATIONS[self.activation].forward(z)

    def _act_backward(self, dout, z):
        if self.activation == "relu":
            return self.ops["relu_backward"](dout, z)
        return dout * ACTIVATIONS[self.activation].derivative(z)

    def forward(self, X, train=False):
        """Scores (N, 2) and, for the backward pass, each layer's input, pre-activation and dropout mask."""
        h, caches = self.inputs(X), []
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            z = self.ops["linear"](h, W, b)
            if i == n_layers - 1:
                caches.append((h, None, None))
                return z, caches
            a = self._act(z)
            mask = None
            if train and self.dropout > 0:
                mask = F.dropout_mask(a.shape, self.dropout, self.rng)
                a = F.dropout(a, self.dropout, mask=mask)
            caches.append((h, z, mask))
            h = a

    def backward(self, dscores, caches):
        grads = [None] * len(self.params)
        dout = dscores
        for i in reversed(range(len(caches))):
            h, z, mask = caches[i]
            if z is not None:  # a hidden layer: undo dropout and the activation first
                if mask is not None:
                    dout = F.dropout_backward(dout, mask, self.dropout)
                dout = self._act_backward(dout, z)
            dout, grads[2 * i], grads[2 * i + 1] = self.ops["linear_backward"](
                dout, h, self.params[2 * i], self.params[2 * i + 1]
            )
        return grads

    def penalty(self):
        weights = self.params[0::2]
        if self.regularization == "L2":
            return l2_penalty(weights, self.reg_rate)
        if self.regularization == "L1":
            return l1_penalty(weights, self.reg_rate)
        return 0.0

    def _penalty_grad(self, W):
        if self.regularization == "L2":
            return l2_penalty_grad([W], self.reg_rate)[0]
        if self.regularization == "L1":
            return l1_penalty_grad([W], self.reg_rate)[0]
        return 0.0

    def train(self, epochs=1):
        """Run ``epochs`` passes of minibatch gradient descent over the training points."""
        rule = RULES[self.optimizer]
        for _ in range(int(epochs)):
            order = self.rng.permutation(len(self.y_train))
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                scores, caches = self.forward(self.X_train[idx], train=True)
                grads = self.backward(self.ops["cross_entropy_backward"](scores, self.y_train[idx]), caches)
                for k, (p, g) in enumerate(zip(self.params, grads)):
                    if k % 2 == 0:
                        g = g + self._penalty_grad(p)
                    self.params[k], self.states[k] = rule(p, g, self.states[k], lr=self.lr)
            self.epoch += 1
            self._record()
        return self

    def loss(self, split="train"):
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_test, self.y_test)
        return float(self.ops["cross_entropy"](self.forward(X)[0], y))

    def accuracy(self, split="test"):
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_test, self.y_test)
        return float(np.mean(np.argmax(self.forward(X)[0], axis=1) == y))

    def _record(self):
        self.history["train"].append(self.loss("train"))
        self.history["test"].append(self.loss("test"))

    def surface(self, resolution=80):
        """P(class 1) over a grid covering the data: (xx, yy, probabilities)."""
        xx, yy, pts = grid_over(np.vstack([self.X_train, self.X_test]), resolution)
        return xx, yy, F.softmax(self.forward(pts)[0], dim=1)[:, 1].reshape(xx.shape)

    def neuron_maps(self, resolution=40):
        """What every hidden neuron computes over the plane, after its activation.

        Returns (xx, yy, layers): layers[l][j] is an array shaped like xx holding neuron j of hidden layer
        l + 1, as TensorFlow Playground draws inside each node.
        """
        xx, yy, pts = grid_over(np.vstack([self.X_train, self.X_test]), resolution)
        _, caches = self.forward(pts)
        # each layer after the first takes the previous hidden layer's activations as its input
        activations = [h for h, _, _ in caches[1:]]
        return xx, yy, [[a[:, j].reshape(xx.shape) for j in range(a.shape[1])] for a in activations]

    MAX_NEURONS_DRAWN = 8  # per layer: past that the pictures get too small to read

    def figure(self):
        fig = new_figure((12, 4.6))
        outer = fig.add_gridspec(1, 3, width_ratios=[3.2, max(len(self.hidden), 1) * 0.75, 3], wspace=0.25)
        ax_main = fig.add_subplot(outer[0])
        xx, yy, zz = self.surface()
        surface = ax_main.contourf(xx, yy, zz, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.6)
        fig.colorbar(surface, ax=ax_main, fraction=0.046, pad=0.02, ticks=[0, 0.5, 1]).set_label(
            "P(red class)", fontsize=9
        )
        ax_main.contour(xx, yy, zz, levels=[0.5], colors="k", linewidths=1)
        for X, y, style in (
            (self.X_train, self.y_train, dict(edgecolor="white")),
            (self.X_test, self.y_test, dict(edgecolor="k", alpha=0.5)),
        ):
            ax_main.scatter(X[:, 0], X[:, 1], c=np.where(y == 1, "tab:red", "tab:blue"), s=14, linewidth=0.5, **style)
        ax_main.set_title(
            f"epoch {self.epoch}: test accuracy {self.accuracy():.0%} (test points faded)", fontsize=TITLE_SIZE
        )
        self._draw_neurons(fig, outer[1])
        ax_loss = fig.add_subplot(outer[2])
        marker = "o" if self.epoch == 0 else None  # before training each curve is one point: show it
        ax_loss.plot(self.history["train"], label="train", marker=marker)
        ax_loss.plot(self.history["test"], label="test", marker=marker)
        ax_loss.set_xlabel("epoch", fontsize=10)
        ax_loss.set_ylabel("cross-entropy", fontsize=10)
        ax_loss.legend(fontsize=9)
        return fig

    def _draw_neurons(self, fig, cell):
        """One column per hidden layer, one small picture per neuron (the first MAX_NEURONS_DRAWN of each)."""
        if not self.hidden:
            ax = fig.add_subplot(cell)
            ax.axis("off")
            ax.text(
                0.5,
                0.5,
                "no hidden layer:\na straight line\nin the chosen\nfeatures",
                ha="center",
                va="center",
                fontsize=8,
            )
            return
        _, _, layers = self.neuron_maps()
        rows = min(max(self.hidden), self.MAX_NEURONS_DRAWN)
        grid = cell.subgridspec(rows, len(layers), hspace=0.15, wspace=0.1)
        for column, maps in enumerate(layers):
            for j, m in enumerate(maps[:rows]):
                ax = fig.add_subplot(grid[j, column])
                ax.imshow(m, origin="lower", cmap="RdBu_r")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_title(f"layer {column + 1}", fontsize=8)
            not_drawn = len(maps) - rows
            if not_drawn > 0:  # the last axes made is the bottom of this column
                ax.set_xlabel(f"+{not_drawn} more", fontsize=7)
