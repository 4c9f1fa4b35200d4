"""The NumPy framework layer against torch in float64: every layer, loss and optimiser of ``dlcourse.nn`` and
``dlcourse.optim``, forward and backward; the training loop of ``dlcourse.train``; augmentation; lab 02's
regression by finite differences; convolution arithmetic; the torch models of ``dlcourse.models``.

``benchmarks/mutations.py`` plants bugs in a copy of the package and checks that this file catches each one;
the last test here only checks that its substitution targets still exist in the source.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn

from dlcourse import nn, optim
from dlcourse.data import random_shift
from dlcourse.gradcheck import numerical_gradient
from dlcourse.models import BasicBlock, LeNet5, summary
from dlcourse.reference.conv_arithmetic import conv2d_macs, conv2d_param_count, conv_output_size
from dlcourse.reference.regression import linear_regression_gd, logistic_regression_gd
from dlcourse.reference.training import train_epoch
from dlcourse.train import accuracy, batches, cosine, fit, predict

REPO = Path(__file__).resolve().parents[1]
# float64 on both sides: disagreements from rounding are ~1e-15, so 1e-7 leaves room only for real differences.
RTOL, ATOL = 1e-7, 1e-10


# ----------------------------------------------------------------------------------------------- helpers


def to_torch(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def assert_close(ours, theirs, what=""):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def walk(module):
    """A NumPy module and all its descendants, depth first (the order torch's ``modules()`` uses)."""
    yield module
    for child in module.children():
        yield from walk(child)


def randomise(theirs, rng):
    """Random weights and batch-norm statistics for a torch module, so that no test passes by a default
    (BN scale 1 and shift 0, running mean 0 and variance 1) that hides a wrong formula."""
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
                m.weight.copy_(to_torch(1 + 0.3 * rng.standard_normal(m.num_features)))
                m.bias.copy_(to_torch(0.3 * rng.standard_normal(m.num_features)))
                m.running_mean.copy_(to_torch(0.5 * rng.standard_normal(m.num_features)))
                m.running_var.copy_(to_torch(0.5 + rng.random(m.num_features)))
            elif isinstance(m, (tnn.Linear, tnn.Conv2d)):
                fan_in = m.weight[0].numel()  # He scaling keeps activations O(1) through deep stacks
                m.weight.copy_(to_torch(rng.standard_normal(tuple(m.weight.shape)) * math.sqrt(2 / fan_in)))
                if m.bias is not None:
                    m.bias.copy_(to_torch(0.3 * rng.standard_normal(tuple(m.bias.shape))))
    return theirs


def batch_norms(module):
    if isinstance(module, nn.Module):
        return [m for m in walk(module) if isinstance(m, nn.BatchNorm2d)]
    return [m for m in module.modules() if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d))]


def copy_from_torch(ours, theirs):
    """Give the NumPy module torch's parameters and batch-norm statistics (both list them in the same order)."""
    params, their_params = ours.parameters(), list(theirs.parameters())
    assert [p.data.shape for p in params] == [tuple(tp.shape) for tp in their_params]
    for p, tp in zip(params, their_params):
        p.data[...] = tp.detach().numpy()
    assert len(batch_norms(ours)) == len(batch_norms(theirs))
    for bn, tbn in zip(batch_norms(ours), batch_norms(theirs)):
        bn.running_mean[...] = tbn.running_mean.numpy()
        bn.running_var[...] = tbn.running_var.numpy()
        bn.momentum, bn.eps = tbn.momentum, tbn.eps
    return ours


def paired(ours, theirs, rng):
    """The same random weights in a NumPy module and its float64 torch twin."""
    theirs = randomise(theirs.double(), rng)
    return copy_from_torch(ours, theirs), theirs


def assert_matches_torch(ours, theirs, x, rng, between=None):
    """Forward, input gradient, every parameter gradient and the batch-norm statistics of ``ours`` against
    ``theirs`` for one random upstream gradient. between(): called after our forward, before our backward."""
    theirs.zero_grad()
    xt = to_torch(x, grad=True)
    out_t = theirs(xt)
    dout = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(to_torch(dout))
    ours.zero_grad()
    out = ours(x)
    if between is not None:
        between()
    dx = ours.backward(dout)
    assert_close(out, out_t, "forward")
    assert_close(dx, xt.grad, "input gradient")
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, tp.grad, f"gradient of {p}")
    for bn, tbn in zip(batch_norms(ours), batch_norms(theirs)):
        assert_close(bn.running_mean, tbn.running_mean, "running mean")
        assert_close(bn.running_var, tbn.running_var, "running variance")


# -------------------------------------------------------------------------------------------- layers

F64 = dict(dtype=np.float64)


@pytest.mark.parametrize(
    "in_f,out_f,bias,x_shape",
    [
        (5, 3, True, (4, 5)),
        (4, 4, True, (6, 4)),  # square: a transposed weight gradient has the right shape and must still fail
        (4, 2, False, (4,)),
        (3, 2, True, (2, 5, 3)),  # leading dimensions, as torch.nn.Linear allows
    ],
)
def test_linear_matches_torch(rng, in_f, out_f, bias, x_shape):
    ours, theirs = paired(nn.Linear(in_f, out_f, bias=bias, **F64), tnn.Linear(in_f, out_f, bias=bias), rng)
    assert_matches_torch(ours, theirs, rng.standard_normal(x_shape), rng)


@pytest.mark.parametrize(
    "c_in,c_out,k,stride,padding,bias",
    [
        (1, 3, 3, 1, 0, True),
        (2, 3, 3, 2, 1, False),
        (3, 2, (3, 2), (2, 1), (1, 0), True),
        (2, 2, 1, 1, 0, True),
    ],
)
def test_conv2d_matches_torch(rng, c_in, c_out, k, stride, padding, bias):
    ours = nn.Conv2d(c_in, c_out, k, stride, padding, bias=bias, **F64)
    ours, theirs = paired(ours, tnn.Conv2d(c_in, c_out, k, stride, padding, bias=bias), rng)
    assert_matches_torch(ours, theirs, rng.standard_normal((2, c_in, 7, 6)), rng)


@pytest.mark.parametrize("ours,theirs", [(nn.ReLU, tnn.ReLU), (nn.Sigmoid, tnn.Sigmoid), (nn.Tanh, tnn.Tanh)])
def test_activations_match_torch(rng, ours, theirs):
    x = rng.standard_normal((3, 4, 5)) * 3
    assert_matches_torch(ours(), theirs(), x, rng)


@pytest.mark.parametrize("kind", ["Max", "Avg"])
@pytest.mark.parametrize("args,x_shape", [((2,), (2, 3, 6, 4)), ((3, 2, 1), (2, 3, 7, 5))])  # windows that fit
def test_pooling_layers_match_torch(rng, kind, args, x_shape):
    # average pooling with padding: torch counts the zeros of the padding too, and so must we
    ours, theirs = getattr(nn, f"{kind}Pool2d")(*args), getattr(tnn, f"{kind}Pool2d")(*args)
    assert_matches_torch(ours, theirs, rng.standard_normal(x_shape), rng)


def test_global_avg_pool_and_flatten_match_torch(rng):
    x = rng.standard_normal((2, 3, 4, 5))  # H != W, and dout varies per channel, so the 1/(H*W) scale shows
    assert_matches_torch(nn.GlobalAvgPool2d(), tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten()), x, rng)
    assert_matches_torch(nn.Flatten(), tnn.Flatten(), x, rng)


def bn_pair(rng, shape, momentum=0.1):
    c = shape[1]
    theirs = (tnn.BatchNorm1d if len(shape) == 2 else tnn.BatchNorm2d)(c, momentum=momentum)
    return paired(nn.BatchNorm2d(c, momentum=momentum, **F64), theirs, rng)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (8, 3)])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batchnorm_training_mode_matches_torch_over_several_steps(rng, shape, momentum):
    """Batch statistics normalise; the running mean and *unbiased* variance move by ``momentum`` each step."""
    ours, theirs = bn_pair(rng, shape, momentum)
    for _ in range(3):  # assert_matches_torch compares the running statistics after every step
        assert_matches_torch(ours.train(), theirs.train(), rng.standard_normal(shape) * 2 + 1, rng)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (8, 3)])
def test_batchnorm_eval_mode_uses_running_statistics_and_leaves_them(rng, shape):
    ours, theirs = bn_pair(rng, shape)
    before = ours.running_mean.copy(), ours.running_var.copy()
    assert_matches_torch(ours.eval(), theirs.eval(), rng.standard_normal(shape) * 2 + 1, rng)
    assert np.array_equal(ours.running_mean, before[0]) and np.array_equal(ours.running_var, before[1])


@pytest.mark.parametrize("forward_training", [True, False])
def test_batchnorm_backward_uses_the_mode_of_its_forward(rng, forward_training):
    """Switching mode between forward and backward (model.eval() before the step) must not change the
    gradient: backward differentiates the function the forward computed."""
    ours, theirs = bn_pair(rng, (4, 3, 5, 5))
    ours.train(forward_training)
    theirs.train(forward_training)
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    assert_matches_torch(ours, theirs, x, rng, between=lambda: ours.train(not forward_training))


def masked_like_torch(x, mask, p, dout):
    """torch's inverted dropout for a given keep-mask: (output, gradient with respect to x)."""
    xt = to_torch(x, grad=True)
    out = xt * torch.tensor(mask) / (1 - p)
    out.backward(to_torch(dout))
    return out.detach().numpy(), xt.grad.numpy()


def test_dropout_scales_kept_units_and_reuses_the_mask_in_backward(rng):
    p, x = 0.3, rng.standard_normal((40, 50))  # no exact zeros, so the output's zeros are the dropped units
    layer = nn.Dropout(p, rng=0)
    masks = []
    for _ in range(2):  # a fresh mask per forward; backward must use the latest one
        out = layer(x)
        mask = out != 0
        dout = rng.standard_normal(x.shape)
        expected_out, expected_dx = masked_like_torch(x, mask, p, dout)
        assert_close(out, expected_out, "forward")
        assert_close(layer.backward(dout), expected_dx, "backward")
        assert abs(mask.mean() - (1 - p)) < 0.03  # 2000 draws: the standard deviation is 0.01
        masks.append(mask)
    assert not np.array_equal(*masks)


def test_dropout_is_the_identity_in_eval_and_backward_follows_the_forward_mode(rng):
    p, x, dout = 0.5, rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    layer = nn.Dropout(p, rng=0)
    out = layer(x)
    layer.eval()  # after a training forward, backward still owes the gradient of that masked forward
    assert_close(layer.backward(dout), masked_like_torch(x, out != 0, p, dout)[1])
    assert np.array_equal(layer(x), x)
    assert np.array_equal(layer.backward(dout), dout)


@pytest.mark.parametrize("c_in,c_out,stride", [(3, 3, 1), (2, 4, 2)], ids=["identity", "projection"])
@pytest.mark.parametrize("training", [True, False])
def test_residual_block_matches_basic_block(rng, c_in, c_out, stride, training):
    ours, theirs = paired(nn.ResidualBlock(c_in, c_out, stride, **F64), BasicBlock(c_in, c_out, stride), rng)
    assert_matches_torch(ours.train(training), theirs.train(training), rng.standard_normal((3, c_in, 6, 6)), rng)


def test_lenet5_end_to_end_with_cross_entropy_matches_torch(rng):
    """The NumPy LeNet-5 Sequential and dlcourse.models.LeNet5 with the same weights: loss and every gradient."""
    ours, theirs = paired(nn.lenet5(**F64), LeNet5(), rng)
    x, y = rng.standard_normal((3, 1, 28, 28)), rng.integers(0, 10, 3)
    loss_fn = nn.CrossEntropyLoss()
    ours.zero_grad()
    loss = loss_fn(ours(x), y)
    dx = ours.backward(loss_fn.backward())
    xt = to_torch(x, grad=True)
    loss_t = TF.cross_entropy(theirs(xt), torch.tensor(y))
    loss_t.backward()
    assert_close(loss, loss_t.item(), "loss")
    assert_close(dx, xt.grad, "input gradient")
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, tp.grad, f"gradient of {p}")


def test_small_resnet_matches_torch_in_both_modes(rng):
    widths = (4, 8)
    ours = nn.small_resnet(num_classes=5, widths=widths, **F64)
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 4, 3, 1, 1, bias=False),
        tnn.BatchNorm2d(4),
        tnn.ReLU(),
        BasicBlock(4, 4, 1),
        BasicBlock(4, 8, 2),
        tnn.AdaptiveAvgPool2d(1),
        tnn.Flatten(),
        tnn.Linear(8, 5),
    )
    ours, theirs = paired(ours, theirs, rng)
    assert_matches_torch(ours.train(), theirs.train(), rng.standard_normal((3, 1, 8, 8)), rng)
    assert_matches_torch(ours.eval(), theirs.eval(), rng.standard_normal((3, 1, 8, 8)), rng)


def test_backward_accumulates_parameter_gradients_until_zero_grad(rng):
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=0, **F64), nn.BatchNorm2d(3, **F64), nn.Flatten(), nn.Linear(12, 2, rng=1, **F64)
    )
    x, dout = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2))
    model(x)
    model.backward(dout)
    once = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.backward(dout)
    for p, g in zip(model.parameters(), once):
        assert_close(p.grad, 2 * g, f"accumulated gradient of {p}")
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())


# --------------------------------------------------------------------------------------------- losses


def test_cross_entropy_loss_matches_torch(rng):
    logits, target = rng.standard_normal((6, 4)) * 3, rng.integers(0, 4, 6)
    lt = to_torch(logits, grad=True)
    expected = TF.cross_entropy(lt, torch.tensor(target))
    expected.backward()
    loss_fn = nn.CrossEntropyLoss()
    assert_close(loss_fn(logits, target), expected.item())
    assert_close(loss_fn.backward(), lt.grad)
    assert loss_fn(logits.astype(np.float32), target) == pytest.approx(expected.item(), rel=1e-5)
    assert loss_fn.backward().dtype == np.float32  # the gradient keeps the prediction's dtype


def test_mse_loss_matches_torch(rng):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    pt = to_torch(pred, grad=True)
    expected = TF.mse_loss(pt, to_torch(target))
    expected.backward()
    loss_fn = nn.MSELoss()
    assert_close(loss_fn(pred, target), expected.item())
    assert_close(loss_fn.backward(), pt.grad)


def test_loss_backward_before_the_loss_is_explained():
    with pytest.raises(RuntimeError, match="before the loss was computed"):
        nn.MSELoss().backward()


# ----------------------------------------------------------------------------------------- optimisers

OPTIMISERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01, alpha=0.9)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.05)),
]


OPTIMISER_IDS = [f"{name}-{'-'.join(map(str, kwargs.values()))}" for name, kwargs in OPTIMISERS]


@pytest.mark.parametrize("name,kwargs", OPTIMISERS, ids=OPTIMISER_IDS)
def test_optimiser_trains_a_model_like_torch_optim(rng, name, kwargs):
    """Six steps on a two-layer network, new batch each step, learning rate halved halfway (as a schedule
    does); the parameters must follow torch.optim's after every step."""
    ours = nn.Sequential(nn.Linear(3, 4, **F64), nn.Tanh(), nn.Linear(4, 4, **F64))
    ours, theirs = paired(ours, tnn.Sequential(tnn.Linear(3, 4), tnn.Tanh(), tnn.Linear(4, 4)), rng)
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(6):
        if step == 3:
            opt.lr /= 2
            opt_t.param_groups[0]["lr"] /= 2
        x, y = rng.standard_normal((5, 3)), rng.integers(0, 4, 5)
        opt.zero_grad()
        loss_fn(ours(x), y)
        ours.backward(loss_fn.backward())
        opt.step()
        opt_t.zero_grad()
        TF.cross_entropy(theirs(to_torch(x)), torch.tensor(y)).backward()
        opt_t.step()
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            assert_close(p.data, tp, f"{p} after step {step + 1}")


# ------------------------------------------------------------------------------------------- training


class RecordingOptimizer:
    """Leaves the model alone and records the learning rate of every step: fit's bookkeeping, isolated."""

    def __init__(self):
        self.lr, self.lrs = None, []

    def zero_grad(self):
        pass

    def step(self):
        self.lrs.append(self.lr)


def test_fit_epoch_loss_weights_batches_by_their_size(rng):
    model = nn.Linear(3, 4, rng=0, **F64)
    X, y = rng.standard_normal((10, 3)) * 3, rng.integers(0, 4, 10)  # batches of 4, 4 and 2
    history = fit(
        model, nn.CrossEntropyLoss(), RecordingOptimizer(), X, y, epochs=1, batch_size=4, rng=0, progress=False
    )
    assert_close(history["loss"][0], nn.CrossEntropyLoss()(model(X), y), "mean loss over the examples")
    assert history["train_acc"] == [accuracy(model, X, y)]


def test_train_epoch_loss_weights_batches_by_their_size(rng):
    model = nn.Linear(3, 4, rng=0, **F64)
    X, y = rng.standard_normal((10, 3)) * 3, rng.integers(0, 4, 10)
    loss = train_epoch(model, nn.CrossEntropyLoss(), RecordingOptimizer(), X, y, batch_size=4, rng=0)
    assert_close(loss, nn.CrossEntropyLoss()(model(X), y))


def test_fit_sets_the_scheduled_learning_rate_before_each_epoch(rng):
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 4, 10)
    opt = RecordingOptimizer()
    schedule = cosine(0.1, 4)
    fit(
        nn.Linear(3, 4, rng=0, **F64),
        nn.CrossEntropyLoss(),
        opt,
        X,
        y,
        epochs=4,
        batch_size=4,
        progress=False,
        lr_schedule=schedule,
    )
    assert opt.lrs == [float(schedule(epoch)) for epoch in range(4) for _ in range(3)]


def test_cosine_schedule_values_match_torch():
    schedule = cosine(0.1, 4)
    assert [schedule(e) for e in range(5)] == pytest.approx(
        [0.1, 0.1 * (2 + 2**0.5) / 4, 0.05, 0.1 * (2 - 2**0.5) / 4, 0.0], abs=1e-15
    )
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    for epoch in range(8):
        assert cosine(0.3, 7)(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
        opt.step()
        scheduler.step()


def small_classifier():
    """Linear, batch norm, dropout: the layers whose behaviour depends on the mode. Fixed seeds, so two calls
    give two identical models."""
    return nn.Sequential(
        nn.Linear(4, 8, rng=0, **F64),
        nn.BatchNorm1d(8, **F64),
        nn.ReLU(),
        nn.Dropout(0.2, rng=1),
        nn.Linear(8, 3, rng=2, **F64),
    )


def negate_and_draw(xb, rng):
    """An augmentation that changes the batch and uses the generator fit hands it."""
    rng.random()
    return -xb


def test_fit_is_the_documented_loop(rng):
    """fit = per epoch: train mode, shuffled batches from rng, augment(xb, rng), zero_grad, forward, loss,
    backward, step; then the weighted mean loss, the running accuracy and the validation accuracy."""
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    X_val, y_val = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    model = small_classifier().eval()  # fit must switch it to training mode itself
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.05),
        X,
        y,
        epochs=3,
        batch_size=8,
        rng=0,
        X_val=X_val,
        y_val=y_val,
        progress=False,
        augment=negate_and_draw,
    )

    manual, loss_fn = small_classifier(), nn.CrossEntropyLoss()
    opt, batch_rng = optim.Adam(manual.parameters(), lr=0.05), np.random.default_rng(0)
    expected = {"loss": [], "train_acc": [], "val_acc": []}
    for _ in range(3):
        manual.train()
        total = correct = 0
        for xb, yb in batches(X, y, 8, batch_rng):
            xb = negate_and_draw(xb, batch_rng)
            opt.zero_grad()
            logits = manual(xb)
            total += loss_fn(logits, yb) * len(yb)
            manual.backward(loss_fn.backward())
            opt.step()
            correct += int(np.sum(logits.argmax(axis=1) == yb))
        expected["loss"].append(total / len(X))
        expected["train_acc"].append(correct / len(X))
        expected["val_acc"].append(accuracy(manual, X_val, y_val))
    assert history.keys() == expected.keys()
    assert_close(history["loss"], expected["loss"])
    assert history["train_acc"] == expected["train_acc"] and history["val_acc"] == expected["val_acc"]
    for p, q in zip(model.parameters(), manual.parameters()):
        assert_close(p.data, q.data, f"{p} after fit")


@pytest.mark.parametrize("training", [True, False])
def test_predict_uses_eval_mode_and_restores_the_mode(rng, training):
    model = small_classifier()
    for _ in range(3):  # running statistics that differ from any single batch's
        model(rng.standard_normal((16, 4)) * 2 + 1)
    X = rng.standard_normal((7, 4))
    model.eval()
    expected = model(X).argmax(axis=1)
    model.train(training)
    assert np.array_equal(predict(model, X, batch_size=3), expected)  # batching does not matter in eval
    assert all(m.training == training for m in walk(model))


def test_accuracy_counts_matching_predictions():
    model = nn.Linear(3, 3, bias=False, **F64)
    model.weight.data[...] = np.eye(3)  # logits = inputs, so the prediction is the hot index
    X = np.eye(3)[[0, 1, 2, 0, 1]]
    assert accuracy(model, X, np.array([0, 1, 0, 0, 2]), batch_size=2) == pytest.approx(0.6)


# ------------------------------------------------------------------------------------------ augmentation


def shifted(image, dy, dx):
    """image (C, H, W) moved down by dy and right by dx, zeros coming in: the reference for random_shift."""
    _, h, w = image.shape
    out = np.zeros_like(image)
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_random_shift_moves_each_image_rigidly_with_zero_fill(rng):
    m = 2
    X = rng.standard_normal((8, 2, 7, 9))  # H != W, two channels: axes kept apart, channels moved together
    out = random_shift(X, m, rng)
    assert out.shape == X.shape
    shifts = set()
    for image, moved in zip(X, out):
        matches = [
            (dy, dx)
            for dy in range(-m, m + 1)
            for dx in range(-m, m + 1)
            if np.array_equal(shifted(image, dy, dx), moved)
        ]
        assert len(matches) == 1, matches
        shifts.add(matches[0])
    assert len(shifts) > 1  # different images, different shifts
    assert np.array_equal(random_shift(X, 0, rng), X)
    assert np.array_equal(random_shift(X, m, np.random.default_rng(3)), random_shift(X, m, np.random.default_rng(3)))


def test_random_shift_draws_the_two_axes_independently_and_uniformly():
    m, n = 2, 4000
    X = np.zeros((n, 1, 9, 9))
    X[:, 0, 4, 4] = 1  # one lit pixel in the centre: where it lands is the shift
    out = random_shift(X, m, np.random.default_rng(0))
    assert np.array_equal(out.sum(axis=(1, 2, 3)), np.ones(n))  # a shift of at most m keeps the pixel inside
    rows, cols = np.divmod(out[:, 0].reshape(n, -1).argmax(axis=1), 9)
    dy, dx = rows - 4, cols - 4
    values = np.arange(-m, m + 1)
    for axis in (dy, dx):  # each axis uniform on {-m..m}: 800 expected per value, standard deviation ~25
        counts = np.array([(axis == v).sum() for v in values])
        assert np.all(np.abs(counts - n / 5) < 0.15 * n / 5), counts
    joint = np.array([[np.sum((dy == a) & (dx == b)) for b in values] for a in values])
    assert np.all(np.abs(joint - n / 25) < 0.3 * n / 25), joint  # independent: every pair ~160 times
    assert np.mean(dy == dx) < 0.3  # 0.2 when independent; 1.0 if both axes took the same draw


# -------------------------------------------------------------------------------------------- regression


def numerical_gradient_at(loss, X, y, w, b):
    """The gradient of loss(w, b) at (w, b) by centred differences, as one vector (w..., b)."""
    wb = np.append(w, b)
    return numerical_gradient(lambda: loss(X, y, wb[:-1], wb[-1]), wb)


def mse(X, y, w, b):
    return np.mean((X @ w + b - y) ** 2)


def binary_cross_entropy(X, y, w, b):
    z = X @ w + b
    return np.mean(np.logaddexp(0, z) - y * z)


@pytest.mark.parametrize(
    "fit_gd,loss,lr", [(linear_regression_gd, mse, 0.05), (logistic_regression_gd, binary_cross_entropy, 0.5)]
)
def test_regression_steps_follow_the_finite_difference_gradient(rng, fit_gd, loss, lr):
    X = rng.standard_normal((20, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.standard_normal(20)
    if fit_gd is logistic_regression_gd:
        y = (y > 0).astype(float)
    w3, b3, _ = fit_gd(X, y, lr, steps=3)  # away from the zero start, where many wrong gradients agree
    w4, b4, losses = fit_gd(X, y, lr, steps=4)
    gradient = numerical_gradient_at(loss, X, y, w3, b3)
    np.testing.assert_allclose((np.append(w3, b3) - np.append(w4, b4)) / lr, gradient, rtol=1e-6, atol=1e-9)
    assert losses[3] == pytest.approx(loss(X, y, w3, b3), rel=1e-12)
    assert losses[0] == pytest.approx(loss(X, y, np.zeros(3), 0.0), rel=1e-12)


# ------------------------------------------------------------------------------------- conv arithmetic


@pytest.mark.parametrize(
    "c_in,c_out,k,bias", [(1, 6, 5, True), (3, 16, 3, True), (6, 4, (3, 1), False), (4, 4, 1, True)]
)
def test_conv2d_param_count_matches_torch(c_in, c_out, k, bias):
    layer = tnn.Conv2d(c_in, c_out, k, bias=bias)
    assert conv2d_param_count(c_in, c_out, k, bias) == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("n,k,s,p", [(28, 5, 1, 2), (7, 3, 2, 1), (9, 3, 2, 0), (10, 4, 2, 1), (5, 5, 1, 0)])
def test_conv_output_size_and_macs_match_torch(n, k, s, p):
    out = TF.conv2d(torch.zeros(1, 3, n, n), torch.zeros(2, 3, k, k), stride=s, padding=p)
    assert conv_output_size(n, k, s, p) == out.shape[-1]
    assert conv2d_macs(3, 2, k, out.shape[-1]) == out.numel() * 3 * k * k  # one multiply-add per weight per output


@pytest.mark.parametrize("n,k,s,p", [(8, 3, 2, 0), (7, 3, 3, 0), (10, 4, 3, 1), (6, 3, 2, 0)])
def test_conv_output_size_floors_like_torch_and_strict_refuses(n, k, s, p):
    out = TF.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p)
    assert conv_output_size(n, k, s, p) == out.shape[-1]
    ignored = (n + 2 * p - k) % s
    assert ignored > 0
    with pytest.raises(ValueError, match=f"stride {s} does not fit.*last {ignored} row"):
        conv_output_size(n, k, s, p, strict=True)
    with pytest.raises(ValueError, match="strict must be True or False"):
        conv_output_size(n, k, s, p, strict="yes")


def test_conv_output_size_strict_accepts_a_stride_that_fits():
    assert conv_output_size(7, 3, 2, 0, strict=True) == 3 == conv_output_size(7, 3, 2, 0)


# ---------------------------------------------------------------------------------------- torch models


def test_lenet5_shape_and_parameter_count():
    model = LeNet5()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 61_706 == nn.lenet5().num_parameters()
    convs = [m for m in model.modules() if isinstance(m, tnn.Conv2d)]
    assert sum(conv2d_param_count(c.in_channels, c.out_channels, c.kernel_size) for c in convs) == sum(
        p.numel() for c in convs for p in c.parameters()
    )


@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 8, 2)])
def test_basic_block_shape_and_parameter_count(c_in, c_out, stride):
    block = BasicBlock(c_in, c_out, stride)
    assert block(torch.zeros(2, c_in, 8, 8)).shape == (2, c_out, 8 // stride, 8 // stride)
    convs = c_in * c_out * 9 + c_out * c_out * 9 + 2 * 2 * c_out  # two 3x3 convs without bias, two BNs
    projection = c_in * c_out + 2 * c_out if (stride, c_in) != (1, c_out) else 0
    assert sum(p.numel() for p in block.parameters()) == convs + projection
    assert nn.ResidualBlock(c_in, c_out, stride).num_parameters() == convs + projection


def test_summary_lists_every_layer_of_lenet5(capsys):
    rows = summary(LeNet5(), (1, 1, 28, 28))
    assert [name for name, *_ in rows] == [f"features.{i}" for i in range(6)] + [f"classifier.{i}" for i in range(6)]
    assert [kind for _, kind, *_ in rows] == ["Conv2d", "ReLU", "MaxPool2d"] * 2 + ["Flatten"] + [
        "Linear",
        "ReLU",
    ] * 2 + ["Linear"]
    assert [shape for _, _, shape, _ in rows] == [
        (1, 6, 28, 28),
        (1, 6, 28, 28),
        (1, 6, 14, 14),
        (1, 16, 10, 10),
        (1, 16, 10, 10),
        (1, 16, 5, 5),
        (1, 400),
        (1, 120),
        (1, 120),
        (1, 84),
        (1, 84),
        (1, 10),
    ]
    assert [params for *_, params in rows] == [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]
    assert sum(params for *_, params in rows) == 61_706
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(rows) + 1  # header, one line per layer, total
    assert lines[-1].split() == ["total", "61,706"]


@pytest.mark.parametrize("training", [True, False])
def test_summary_of_a_block_keeps_the_mode_and_the_running_statistics(capsys, training):
    block = BasicBlock(2, 4, 2).train(training)
    stats = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in batch_norms(block)]
    rows = summary(block, (3, 2, 6, 6), print_table=False)
    assert capsys.readouterr().out == ""
    assert [name for name, *_ in rows] == ["conv1", "bn1", "conv2", "bn2", "shortcut.0", "shortcut.1"]
    assert rows[-1][2] == (3, 4, 3, 3)
    assert sum(params for *_, params in rows) == sum(p.numel() for p in block.parameters())
    assert all(m.training == training for m in block.modules())
    for bn, (mean, var) in zip(batch_norms(block), stats):  # summary runs in eval mode: nothing learnt
        assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)


# ------------------------------------------------------------------------------------------- mutations


def test_every_planted_bug_still_has_its_target_in_the_source():
    """benchmarks/mutations.py plants bugs by exact text substitution; a refactor that removes the text
    would silently turn a mutation off. (The mutations themselves run from that script, not here.)"""
    spec = importlib.util.spec_from_file_location("mutations", REPO / "benchmarks" / "mutations.py")
    mutations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutations)
    assert len({m.name for m in mutations.MUTATIONS}) == len(mutations.MUTATIONS) >= 9
    for mutation in mutations.MUTATIONS:
        source = (REPO / "dlcourse" / mutation.path).read_text()
        for old, new in mutation.substitutions:
            assert old != new
            count = source.count(old)
            assert count == 1, f"{mutation.name}: {old!r} occurs {count} times in {mutation.path}, expected once"
