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
    """Apply the rule for every gradient in turn, threading the state; return every parameter value, named so
    that a learner reads the first index of a difference as the step."""
    param, state, path = np.array(kwargs["param"], dtype=float), {}, []
    for grad in kwargs["grads"]:
        param, state = fn(param, np.array(grad), state, **kwargs["hyper"])
        path.append(np.array(param, dtype=float))
    return {"param after each step (row k: after step k + 1)": np.stack(path)}


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


def _layer_rows(rows, layers, columns):
    """Each layer's output shape (an entry of its own, since shapes differ in length), then one array per
    numeric column of the rows."""
    what = ", ".join(("output_shape", *columns))
    if not isinstance(rows, (list, tuple)) or len(rows) != len(layers):
        raise TypeError(f"return a list with one ({what}) row per layer ({len(layers)})")
    out = {}
    for i, (row, spec) in enumerate(zip(rows, layers)):
        if not isinstance(row, (list, tuple)) or len(row) != 1 + len(columns):
            raise TypeError(f"entry {i} of your table is {row!r}; expected ({what})")
        out[f"output shape of layer {i} ({spec['type']})"] = np.array(row[0], dtype=int)
    for j, column in enumerate(columns, start=1):
        out[f"{column} per layer"] = np.array([row[j] for row in rows], dtype=np.int64)
    return out


def layer_table(fn, kwargs):
    return _layer_rows(fn(kwargs["layers"], kwargs["input_shape"]), kwargs["layers"], ("parameters",))


def receptive_fields(fn, kwargs):
    got = fn(kwargs["layers"])
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        raise TypeError("return two lists, (sizes, jumps), with one int per layer")
    return {"sizes": np.array(got[0]), "jumps": np.array(got[1])}


CACHE_NAMES = ("x", "conv_out", "relu_out", "pool_out")


def cnn_forward(fn, kwargs):
    got = fn(kwargs["x"], kwargs["params"])
    if not isinstance(got, (list, tuple)) or len(got) != 2 or not isinstance(got[1], (list, tuple)):
        raise TypeError("return (scores, cache) with cache = (x, conv_out, relu_out, pool_out)")
    scores, cache = got
    if len(cache) != len(CACHE_NAMES):
        raise TypeError(f"cache must hold {len(CACHE_NAMES)} arrays, {CACHE_NAMES}; yours holds {len(cache)}")
    return {"scores": scores, **{f"cache[{i}] ({n})": c for i, (n, c) in enumerate(zip(CACHE_NAMES, cache))}}


CNN_PARAMS = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")


def cnn_backward(fn, kwargs):
    """The case carries the forward pass's cache (computed by the grader), as the exercise's text gives it."""
    grads = fn(kwargs["dscores"], tuple(kwargs["cache"]), kwargs["params"])
    if not isinstance(grads, dict):
        raise TypeError(f"return a dict with the keys {CNN_PARAMS}, got {type(grads).__name__}")
    return {f"grads['{k}']": grads.get(k) for k in CNN_PARAMS}


def train_steps(fn, kwargs):
    """Three steps on one fixed batch: the losses returned and the parameters after them."""
    params = {k: np.array(v, dtype=float) for k, v in kwargs["params"].items()}
    losses = [fn(params, kwargs["x"], kwargs["y"], kwargs["lr"]) for _ in range(3)]
    return {
        "losses returned by steps 1, 2, 3": np.array(losses, dtype=float),
        **{f"params['{k}'] after 3 steps": params.get(k) for k in CNN_PARAMS},
    }


def torch_module(fn, kwargs):
    """Build the learner's module and read its structure: output shape on a batch of two, parameter counts.
    The case's input_shape (C, H, W), when it has one, is not passed to fn: it is what the module is fed. With
    ``trace`` the output shapes of every Conv2d are read too (sorted, so the order branches run in does not
    matter): that is where a stride on the wrong convolution shows. And the module is run once more in eval
    mode with every conv and linear weight and bias set to zero and fresh batch-norm statistics, on a fixed
    random input: what survives is what the forward pass adds without weights (a residual block's identity
    shortcut, and where its ReLU sits), which no parameter count can see."""
    import torch

    kwargs = dict(kwargs)
    input_shape = kwargs.pop("input_shape", (kwargs.get("in_channels", 1), 28, 28))
    trace = kwargs.pop("trace", False)
    model = fn(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"{getattr(fn, '__name__', 'it')}(...) must build a torch.nn.Module, got {type(model).__name__}"
        )
    shapes = []
    hooks = [
        m.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape[1:])))
        for m in model.modules()
        if trace and isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    sizes = sorted(p.numel() for p in model.parameters())
    result = {
        "output shape for a batch of two": np.array(tuple(out.shape)),
        "parameters": np.int64(sum(sizes)),
        "parameter tensor sizes (sorted)": np.array(sizes, dtype=np.int64),
    }
    if trace:
        result["Conv2d output shapes (C, H, W), sorted"] = np.array(sorted(shapes), dtype=np.int64).reshape(-1, 3)
        probe = torch.as_tensor(np.random.default_rng(0).standard_normal((2, *input_shape)), dtype=torch.float32)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                    m.weight.zero_()
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()  # the forward pass above updated them with what the weights gave
            model.eval()
            result["output with every conv and linear weight zeroed (eval mode)"] = model(probe).numpy()
    return result


BLOCK_KEYS = ("x", "conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias")
PROJECTION_KEYS = ("shortcut.weight", "shortcut_bn.weight", "shortcut_bn.bias")


def residual_block_backward(fn, kwargs):
    grads = fn(kwargs["dout"], kwargs["x"], kwargs["params"], kwargs["stride"])
    keys = BLOCK_KEYS + (PROJECTION_KEYS if "shortcut.weight" in kwargs["params"] else ())
    if not isinstance(grads, dict):
        raise TypeError(f"return a dict with the keys {keys}, got {type(grads).__name__}")
    return {f"grads['{k}']": grads.get(k) for k in keys}


def probe_model(seed, depth, batch_norm):
    """A small float64 CNN to measure gradient norms on: ``depth`` 3x3 convs (each with batch norm when asked)
    on 2-channel input, global average pooling and two linear layers, three classes."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers, channels = [], 2
    for i in range(depth):
        width = 3 + i
        layers += [
            nn.Conv2d(channels, width, 3, padding=1),
            *([nn.BatchNorm2d(width)] if batch_norm else []),
            nn.ReLU(),
        ]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 5), nn.ReLU(), nn.Linear(5, 3)]
    return nn.Sequential(*layers).double()


def gradient_norms(fn, kwargs):
    """Measure twice on one model that carries a training step's leftover gradients; the second call sees the
    first's leftovers too. The model is handed over in eval mode when the case says so."""
    import torch

    model = probe_model(kwargs["seed"], kwargs["depth"], kwargs["batch_norm"])
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.train(not kwargs["start_in_eval"])
    x, y = torch.as_tensor(kwargs["x"], dtype=torch.float64), torch.as_tensor(kwargs["y"], dtype=torch.long)
    first = fn(model, x, y)
    second = fn(model, x, y)
    return {"norms": np.array(first, dtype=float), "norms when called again": np.array(second, dtype=float)}


def layer_costs(fn, kwargs):
    rows = fn(kwargs["layers"], kwargs["input_shape"])
    return _layer_rows(rows, kwargs["layers"], ("parameters", "multiply-adds", "stored values"))


def inception(fn, kwargs):
    got = fn(**kwargs)
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        raise TypeError("return (out_channels, macs)")
    return {"output channels": np.int64(got[0]), "multiply-adds": np.int64(got[1])}
