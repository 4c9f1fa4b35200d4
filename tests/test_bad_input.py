"""Every public function rejects bad input with a ValueError that says what was expected and given."""

import numpy as np
import pytest

from dlcourse import functional as F
from dlcourse import nn, optim
from dlcourse.data import load_digits, make_dataset, random_shift
from dlcourse.functional import naive

x4 = np.zeros((2, 3, 5, 5))
w4 = np.zeros((4, 3, 3, 3))

CASES = [
    (
        "channel mismatch",
        lambda: F.conv2d(x4, np.zeros((4, 2, 3, 3))),
        r"channel mismatch: x has 3 channels.*expects 2",
    ),
    (
        "kernel larger than padded input",
        lambda: F.conv2d(x4, np.zeros((4, 3, 8, 3)), padding=1),
        r"kernel size 8 is larger than the padded input height \(5 \+ 2\*1 = 7\)",
    ),
    ("wrong rank", lambda: F.conv2d(np.zeros((3, 5, 5)), w4), r"x must have 4 dimensions, got shape \(3, 5, 5\)"),
    ("non-positive stride", lambda: F.conv2d(x4, w4, stride=0), r"stride must be positive, got 0"),
    ("negative padding", lambda: F.conv2d(x4, w4, padding=-1), r"padding must be non-negative, got -1"),
    (
        "bias of the wrong length",
        lambda: F.conv2d(x4, w4, np.zeros(3)),
        r"bias must have shape \(4,\), one entry per output channel, got \(3,\)",
    ),
    (
        "stride of the wrong type",
        lambda: F.conv2d(x4, w4, stride=1.5),
        r"stride must be an int or a pair of ints, got 1.5",
    ),
    ("stride triple", lambda: F.conv2d(x4, w4, stride=(1, 1, 1)), r"stride must be an int or a pair"),
    (
        "dout of the wrong shape",
        lambda: F.conv2d_backward(np.zeros((2, 4, 2, 2)), x4, w4),
        r"dout must have the forward output's shape \(2, 4, 3, 3\)",
    ),
    ("naive shares the checks", lambda: naive.conv2d(x4, np.zeros((4, 2, 3, 3))), r"channel mismatch"),
    (
        "torch tensor given",
        lambda: F.relu(__import__("torch").zeros(3)),
        r"got a torch tensor; use x.detach\(\).cpu\(\).numpy\(\)",
    ),
    ("strings", lambda: F.relu(np.array(["a"])), r"x must hold numbers, got dtype <U1"),
    (
        "labels out of range",
        lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
        r"labels outside \[0, 2\] for 3 classes: \[3\]",
    ),
    ("negative label", lambda: F.cross_entropy(np.zeros((2, 3)), np.array([-1, 0])), r"labels outside"),
    ("float labels", lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0.5, 1])), r"integer class indices"),
    (
        "target length",
        lambda: F.cross_entropy_backward(np.zeros((2, 3)), np.array([0, 1, 2])),
        r"target must have shape \(2,\)",
    ),
    ("logits rank", lambda: F.cross_entropy(np.zeros(3), np.array([0])), r"logits must have 2 dimensions"),
    ("softmax dim", lambda: F.softmax(np.zeros((2, 3)), dim=2), r"dim must be an int in \[-2, 1\]"),
    ("mse shapes", lambda: F.mse_loss(np.zeros(3), np.zeros(4)), r"pred and target must have the same shape"),
    ("linear features", lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 5))), r"feature mismatch: x has 3 features"),
    ("linear bias", lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(5)), r"bias must have shape \(4,\)"),
    (
        "activation grad shape",
        lambda: F.relu_backward(np.zeros(3), np.zeros(4)),
        r"dout and x must have the same shape",
    ),
    ("pool padding too big", lambda: F.max_pool2d(x4, 2, padding=2), r"padding must be at most half the kernel size"),
    ("pool kernel too big", lambda: F.avg_pool2d(x4, 6), r"kernel size 6 is larger than the padded input height"),
    ("pool zero kernel", lambda: F.max_pool2d(x4, 0), r"kernel_size must be positive, got 0"),
    (
        "pool dout shape",
        lambda: F.max_pool2d_backward(np.zeros((2, 3, 1, 1)), x4, 2),
        r"dout must have the forward output's shape \(2, 3, 2, 2\)",
    ),
    ("batch norm eval without stats", lambda: F.batch_norm(x4, None, None), r"running_mean is required in eval mode"),
    (
        "batch norm stats length",
        lambda: F.batch_norm(x4, np.zeros(2), np.ones(2)),
        r"running_mean must be a float NumPy array of shape \(3,\)",
    ),
    (
        "batch norm one value per channel",
        lambda: F.batch_norm(np.zeros((1, 3)), None, None, training=True),
        r"more than one value per channel",
    ),
    (
        "batch norm momentum",
        lambda: F.batch_norm(x4, np.zeros(3), np.ones(3), momentum=2),
        r"momentum must be in \[0, 1\], got 2",
    ),
    ("dropout p", lambda: F.dropout(x4, p=1.5), r"p must be in \[0, 1\], got 1.5"),
    (
        "dropout mask",
        lambda: F.dropout(x4, mask=np.ones(3, bool)),
        r"mask must be a boolean array of shape \(2, 3, 5, 5\)",
    ),
    ("dropout rng", lambda: F.dropout(x4, rng="42"), r"rng must be None, an int seed or a numpy.random.Generator"),
    ("unknown dataset", lambda: make_dataset("swirl"), r"unknown dataset 'swirl'; choose one of"),
    ("digits source", lambda: load_digits("emnist"), r"source must be 'mnist' or 'sklearn'"),
    ("shift too big", lambda: random_shift(np.zeros((1, 1, 4, 4)), 2), r"max_shift must be an int in \[0, 1\]"),
    ("optimizer lr", lambda: optim.SGD(nn.Linear(2, 2).parameters(), lr=-1), r"lr must be a positive number, got -1"),
    ("optimizer without params", lambda: optim.Adam([], lr=0.1), r"params is empty"),
    (
        "nesterov without momentum",
        lambda: optim.SGD(nn.Linear(2, 2).parameters(), nesterov=True),
        r"nesterov=True needs a positive momentum",
    ),
]


@pytest.mark.parametrize("what,call,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_value_error(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_before_forward_is_explained():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2)))


def test_every_function_that_takes_an_rng_accepts_the_same_kinds():
    """One helper (dlcourse.validation.generator): a seed, a Generator or None, everywhere."""
    from dlcourse import nn

    x = np.ones((4, 5))
    assert np.array_equal(F.dropout(x, rng=42), F.dropout(x, rng=np.random.default_rng(42)))
    layer = nn.Dropout(0.5, rng=42)
    assert np.array_equal(layer(x), F.dropout(x, rng=42))
    for bad in ("42", 4.2, True):
        with pytest.raises(ValueError, match="rng must be None, an int seed"):
            F.dropout(x, rng=bad)
