"""Optimiser update rules as pure functions: (param, grad, state, hyper-parameters) -> (new_param, state).

Each follows ``torch.optim`` exactly (no weight decay, no dampening), so a trajectory can be compared with
torch step by step. ``state`` is a dict the rule fills on its first call; pass back what it returns.
``dlcourse.optim`` wraps these rules in optimiser classes.
"""

from __future__ import annotations

import numpy as np


def sgd_update(param, grad, state, lr=0.01):
    """p <- p - lr * g."""
    return param - lr * grad, state


def momentum_update(param, grad, state, lr=0.01, momentum=0.9):
    """Polyak's heavy ball, as torch.optim.SGD: b <- mu * b + g (b = g at the first step); p <- p - lr * b."""
    buf = grad.copy() if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + grad
    return param - lr * buf, {**state, "momentum_buffer": buf}


def nesterov_update(param, grad, state, lr=0.01, momentum=0.9):
    """Nesterov momentum as torch.optim.SGD(nesterov=True): b as above; p <- p - lr * (g + mu * b)."""
    buf = grad.copy() if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + grad
    return param - lr * (grad + momentum * buf), {**state, "momentum_buffer": buf}


def adagrad_update(param, grad, state, lr=0.01, eps=1e-10):
    """Duchi et al. (2011): s <- s + g^2; p <- p - lr * g / (sqrt(s) + eps)."""
    total = state.get("sum", 0.0) + grad * grad
    return param - lr * grad / (np.sqrt(total) + eps), {**state, "sum": total}


def rmsprop_update(param, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    """Tieleman & Hinton (2012): v <- alpha * v + (1 - alpha) * g^2; p <- p - lr * g / (sqrt(v) + eps)."""
    avg = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad * grad
    return param - lr * grad / (np.sqrt(avg) + eps), {**state, "square_avg": avg}


def adam_update(param, grad, state, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba (2014): m, v as running means of g and g^2, bias-corrected by 1 - beta^t."""
    t = state.get("step", 0) + 1
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
    v = beta2 * state.get("v", 0.0) + (1 - beta2) * grad * grad
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "m": m, "v": v}


RULES = {
    "sgd": sgd_update,
    "momentum": momentum_update,
    "nesterov": nesterov_update,
    "adagrad": adagrad_update,
    "rmsprop": rmsprop_update,
    "adam": adam_update,
}
