"""PyTorch models used from lab 04 on (LeNet-5, the basic block, plain and residual digits networks), the device
to run them on, training and prediction helpers, and a layer-by-layer summary."""

from __future__ import annotations

import torch
from torch import nn


def device() -> torch.device:
    """CUDA when a GPU is present (Colab), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def he_init_(model: nn.Module) -> nn.Module:
    """Re-draw every conv and linear weight from N(0, 2 / fan_in) (He et al., 2015) and zero the biases, in
    place; returns the model. ReLU halves the variance of what passes through it; this doubles it back, so
    activations keep their scale through the layers (PyTorch's default draws smaller weights)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling for 1x28x28 digits: 61,706 parameters."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )
        he_init_(self)

    def forward(self, x):
        return self.classifier(self.features(x))


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
# Inside a block the activation is a function, not a module: a block's summary lists only its layers that learn.
ACTIVATION_FUNCTIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class Block(nn.Module):
    """Two 3x3 conv layers, each followed by batch norm when ``batch_norm``, with the skip connection when
    ``residual`` (then it is ``BasicBlock``, projection shortcut included) or without it (its plain twin, the
    same layers in a chain). For comparing the two at equal depth; ``activation`` is 'relu', 'tanh' or
    'sigmoid'."""

    def __init__(self, in_channels, out_channels, stride=1, *, residual=True, batch_norm=True, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        norm = nn.BatchNorm2d if batch_norm else lambda channels: nn.Identity()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=not batch_norm)
        self.bn1 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=not batch_norm)
        self.bn2 = norm(out_channels)
        self.act = ACTIVATION_FUNCTIONS[activation]
        self.residual = residual
        self.shortcut = nn.Sequential()
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=not batch_norm), norm(out_channels)
            )

    def forward(self, x):
        out = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(out + self.shortcut(x) if self.residual else out)


class BasicBlock(Block):
    """He et al. (2016): two 3x3 conv-BN layers plus a shortcut (a 1x1 projection when shapes change), ReLU after
    the first layer and after the sum: ``Block`` with its defaults (residual, batch norm, ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(in_channels, out_channels, stride)


def digits_net(depth, *, residual=True, batch_norm=True, activation="relu", widths=(8, 16), num_classes=10):
    """A plain or residual CNN for 1x28x28 digits with ``depth`` weighted layers, He-initialised.

    A 3x3 stem conv (with batch norm and the activation) and 2x2 max pooling to 14x14; then (depth - 2) / 2
    ``Block``s shared equally among the stages of ``widths`` channels, each stage after the first halving the
    size with a stride-2 first block; global average pooling and one linear layer. As in He et al. (2016), the
    1x1 projection shortcuts are not counted in the depth: plain-18 and ResNet-18 have the same 18 layers.
    """
    blocks, rest = divmod(depth - 2, 2 * len(widths))
    if isinstance(depth, bool) or not isinstance(depth, int) or rest or blocks < 1:
        raise ValueError(
            f"depth must be 2 plus a positive multiple of {2 * len(widths)} (two convs per block, "
            f"{len(widths)} stages), e.g. {2 + 2 * len(widths)} or {2 + 8 * len(widths)}; got {depth!r}"
        )
    norm = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
    layers = [nn.Conv2d(1, widths[0], 3, 1, 1, bias=not batch_norm), norm, ACTIVATIONS[activation](), nn.MaxPool2d(2)]
    channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage and not block else 1
            layers.append(
                Block(channels, width, stride, residual=residual, batch_norm=batch_norm, activation=activation)
            )
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return he_init_(nn.Sequential(*layers))


def _row(name, module, out, params):
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else "-"
    return (name, type(module).__name__, shape, params)


def summary(model: nn.Module, input_size: tuple[int, ...], *, print_table: bool = True) -> list[tuple]:
    """Run one input of shape ``input_size`` (with the batch dimension) through the model and list each
    leaf layer: (name, type, output shape, parameter count). Prints the table unless told not to."""
    rows, hooks = [], []
    for name, module in model.named_modules():
        if list(module.children()):
            continue
        params = sum(p.numel() for p in module.parameters(recurse=False))
        hooks.append(module.register_forward_hook(lambda m, i, o, n=name, p=params: rows.append(_row(n, m, o, p))))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = next(model.parameters())
            model(torch.zeros(input_size, device=first.device, dtype=first.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    if print_table:
        print(f"{'layer':<24}{'type':<14}{'output shape':<22}{'params':>10}")
        for name, kind, shape, params in rows:
            print(f"{name:<24}{kind:<14}{str(shape):<22}{params:>10,}")
        total = sum(p.numel() for p in model.parameters())
        print(f"{'total':<60}{total:>10,}")
    return rows


def fit_classifier(model, X, y, *, epochs, batch_size=64, lr=3e-3, seed=0, augment=None, device=None, every_step=False):
    """Train a classifier with Adam and a cosine decay of the learning rate over all steps; returns the mean
    training loss of each epoch (of each step, with ``every_step``).

    X: (N, C, H, W) NumPy images, y: (N,) labels; augment: (images, rng) -> images, applied to each batch
    before it moves to ``device`` (default: the model's device).
    """
    import numpy as np

    device = device or next(model.parameters()).device
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(X) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long, device=device)
    losses = []
    model.train()
    for _ in range(epochs):
        order, total = rng.permutation(len(X)), 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            xb = X[idx] if augment is None else augment(X[idx], rng)
            xb = torch.as_tensor(xb, dtype=torch.float32, device=device)
            loss = nn.functional.cross_entropy(model(xb), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
            if every_step:
                losses.append(loss.item())
        if not every_step:
            losses.append(total / len(X))
    return losses


def predict_proba(model, X, batch_size=500):
    """Softmax probabilities (N, classes) as NumPy, in eval mode, batch by batch."""

    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    try:
        with torch.no_grad():
            out = [
                torch.softmax(model(torch.as_tensor(X[i : i + batch_size], dtype=torch.float32, device=device)), 1)
                for i in range(0, len(X), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(out).cpu().numpy()


def penultimate_features(model, X, batch_size=500):
    """What the model's last linear layer receives, (N, features) as NumPy: the learned representation that
    the classifier separates linearly."""
    import numpy as np

    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer")
    captured = []
    hook = last[-1].register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach().cpu()))
    try:
        predict_proba(model, X, batch_size)
    finally:
        hook.remove()
    return np.asarray(torch.cat(captured).numpy())
