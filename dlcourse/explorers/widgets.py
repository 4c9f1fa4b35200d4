"""Thin ipywidgets shells over the explorers in ``dlcourse.explorers``.

Every control writes one attribute of a plain-Python explorer and redraws its figure; all the logic is in
the explorer. The widget also carries a PNG of its current figure in its display data, so where widgets
cannot render (nbconvert, autograding, a notebook viewer) the cell shows a static figure instead.
"""

from __future__ import annotations

import base64

import ipywidgets as W
from IPython.display import clear_output, display

from . import ACTIVATIONS, ActivationExplorer, NeuronExplorer


def figure_png(fig) -> str:
    """The figure as base64-encoded PNG, the form a display-data bundle carries."""
    return base64.b64encode(fig._repr_png_()).decode("ascii")


class ExplorerWidget(W.VBox):
    """Controls bound to an explorer's attributes, above the explorer's figure."""

    def __init__(self, explorer, controls: dict, actions: dict | None = None, **kwargs):
        self.explorer = explorer
        self.controls = controls
        self.buttons = {}
        self.plot = W.Output()
        self.message = W.HTML()
        for name, control in controls.items():
            control.observe(lambda change, name=name: self._changed(name, change["new"]), names="value")
        for label, action in (actions or {}).items():
            button = W.Button(description=label)
            button.on_click(lambda _, action=action: self.act(action))
            self.buttons[label] = button
        rows = [W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap"))]
        if self.buttons:
            rows.append(W.HBox(list(self.buttons.values())))
        super().__init__(rows + [self.message, self.plot], **kwargs)
        self.redraw()

    def _changed(self, name, value):
        try:
            self.explorer.set(**{name: value})
        except ValueError as err:  # an impossible setting: say why, keep the last good picture
            self.message.value = f"<span style='color:#b00'>{err}</span>"
            return
        self.message.value = ""
        self.redraw()

    def act(self, action):
        """Run a button's action on the explorer, then redraw (tests call this instead of clicking)."""
        action(self.explorer)
        self.redraw()

    def redraw(self):
        with self.plot:
            clear_output(wait=True)
            display(self.explorer.figure())

    def _repr_mimebundle_(self, **kwargs):
        base = getattr(super(), "_repr_mimebundle_", None)
        if base is not None:  # ipywidgets 8
            data = base(**kwargs) or {}
        else:  # ipywidgets 7 (Colab's): the bundle its _ipython_display_ would publish
            data = {
                "text/plain": repr(self)[:110],
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self.model_id,
                },
            }
        data["image/png"] = figure_png(self.explorer.figure())  # the fallback where widgets cannot render
        return data

    if hasattr(W.VBox, "_ipython_display_"):  # ipywidgets 7 displays through this hook, never the bundle above

        def _ipython_display_(self, **kwargs):
            display(self._repr_mimebundle_(), raw=True)
            self._handle_displayed(**kwargs)


def _slider(description, value, lo, hi, step=0.05):
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description, continuous_update=True)


def neuron_explorer(X, y, w1=1.0, w2=1.0, b=0.0, activation="sigmoid") -> ExplorerWidget:
    """Sliders for w1, w2, b and a choice of activation over a 2-D dataset (X, y)."""
    state = NeuronExplorer(X, y, w1, w2, b, activation)
    return ExplorerWidget(
        state,
        {
            "w1": _slider("w1", w1, -5, 5),
            "w2": _slider("w2", w2, -5, 5),
            "b": _slider("b", b, -5, 5),
            "activation": W.Dropdown(options=list(ACTIVATIONS), value=activation, description="activation"),
        },
    )


def activation_explorer(name="sigmoid") -> ExplorerWidget:
    """A choice of activation, its leaky slope and a point x, with f(x) and f'(x) drawn."""
    state = ActivationExplorer(name)
    return ExplorerWidget(
        state,
        {
            "name": W.Dropdown(options=list(ACTIVATIONS), value=name, description="function"),
            "point": _slider("x", 0.0, -6, 6, 0.1),
            "negative_slope": _slider("leaky slope", 0.01, 0.0, 0.5, 0.01),
        },
    )


def _int_slider(description, value, lo, hi):
    return W.IntSlider(
        value=value,
        min=lo,
        max=hi,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def conv_explorer(image=None, kernel="vertical edge") -> ExplorerWidget:
    """Kernel, stride, padding, dilation and the output value to inspect, over a small image."""
    from .convolution import EXAMPLE_IMAGE, KERNELS, ConvExplorer

    state = ConvExplorer(EXAMPLE_IMAGE if image is None else image, kernel)
    return ExplorerWidget(
        state,
        {
            "kernel": W.Dropdown(options=list(KERNELS), value=kernel, description="kernel"),
            "stride": _int_slider("stride", 1, 1, 4),
            "padding": _int_slider("padding", 0, 0, 3),
            "dilation": _int_slider("dilation", 1, 1, 4),
            "position": _int_slider("output #", 0, 0, 35),
        },
    )


def pool_explorer(x=None) -> ExplorerWidget:
    """Max or average pooling, its window and stride, and which output sends its gradient back."""
    from .pooling import EXAMPLE_INPUT, PoolExplorer

    state = PoolExplorer(EXAMPLE_INPUT if x is None else x)
    return ExplorerWidget(
        state,
        {
            "kind": W.Dropdown(options=["max", "avg"], value="max", description="pooling"),
            "kernel_size": _int_slider("window", 2, 1, 4),
            "stride": _int_slider("stride", 2, 1, 4),
            "selected": _int_slider("output # (-1: all)", -1, -1, 24),
        },
    )


def learning_rate_explorer(curvature=1.0, lr=0.5) -> ExplorerWidget:
    """Gradient descent on a quadratic: the learning rate and the curvature decide convergence."""
    from .learning import LearningRateExplorer

    state = LearningRateExplorer(curvature, lr)
    return ExplorerWidget(
        state,
        {
            "lr": W.FloatSlider(value=lr, min=0.05, max=2.5, step=0.05, description="lr", continuous_update=False),
            "curvature": W.FloatSlider(
                value=curvature,
                min=0.25,
                max=4.0,
                step=0.25,
                description="curvature a",
                continuous_update=False,
                style={"description_width": "initial"},
            ),
        },
    )


def optimizer_race(surface="ravine") -> ExplorerWidget:
    """Pick a surface, a start, the optimisers and their hyper-parameters; watch them race."""
    from ..optim.rules import RULES
    from .learning import SURFACES, OptimizerRace

    state = OptimizerRace(surface)
    log = dict(base=10, continuous_update=False, style={"description_width": "initial"})
    return ExplorerWidget(
        state,
        {
            "surface": W.Dropdown(options=list(SURFACES), value=surface, description="surface"),
            "optimizers": W.SelectMultiple(
                options=list(RULES), value=state.optimizers, description="optimizers", rows=6
            ),
            "lr": W.FloatLogSlider(value=state.lr, min=-3, max=0, description="lr (sgd, momentum)", **log),
            "adaptive_lr": W.FloatLogSlider(
                value=state.adaptive_lr, min=-3, max=0.5, description="lr (adaptive)", **log
            ),
            "momentum": W.FloatSlider(
                value=state.momentum, min=0.0, max=0.99, step=0.01, description="momentum", continuous_update=False
            ),
            "start_x": W.FloatSlider(
                value=state.start_x, min=-4.5, max=4.5, step=0.1, description="start x", continuous_update=False
            ),
            "start_y": W.FloatSlider(
                value=state.start_y, min=-2.5, max=2.5, step=0.1, description="start y", continuous_update=False
            ),
        },
    )


def playground(namespace=None, **settings) -> ExplorerWidget:
    """The TensorFlow-Playground-style explorer of lab 03.

    namespace: pass ``globals()`` from the notebook; the learner's own ``linear``, ``linear_backward`` and
        ``relu_backward`` then drive the network wherever they pass their checks (the reference otherwise).
    """
    from ..feedback.checks import working_functions
    from ..optim.rules import RULES
    from .playground import FEATURES, Playground

    ops = working_functions(namespace or {}, ("linear", "linear_backward", "relu_backward"))
    state = Playground(ops=ops, **settings)
    log = dict(base=10, continuous_update=False, style={"description_width": "initial"})
    wide = {"description_width": "initial"}
    widget = ExplorerWidget(
        state,
        {
            "dataset": W.Dropdown(
                options=["circles", "moons", "spiral", "xor", "blobs"], value=state.dataset, description="data"
            ),
            "noise": W.FloatSlider(
                value=state.noise, min=0.0, max=0.5, step=0.01, description="noise", continuous_update=False
            ),
            "train_ratio": W.FloatSlider(
                value=state.train_ratio,
                min=0.1,
                max=0.9,
                step=0.1,
                description="train share",
                continuous_update=False,
                style=wide,
            ),
            "features": W.SelectMultiple(options=list(FEATURES), value=state.features, description="features", rows=4),
            "hidden": W.Text(
                value=", ".join(map(str, state.hidden)),
                description="hidden layers",
                continuous_update=False,
                style=wide,
            ),
            "activation": W.Dropdown(
                options=["relu", "leaky_relu", "tanh", "sigmoid"], value=state.activation, description="activation"
            ),
            "lr": W.FloatLogSlider(value=state.lr, min=-4, max=0, description="learning rate", **log),
            "optimizer": W.Dropdown(options=list(RULES), value=state.optimizer, description="optimizer"),
            "regularization": W.Dropdown(
                options=["none", "L1", "L2"], value=state.regularization, description="penalty"
            ),
            "reg_rate": W.FloatLogSlider(
                value=max(state.reg_rate, 1e-4), min=-5, max=-1, description="penalty rate", **log
            ),
            "dropout": W.FloatSlider(
                value=state.dropout, min=0.0, max=0.5, step=0.05, description="dropout", continuous_update=False
            ),
        },
        actions={
            "train 20 epochs": lambda s: s.train(20),
            "train 100 epochs": lambda s: s.train(100),
            "reset": lambda s: s.reset(),
        },
    )
    used = [name for name in ("linear", "linear_backward", "relu_backward") if name in ops]
    widget.message.value = f"running on your {', '.join(used)}" if used else "running on the reference backward passes"
    return widget


def regularization_explorer(width=64, lam=0.0, dropout=0.0) -> ExplorerWidget:
    """Capacity, an L2 penalty and dropout against 40 noisy training points: the learning curves."""
    from .regularization import RegularizationExplorer

    state = RegularizationExplorer(width, lam, dropout)
    return ExplorerWidget(
        state,
        {
            "width": W.IntSlider(value=width, min=2, max=128, description="width", continuous_update=False),
            "lam": W.FloatSlider(
                value=lam,
                min=0.0,
                max=0.1,
                step=0.005,
                description="L2 rate",
                readout_format=".3f",
                continuous_update=False,
            ),
            "dropout": W.FloatSlider(
                value=dropout, min=0.0, max=0.7, step=0.05, description="dropout p", continuous_update=False
            ),
        },
    )


def receptive_field_explorer(image=None, stack=None) -> ExplorerWidget:
    """A stack of conv/pool layers written as text, and one output unit: its receptive field over an image."""
    from .receptive_field import LENET_FEATURES, ReceptiveFieldExplorer

    state = ReceptiveFieldExplorer(image, stack or LENET_FEATURES)
    return ExplorerWidget(
        state,
        {
            "stack": W.Text(
                value=state.stack,
                description="layers",
                continuous_update=False,
                layout=W.Layout(width="420px"),
            ),
            "row": _int_slider("output row", state.row, 0, 31),
            "col": _int_slider("output column", state.col, 0, 31),
        },
    )


def feature_map_viewer(model, images, labels, index=0) -> ExplorerWidget:
    """Pick a test image: every channel after every ReLU and pooling layer of a trained NumPy CNN."""
    from .features import FeatureMapViewer

    state = FeatureMapViewer(model, images, labels, index)
    return ExplorerWidget(state, {"index": _int_slider("test digit #", index, 0, len(state.images) - 1)})


def architecture_explorer(network="VGG16", batch_size=32) -> ExplorerWidget:
    """A network (or one you type), a batch size and a number format: per-layer costs and memory totals."""
    from .architecture import BYTES, NETWORKS, SMALL_DEFAULT, ArchitectureExplorer

    state = ArchitectureExplorer(network, batch_size)
    return ExplorerWidget(
        state,
        {
            "network": W.Dropdown(options=list(NETWORKS), value=network, description="network"),
            "batch_size": _int_slider("batch size", batch_size, 1, 256),
            "dtype": W.Dropdown(options=list(BYTES), value="float32", description="numbers"),
            "layers": W.Text(
                value=SMALL_DEFAULT, description="small:", continuous_update=False, layout=W.Layout(width="520px")
            ),
        },
    )


def gradient_flow_explorer(X, y, depth=34, residual=False) -> ExplorerWidget:
    """Depth, skip connections, batch norm and activation: per-layer gradient norms and the first steps of
    training, beside the twin network with the skips switched the other way."""
    from .gradient_flow import ACTIVATION_NAMES, DEPTHS, GradientFlowExplorer

    state = GradientFlowExplorer(X, y, depth=depth, residual=residual)
    return ExplorerWidget(
        state,
        {
            "depth": W.IntSlider(
                value=depth, min=DEPTHS[0], max=DEPTHS[-1], step=DEPTHS[1] - DEPTHS[0], description="depth",
                continuous_update=False,
            ),
            "residual": W.Checkbox(value=residual, description="skip connections"),
            "batch_norm": W.Checkbox(value=True, description="batch norm"),
            "activation": W.Dropdown(options=list(ACTIVATION_NAMES), value="relu", description="activation"),
        },
    )  # fmt: skip
