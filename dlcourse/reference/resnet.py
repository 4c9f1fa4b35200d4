"""Lab 09's answers: a residual block's forward and backward passes in NumPy, and the per-layer gradient norms.

A block's parameters are a dict of arrays, named as in ``dlcourse.models.BasicBlock``'s state dict::

    conv1.weight (C_out, C_in, 3, 3)   bn1.weight, bn1.bias (C_out,)
    conv2.weight (C_out, C_out, 3, 3)  bn2.weight, bn2.bias (C_out,)
    shortcut.weight (C_out, C_in, 1, 1), shortcut_bn.weight, shortcut_bn.bias (C_out,)   projection blocks only

Batch norm runs in training mode on the batch's own statistics (no running statistics), as in a training step.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F

BRANCH_KEYS = ("conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias")
PROJECTION_KEYS = ("shortcut.weight", "shortcut_bn.weight", "shortcut_bn.bias")


def _check_block(x, params, stride):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    missing = [k for k in BRANCH_KEYS if k not in params]
    if missing:
        raise ValueError(f"params must hold {BRANCH_KEYS}; missing {missing}")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    c_out, c_in = params["conv1.weight"].shape[:2]
    if c_in != x.shape[1]:
        raise ValueError(f"conv1.weight expects {c_in} input channels, x has {x.shape[1]} (shape {x.shape})")
    projection = stride != 1 or c_in != c_out
    if projection and any(k not in params for k in PROJECTION_KEYS):
        raise ValueError(
            f"this block changes the shape (stride {stride}, {c_in} -> {c_out} channels), so params must hold "
            f"the projection shortcut {PROJECTION_KEYS}"
        )
    return x, projection


def _bn(x, params, name):
    return F.batch_norm(x, None, None, params[f"{name}.weight"], params[f"{name}.bias"], training=True)


def forward_pass(x, params, stride, projection):
    """The block's intermediates, for the output and for the backward pass: a dict with c1 (conv1's output),
    b1 (bn1's), h (the inner ReLU's), c2, branch (bn2's), cs (the projection conv's, or None) and skip."""
    c1 = F.conv2d(x, params["conv1.weight"], stride=stride, padding=1)
    b1 = _bn(c1, params, "bn1")
    h = F.relu(b1)
    c2 = F.conv2d(h, params["conv2.weight"], padding=1)
    cs = F.conv2d(x, params["shortcut.weight"], stride=stride) if projection else None
    skip = _bn(cs, params, "shortcut_bn") if projection else x
    return {"c1": c1, "b1": b1, "h": h, "c2": c2, "branch": _bn(c2, params, "bn2"), "cs": cs, "skip": skip}


def residual_block(x, params, stride=1):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), He et al. (2016)'s basic block.

    x: (N, C_in, H, W); params: module docstring; stride: 1 or 2, applied by conv1 (3x3, padding 1)
    The shortcut is x itself when the block keeps the shape (stride 1 and C_out == C_in), else
    shortcut_bn(1x1 conv of x with the block's stride).
    returns: (N, C_out, H_out, W_out)
    """
    x, projection = _check_block(x, params, stride)
    f = forward_pass(x, params, stride, projection)
    return F.relu(f["branch"] + f["skip"])


def _bn_backward(dout, x, params, name):
    return F.batch_norm_backward(dout, x, None, None, params[f"{name}.weight"], params[f"{name}.bias"], training=True)


def residual_block_backward(dout, x, params, stride=1):
    """Gradients of ``residual_block``'s output with respect to x and every parameter.

    dout: (N, C_out, H_out, W_out); x, params, stride: as given to the forward pass
    returns: a dict with key "x" and every key of the block's params, each holding an array of that shape
    """
    x, projection = _check_block(x, params, stride)
    f = forward_pass(x, params, stride, projection)  # the forward pass again, keeping what backward needs
    dsum = F.relu_backward(dout, f["branch"] + f["skip"])
    grads = {}
    # The sum sends the same gradient down both paths.
    dc2, grads["bn2.weight"], grads["bn2.bias"] = _bn_backward(dsum, f["c2"], params, "bn2")
    dh, grads["conv2.weight"], _ = F.conv2d_backward(dc2, f["h"], params["conv2.weight"], padding=1)
    dc1, grads["bn1.weight"], grads["bn1.bias"] = _bn_backward(F.relu_backward(dh, f["b1"]), f["c1"], params, "bn1")
    dx, grads["conv1.weight"], _ = F.conv2d_backward(dc1, x, params["conv1.weight"], stride=stride, padding=1)
    if projection:
        dcs, grads["shortcut_bn.weight"], grads["shortcut_bn.bias"] = _bn_backward(dsum, f["cs"], params, "shortcut_bn")
        dx_skip, grads["shortcut.weight"], _ = F.conv2d_backward(dcs, x, params["shortcut.weight"], stride=stride)
    else:
        dx_skip = dsum
    grads["x"] = dx + dx_skip
    return grads


def gradient_norms(model, x, y):
    """The L2 norm of the mean cross-entropy's gradient with respect to the weight of every Conv2d and
    Linear layer of a torch model, in the order of ``model.modules()`` (input to output).

    model: a torch.nn.Module producing scores (N, K); x: a float tensor batch; y: int64 labels (N,)
    The model runs in training mode (batch norm on batch statistics, as in a training step), and gradients
    left over from earlier passes (in the parameters' .grad) must not count.
    returns: a list of floats, one per Conv2d/Linear layer
    """
    import torch

    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    weights = [m.weight for m in layers]
    was_training = model.training
    model.train()
    try:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, weights)
    finally:
        model.train(was_training)
    return [float(g.norm()) for g in grads]
