"""Optimisers for ``dlcourse.nn`` parameters, with the exact update rules of ``torch.optim``.

Each ``step()`` reads ``param.grad`` and updates ``param.data`` in place with a rule from
``dlcourse.optim.rules``; the state (momentum buffers, running averages) lives in the optimiser, one dict
per parameter, as in torch.
"""

from __future__ import annotations

from ..validation import positive_number, probability
from . import rules


class Optimizer:
    """Applies one of ``dlcourse.optim.rules`` to every parameter, keeping one state dict per parameter."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("params is empty: pass model.parameters()")
        self.lr = positive_number(lr, "lr")
        self.state = [dict() for _ in self.params]
        self.weight_decay = 0.0

    def zero_grad(self):
        for p in self.params:
            p.grad.fill(0)

    def rule(self, param, grad, state):  # pragma: no cover - subclasses
        raise NotImplementedError

    def step(self):
        for i, p in enumerate(self.params):
            grad = p.grad.astype(p.data.dtype, copy=False)
            if self.weight_decay:  # L2 penalty folded into the gradient, as torch does
                grad = grad + self.weight_decay * p.data
            new, self.state[i] = self.rule(p.data, grad, self.state[i])
            p.data[...] = new


def _non_negative(value, name):
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class SGD(Optimizer):
    """Plain, momentum (Polyak) or Nesterov (Sutskever et al., 2013) gradient descent."""

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _non_negative(momentum, "momentum")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a positive momentum")
        self.nesterov = nesterov

    def rule(self, param, grad, state):
        if not self.momentum:
            return rules.sgd_update(param, grad, state, self.lr)
        update = rules.nesterov_update if self.nesterov else rules.momentum_update
        return update(param, grad, state, self.lr, self.momentum)


class Adagrad(Optimizer):
    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(params, lr)
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def rule(self, param, grad, state):
        return rules.adagrad_update(param, grad, state, self.lr, self.eps)


class RMSprop(Optimizer):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.alpha = probability(alpha, "alpha")
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def rule(self, param, grad, state):
        return rules.rmsprop_update(param, grad, state, self.lr, self.alpha, self.eps)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = probability(betas[0], "betas[0]", allow_one=False)
        self.beta2 = probability(betas[1], "betas[1]", allow_one=False)
        self.eps = positive_number(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def rule(self, param, grad, state):
        return rules.adam_update(param, grad, state, self.lr, self.beta1, self.beta2, self.eps)
