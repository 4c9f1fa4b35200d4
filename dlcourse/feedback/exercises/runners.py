"""How an exercise calls the learner's function and reads what it returns: the harness, without answers.

A runner takes the learner's function and one case's inputs (plain data) and returns the outcome, a value or
a dict of named values. Grading runs these inside the learner's sandboxed process, where no reference
implementation exists, so this module imports NumPy alone (the training-loop runner imports the course's
framework, which that exercise hands to the learner). The same runners run the reference and the catalogued
mistakes in the grader, so both sides are called in exactly the same way.
"""

from __future__ import annotations

import numpy as np


def batches(fn, kwargs):
    got = list(fn(kwargs["X"], kwargs["y"], kwargs["batch_size"], rng=np.random.default_rng(kwargs["seed"])))
    return {
        "X in batch order": np.concatenate([b[0] for b in got]),
        "y in batch order": np.concatenate([b[1] for b in got]),
        "batch sizes": np.array([len(b[1]) for b in got]),
    }


def split(fn, kwargs):
    parts = fn(kwargs["X"], kwargs["y"], kwargs["val_fraction"], rng=np.random.default_rng(kwargs["seed"]))
    return dict(zip(("X_train", "y_train", "X_val", "y_val"), parts))


def penalty_grad(fn, kwargs):
    grads = fn(kwargs["weights"], kwargs["lam"])
    if not isinstance(grads, (list, tuple)) or len(grads) != len(kwargs["weights"]):
        raise TypeError(
            f"return a list with one gradient per weight array ({len(kwargs['weights'])}), got {type(grads).__name__}"
        )
    return {f"gradient of weights[{i}]": g for i, g in enumerate(grads)}


def epoch_model(seed):
    """The small network, loss and optimiser that the training-epoch exercise hands to the learner."""
    from dlcourse import nn, optim

    model = nn.Sequential(
        nn.Linear(4, 6, rng=seed, dtype=np.float64), nn.ReLU(), nn.Linear(6, 3, rng=seed + 1, dtype=np.float64)
    )
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def epoch(fn, kwargs):
    model, loss_fn, optimizer = epoch_model(kwargs["seed"])
    loss = fn(
        model,
        loss_fn,
        optimizer,
        kwargs["X"],
        kwargs["y"],
        kwargs["batch_size"],
        rng=np.random.default_rng(kwargs["seed"]),
    )
    return {
        "returned mean loss": loss,
        **{f"parameter {i} after the epoch": p.data for i, p in enumerate(model.parameters())},
    }


# Scalar functions of an array x, each with fixed coefficients, for the numerical-gradient exercise.
FUNCTIONS = {
    "sum of sin(x) * c": lambda x, c: np.sum(np.sin(x) * c),
    "sum of x^3 * c": lambda x, c: np.sum(x**3 * c),
    "log-sum-exp of x * c": lambda x, c: np.log(np.sum(np.exp(x * c))),
}


def numerical_gradient(fn, kwargs):
    """Give the learner f (a function of no arguments that reads x) and x itself, as the exercise says."""
    x, c = kwargs["x"], kwargs["c"]
    rule = FUNCTIONS[kwargs["function"]]
    grad = fn(lambda: rule(x, c), x, h=kwargs["h"])
    return {"gradient": grad, "x afterwards (must be restored)": x.copy()}


def trajectory(fn, kwargs):
    """Apply the rule for every gradient in turn, threading the state; return every parameter value."""
    param, state, path = np.array(kwargs["param"], dtype=float), {}, []
    for grad in kwargs["grads"]:
        param, state = fn(param, np.array(grad), state, **kwargs["hyper"])
        path.append(np.array(param, dtype=float))
    return np.stack(path)


def mlp_forward(fn, kwargs):
    scores, cache = fn(kwargs["X"], kwargs["params"])
    x, z1, h1 = cache
    return {"scores": scores, "cache[0] (X)": x, "cache[1] (z1)": z1, "cache[2] (h1)": h1}


MLP_PARAMS = ("W1", "b1", "W2", "b2")


def mlp_backward(fn, kwargs):
    """The case carries the forward pass's cache (computed by the grader), as the exercise's text gives it."""
    grads = fn(kwargs["dscores"], tuple(kwargs["cache"]), kwargs["params"])
    if not isinstance(grads, dict):
        raise TypeError(f"return a dict with the keys W1, b1, W2, b2, got {type(grads).__name__}")
    return {f"grads['{k}']": grads.get(k) for k in MLP_PARAMS}


def batch_norm(fn, kwargs):
    out = fn(**kwargs)
    return {"output": out, "running_mean": kwargs["running_mean"], "running_var": kwargs["running_var"]}
