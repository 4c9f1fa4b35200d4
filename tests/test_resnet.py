"""Lab 09's reference code and numbers: the residual block against PyTorch and finite differences, the gradient
norms, the plain/residual digits networks, the ResNet family's counts, the gradient-flow explorer, and conv2d's
two memory layouts."""

import numpy as np
import pytest
import torch

from dlcourse import architectures, models
from dlcourse import functional as F
from dlcourse import nn as dnn
from dlcourse.feedback.exercises.resnet import block_params
from dlcourse.functional import conv as conv_module
from dlcourse.gradcheck import check_gradients, relative_error
from dlcourse.reference import resnet

RENAME = {
    "shortcut.0.weight": "shortcut.weight",
    "shortcut.1.weight": "shortcut_bn.weight",
    "shortcut.1.bias": "shortcut_bn.bias",
}


def _torch_block(c_in, c_out, stride, seed):
    torch.manual_seed(seed)
    block = models.BasicBlock(c_in, c_out, stride).double().train()
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.normal_(m.bias, 0.0, 0.3)
    return block, {RENAME.get(k, k): p.detach().numpy().copy() for k, p in block.named_parameters()}


@pytest.mark.parametrize(
    "c_in,c_out,stride,size", [(4, 4, 1, 7), (4, 8, 2, 8), (3, 5, 1, 6), (5, 5, 2, 9), (2, 3, 2, 5)]
)
def test_residual_block_matches_torch_forward_and_backward(c_in, c_out, stride, size):
    block, params = _torch_block(c_in, c_out, stride, seed=c_in * 10 + c_out)
    assert ("shortcut.weight" in params) == (stride != 1 or c_in != c_out)
    x = torch.randn(3, c_in, size, size, dtype=torch.float64, requires_grad=True)
    out = block(x)
    assert relative_error(resnet.residual_block(x.detach().numpy(), params, stride), out.detach().numpy()) < 1e-10
    dout = torch.randn_like(out)
    out.backward(dout)
    grads = resnet.residual_block_backward(dout.numpy(), x.detach().numpy(), params, stride)
    expected = {"x": x.grad.numpy(), **{RENAME.get(k, k): p.grad.numpy() for k, p in block.named_parameters()}}
    assert set(grads) == set(expected)
    for key, value in expected.items():
        assert relative_error(grads[key], value) < 1e-9, key


def test_residual_block_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    params = block_params(rng, 3, 4, projection=True)
    x, dout = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 4, 3, 3))
    grads = resnet.residual_block_backward(dout, x, params, 2)
    assert check_gradients(
        lambda: float(np.sum(resnet.residual_block(x, params, 2) * dout)), {"x": x, **params}, grads, verbose=False
    )


def test_identity_block_passes_the_upstream_gradient_to_x():
    """With an identity shortcut, dx minus the branch's share is relu_backward(dout, out's pre-activation)."""
    rng = np.random.default_rng(1)
    params = block_params(rng, 4, 4, projection=False)
    x, dout = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((2, 4, 5, 5))
    grads = resnet.residual_block_backward(dout, x, params)
    zeroed = dict(params, **{"conv1.weight": np.zeros_like(params["conv1.weight"])})  # branch constant in x
    out = resnet.residual_block(x, zeroed)
    passed = resnet.residual_block_backward(dout, x, zeroed)["x"]
    assert np.allclose(passed, dout * (out > 0))
    assert not np.allclose(grads["x"], passed)


def test_residual_block_rejects_bad_input():
    rng = np.random.default_rng(0)
    params = block_params(rng, 3, 4, projection=False)
    with pytest.raises(ValueError, match="projection shortcut"):
        resnet.residual_block(rng.standard_normal((1, 3, 4, 4)), params)
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        resnet.residual_block(rng.standard_normal((1, 3, 4, 4)), params, stride=3)
    with pytest.raises(ValueError, match="input channels"):
        resnet.residual_block(rng.standard_normal((1, 5, 4, 4)), params)
    with pytest.raises(ValueError, match="missing"):
        resnet.residual_block(rng.standard_normal((1, 3, 4, 4)), {"conv1.weight": params["conv1.weight"]})


def test_gradient_norms_ignores_leftovers_and_measures_in_training_mode():
    torch.manual_seed(0)
    model = models.digits_net(6, residual=True).double()
    x, y = torch.rand(8, 1, 28, 28, dtype=torch.float64), torch.arange(8) % 10
    model.eval()
    for p in model.parameters():
        p.grad = torch.full_like(p, 5.0)
    norms = resnet.gradient_norms(model, x, y)
    assert not model.training  # the mode the model was handed over in
    fresh = models.digits_net(6, residual=True).double()
    fresh.load_state_dict(model.state_dict())
    fresh.train()
    torch.nn.functional.cross_entropy(fresh(x), y).backward()
    layers = [m for m in fresh.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(norms) == len(layers) == 6 + 1  # six layers of depth and one projection shortcut
    assert np.allclose(norms, [float(m.weight.grad.norm()) for m in layers], rtol=1e-10)


@pytest.mark.parametrize("depth", [6, 10, 18, 34])
@pytest.mark.parametrize("residual", [False, True])
def test_digits_net_has_the_depth_it_names(depth, residual):
    net = models.digits_net(depth, residual=residual)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    projections = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(convs) + len(linears) == depth and len(projections) == (1 if residual else 0)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_plain_and_residual_twins_differ_only_by_the_shortcuts():
    plain, res = models.digits_net(18, residual=False), models.digits_net(18, residual=True)
    extra = sum(p.numel() for p in res.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 8 * 16 + 2 * 16  # the one projection: a 1x1 conv from 8 to 16 channels and its batch norm


@pytest.mark.parametrize("depth", [5, 7, 0, 18.0, True])
def test_digits_net_rejects_impossible_depths(depth):
    with pytest.raises(ValueError, match="depth must be 2 plus"):
        models.digits_net(depth)


def test_block_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        models.Block(4, 4, activation="gelu")


def test_resnet_family_counts():
    counts = {}
    for depth in (18, 34, 50):
        with torch.device("meta"):
            rows = architectures.profile(architectures.resnet(depth), (1, 3, 224, 224))
        counts[depth] = (sum(r[3] for r in rows), sum(r[4] for r in rows))
    assert [counts[d][0] for d in (18, 34, 50)] == [11_689_512, 21_797_672, 25_557_032]
    assert [round(counts[d][1] / 1e9, 2) for d in (18, 34, 50)] == [1.81, 3.66, 4.09]
    with torch.device("meta"):
        assert sum(p.numel() for p in architectures.resnet18().parameters()) == 11_689_512
    bottleneck = architectures.Bottleneck(256, 64)
    assert sum(m.weight.numel() for m in bottleneck.modules() if isinstance(m, torch.nn.Conv2d)) == 69_632
    assert bottleneck(torch.zeros(1, 256, 8, 8)).shape == (1, 256, 8, 8)
    assert architectures.Bottleneck(256, 128, 2)(torch.zeros(1, 256, 8, 8)).shape == (1, 512, 4, 4)
    with pytest.raises(ValueError, match="depth must be one of"):
        architectures.resnet(101)


def test_small_resnet_stem_pool_quarters_the_maps():
    net = dnn.small_resnet(widths=(4, 8), stem_pool=True, rng=0)
    assert net(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    assert isinstance(net[3], dnn.MaxPool2d)


# --- conv2d: the channels-first and channels-last layouts agree with torch ------------------------------------------


@pytest.mark.parametrize("layout", ["first", "last"])
@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding",
    [
        ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
        ((2, 32, 4, 4), (8, 32, 3, 3), 1, 1),
        ((3, 2, 9, 8), (5, 2, 3, 2), (2, 1), (1, 0)),
        ((2, 4, 6, 5), (3, 4, 1, 1), 2, 0),
        ((1, 3, 8, 8), (2, 3, 5, 5), 1, 2),
    ],
)
def test_conv2d_layouts_match_torch(layout, x_shape, w_shape, stride, padding, monkeypatch):
    limit = 1e9 if layout == "first" else 0.0
    monkeypatch.setattr(conv_module, "WASTE_LIMIT", limit)
    monkeypatch.setattr(conv_module, "WASTE_LIMIT_MANY_CHANNELS", limit)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_t = torch.nn.functional.conv2d(xt, wt, bt, stride, padding)
    out = F.conv2d(x, w, b, stride, padding)
    assert np.allclose(out, out_t.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    dx, dw, db = F.conv2d_backward(dout, x, w, b, stride, padding)
    for ours, theirs in ((dx, xt.grad), (dw, wt.grad), (db, bt.grad)):
        assert np.allclose(ours, theirs.numpy(), atol=1e-11)


def test_the_layout_switch_takes_both_paths():
    """The two layouts above are forced; here the default thresholds pick each where it is faster."""

    def plan(x_shape, kernel, stride, padding):
        h = (x_shape[2] + 2 * padding - kernel) // stride + 1
        return conv_module._Grid(x_shape, (kernel, kernel), (stride, stride), (padding, padding), (h, h))

    assert plan((32, 8, 14, 14), 3, 1, 1).unit_stride  # few channels, little waste: channels-first
    assert plan((32, 16, 7, 7), 3, 1, 1).unit_stride
    assert not plan((32, 32, 4, 4), 3, 1, 1).unit_stride  # many channels on a small map: channels-last
    assert not plan((32, 8, 14, 14), 3, 2, 1).unit_stride  # strided: channels-last


# --- the gradient-flow explorer ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from dlcourse.data import load_digits

    X, y, _, _ = load_digits()
    return X[:256], y[:256]


def test_gradient_flow_explorer_measures_plain_and_residual(digits):
    from dlcourse.explorers.gradient_flow import GradientFlowExplorer

    e = GradientFlowExplorer(*digits, depth=18, steps=4)
    assert e.steps == 4
    plain, res = e.measure(), e.measure(residual=True)
    assert len(plain["norms"]) == 18 and len(res["norms"]) == 19 and len(plain["losses"]) == 4
    assert e.ratio() > 3 * e.ratio(residual=True)  # batch-normalised plain nets: gradients grow toward the input
    fig = e.figure()
    assert len(fig.axes) == 2 and "depth 18" in fig._suptitle.get_text()
    e.set(batch_norm=False, activation="sigmoid", depth=10)
    assert e.ratio() < 1e-2  # sigmoid without batch norm: the gradient vanishes toward the input


def test_gradient_flow_explorer_rejects_bad_settings(digits):
    from dlcourse.explorers.gradient_flow import GradientFlowExplorer

    e = GradientFlowExplorer(*digits, depth=10, steps=2)
    for bad in ({"depth": 12}, {"residual": "yes"}, {"activation": "gelu"}, {"width": 3}):
        with pytest.raises(ValueError):
            e.set(**{"batch_norm": False, **bad})
        assert (e.depth, e.batch_norm) == (10, True)
    with pytest.raises(ValueError, match="at least 64"):
        GradientFlowExplorer(*(a[:10] for a in digits))
    with pytest.raises(ValueError, match="28, 28"):
        GradientFlowExplorer(np.zeros((100, 1, 8, 8)), np.zeros(100))


def test_gradient_flow_widget_drives_its_explorer(digits):
    from dlcourse.explorers.widgets import gradient_flow_explorer

    w = gradient_flow_explorer(*digits, depth=10)
    w.controls["residual"].value = True
    w.controls["depth"].value = 14
    assert (w.explorer.residual, w.explorer.depth) == (True, 14)
