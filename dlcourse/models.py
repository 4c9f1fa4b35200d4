"""PyTorch models used from lab 04 on, the device to run them on, and a layer-by-layer summary."""

from __future__ import annotations

import torch
from torch import nn


def device() -> torch.device:
    """CUDA when a GPU is present (Colab), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """He et al. (2016): two 3x3 conv-BN layers plus a shortcut (a 1x1 projection when shapes change)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


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
            model(torch.zeros(input_size, device=next(model.parameters()).device))
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
