"""Lab 09's depth and gradient-flow explorer: how deep, with or without skip connections and batch norm,
which activation -> the gradient's norm at every layer at initialisation, and the first steps of training.

Each setting is measured on a digits CNN from ``dlcourse.models.digits_net`` (He-initialised, Adam at 3e-3,
batches of 64), beside its twin with the skip connections switched the other way, so the effect of the skips
is always in view. Results are cached per setting: moving back to a setting costs nothing.
"""

from __future__ import annotations

import numpy as np

from .atomic import all_or_nothing
from .figures import new_figure

DEPTHS = tuple(range(6, 51, 4))  # 2 + 4k: a stem, k blocks in each of two stages, a classifier
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid")


def _measure(X, y, depth, residual, batch_norm, activation, steps, seed):
    """Gradient norms at initialisation on the first 64 digits, then the losses of ``steps`` training steps."""
    import torch

    from .. import models
    from ..reference.resnet import gradient_norms

    torch.manual_seed(seed)
    model = models.digits_net(depth, residual=residual, batch_norm=batch_norm, activation=activation)
    norms = gradient_norms(model, torch.as_tensor(X[:64]), torch.as_tensor(y[:64]))
    losses = models.fit_classifier(model, X, y, epochs=1, batch_size=64, seed=seed, every_step=True)
    return np.array(norms), np.array(losses[:steps])


class GradientFlowExplorer:
    """Per-layer gradient norms at initialisation and the training loss of the first ``steps`` steps.

    X: (n, 1, 28, 28) float32 digits, y: (n,) labels; n should be at least 64 * steps to train on fresh
    batches (the explorer takes the first 64 * steps).
    """

    def __init__(self, X, y, depth=34, residual=False, batch_norm=True, activation="relu", steps=25, seed=0):
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
        if X.ndim != 4 or X.shape[1:] != (1, 28, 28) or len(y) != len(X):
            raise ValueError(f"X must be (n, 1, 28, 28) digits with one label each, got {X.shape} and {y.shape}")
        if len(X) < 64:
            raise ValueError(f"give at least 64 digits (one batch), got {len(X)}")
        self.steps = max(1, min(int(steps), len(X) // 64))
        self.seed = int(seed)
        self._X, self._y = X[: 64 * self.steps], y[: 64 * self.steps]
        self._results = {}  # (depth, residual, batch_norm, activation) -> (norms, losses)
        self.depth, self.residual, self.batch_norm, self.activation = 34, False, True, "relu"
        self.set(depth=depth, residual=residual, batch_norm=batch_norm, activation=activation)

    @all_or_nothing
    def set(self, **params):
        for key, value in params.items():
            if key == "depth":
                if value not in DEPTHS:
                    raise ValueError(f"depth must be one of {DEPTHS} (2 + 4k layers), got {value!r}")
                self.depth = int(value)
            elif key in ("residual", "batch_norm"):
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{key} must be True or False, got {value!r}")
                setattr(self, key, bool(value))
            elif key == "activation":
                if value not in ACTIVATION_NAMES:
                    raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, got {value!r}")
                self.activation = value
            else:
                raise ValueError(f"unknown parameter {key!r}")
        return self

    def measure(self, residual=None) -> dict:
        """{"norms": per-layer gradient norms (input to output), "losses": loss of each training step} for the
        current setting, or for its twin with ``residual`` given."""
        residual = self.residual if residual is None else bool(residual)
        key = (self.depth, residual, self.batch_norm, self.activation)
        if key not in self._results:
            self._results[key] = _measure(self._X, self._y, *key, self.steps, self.seed)
        norms, losses = self._results[key]
        return {"norms": norms.copy(), "losses": losses.copy()}

    def ratio(self, residual=None) -> float:
        """First layer's gradient norm over the last layer's: how much of the signal reaches the input end."""
        norms = self.measure(residual)["norms"]
        return float(norms[0] / norms[-1])

    def figure(self):
        fig = new_figure((12, 4.2))
        ax_norms, ax_loss = fig.subplots(1, 2)
        for residual, style in ((self.residual, "-"), (not self.residual, ":")):
            m = self.measure(residual)
            label = ("residual" if residual else "plain") + ("" if residual == self.residual else " (twin)")
            color = "tab:green" if residual else "tab:red"
            ax_norms.semilogy(
                np.arange(1, len(m["norms"]) + 1), m["norms"], style, marker=".", color=color, label=label
            )
            ax_loss.plot(np.arange(1, len(m["losses"]) + 1), m["losses"], style, color=color, label=label)
        ax_norms.set_xlabel("conv/linear layer, in module order (1 = next to the input)", fontsize=11)
        ax_norms.set_ylabel("norm of the weight gradient", fontsize=11)
        ax_norms.set_title("gradient norm per layer at initialisation", fontsize=12)
        ax_loss.set_xlabel("training step (batches of 64)", fontsize=11)
        ax_loss.set_ylabel("training loss", fontsize=11)
        ax_loss.set_title(f"the first {self.steps} steps (Adam, lr 3e-3)", fontsize=12)
        ax_loss.axhline(np.log(10), color="gray", lw=0.8, ls="--", label="log 10 (chance)")
        for ax in (ax_norms, ax_loss):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=10)
        fig.suptitle(
            f"depth {self.depth}, {'with' if self.batch_norm else 'without'} batch norm, {self.activation}: "
            f"first/last layer gradient ratio {self.ratio():.2g}",
            fontsize=12,
        )
        return fig
