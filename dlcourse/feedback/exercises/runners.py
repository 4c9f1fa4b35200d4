"""How an exercise calls the learner's function and reads what it returns: the harness, without answers.

A runner takes the learner's function and one case's inputs (plain data) and returns the outcome, a value or
a dict of named values. Grading runs these inside the learner's sandboxed process, where no reference
implementation exists, so this module imports NumPy and the standard library alone (the training-loop runner
imports the course's framework, which that exercise hands to the learner, and the runners of torch exercises
import torch, which the sandbox has for them). The same runners run the reference and the catalogued
mistakes in the grader, so both sides are called in exactly the same way.
"""

from __future__ import annotations

import contextlib
import zlib

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


# --- a torch.nn.Module the learner writes: its structure, then its behaviour ------------------------------------


def torch_module(fn, kwargs):
    """Build the learner's module from the case's arguments and read its structure or, when the case carries a
    ``weights_seed`` and an input ``x``, its behaviour (``module_behaviour``).

    Structure: the output shape for a batch of two of the case's ``input_shape`` (C, H, W; not passed to fn),
    the parameter count and the shape of every parameter tensor (sorted: names and order are the learner's),
    and with ``trace`` the output shape of every Conv2d (sorted, so the order branches run in does not
    matter): that is where a stride on the wrong convolution shows. The exercises put their structure cases
    first, so a module built wrong is told so before its outputs are compared."""
    import torch

    kwargs = dict(kwargs)
    input_shape = kwargs.pop("input_shape", (kwargs.get("in_channels", 1), 28, 28))
    trace = kwargs.pop("trace", False)
    seed, x = kwargs.pop("weights_seed", None), kwargs.pop("x", None)
    with _one_thread(torch):
        model = fn(**kwargs)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"{getattr(fn, '__name__', 'it')}(...) must build a torch.nn.Module, got {type(model).__name__}"
            )
        if seed is not None:
            return module_behaviour(model, x, seed)
        return _module_structure(model, input_shape, trace)


@contextlib.contextmanager
def _one_thread(torch):
    """Run torch on one thread, then restore the learner's setting. These inputs are small, and on a busy
    two-core machine torch's worker threads spin: a ResNet-18 forward pass took 30 times longer on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _module_structure(model, input_shape, trace):
    import torch

    shapes = []
    hooks = [
        m.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape[1:])))
        for m in model.modules()
        if trace and isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            out = _tensor_output(model(torch.zeros(2, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    shapes_of_tensors = [tuple(p.shape) for p in model.parameters()]
    width = max([4, *(len(s) for s in shapes_of_tensors)])  # conv kernels have four dimensions
    table = sorted(s + (0,) * (width - len(s)) for s in shapes_of_tensors)
    result = {
        "output shape for a batch of two": np.array(tuple(out.shape)),
        "parameters": np.int64(sum(p.numel() for p in model.parameters())),
        "parameter tensor shapes, sorted (a row per tensor, padded with 0)": np.array(table, dtype=np.int64).reshape(
            -1, width
        ),
    }
    if trace:
        result["Conv2d output shapes (C, H, W), sorted"] = np.array(sorted(shapes), dtype=np.int64).reshape(-1, 3)
    return result


def _tensor_output(out):
    import torch

    if not isinstance(out, torch.Tensor):
        raise TypeError(f"forward must return a tensor, got {type(out).__name__}")
    return out


def module_behaviour(model, x, seed):
    """What a module computes, with weights that both sides of the comparison draw alike.

    Every layer (a module holding parameters of its own: nn.Conv2d, nn.BatchNorm2d, nn.Linear) gets weights
    drawn from ``seed`` and its key (``module_layers``), batch-norm running statistics included, in float64.
    Then the module runs on x (N, C, H, W) in training mode; the loss sum(output * g), g a fixed random array
    of the output's shape, is differentiated with respect to x and every parameter; the module runs again on
    x in eval mode, where batch norm uses the running statistics that the first pass updated. The reference
    runs through this same function on the same case, so wherever the learner's layers match the reference's
    they hold the same weights, and only a case's seed crosses to the learner's process, never weights."""
    import torch

    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    probe = torch.tensor(x, dtype=first.dtype if first is not None else torch.float32)
    layers = module_layers(model, probe)
    model.double()
    _load_weights(layers, seed)
    model.train()
    inputs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        out = _tensor_output(model(inputs))
        g = torch.from_numpy(np.random.default_rng([seed, 1]).standard_normal(tuple(out.shape)))
        loss = (out.double() * g).sum()
        if loss.requires_grad:  # a module whose output ignores x and every weight has no gradient at all
            loss.backward()
    norms = [m for m, _, _ in layers if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    statistics = [s.detach().double().numpy().ravel() for m in norms for s in (m.running_mean, m.running_var)
                  if s is not None]  # fmt: skip
    rows = []  # per tensor: the gradient's norm and its dot product with the (random) parameter itself
    model.eval()
    with torch.no_grad():
        for module, _, _ in layers:
            for p in module.parameters(recurse=False):
                grad = p.grad if p.grad is not None else torch.zeros_like(p)
                rows.append((float(grad.norm()), float((grad * p).sum())))
        evaluated = _tensor_output(model(torch.tensor(x, dtype=torch.float64)))
    return {
        "output in training mode": out.detach().double().numpy(),
        "gradient of sum(output * r) with respect to x (r: a fixed random array)": (
            inputs.grad.numpy() if inputs.grad is not None else np.zeros(np.shape(x), dtype=np.float64)
        ),
        "gradient with respect to each parameter tensor (its norm, its dot product with the tensor)": np.array(
            rows, dtype=np.float64
        ).reshape(-1, 2),
        "batch-norm running means and variances after the training-mode pass": np.concatenate(
            statistics or [np.zeros(0)]
        ),
        "output in eval mode, after the training-mode pass": evaluated.double().numpy(),
    }


NEVER_RUN = "never run"


def module_layers(model, x) -> list[tuple]:
    """(module, key, rank) for every module of ``model`` that holds parameters of its own, in the order that
    ``module_behaviour`` reports them (sorted by key, then rank).

    A layer's key is the shapes of its parameters and of the layers whose outputs reach its input, found in
    the autograd graph of one training-mode forward pass on x. So the key does not depend on the names a
    learner gives, nor on the order in which independent branches run (a shortcut computed before or after
    the block's main path). Layers with equal keys are ranked by the order in which they first run, which
    the data flow fixes except between twin branches, which the cases avoid (Inception's 1x1 convolutions
    all differ in width); a layer that never runs is keyed as such and ranked by its place in the module."""
    import torch

    owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]  # lazy ones too
    inputs_at_first_call = {}  # module -> the autograd nodes of its inputs, in the order modules first ran
    made_by = {}  # autograd node of a layer's output -> that layer

    def before(module, args):
        if module not in inputs_at_first_call:
            inputs_at_first_call[module] = [t.grad_fn for t in _tensors(args)]

    def after(module, args, output):
        for t in _tensors(output):
            if t.grad_fn is not None:
                made_by.setdefault(t.grad_fn, module)  # recorded now: an in-place op later replaces t.grad_fn

    hooks = [m.register_forward_pre_hook(before) for m in owners] + [m.register_forward_hook(after) for m in owners]
    try:
        with torch.enable_grad():
            model.train()
            model(x.requires_grad_())
    finally:
        for hook in hooks:
            hook.remove()
    keyed = []
    for module, nodes in inputs_at_first_call.items():
        upstream = sorted(_shapes(m) for m in _layers_upstream(nodes, made_by, module))
        keyed.append((module, (_shapes(module), tuple(upstream))))
    keyed += [(m, (_shapes(m), NEVER_RUN)) for m in owners if m not in inputs_at_first_call]
    seen: dict[str, int] = {}
    layers = []
    for module, key in keyed:
        rank = seen[repr(key)] = seen.get(repr(key), -1) + 1
        layers.append((module, key, rank))
    return sorted(layers, key=lambda layer: (repr(layer[1]), layer[2]))


def _shapes(module) -> tuple:
    return tuple(tuple(p.shape) for p in module.parameters(recurse=False))


def _tensors(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _layers_upstream(nodes, made_by, module) -> list:
    """The layers whose outputs reach these autograd nodes without passing through another layer."""
    found, seen, todo = [], set(), list(nodes)
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        maker = made_by.get(node)
        if maker is not None and maker is not module:
            if all(maker is not f for f in found):
                found.append(maker)
            continue
        todo += [n for n, _ in node.next_functions]
    return found


def _layer_stream(seed, key, rank):
    """The random numbers of one layer: the same on both sides for the same case seed, key and rank."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode()), rank])


def _load_weights(layers, seed) -> None:
    """Weights of He's scale for weight matrices and kernels, scales near 1 for a layer's first vector
    (batch norm's weight), small offsets for the others (biases); batch norm's running statistics too."""
    import torch

    with torch.no_grad():
        for module, key, rank in layers:
            rng = _layer_stream(seed, key, rank)
            for i, p in enumerate(module.parameters(recurse=False)):
                p.copy_(torch.from_numpy(np.asarray(_draw(rng, tuple(p.shape), first=i == 0))))
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.copy_(torch.from_numpy(rng.standard_normal(module.running_mean.shape) * 0.2))
                module.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, module.running_var.shape)))
                module.num_batches_tracked.zero_()


def _draw(rng, shape, first):
    if len(shape) >= 2:  # drawn in float32, twice as fast: ResNet-18 has 11 million weights
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / max(1, np.prod(shape[1:]))))
    if first and len(shape) == 1:
        return rng.uniform(0.5, 1.5, shape)
    return rng.standard_normal(shape) * 0.2


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
