"""NumPy layers: gradients by finite differences, optimisers against torch.optim, fitting tiny problems."""

import numpy as np
import pytest
import torch

from dlcourse import nn, optim
from dlcourse.data import make_dataset
from dlcourse.gradcheck import numerical_gradient, relative_error
from dlcourse.train import accuracy, batches, fit


def _gradcheck_model(model, x, rng):
    """Compare every parameter's and the input's gradient of sum(model(x) * dout) with finite differences."""
    model.train()
    dout = rng.standard_normal(model(x).shape)
    model.zero_grad()
    model(x)
    dx = model.backward(dout)
    f = lambda: np.sum(model(x) * dout)  # noqa: E731
    assert relative_error(dx, numerical_gradient(f, x)) < 1e-5
    for p in model.parameters():
        assert relative_error(p.grad, numerical_gradient(f, p.data)) < 1e-5, p


def test_lenet_style_stack_gradients(rng):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 3, 2, stride=2, rng=rng, dtype=np.float64),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 4, rng=rng, dtype=np.float64),
    )
    _gradcheck_model(model, rng.standard_normal((2, 1, 8, 8)), rng)


@pytest.mark.parametrize("stride,c_in,c_out", [(1, 3, 3), (2, 2, 4)])
def test_residual_block_gradients(rng, stride, c_in, c_out):
    block = nn.ResidualBlock(c_in, c_out, stride, rng=rng, dtype=np.float64)
    _gradcheck_model(block, rng.standard_normal((3, c_in, 6, 6)), rng)


def test_parameter_counts():
    assert nn.lenet5().num_parameters() == 61_706
    assert nn.Linear(3, 2).num_parameters() == 8
    assert nn.Conv2d(3, 16, 3).num_parameters() == 16 * 27 + 16


def test_eval_mode_turns_off_dropout_and_uses_running_stats(rng):
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5, rng=0))
    x = rng.standard_normal((16, 3)) * 4 + 2
    for _ in range(50):
        model(x)
    model.eval()
    out = model(x)
    bn = model[0]
    assert np.allclose(bn.running_mean, x.mean(axis=0), atol=1e-2)
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    assert np.allclose(out, expected)


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.5)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.01)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizer_matches_torch_over_many_steps(rng, name, kwargs):
    w0 = rng.standard_normal((3, 4))
    targets = [rng.standard_normal((3, 4)) for _ in range(12)]
    p = nn.Parameter(w0.copy())
    ours = getattr(optim, name)([p], **kwargs)
    wt = torch.tensor(w0.copy(), requires_grad=True)
    theirs = getattr(torch.optim, name)([wt], **kwargs)
    for target in targets:  # a changing quadratic, so the gradients differ at every step
        p.grad[...] = 2 * (p.data - target) + np.sin(p.data)
        ours.step()
        theirs.zero_grad()
        (((wt - torch.tensor(target)) ** 2).sum() - torch.cos(wt).sum()).backward()
        theirs.step()
        assert relative_error(p.data, wt.detach().numpy()) < 1e-6


def test_mlp_fits_circles_to_near_zero_loss():
    X, y = make_dataset("circles", n=200, noise=0.05, rng=0)
    model = nn.Sequential(
        nn.Linear(2, 32, rng=0, dtype=np.float64), nn.ReLU(), nn.Linear(32, 2, rng=1, dtype=np.float64)
    )
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.02),
        X,
        y,
        epochs=150,
        batch_size=50,
        rng=0,
        progress=False,
    )
    assert history["loss"][-1] < 0.02
    assert accuracy(model, X, y) == 1.0


@pytest.mark.slow  # trains two networks: tens of seconds on two cores
def test_tiny_cnn_and_resnet_memorise_a_few_digits():
    from dlcourse.data import load_digits

    X, y, _, _ = load_digits()
    X, y = X[:64], y[:64]
    for model, lr in ((nn.lenet5(rng=0), 3e-3), (nn.small_resnet(widths=(8, 16, 16), rng=0), 1e-2)):
        history = fit(
            model,
            nn.CrossEntropyLoss(),
            optim.Adam(model.parameters(), lr=lr),
            X,
            y,
            epochs=40,
            batch_size=16,
            rng=0,
            progress=False,
        )
        assert history["loss"][-1] < 0.05, type(model)
        assert accuracy(model, X, y) == 1.0


def test_batches_cover_the_data_once(rng):
    X, y = np.arange(10)[:, None], np.arange(10)
    seen = np.concatenate([yb for _, yb in batches(X, y, 3, rng)])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, np.arange(10))
    assert [len(yb) for _, yb in batches(X, y, 4, shuffle=False)] == [4, 4, 2]


RULE_SETTINGS = [
    ("sgd", dict(lr=0.1), lambda p: torch.optim.SGD([p], lr=0.1)),
    ("momentum", dict(lr=0.05, momentum=0.8), lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.8)),
    ("nesterov", dict(lr=0.05, momentum=0.8), lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.8, nesterov=True)),
    ("adagrad", dict(lr=0.3, eps=1e-6), lambda p: torch.optim.Adagrad([p], lr=0.3, eps=1e-6)),
    ("rmsprop", dict(lr=0.02, alpha=0.9, eps=1e-6), lambda p: torch.optim.RMSprop([p], lr=0.02, alpha=0.9, eps=1e-6)),
    (
        "adam",
        dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6),
        lambda p: torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    ),
]


@pytest.mark.parametrize("name,hyper,make", RULE_SETTINGS, ids=[s[0] for s in RULE_SETTINGS])
def test_update_rules_match_torch_optim_over_many_steps(rng, name, hyper, make):
    """Lab 02's reference rules, as pure functions, against torch.optim for 15 steps (1e-6 relative)."""
    from dlcourse.optim.rules import RULES

    p0 = rng.standard_normal((2, 3))
    ours, state = p0.copy(), {}
    theirs = torch.tensor(p0.copy(), requires_grad=True)
    opt = make(theirs)
    for _ in range(15):
        target = rng.standard_normal((2, 3))
        ours, state = RULES[name](ours, 2 * (ours - target) + np.cos(ours), state, **hyper)
        opt.zero_grad()
        (((theirs - torch.tensor(target)) ** 2).sum() + torch.sin(theirs).sum()).backward()
        opt.step()
        assert relative_error(ours, theirs.detach().numpy()) < 1e-6
