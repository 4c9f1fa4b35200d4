"""A two-layer perceptron written out by hand: lab 03's reference forward and backward passes.

params holds W1 (H, D), b1 (H,), W2 (C, H), b2 (C,), in torch's (out_features, in_features) layout.
scores = relu(X W1^T + b1) W2^T + b2.
"""

from __future__ import annotations

import numpy as np

from ..functional import linear, linear_backward, relu, relu_backward
from ..validation import generator

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def init_mlp(n_in, n_hidden, n_out, rng=None):
    """He-initialised weights and zero biases (He et al., 2015)."""
    rng = generator(rng)
    return {
        "W1": rng.standard_normal((n_hidden, n_in)) * np.sqrt(2 / n_in),
        "b1": np.zeros(n_hidden),
        "W2": rng.standard_normal((n_out, n_hidden)) * np.sqrt(2 / n_hidden),
        "b2": np.zeros(n_out),
    }


def _check_params(params):
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected the keys {list(PARAM_NAMES)}")


def mlp_forward(X, params):
    """X: (N, D) -> (scores (N, C), cache), where cache = (X, z1, h1) holds what the backward pass needs."""
    _check_params(params)
    z1 = linear(X, params["W1"], params["b1"])
    h1 = relu(z1)
    return linear(h1, params["W2"], params["b2"]), (X, z1, h1)


def mlp_backward(dscores, cache, params):
    """dscores: (N, C), the gradient of the loss with respect to the scores -> dict of gradients."""
    _check_params(params)
    X, z1, h1 = cache
    dh1, dW2, db2 = linear_backward(dscores, h1, params["W2"], params["b2"])
    dz1 = relu_backward(dh1, z1)
    _, dW1, db1 = linear_backward(dz1, X, params["W1"], params["b1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
