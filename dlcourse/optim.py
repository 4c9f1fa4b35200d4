"""Optimisers for ``dlcourse.nn`` parameters, with the exact update rules of ``torch.optim``.

Each ``step()`` reads ``param.grad`` and updates ``param.data`` in place; the state (momentum buffers,
running averages) lives in the optimiser, keyed by parameter, as in torch.
"""
from __future__ import annotations

import numpy as np

from .validation import positive_number, probability


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("params is empty: pass model.parameters()")
        self.lr = positive_number(lr, "lr")
        self.state = [dict() for _ in self.params]
        self.steps = 0

    def zero_grad(self):
        for p in self.params:
            p.grad.fill(0)

    def step(self):
        self.steps += 1
        for p, state in zip(self.params, self.state):
            p.data -= self.update(p.grad.astype(p.data.dtype, copy=False), p.data, state).astype(p.data.dtype, copy=False)

    def update(self, grad, data, state):  # pragma: no cover - subclasses
        raise NotImplementedError


def _non_negative(value, name):
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class SGD(Optimizer):
    """p -= lr * d, with d = g (+ weight_decay * p), optionally through a momentum buffer b = mu * b + d;
    Nesterov uses d + mu * b instead of b (Sutskever et al., 2013)."""

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _non_negative(momentum, "momentum")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a positive momentum")
        self.nesterov = nesterov

    def update(self, grad, data, state):
        d = grad + self.weight_decay * data if self.weight_decay else grad
        if self.momentum:
            buf = state.get("momentum_buffer")
            buf = d.copy() if buf is None else self.momentum * buf + d
            state["momentum_buffer"] = buf
            d = d + self.momentum * buf if self.nesterov else buf
        return self.lr * d


class Adagrad(Optimizer):
    """Duchi et al. (2011): divide by the root of the sum of all squared gradients so far."""

    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(params, lr)
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def update(self, grad, data, state):
        g = grad + self.weight_decay * data if self.weight_decay else grad
        state["sum"] = state.get("sum", 0) + g * g
        return self.lr * g / (np.sqrt(state["sum"]) + self.eps)


class RMSprop(Optimizer):
    """Tieleman & Hinton (2012): divide by the root of a running average of squared gradients."""

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.alpha = probability(alpha, "alpha")
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def update(self, grad, data, state):
        g = grad + self.weight_decay * data if self.weight_decay else grad
        state["square_avg"] = self.alpha * state.get("square_avg", 0) + (1 - self.alpha) * g * g
        return self.lr * g / (np.sqrt(state["square_avg"]) + self.eps)


class Adam(Optimizer):
    """Kingma & Ba (2014): momentum on the gradient and on its square, both bias-corrected."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = probability(betas[0], "betas[0]", allow_one=False)
        self.beta2 = probability(betas[1], "betas[1]", allow_one=False)
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def update(self, grad, data, state):
        g = grad + self.weight_decay * data if self.weight_decay else grad
        state["m"] = self.beta1 * state.get("m", 0) + (1 - self.beta1) * g
        state["v"] = self.beta2 * state.get("v", 0) + (1 - self.beta2) * g * g
        t = self.steps
        m_hat = state["m"] / (1 - self.beta1**t)
        v_hat = state["v"] / (1 - self.beta2**t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
