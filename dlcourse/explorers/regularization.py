"""Lab 04's regularisation explorer: capacity, an L2 penalty and dropout against a small noisy training set."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..data import make_moons
from .atomic import all_or_nothing
from .figures import grid_over, new_figure, plot_decision_surface


class RegularizationExplorer:
    """A 2 -> width -> width -> 2 MLP trained on 40 noisy moons points, validated on 400 others.

    Few training points and a wide network overfit: the training loss keeps falling while the validation
    loss turns up. An L2 penalty (lam) or dropout (p) narrows that gap; too much of either underfits.
    Each setting is trained once and remembered.
    """

    def __init__(self, width=64, lam=0.0, dropout=0.0, epochs=300, seed=0):
        self.width, self.lam, self.dropout, self.epochs, self.seed = 64, 0.0, 0.0, 300, seed
        self.set(width=width, lam=lam, dropout=dropout, epochs=epochs)
        X, y = make_moons(440, noise=0.3, rng=seed)
        self.X_train, self.y_train, self.X_val, self.y_val = X[:40], y[:40], X[40:], y[40:]
        self._results = {}

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "width" and (int(value) != value or not 1 <= value <= 256):
                raise ValueError(f"width must be an int in [1, 256], got {value!r}")
            if key == "lam" and not value >= 0:
                raise ValueError(f"lam must be non-negative, got {value!r}")
            if key == "dropout" and not 0 <= value < 1:
                raise ValueError(f"dropout must be in [0, 1), got {value!r}")
            if key == "epochs" and (int(value) != value or value < 1):
                raise ValueError(f"epochs must be a positive int, got {value!r}")
            if key not in ("width", "lam", "dropout", "epochs"):
                raise ValueError(f"unknown parameter {key!r}")
        for key, value in params.items():
            setattr(self, key, int(value) if key in ("width", "epochs") else float(value))
        return self

    def _key(self):
        return (self.width, self.lam, self.dropout, self.epochs)

    def result(self):
        """(model, history) for the current settings; history has 'train' and 'val' losses per epoch."""
        if self._key() not in self._results:
            self._results[self._key()] = self._train()
        return self._results[self._key()]

    def _train(self):
        rng = np.random.default_rng(self.seed)
        layers = [nn.Linear(2, self.width, rng=rng, dtype=np.float64), nn.ReLU()]
        if self.dropout:
            layers.append(nn.Dropout(self.dropout, rng=rng))
        layers += [nn.Linear(self.width, self.width, rng=rng, dtype=np.float64), nn.ReLU()]
        if self.dropout:
            layers.append(nn.Dropout(self.dropout, rng=rng))
        model = nn.Sequential(*layers, nn.Linear(self.width, 2, rng=rng, dtype=np.float64))
        # Adam with weight_decay adds lam * w to the gradient: the gradient of (lam / 2) * ||w||^2.
        opt = optim.Adam(model.parameters(), lr=0.002, weight_decay=self.lam)
        loss_fn = nn.CrossEntropyLoss()
        history = {"train": [], "val": []}
        for _ in range(self.epochs):
            model.train()
            opt.zero_grad()
            loss_fn(model(self.X_train), self.y_train)
            model.backward(loss_fn.backward())
            opt.step()
            model.eval()
            history["train"].append(float(F.cross_entropy(model(self.X_train), self.y_train)))
            history["val"].append(float(F.cross_entropy(model(self.X_val), self.y_val)))
        return model, history

    def gap(self):
        """Final validation loss minus final training loss: large means overfitting."""
        _, h = self.result()
        return h["val"][-1] - h["train"][-1]

    def best_epoch(self):
        """The epoch with the lowest validation loss: where early stopping would keep the weights."""
        return int(np.argmin(self.result()[1]["val"]))

    def figure(self):
        model, h = self.result()
        fig = new_figure((10, 3.8))
        ax_curve, ax_map = fig.subplots(1, 2)
        ax_curve.plot(h["train"], label="training loss")
        ax_curve.plot(h["val"], label="validation loss")
        ax_curve.axvline(
            self.best_epoch(), color="0.6", ls="--", lw=1, label=f"best validation (epoch {self.best_epoch()})"
        )
        ax_curve.set_yscale("log")
        ax_curve.set_xlabel("epoch")
        ax_curve.legend(fontsize=8)
        ax_curve.set_title(
            f"width {self.width}, L2 {self.lam:g}, dropout {self.dropout:g}: gap {self.gap():.2f}", fontsize=9
        )
        xx, yy, pts = grid_over(np.vstack([self.X_train, self.X_val]), 80)
        model.eval()
        probs = F.softmax(model(pts), dim=1)[:, 1].reshape(xx.shape)
        plot_decision_surface(xx, yy, probs, self.X_train, self.y_train, ax=ax_map, title="the 40 training points")
        return fig
