"""Every op in dlcourse.functional against torch in float64, forward and backward (1e-6 relative)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from dlcourse import functional as F
from dlcourse.gradcheck import relative_error

TOL = 1e-6


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def torch_grads(fn, inputs, dout):
    """Gradients of sum(fn(*inputs) * dout) with respect to every input that is a tensor with grad."""
    out = fn(*inputs)
    out.backward(t(dout))
    return out.detach().numpy(), [
        x.grad.numpy() if isinstance(x, torch.Tensor) and x.requires_grad else None for x in inputs
    ]


@pytest.mark.parametrize(
    "name,tfn", [("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("leaky_relu", TF.leaky_relu)]
)
def test_activations(rng, name, tfn):
    x = rng.standard_normal((3, 4, 5)) * 3
    x.flat[::7] = 0.0  # the kinks
    dout = rng.standard_normal(x.shape)
    out, (dx,) = torch_grads(tfn, [t(x, True)], dout)
    assert relative_error(getattr(F, name)(x), out) < TOL
    assert relative_error(getattr(F, name + "_backward")(dout, x), dx) < TOL


def test_leaky_relu_slope(rng):
    x = rng.standard_normal(50)
    dout = rng.standard_normal(50)
    out, (dx,) = torch_grads(lambda a: TF.leaky_relu(a, 0.2), [t(x, True)], dout)
    assert relative_error(F.leaky_relu(x, 0.2), out) < TOL
    assert relative_error(F.leaky_relu_backward(dout, x, 0.2), dx) < TOL


def test_sigmoid_stable_at_extremes():
    x = np.array([-1000.0, -745.0, 0.0, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # not even a warning
        s = F.sigmoid(x)
    assert np.allclose(s, torch.sigmoid(t(x)).numpy(), rtol=0, atol=1e-300)


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_and_log_softmax(rng, dim):
    x = rng.standard_normal((4, 6)) * 5
    dout = rng.standard_normal(x.shape)
    assert relative_error(F.softmax(x, dim), torch.softmax(t(x), dim).numpy()) < TOL
    assert relative_error(F.log_softmax(x, dim), torch.log_softmax(t(x), dim).numpy()) < TOL
    del dout


def test_softmax_stable_for_huge_logits():
    x = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = F.softmax(x)
        lp = F.log_softmax(x)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    assert relative_error(p, torch.softmax(t(x), -1).numpy()) < TOL
    assert relative_error(lp, torch.log_softmax(t(x), -1).numpy()) < TOL


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_and_gradient(rng, scale):
    logits = rng.standard_normal((7, 5)) * scale
    target = rng.integers(0, 5, 7)
    lt = t(logits, True)
    loss = TF.cross_entropy(lt, torch.tensor(target))
    loss.backward()
    ours = F.cross_entropy(logits, target)
    assert np.isfinite(ours)
    assert relative_error(ours, loss.item()) < TOL
    assert relative_error(F.cross_entropy_backward(logits, target), lt.grad.numpy()) < TOL


def test_cross_entropy_of_uniform_guess_is_log_of_classes():
    assert np.isclose(F.cross_entropy(np.zeros((3, 10)), np.array([0, 5, 9])), np.log(10))


def test_mse_and_gradient(rng):
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    pt = t(pred, True)
    loss = TF.mse_loss(pt, t(target))
    loss.backward()
    assert relative_error(F.mse_loss(pred, target), loss.item()) < TOL
    assert relative_error(F.mse_loss_backward(pred, target), pt.grad.numpy()) < TOL


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4)])
def test_linear(rng, with_bias, x_shape):
    x, w = rng.standard_normal(x_shape), rng.standard_normal((3, 4))
    b = rng.standard_normal(3) if with_bias else None
    dout = rng.standard_normal(x_shape[:-1] + (3,))
    inputs = [t(x, True), t(w, True), t(b, True) if with_bias else None]
    out, grads = torch_grads(TF.linear, inputs, dout)
    dx, dw, db = F.linear_backward(dout, x, w, b)
    assert relative_error(F.linear(x, w, b), out) < TOL
    assert relative_error(dx, grads[0]) < TOL and relative_error(dw, grads[1]) < TOL
    assert (db is None) if not with_bias else relative_error(db, grads[2]) < TOL


CONV_CASES = [
    # x shape, (C_out, kH, kW), stride, padding
    ((2, 3, 7, 7), (4, 3, 3), 1, 0),
    ((2, 3, 9, 9), (4, 3, 3), 2, 1),
    ((1, 2, 10, 11), (3, 3, 3), 3, 2),
    ((2, 3, 8, 12), (5, 2, 4), (2, 3), (1, 2)),  # non-square input, kernel, stride and padding
    ((3, 1, 28, 28), (6, 5, 5), 1, 2),  # LeNet's first layer
    ((2, 4, 6, 5), (2, 1, 1), 2, 0),  # a 1x1 projection with stride 2
    ((2, 2, 5, 5), (3, 5, 5), 1, 0),  # kernel as large as the input
]


@pytest.mark.parametrize("x_shape,k,stride,padding", CONV_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d(rng, x_shape, k, stride, padding, with_bias):
    c_out, kh, kw = k
    x, w = rng.standard_normal(x_shape), rng.standard_normal((c_out, x_shape[1], kh, kw))
    b = rng.standard_normal(c_out) if with_bias else None
    out_t = TF.conv2d(t(x), t(w), t(b) if with_bias else None, stride, padding).numpy()
    dout = rng.standard_normal(out_t.shape)
    inputs = [t(x, True), t(w, True), t(b, True) if with_bias else None]
    out, grads = torch_grads(lambda a, bw, bb: TF.conv2d(a, bw, bb, stride, padding), inputs, dout)
    ours = F.conv2d(x, w, b, stride, padding)
    dx, dw, db = F.conv2d_backward(dout, x, w, b, stride, padding)
    assert ours.shape == out.shape
    assert relative_error(ours, out) < TOL
    assert relative_error(dx, grads[0]) < TOL
    assert relative_error(dw, grads[1]) < TOL
    assert (db is None) if not with_bias else relative_error(db, grads[2]) < TOL


POOL_CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 2, 7, 9), 3, 2, 1),
    ((1, 2, 9, 7), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 6, 6), 3, 1, 0),
]


@pytest.mark.parametrize("x_shape,k,s,p", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(rng, x_shape, k, s, p, kind):
    x = rng.standard_normal(x_shape)
    tfn = {"max": TF.max_pool2d, "avg": TF.avg_pool2d}[kind]
    out_shape = tfn(t(x), k, s, p).shape
    dout = rng.standard_normal(tuple(out_shape))
    out, (dx,) = torch_grads(lambda a: tfn(a, k, s, p), [t(x, True)], dout)
    assert relative_error(getattr(F, f"{kind}_pool2d")(x, k, s, p), out) < TOL
    assert relative_error(getattr(F, f"{kind}_pool2d_backward")(dout, x, k, s, p), dx) < TOL


def test_max_pool_ties_go_to_the_first_maximum_like_torch(rng):
    x = rng.integers(0, 2, size=(2, 2, 6, 6)).astype(float)  # many ties
    for k, s in [(2, 2), (3, 1), (3, 2)]:
        dout = rng.standard_normal(TF.max_pool2d(t(x), k, s).shape)
        _, (dx,) = torch_grads(lambda a, k=k, s=s: TF.max_pool2d(a, k, s), [t(x, True)], dout)
        assert np.allclose(F.max_pool2d_backward(dout, x, k, s), dx)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(rng, shape, training):
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    rm, rv = rng.standard_normal(c) * 0.1, 1 + rng.random(c)
    w, b = 1 + rng.standard_normal(c) * 0.1, rng.standard_normal(c) * 0.1
    dout = rng.standard_normal(shape)
    rm_t, rv_t = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    inputs = [t(x, True), t(w, True), t(b, True)]
    out, grads = torch_grads(lambda a, ww, bb: TF.batch_norm(a, rm_t, rv_t, ww, bb, training, 0.1, 1e-5), inputs, dout)
    rm_ours, rv_ours = rm.copy(), rv.copy()
    ours = F.batch_norm(x, rm_ours, rv_ours, w, b, training, 0.1, 1e-5)
    dx, dw, db = F.batch_norm_backward(dout, x, rm, rv, w, b, training, 1e-5)
    assert relative_error(ours, out) < TOL
    # torch applies the forward update twice here (once in torch_grads); compare with one update.
    rm_once, rv_once = rm.copy(), rv.copy()
    F.batch_norm(x, rm_once, rv_once, w, b, training)
    torch_rm, torch_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    TF.batch_norm(t(x), torch_rm, torch_rv, t(w), t(b), training, 0.1, 1e-5)
    assert relative_error(rm_once, torch_rm.numpy()) < TOL and relative_error(rv_once, torch_rv.numpy()) < TOL
    assert relative_error(dx, grads[0]) < TOL
    assert relative_error(dw, grads[1]) < TOL and relative_error(db, grads[2]) < TOL


def test_dropout_matches_torch_given_the_same_mask(rng):
    x = rng.standard_normal((50, 40))
    p = 0.3
    mask = F.dropout_mask(x.shape, p, rng)
    expected = torch.tensor(x) * torch.tensor(mask) / (1 - p)  # torch's rule, with our mask
    assert np.allclose(F.dropout(x, p, mask=mask), expected.numpy())
    dout = rng.standard_normal(x.shape)
    assert np.allclose(F.dropout_backward(dout, mask, p), dout * mask / (1 - p))
    assert F.dropout(x, p, training=False) is x
    # Inverted dropout keeps the mean: E[out] = x.
    big = np.ones((400, 400))
    assert abs(F.dropout(big, 0.5, rng=rng).mean() - 1) < 0.02
    # The same seed gives the same mask.
    assert np.array_equal(F.dropout(x, p, rng=np.random.default_rng(5)), F.dropout(x, p, rng=np.random.default_rng(5)))


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "avg_pool2d", "linear", "relu", "sigmoid", "batch_norm"])
def test_float32_in_float32_out(rng, op):
    x4 = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    calls = {
        "conv2d": lambda: F.conv2d(
            x4, rng.standard_normal((2, 3, 3, 3)).astype(np.float32), np.zeros(2, np.float32), 2, 1
        ),
        "max_pool2d": lambda: F.max_pool2d(x4, 2),
        "avg_pool2d": lambda: F.avg_pool2d(x4, 3, 1, 1),
        "linear": lambda: F.linear(x4.reshape(2, -1), np.ones((4, 108), np.float32), np.ones(4, np.float32)),
        "relu": lambda: F.relu(x4),
        "sigmoid": lambda: F.sigmoid(x4),
        "batch_norm": lambda: F.batch_norm(x4, np.zeros(3, np.float32), np.ones(3, np.float32), training=True),
    }
    assert calls[op]().dtype == np.float32
    if op == "conv2d":
        w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
        out = F.conv2d(x4, w, None, 1, 1)
        assert all(g.dtype == np.float32 for g in F.conv2d_backward(out, x4, w, None, 1, 1)[:2])
