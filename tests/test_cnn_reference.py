"""Lab 07's reference answers and numbers: the layer table and receptive fields against PyTorch and against
gradients, the small CNN against autograd and finite differences, the training step against torch.optim.SGD,
and the figures' computations (confusion matrix, confident mistakes, penultimate features)."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import models
from dlcourse.architectures import from_layers
from dlcourse.explorers import features
from dlcourse.explorers.receptive_field import formula_box, gradient_region
from dlcourse.feedback.exercises.network import _random_stack
from dlcourse.gradcheck import check_gradients, numerical_gradient, relative_error
from dlcourse.reference import cnn


def test_lenet5_table_is_torchs_model():
    table = cnn.layer_table(cnn.LENET5, (1, 28, 28))
    rows = models.summary(models.LeNet5(), (1, 1, 28, 28), print_table=False)
    assert [shape for shape, _ in table] == [row[2][1:] for row in rows]
    assert [params for _, params in table] == [row[3] for row in rows]
    assert sum(p for _, p in table) == 61_706 == sum(p.numel() for p in models.LeNet5().parameters())
    assert round(table[7][1] / 61_706, 2) == 0.78  # the recap's "78 % in the first linear layer"


@pytest.mark.parametrize("seed", range(8))
def test_layer_table_matches_torch_on_random_stacks(seed):
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(8, 41)), int(rng.integers(8, 41)))
    layers, channels = _random_stack(rng, size), int(rng.integers(1, 5))
    model = from_layers(layers, channels)
    x = torch.zeros(1, channels, *size)
    table = cnn.layer_table(layers, (channels, *size))
    for module, (shape, params) in zip(model, table):
        x = module(x)
        assert tuple(x.shape[1:]) == shape, (module, layers)
        assert sum(p.numel() for p in module.parameters()) == params, (module, layers)


def test_layer_table_refuses_what_cannot_be_built():
    with pytest.raises(ValueError, match="does not fit"):
        cnn.layer_table([{"type": "conv", "out_channels": 2, "kernel_size": 9}], (1, 8, 8))
    with pytest.raises(ValueError, match="flatten first"):
        cnn.layer_table([{"type": "linear", "out_features": 2}], (1, 8, 8))
    with pytest.raises(ValueError, match="'type' one of"):
        cnn.layer_table([{"type": "dense"}], (1, 8, 8))
    with pytest.raises(ValueError, match="kernel_size must be an int"):
        cnn.layer_table([{"type": "pool", "kernel_size": 0}], (1, 8, 8))


def test_self_check_numbers():
    """Lab 07's self-check 1 and 2, computed."""
    third = [
        *cnn.LENET5[:6],
        {"type": "conv", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"type": "pool", "kernel_size": 2},
        *cnn.LENET5[6:],
    ]
    table = cnn.layer_table(third, (1, 28, 28))
    assert table[6] == ((32, 5, 5), 4_640) and table[7][0] == (32, 2, 2)
    assert table[9] == ((120,), 15_480)
    conv3 = {"type": "conv", "out_channels": 1, "kernel_size": 3}
    assert cnn.receptive_fields([conv3] * 3)[0][-1] == 7
    assert cnn.receptive_fields([{**conv3, "stride": 2}] * 3) == ([3, 7, 15], [2, 4, 8])


def _no_holes_no_dropped_rows(layers, size):
    """Every window at least as wide as its stride (no holes), and every stride fitting exactly (rounding
    down drops no rows that the box would reach)."""
    for spec in layers:
        k, s, p = cnn.window(spec)
        if k < s or (size + 2 * p - k) % s:
            return False
        size = (size + 2 * p - k) // s + 1
    return True


@pytest.mark.parametrize("seed", range(10))
def test_receptive_field_is_where_the_gradient_reaches(seed):
    rng = np.random.default_rng(seed)
    layers = _random_stack(rng, (64, 64), flat_end=False)
    out_h, out_w = cnn.layer_table(layers, (1, 64, 64))[-1][0][1:]
    row, col = int(rng.integers(out_h)), int(rng.integers(out_w))
    region = gradient_region(layers, (64, 64), row, col)
    rows, cols = np.nonzero(region)
    top, bottom, left, right = formula_box(layers, row, col)
    assert bottom - top + 1 == right - left + 1 == cnn.receptive_fields(layers)[0][-1]
    assert max(top, 0) <= rows.min() and rows.max() <= min(bottom, 63)  # never outside the formula's box
    assert max(left, 0) <= cols.min() and cols.max() <= min(right, 63)
    if _no_holes_no_dropped_rows(layers, 64):  # then the gradient fills the box
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (
            max(top, 0),
            min(bottom, 63),
            max(left, 0),
            min(right, 63),
        )
        assert region.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


def test_receptive_field_by_torch_autograd():
    """gradient_region is what torch's autograd finds: the pixels with a non-zero gradient for one unit, with
    weights of one and average pooling (so that no path is cut)."""
    layers = cnn.LENET5[:6]
    model = from_layers(layers, 1).double()
    for i, module in enumerate(model):
        if isinstance(module, nn.Conv2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MaxPool2d):
            model[i] = nn.AvgPool2d(module.kernel_size, module.stride)
        elif isinstance(module, nn.ReLU):
            model[i] = nn.Identity()
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, 2, 3].backward()
    assert np.array_equal(x.grad[0, 0].numpy() != 0, gradient_region(layers, (28, 28), 2, 3))


def _cnn_case(rng, n=3, c=2, c1=4, hw=(6, 8), k=5):
    params = {
        "conv.weight": rng.standard_normal((c1, c, 3, 3)),
        "conv.bias": rng.standard_normal(c1),
        "fc.weight": rng.standard_normal((k, c1 * (hw[0] // 2) * (hw[1] // 2))),
        "fc.bias": rng.standard_normal(k),
    }
    return rng.standard_normal((n, c, *hw)), params


def test_small_cnn_matches_torch_autograd(rng):
    x, params = _cnn_case(rng)
    dscores = rng.standard_normal((3, 5))
    scores, cache = cnn.cnn_forward(x, params)
    grads = cnn.cnn_backward(dscores, cache, params)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.nn.functional.conv2d(torch.tensor(x), leaves["conv.weight"], leaves["conv.bias"], padding=1)
    out = torch.nn.functional.max_pool2d(torch.relu(out), 2).flatten(1)
    out = torch.nn.functional.linear(out, leaves["fc.weight"], leaves["fc.bias"])
    out.backward(torch.tensor(dscores))
    assert relative_error(scores, out.detach().numpy()) < 1e-12
    for key in params:
        assert relative_error(grads[key], leaves[key].grad.numpy()) < 1e-10, key


def test_small_cnn_backward_passes_a_gradient_check(rng):
    x, params = _cnn_case(rng, n=2, c=1, c1=2, hw=(4, 4), k=3)
    dscores = rng.standard_normal((2, 3))
    grads = cnn.cnn_backward(dscores, cnn.cnn_forward(x, params)[1], params)
    assert check_gradients(lambda: np.sum(cnn.cnn_forward(x, params)[0] * dscores), params, grads, verbose=False)


def test_flatten_is_torchs(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    assert np.array_equal(cnn.flatten(x), torch.flatten(torch.tensor(x), 1).numpy())
    assert np.array_equal(cnn.flatten_backward(cnn.flatten(x), x.shape), x)
    with pytest.raises(ValueError, match=r"dout must have shape \(N, C\*H\*W\)"):
        cnn.flatten_backward(np.zeros((2, 7)), x.shape)


def test_train_step_is_one_step_of_torch_sgd(rng):
    x, params = _cnn_case(rng)
    y = rng.integers(0, 5, 3)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.nn.functional.conv2d(torch.tensor(x), leaves["conv.weight"], leaves["conv.bias"], padding=1)
    out = torch.nn.functional.max_pool2d(torch.relu(out), 2).flatten(1)
    out = torch.nn.functional.linear(out, leaves["fc.weight"], leaves["fc.bias"])
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    loss.backward()
    torch.optim.SGD(leaves.values(), lr=0.1).step()
    ours = cnn.train_step(params, x, y, 0.1)
    assert abs(ours - loss.item()) < 1e-12
    for key in params:
        assert relative_error(params[key], leaves[key].detach().numpy()) < 1e-10, key


def test_train_step_lowers_the_loss_on_a_fixed_batch(rng):
    x, params = _cnn_case(rng, n=8, c=1, c1=4, hw=(6, 6), k=3)
    for key in params:
        params[key] *= 0.3
    y = rng.integers(0, 3, 8)
    losses = [cnn.train_step(params, x, y, 0.1) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_default_and_he_initialisation_variances():
    """Lab 07: PyTorch's default draws weights with variance 1/(3 fan-in); he_init_ with 2/fan-in."""
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    assert abs(layer.weight.var().item() * 3 * 400 - 1) < 0.05
    models.he_init_(layer)
    assert abs(layer.weight.var().item() * 400 / 2 - 1) < 0.05 and not layer.bias.abs().sum()


def test_confusion_matrix_matches_sklearn(rng):
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    assert np.array_equal(
        features.confusion_matrix(y_true, y_pred, 4), confusion_matrix(y_true, y_pred, labels=range(4))
    )
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        features.confusion_matrix(np.array([4]), np.array([0]), 4)


def test_confident_mistakes_are_wrong_and_sorted():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.99, 0.01]])
    y = np.array([1, 1, 0, 0, 0])
    assert list(features.confident_mistakes(probs, y)) == [0, 3, 2]


def test_penultimate_features_are_what_the_last_layer_sees():
    torch.manual_seed(0)
    model = models.LeNet5().eval()
    x = np.random.default_rng(0).random((5, 1, 28, 28)).astype(np.float32)
    got = models.penultimate_features(model, x)
    with torch.no_grad():
        want = model.classifier[:-1](model.features(torch.as_tensor(x))).numpy()
    assert got.shape == (5, 84) and np.allclose(got, want)


def test_sampled_gradient_check_catches_a_wrong_gradient(rng):
    w = rng.standard_normal((30, 30))
    f = lambda: np.sum(np.sin(w))  # noqa: E731
    assert check_gradients(f, {"w": w}, {"w": np.cos(w)}, samples=10, rng=0, verbose=False)
    assert not check_gradients(f, {"w": w}, {"w": 1.01 * np.cos(w)}, samples=10, rng=0, verbose=False)
    assert np.allclose(numerical_gradient(f, w), np.cos(w), atol=1e-8)
