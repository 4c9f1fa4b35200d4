"""Explorers: their state and computation, and the widgets bound to them, driven without a browser."""

import numpy as np
import pytest

from dlcourse.data import make_blobs, make_xor
from dlcourse.explorers import ACTIVATIONS, ActivationExplorer, NeuronExplorer
from dlcourse.explorers.widgets import activation_explorer, neuron_explorer


@pytest.fixture
def blobs():
    return make_blobs(100, centers=2, spread=0.5, rng=0)


def test_neuron_boundary_is_the_line_z_equals_zero(blobs):
    X, y = blobs
    e = NeuronExplorer(X, y, w1=1.0, w2=2.0, b=-1.0, activation="sigmoid")
    on_line = np.array([[1.0, 0.0], [-1.0, 1.0]])  # 1*x1 + 2*x2 - 1 = 0
    assert np.allclose(e.output(on_line), 0.5)
    assert e.boundary() == "+1.00*x1 +2.00*x2 -1.00 = 0"
    assert "no boundary" in e.set(w1=0, w2=0).boundary()


def test_neuron_accuracy_follows_the_weights(blobs):
    X, y = blobs
    e = NeuronExplorer(X, y)
    # Class 1 sits around (-1.4, -1.4) and class 0 around (1.4, 1.4): w pointing to class 1 separates them.
    assert e.set(w1=-1, w2=-1, b=0).accuracy() == 1.0
    assert e.set(w1=1, w2=1, b=0).accuracy() == 0.0
    for name in ACTIVATIONS:  # the activation never moves the boundary
        assert e.set(w1=-1, w2=-1, activation=name).accuracy() == 1.0


def test_no_line_solves_xor():
    X, y = make_xor(200, noise=0.0, rng=0)
    e = NeuronExplorer(X, y)
    best = max(
        e.set(w1=a, w2=b, b=c).accuracy()
        for a in np.linspace(-2, 2, 9)
        for b in np.linspace(-2, 2, 9)
        for c in np.linspace(-1, 1, 5)
    )
    assert best < 0.8


def test_neuron_explorer_validates(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="activation must be one of"):
        NeuronExplorer(X, y, activation="softplus")
    with pytest.raises(ValueError, match="unknown parameter 'w3'"):
        NeuronExplorer(X, y).set(w3=1)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        NeuronExplorer(np.zeros((3, 3)), y[:3])


def test_surface_and_figure(blobs):
    X, y = blobs
    e = NeuronExplorer(X, y, activation="tanh")
    xx, yy, zz = e.surface(resolution=30)
    assert xx.shape == yy.shape == zz.shape == (30, 30)
    assert -1 <= zz.min() and zz.max() <= 1
    fig = e.figure()
    assert fig.axes and "accuracy" in fig.axes[0].get_title()


def test_activation_saturation():
    e = ActivationExplorer("sigmoid", x_min=-10, x_max=10)
    assert e.at_point() == (0.5, 0.25)
    assert 0.4 < e.saturated_fraction() < 0.7  # flat beyond |x| of about 4.6
    assert e.set(name="relu").saturated_fraction() == pytest.approx(0.5, abs=0.01)  # dead half
    assert e.set(name="leaky_relu", negative_slope=0.1).saturated_fraction() == 0.0
    assert e.set(name="step").saturated_fraction() == 1.0
    f, d = e.set(name="tanh", point=5.0).at_point()
    assert f == pytest.approx(np.tanh(5)) and d == pytest.approx(1 - np.tanh(5) ** 2)
    assert "flat on" in e.figure().axes[0].get_title()


def test_widgets_drive_their_explorers(blobs):
    X, y = blobs
    w = neuron_explorer(X, y, w1=1.0, w2=1.0)
    w.controls["w1"].value = -1.0
    w.controls["w2"].value = -1.0
    w.controls["activation"].value = "relu"
    assert (w.explorer.w1, w.explorer.w2, w.explorer.activation) == (-1.0, -1.0, "relu")
    assert w.explorer.accuracy() == 1.0
    a = activation_explorer("tanh")
    a.controls["name"].value = "leaky_relu"
    a.controls["negative_slope"].value = 0.2
    a.controls["point"].value = -1.0
    assert a.explorer.at_point() == pytest.approx((-0.2, 0.2))


def test_widget_falls_back_to_a_png(blobs):
    X, y = blobs
    bundle = neuron_explorer(X, y)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    import base64

    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


# --- lab 05: the convolution explorer ---------------------------------------------------------------

from dlcourse import functional as F  # noqa: E402
from dlcourse.explorers import KERNELS, ConvExplorer, PoolExplorer  # noqa: E402
from dlcourse.explorers.widgets import conv_explorer, pool_explorer  # noqa: E402


def test_conv_explorer_reproduces_the_worked_example():
    e = ConvExplorer()
    assert e.output_shape() == (4, 4) and e.value() == -5 and e.macs() == 16 * 9
    assert e.set(position=1).value() == -4


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2)])
def test_conv_explorer_output_matches_conv2d(kernel, stride, padding):
    e = ConvExplorer(kernel=kernel, stride=stride, padding=padding)
    expected = F.conv2d(e.image[None, None], KERNELS[kernel][None, None], None, stride, padding)[0, 0]
    assert np.allclose(e.output(), expected)
    ho, wo = e.output_shape()
    for position in range(ho * wo):  # every output value is the sum of its window's products
        assert np.isclose(e.set(position=position).value(), expected.flat[position])


def test_conv_explorer_dilation_spreads_the_taps():
    e = ConvExplorer(image=np.arange(49.0).reshape(7, 7), kernel="2x2 ones", dilation=3)
    assert e.span() == (4, 4) and e.output_shape() == (4, 4)
    assert e.window() == [(0, 0), (0, 3), (3, 0), (3, 3)]
    assert e.value() == 0 + 3 + 21 + 24


def test_conv_explorer_flags_impossible_settings_without_crashing():
    e = ConvExplorer(kernel="5x5 ones", dilation=2)
    assert "impossible" in e.problem() and e.output() is None and e.macs() == 0 and e.window() == []
    assert "impossible" in e.describe()
    fig = e.figure()  # still draws: the input and the kernel, and says why there is no output
    assert "impossible" in " ".join(t.get_text() for ax in fig.axes for t in [ax.title, *ax.texts]).lower()
    assert e.set(dilation=1, stride=2).note().startswith("the stride does not fit")
    with pytest.raises(ValueError, match="stride must be an int of at least 1"):
        e.set(stride=0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        e.set(kernel="emboss")


def test_conv_widget_drives_its_explorer():
    w = conv_explorer()
    w.controls["padding"].value = 1
    w.controls["kernel"].value = "Sobel x"
    w.controls["position"].value = 7
    assert (w.explorer.padding, w.explorer.kernel_name, w.explorer.position) == (1, "Sobel x", 7)
    assert w.explorer.output_shape() == (6, 6)


# --- lab 06: the pooling explorer ------------------------------------------------------------------


def test_max_pool_routes_each_gradient_to_the_first_maximum():
    e = PoolExplorer(selected=0)  # the top-left window [[1, 9], [9, 3]] has a tie
    assert e.receivers() == [(0, 1)]
    grads = e.set(selected=None).routing()
    assert grads.sum() == e.output().size  # one unit of gradient per output, none lost
    assert all(e.x[r, c] == e.output().max() or grads[r, c] == 1 for r, c in e.receivers())


def test_overlapping_windows_add_their_gradients():
    e = PoolExplorer(kernel_size=3, stride=1)
    g = e.routing()
    assert g.max() > 1 and g.sum() == e.output().size
    assert np.allclose(g, F.max_pool2d_backward(np.ones((1, 1, 4, 4)), e.x[None, None], 3, 1)[0, 0])


def test_average_pool_spreads_gradient_evenly():
    e = PoolExplorer(kind="avg", selected=4)
    g = e.routing()
    assert np.allclose(g[g != 0], 0.25) and len(e.receivers()) == 4


def test_pool_explorer_flags_impossible_windows():
    e = PoolExplorer(x=np.ones((3, 3)), kernel_size=4)
    assert "impossible" in e.problem() and e.output() is None and e.routing() is None and e.figure()


def test_pool_widget_drives_its_explorer():
    w = pool_explorer()
    w.controls["kind"].value = "avg"
    w.controls["selected"].value = 2
    assert (w.explorer.kind, w.explorer.selected) == ("avg", 2)
    w.controls["selected"].value = -1
    assert w.explorer.selected is None


# --- lab 02: the learning-rate explorer and the optimiser race -----------------------------------------

from dlcourse.explorers import LearningRateExplorer, OptimizerRace  # noqa: E402
from dlcourse.explorers.widgets import learning_rate_explorer, optimizer_race  # noqa: E402


@pytest.mark.parametrize(
    "lr,regime",
    [
        (0.5, "converges smoothly"),
        (1.0, "one step"),
        (1.5, "oscillating"),
        (2.0, "oscillates forever"),
        (2.5, "diverges"),
    ],
)
def test_learning_rate_regimes_follow_the_stability_limit(lr, regime):
    e = LearningRateExplorer(curvature=1.0, lr=lr, x0=4.0, steps=30)
    assert regime in e.regime()
    path = e.path()
    assert np.allclose(path[1:] / np.where(path[:-1] == 0, 1, path[:-1]), e.factor()) or lr == 1.0
    assert (abs(path[-1]) > 4.0) == (lr > 2.0)
    assert e.set(curvature=4.0).stability_limit() == 0.5


def test_race_paths_follow_the_update_rules():
    race = OptimizerRace("ravine", optimizers=("sgd", "adam"), lr=0.05, adaptive_lr=0.3, steps=40)
    paths = race.paths()
    assert paths["sgd"].shape == (41, 2)
    # SGD on the ravine: x shrinks by (1 - 0.05) and y by (1 - 0.05 * 20) = 0 per step.
    assert np.allclose(paths["sgd"][1], [-4 * 0.95, 0.0])
    assert all(loss < race.loss((-4.0, 2.0)) for loss in race.final_losses().values())


def test_race_sgd_diverges_beyond_the_limit_and_stops_drawing():
    race = OptimizerRace("ravine", optimizers=("sgd",), lr=0.2, steps=200)
    path = race.paths()["sgd"]
    assert len(path) < 201 and np.all(np.isfinite(path))


def test_race_adaptive_methods_escape_the_saddle_faster_than_sgd():
    race = OptimizerRace("saddle", optimizers=("sgd", "adam", "rmsprop"), start_x=-4.0, start_y=0.01, steps=60)
    losses = race.final_losses()
    assert losses["adam"] < losses["sgd"] and losses["rmsprop"] < losses["sgd"]


def test_race_validates_and_widgets_drive_it():
    with pytest.raises(ValueError, match="unknown optimizer"):
        OptimizerRace(optimizers=("lion",))
    with pytest.raises(ValueError, match="momentum must be in"):
        OptimizerRace(momentum=1.0)
    w = optimizer_race()
    w.controls["surface"].value = "rosenbrock"
    w.controls["optimizers"].value = ("nesterov",)
    w.controls["lr"].value = 0.001
    assert (w.explorer.surface, w.explorer.optimizers, w.explorer.lr) == ("rosenbrock", ("nesterov",), 0.001)
    lw = learning_rate_explorer()
    lw.controls["lr"].value = 2.5
    assert "diverges" in lw.explorer.regime()


# --- lab 03: the playground ----------------------------------------------------------------------------

from dlcourse.explorers import Playground  # noqa: E402
from dlcourse.explorers.widgets import playground  # noqa: E402


def test_playground_learns_circles_and_records_both_losses():
    p = Playground("circles", hidden=(8, 8), optimizer="adam", lr=0.03)
    p.train(60)
    assert p.epoch == 60 and len(p.history["train"]) == len(p.history["test"]) == 61
    assert p.history["train"][-1] < p.history["train"][0] and p.accuracy() > 0.9


def test_squared_features_make_circles_linear():
    """The claim in lab 03: with x1^2 and x2^2 no hidden layer is needed; without them, none suffices."""
    with_squares = Playground("circles", features=("x1^2", "x2^2"), hidden="", lr=0.1, optimizer="adam").train(100)
    plain = Playground("circles", features=("x1", "x2"), hidden="", lr=0.1, optimizer="adam").train(100)
    assert with_squares.accuracy() > 0.95 and plain.accuracy() < 0.65


def test_playground_penalties_shrink_weights():
    sizes = {}
    for reg in ("none", "L2", "L1"):
        p = Playground("moons", hidden=(8,), optimizer="adam", lr=0.03, regularization=reg, reg_rate=0.05).train(80)
        sizes[reg] = sum(float(np.abs(W).sum()) for W in p.params[0::2])
    assert sizes["L2"] < sizes["none"] and sizes["L1"] < sizes["none"]


def test_playground_backward_is_exact(rng):
    """Dropout off: the playground's backward pass matches finite differences through the whole network."""
    from dlcourse import functional as F
    from dlcourse.gradcheck import numerical_gradient, relative_error

    p = Playground("xor", hidden=(5, 3), activation="tanh")
    X, y = p.X_train[:7], p.y_train[:7]
    scores, caches = p.forward(X)
    grads = p.backward(F.cross_entropy_backward(scores, y), caches)
    for param, grad in zip(p.params, grads):
        assert relative_error(grad, numerical_gradient(lambda: F.cross_entropy(p.forward(X)[0], y), param)) < 1e-6


def test_playground_draws_every_hidden_neuron():
    """Each picture is the neuron's activation over the plane: checked against a forward pass by hand."""
    from dlcourse.explorers.figures import grid_over

    p = Playground("moons", hidden=(5, 3), activation="tanh").train(5)
    xx, yy, layers = p.neuron_maps(resolution=12)
    assert [len(maps) for maps in layers] == [5, 3] and all(m.shape == xx.shape for maps in layers for m in maps)
    _, _, pts = grid_over(np.vstack([p.X_train, p.X_test]), 12)
    W1, b1, W2, b2 = p.params[:4]
    second = np.tanh(np.tanh(pts @ W1.T + b1) @ W2.T + b2)
    assert np.allclose(layers[1][2], second[:, 2].reshape(xx.shape))
    # decision surface and its colour bar + one picture per neuron + loss curves
    assert len(p.figure().axes) == 2 + 5 + 3 + 1
    wide = Playground("circles", hidden=(12, 2)).figure()
    labels = [ax.get_xlabel() for ax in wide.axes]
    assert len(wide.axes) == 2 + Playground.MAX_NEURONS_DRAWN + 2 + 1 and "+4 more" in labels
    assert len(Playground("circles", hidden="").figure().axes) == 4  # no hidden layer: a note instead


def test_playground_uses_the_learners_passing_functions_only():
    from dlcourse import functional as F

    calls = []

    def linear(x, weight, bias=None):
        calls.append(1)
        return F.linear(x, weight, bias)

    def relu_backward(dout, x):
        return dout  # wrong: fails its check, so the reference is used instead

    w = playground({"linear": linear, "relu_backward": relu_backward})
    assert w.explorer.ops["linear"] is linear and w.explorer.ops["relu_backward"] is F.relu_backward
    assert "your linear" in w.message.value and calls


def test_playground_widget_buttons_and_bad_settings():
    w = playground()
    w.act(lambda s: s.train(3))
    assert w.explorer.epoch == 3
    w.controls["hidden"].value = "3, -1"
    assert "hidden must list" in w.message.value and w.explorer.hidden != (3, -1)
    w.controls["dataset"].value = "spiral"
    assert w.explorer.dataset == "spiral" and w.explorer.epoch == 0  # new data restarts training
    with pytest.raises(ValueError, match="unknown op"):
        Playground(ops={"conv2d": None})


# --- lab 04: the regularisation explorer ------------------------------------------------------------

from dlcourse.explorers import RegularizationExplorer  # noqa: E402
from dlcourse.explorers.widgets import regularization_explorer  # noqa: E402


def test_wide_network_overfits_and_regularisation_closes_the_gap():
    """The claims of lab 04's explorer text, measured."""
    e = RegularizationExplorer(width=64)
    _, plain = e.result()
    assert plain["train"][-1] < 0.05 and plain["val"][-1] > 3 * min(plain["val"])  # the U-shaped validation loss
    assert 0 < e.best_epoch() < 50
    gap_plain = e.gap()
    assert e.set(lam=0.01).gap() < gap_plain / 2
    assert e.set(lam=0.0, dropout=0.3).gap() < gap_plain
    heavy = e.set(lam=1.0, dropout=0.0).result()[1]
    assert heavy["train"][-1] > 0.3  # too much penalty: underfitting


def test_regularization_explorer_caches_and_validates():
    e = RegularizationExplorer(width=8, epochs=20)
    first = e.result()
    assert e.result() is first  # remembered, not retrained
    with pytest.raises(ValueError, match="dropout must be in"):
        e.set(dropout=1.0)
    w = regularization_explorer(width=8)
    w.controls["lam"].value = 0.05
    assert w.explorer.lam == 0.05


# --- set() is all-or-nothing --------------------------------------------------------------------------------


def _explorers_with_a_good_and_a_bad_change():
    from dlcourse import nn
    from dlcourse.explorers import (
        ActivationExplorer,
        ConvExplorer,
        LearningRateExplorer,
        NeuronExplorer,
        OptimizerRace,
        Playground,
        PoolExplorer,
        RegularizationExplorer,
    )
    from dlcourse.explorers.features import FeatureMapViewer
    from dlcourse.explorers.receptive_field import ReceptiveFieldExplorer

    return [
        (lambda: NeuronExplorer(*make_blobs(20, centers=2, rng=0)), {"w1": 2.0}, {"activation": "no such activation"}),
        (ActivationExplorer, {"point": 1.5}, {"name": "no such activation"}),
        (ConvExplorer, {"stride": 2}, {"kernel": "no such kernel"}),
        (PoolExplorer, {"stride": 1}, {"kind": "median"}),
        (LearningRateExplorer, {"lr": 0.01}, {"curvature": -1.0}),
        (OptimizerRace, {"lr": 0.02}, {"momentum": 1.5}),
        (Playground, {"lr": 0.2}, {"hidden": "two, three"}),
        (RegularizationExplorer, {"width": 8}, {"dropout": 1.5}),
        (ReceptiveFieldExplorer, {"row": 1}, {"stack": "conv99"}),
        (lambda: FeatureMapViewer(nn.lenet5(rng=0), np.zeros((3, 1, 28, 28)), np.zeros(3, int)), {}, {"index": 3}),
    ]


@pytest.mark.parametrize(
    "cls,good,bad", _explorers_with_a_good_and_a_bad_change(), ids=lambda v: getattr(v, "__name__", "")
)
def test_a_rejected_setting_changes_nothing(cls, good, bad):
    explorer = cls()
    name = type(explorer).__name__
    before = dict(vars(explorer))
    with pytest.raises(ValueError):
        explorer.set(**good, **bad)
    after = vars(explorer)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key] is value, f"{name}.{key} changed although the call was rejected"
    explorer.set(**good)  # the good half alone is accepted


# --- lab 07: receptive fields and feature maps ---------------------------------------------------------------


def test_stack_descriptions_parse_and_bad_ones_say_why():
    from dlcourse.explorers.receptive_field import parse_stack

    assert parse_stack("conv5 p2, relu, pool2, conv3 s2") == [
        {"type": "conv", "kernel_size": 5, "out_channels": 1, "padding": 2},
        {"type": "relu"},
        {"type": "pool", "kernel_size": 2},
        {"type": "conv", "kernel_size": 3, "out_channels": 1, "stride": 2},
    ]
    for bad in ("", "conv", "dense4", "conv3 x2", "conv0"):
        with pytest.raises(ValueError):
            parse_stack(bad)


def test_receptive_field_explorer_follows_its_settings():
    from dlcourse.explorers.receptive_field import ReceptiveFieldExplorer

    e = ReceptiveFieldExplorer(np.zeros((28, 28)), "conv3, conv3, conv3", row=30, col=0)
    assert e.output_hw() == (22, 22) and (e.row, e.col) == (21, 0)  # the unit is clipped to the output
    assert e.sizes_and_jumps() == ([3, 5, 7], [1, 1, 1])
    assert e.box() == (21, 27, 0, 6) and e.region().sum() == 49
    e.set(stack="conv1 s2, conv3", row=0, col=0)  # a field with holes: 3x3 pixels spread over 5x5
    assert e.box() == (0, 4, 0, 4) and e.region().sum() == 9
    with pytest.raises(ValueError, match="does not fit"):
        e.set(stack="conv29")
    with pytest.raises(ValueError, match="row must be a non-negative int"):
        e.set(row=-1)


def test_receptive_field_widget_drives_its_explorer():
    from dlcourse.explorers.widgets import receptive_field_explorer

    w = receptive_field_explorer()
    w.controls["stack"].value = "conv3 s2, conv3 s2, conv3 s2"
    assert w.explorer.sizes_and_jumps() == ([3, 7, 15], [2, 4, 8]) and not w.message.value
    w.controls["stack"].value = "conv99"
    assert "does not fit" in w.message.value and w.explorer.stack == "conv3 s2, conv3 s2, conv3 s2"
    w.controls["row"].value = 1
    assert w.explorer.row == 1 and w.explorer.figure().axes


def test_feature_map_viewer_shows_every_spatial_layer_and_the_prediction():
    from dlcourse import functional as F
    from dlcourse import nn
    from dlcourse.explorers.widgets import feature_map_viewer

    model = nn.lenet5(rng=0)
    images = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    w = feature_map_viewer(model, images, np.arange(4))
    w.controls["index"].value = 2
    shown = w.explorer.activations()
    assert [a.shape for _, a in shown] == [(6, 28, 28)] * 2 + [(6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5)]
    assert np.allclose(w.explorer.probabilities(), F.softmax(model(images[2:3]))[0])
    fig = w.explorer.figure()
    assert len(fig.axes) == 2 + 4 * 16  # input and bars, then four rows of up to 16 channels
    assert model.training  # the viewer leaves the model as it found it


def test_optimizer_race_defaults_show_the_ravine_lesson():
    """Plain SGD zig-zags across the ravine's steep direction (lr above 1/20) and crawls along the shallow one;
    momentum and Nesterov end far lower after the same steps."""
    race = OptimizerRace("ravine", optimizers=("sgd", "momentum", "nesterov"))
    y = race.paths()["sgd"][:, 1]
    assert np.sum(np.diff(np.sign(y)) != 0) >= 10  # the steep coordinate changes sign step after step
    losses = race.final_losses()
    assert losses["momentum"] < losses["sgd"] / 100 and losses["nesterov"] < losses["sgd"] / 100


# --- figures a student can read (issue 14: colour maps, contrast, outlines) --------------------------------


def _images(ax):
    return ax.get_images()


def test_conv_explorer_centres_its_colour_maps_at_zero_with_colour_bars():
    explorer = ConvExplorer()
    fig = explorer.figure()
    ax_in, ax_k, ax_out = fig.axes[:3]
    for ax in (ax_k, ax_out):
        low, high = _images(ax)[0].get_clim()
        assert low == -high and high > 0, (low, high)  # 0 is the middle colour; -3 and 3 equally strong
    assert len(fig.axes) == 5, "the kernel and the output each have a colour bar"
    out = explorer.output()
    assert np.max(np.abs(out)) == _images(ax_out)[0].get_clim()[1]


def test_conv_explorer_marks_the_rows_no_window_reaches():
    explorer = ConvExplorer()
    explorer.set(stride=2, padding=0)  # 6 x 6, 3 x 3, stride 2: (6 - 3) % 2 = 1 row and column left over
    assert explorer.ignored() == [((5, 6), (0, 6)), ((0, 6), (5, 6))]
    assert explorer.output().shape == (2, 2) and "never covered" in explorer.note()
    hatched = [p for p in explorer.figure().axes[0].patches if p.get_hatch()]
    assert len(hatched) == 2
    explorer.set(padding=1)  # 8 x 8 padded: (8 - 3) % 2 = 1 again; stride 1 covers everything
    explorer.set(stride=1)
    assert explorer.ignored() == [] and explorer.note() is None


def test_cell_labels_stay_legible_on_dark_and_light_cells():
    from dlcourse.explorers.figures import label_cells, new_figure

    fig = new_figure()
    ax = fig.add_subplot()
    values = np.array([[0.0, 9.0]])
    label_cells(ax, ax.imshow(values, cmap="Blues"), values)
    colors = {t.get_text(): t.get_color() for t in ax.texts}
    assert colors == {"0": "black", "9": "white"}


def test_pool_explorer_outlines_its_windows_and_the_chosen_one():
    explorer = PoolExplorer(kernel_size=3, stride=2)
    out = explorer.output()
    assert explorer.windows() == [(i * 2, j * 2) for i in range(out.shape[0]) for j in range(out.shape[1])]
    fig = explorer.figure()
    assert len(fig.axes[0].patches) == out.size  # every window outlined on the input
    explorer.set(selected=1)
    thick = [p for p in explorer.figure().axes[0].patches if p.get_linewidth() > 2]
    assert len(thick) == 1 and thick[0].get_xy() == (2 - 0.5, 0 - 0.5)
    darkest = np.unravel_index(np.argmax(explorer.x), explorer.x.shape)
    label = next(t for t in fig.axes[0].texts if t.get_position() == (darkest[1], darkest[0]))
    assert label.get_color() == "white"


def test_decision_surfaces_share_one_colour_scale_and_can_say_what_it_means():
    from dlcourse.explorers.figures import grid_over, plot_decision_surface

    xx, yy, _ = grid_over(np.array([[0.0, 0.0], [1.0, 1.0]]), resolution=20)
    narrow = plot_decision_surface(xx, yy, 0.4 + 0.1 * xx)  # outputs between 0.4 and 0.5 only
    surface = narrow.axes[0].collections[0]
    assert surface.levels[0] == 0.0 and surface.levels[-1] == 1.0  # the scale is [vmin, vmax], not the data's
    labelled = plot_decision_surface(xx, yy, 0.4 + 0.1 * xx, colorbar="P(class 1)")
    assert len(labelled.axes) == 2 and labelled.axes[1].get_ylabel() == "P(class 1)"


def test_the_playground_figure_has_a_colour_scale(blobs):
    from dlcourse.explorers import Playground

    fig = Playground().figure()
    assert any(ax.get_ylabel() == "P(red class)" for ax in fig.axes)


def test_curves_count_epochs_in_whole_numbers():
    from dlcourse.explorers.figures import plot_curves

    ax = plot_curves({"loss": [3.0, 2.0, 1.5, 1.2]}).axes[0]
    assert all(float(t).is_integer() for t in ax.get_xticks())
