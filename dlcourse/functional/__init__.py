"""NumPy twins of ``torch.nn.functional``, each backward pass beside its forward pass.

Names, argument order, defaults and layouts (NCHW; conv weights (C_out, C_in, kH, kW); linear weights
(out_features, in_features)) follow torch so that a result can be compared with torch in one line.
"""

from .activations import (
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    step,
    step_backward,
    tanh,
    tanh_backward,
)
from .conv import conv2d, conv2d_backward, im2col, pad2d
from .dropout import dropout, dropout_backward, dropout_mask
from .linear import linear, linear_backward
from .losses import (
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    mse_loss,
    mse_loss_backward,
    softmax,
)
from .normalization import batch_norm, batch_norm_backward
from .pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .windows import output_size

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "conv2d",
    "conv2d_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "im2col",
    "leaky_relu",
    "leaky_relu_backward",
    "linear",
    "linear_backward",
    "log_softmax",
    "max_pool2d",
    "max_pool2d_backward",
    "mse_loss",
    "mse_loss_backward",
    "output_size",
    "pad2d",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "step",
    "step_backward",
    "tanh",
    "tanh_backward",
]
