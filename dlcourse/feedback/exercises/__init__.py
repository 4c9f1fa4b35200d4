"""The graded exercises: for each, the reference, the test cases, how to call it, and its known mistakes.

``EXERCISES[name]`` is what ``dlcourse.feedback.check_exercise(name, fn)`` runs. Each module below declares its
exercises in a list called ``EXERCISES``; this registry is those lists, joined here and nowhere else. Cases
are drawn from an ``rng`` so visible tests (a fixed seed) and hidden tests (fresh draws, more and harder cases)
share one definition. Known mistakes come from ``dlcourse.feedback.mistakes.CATALOGUE`` (``known(name)``) plus
any a module adds beside its exercise.

``LABS`` says which exercises each lab grades; tests/test_course.py checks it against the notebooks.
"""

from __future__ import annotations

from . import architectures, backprop, conv, learning, network, neuron, ops, resnet, training
from .base import Case, Exercise, Mistake, known

MODULES = (neuron, ops, learning, backprop, training, conv, network, architectures, resnet)


def _registry(modules) -> dict[str, Exercise]:
    found: dict[str, Exercise] = {}
    for module in modules:
        for exercise in module.EXERCISES:
            if exercise.name in found:
                raise ValueError(f"exercise {exercise.name!r} is declared twice ({module.__name__})")
            found[exercise.name] = exercise
    return found


EXERCISES: dict[str, Exercise] = _registry(MODULES)

LABS: dict[str, tuple[str, ...]] = {
    "01-neuron": (
        "weighted_sum",
        "step",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "sigmoid_backward",
        "tanh_backward",
        "relu_backward",
        "leaky_relu_backward",
        "perceptron_update",
        "train_perceptron",
    ),
    "02-learning": (
        "mse_loss",
        "softmax",
        "cross_entropy",
        "cross_entropy_backward",
        "linear_regression_gd",
        "sgd_update",
        "momentum_update",
        "nesterov_update",
        "adagrad_update",
        "rmsprop_update",
        "adam_update",
    ),
    "03-backprop": (
        "linear",
        "linear_backward",
        "relu_backward",
        "numerical_gradient",
        "relative_error",
        "mlp_forward",
        "mlp_backward",
    ),
    "04-training": (
        "batches",
        "train_val_split",
        "l2_penalty",
        "l2_penalty_grad",
        "l1_penalty",
        "l1_penalty_grad",
        "dropout",
        "dropout_backward",
        "train_epoch",
        "should_stop",
    ),
    "05-convolution": ("pad2d", "conv_output_size", "correlate2d", "conv2d_naive", "conv2d", "conv2d_param_count"),
    "06-pooling-backprop": (
        "max_pool2d",
        "avg_pool2d",
        "max_pool2d_backward",
        "avg_pool2d_backward",
        "conv2d_backward",
    ),
    "07-cnn": (
        "layer_table",
        "receptive_fields",
        "flatten",
        "flatten_backward",
        "cnn_forward",
        "cnn_backward",
        "train_step",
        "LeNet5",
    ),
    "08-architectures": (
        "layer_costs",
        "inception_macs",
        "batch_norm",
        "batch_norm_backward",
        "vgg_block",
        "Inception",
    ),
    "09-resnet": ("residual_block", "residual_block_backward", "gradient_norms", "BasicBlock", "resnet18"),
}

__all__ = ["Case", "EXERCISES", "Exercise", "LABS", "Mistake", "known"]
