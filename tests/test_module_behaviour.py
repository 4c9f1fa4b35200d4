"""The torch.nn.Module exercises (LeNet5, vgg_block, Inception, BasicBlock, resnet18) are graded on what the module
computes, not only on its shapes and parameter counts: a module that holds the right layers and misuses them fails,
and an honest module written another way (functional calls, in-place ReLU, a shortcut computed first, branches run
in another order, layers declared in any order under any names) passes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from course_helpers import graded_cells, nbgrader_meta, solution_cells, source_notebook, strip_markers
from torch import nn

from dlcourse.feedback.checks import CheckFailed, check_exercise
from dlcourse.feedback.exercises import EXERCISES
from dlcourse.feedback.exercises.runners import module_layers, torch_module

# --- honest modules, written otherwise than the model answer --------------------------------------------------------


class LeNet5Functional(nn.Module):
    """Layers declared last to first under their own names; pooling, ReLU and flattening as functions."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.out = nn.Linear(84, num_classes)
        self.fc2 = nn.Linear(120, 84)
        self.fc1 = nn.Linear(400, 120)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.c1 = nn.Conv2d(in_channels, 6, 5, padding=2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(torch.relu(self.c2(x)), 2).view(len(x), -1)
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BlockShortcutFirst(nn.Module):
    """The shortcut declared and computed before the main path, nn.Identity, in-place ReLU and addition."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        projection = stride != 1 or in_channels != out_channels
        self.skip = nn.Identity()
        if projection:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.norm_b, self.conv_b = (
            nn.BatchNorm2d(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
        )
        self.norm_a, self.conv_a = (
            nn.BatchNorm2d(out_channels),
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        )

    def forward(self, x):
        identity = self.skip(x)
        out = F.relu(self.norm_a(self.conv_a(x)), inplace=True)
        out = self.norm_b(self.conv_b(out))
        out += identity
        return out.relu_()


class InceptionPoolFirst(nn.Module):
    """Branches run last to first (the concatenation keeps the order the exercise gives), in-place ReLU."""

    def __init__(self, in_channels, c1, r3, c3, r5, c5, pool_proj):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, pool_proj, 1)
        self.five = nn.Sequential(nn.Conv2d(in_channels, r5, 1), nn.ReLU(True), nn.Conv2d(r5, c5, 5, padding=2))
        self.three = nn.Sequential(nn.Conv2d(in_channels, r3, 1), nn.ReLU(True), nn.Conv2d(r3, c3, 3, padding=1))
        self.one = nn.Conv2d(in_channels, c1, 1)

    def forward(self, x):
        pooled = F.relu(self.proj(F.max_pool2d(x, 3, 1, 1)))
        five, three = F.relu(self.five(x)), F.relu(self.three(x))
        return torch.cat([F.relu(self.one(x)), three, five, pooled], dim=1)


def vgg_block_named(in_channels, out_channels, num_convs):
    from collections import OrderedDict

    layers = OrderedDict()
    for i in range(num_convs):
        layers[f"conv{i}"] = nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1)
        layers[f"relu{i}"] = nn.ReLU(inplace=True)
    layers["pool"] = nn.MaxPool2d(2, 2)
    return nn.Sequential(layers)


def resnet18_nested(num_classes=1000, in_channels=3):
    """Stages as nested Sequentials of the shortcut-first block."""
    stem = nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
    )
    stages, channels = [], 64
    for stage, width in enumerate((64, 128, 256, 512)):
        stages.append(
            nn.Sequential(BlockShortcutFirst(channels, width, 2 if stage else 1), BlockShortcutFirst(width, width))
        )
        channels = width
    return nn.Sequential(
        stem, *stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))
    )


HONEST = [
    ("LeNet5", LeNet5Functional),
    ("vgg_block", vgg_block_named),
    ("Inception", InceptionPoolFirst),
    ("BasicBlock", BlockShortcutFirst),
    ("resnet18", resnet18_nested),
]


@pytest.mark.parametrize("name,honest", HONEST, ids=[n for n, _ in HONEST])
def test_an_honest_module_written_otherwise_passes_visible_and_hidden_checks(name, honest):
    check_exercise(name, honest, quiet=True)
    check_exercise(name, honest, seed=None, hidden=True, quiet=True)


def test_layers_pair_up_by_shape_and_data_flow_not_by_name_or_running_order():
    reference = EXERCISES["BasicBlock"].reference(4, 6, 2)
    honest = BlockShortcutFirst(4, 6, 2)
    x = torch.randn(2, 4, 8, 8)
    keys = [[(key, rank) for _, key, rank in module_layers(m, x.clone())] for m in (reference, honest)]
    assert keys[0] == keys[1] and len(keys[0]) == 6
    # The three batch norms have equal shapes: their keys differ by the layer that feeds each.
    norms = [key for key, _ in keys[0] if len(key[0]) == 2 and len(key[0][0]) == 1]
    assert len(norms) == 3 and len(set(norms)) == 3


def test_both_sides_draw_the_same_weights_and_a_different_seed_draws_others():
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8))
    case = {"in_channels": 4, "out_channels": 6, "stride": 2, "x": x}
    ours = torch_module(EXERCISES["BasicBlock"].reference, {**case, "weights_seed": 3})
    theirs = torch_module(BlockShortcutFirst, {**case, "weights_seed": 3})
    other = torch_module(BlockShortcutFirst, {**case, "weights_seed": 4})
    for key, value in ours.items():
        np.testing.assert_allclose(theirs[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
    assert not np.allclose(other["output in training mode"], ours["output in training mode"])


def test_the_runner_leaves_torchs_thread_count_as_it_found_it():
    before = torch.get_num_threads()
    torch_module(LeNet5Functional, {"num_classes": 3, "in_channels": 1})
    assert torch.get_num_threads() == before


def test_a_module_built_wrong_is_told_so_by_its_structure_before_its_outputs_are_compared():
    class SmallKernel(LeNet5Functional):
        def __init__(self, num_classes=10, in_channels=1):
            super().__init__(num_classes, in_channels)
            self.c2 = nn.Conv2d(6, 16, 3)
            self.fc1 = nn.Linear(16 * 6 * 6, 120)

    with pytest.raises(CheckFailed) as caught:
        check_exercise("LeNet5", SmallKernel, quiet=True)
    message = str(caught.value)
    assert "parameter tensor shapes, sorted" in message and "expected 400, got 576" in message
    assert "case 1 of 4" in message
    assert "training mode" not in message


def test_a_module_with_the_right_layers_misused_is_told_what_it_computes_wrong():
    class Hollow(LeNet5Functional):
        def forward(self, x):
            features = F.max_pool2d(self.c2(F.max_pool2d(self.c1(x), 2)), 2)  # no ReLU in the features
            return self.out(F.relu(self.fc2(F.relu(self.fc1(features.flatten(1))))))

    with pytest.raises(CheckFailed) as caught:
        check_exercise("LeNet5", Hollow, quiet=True)
    message = str(caught.value)
    assert "case 3 of 4" in message and "behaviour" in message and "output in training mode" in message


# --- hollow modules graded as grading does: the real test cells, the learner's code in the sandbox ------------------

LENET_ZEROS = """
import torch
from torch import nn

class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                                        nn.ReLU(), nn.Linear(84, num_classes))
        self.num_classes = num_classes

    def forward(self, x):
        return torch.zeros(x.shape[0], self.num_classes)
"""

VGG_ZEROS = """
import torch
from torch import nn

class _Block(nn.Sequential):
    def forward(self, x):
        return torch.zeros(x.shape[0], self[0].out_channels, x.shape[2] // 2, x.shape[3] // 2)

def vgg_block(in_channels, out_channels, num_convs):
    layers = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
    return _Block(*layers, nn.MaxPool2d(2))
"""

INCEPTION_ZEROS = """
import torch
from torch import nn

class Inception(nn.Module):
    def __init__(self, in_channels, c1, r3, c3, r5, c5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, r3, 1), nn.ReLU(),
                                     nn.Conv2d(r3, c3, 3, padding=1), nn.ReLU())
        self.branch5 = nn.Sequential(nn.Conv2d(in_channels, r5, 1), nn.ReLU(),
                                     nn.Conv2d(r5, c5, 5, padding=2), nn.ReLU())
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())
        self.channels = c1 + c3 + c5 + pool_proj

    def forward(self, x):
        return torch.zeros(x.shape[0], self.channels, x.shape[2], x.shape[3])
"""

BLOCK = """
import torch
from torch import nn

class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, {stride1}, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, {stride2}, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        {forward}
"""
BLOCK_BN_UNUSED = BLOCK.format(
    stride1="stride", stride2="1", forward="return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))"
)
BLOCK_STRIDE_ON_CONV2 = BLOCK.format(
    stride1="1",
    stride2="stride",
    forward="return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))",
)
BLOCK_NO_FINAL_RELU = BLOCK.format(
    stride1="stride",
    stride2="1",
    forward="return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.shortcut(x)",
)
RESNET_NO_SKIP = BLOCK.format(
    stride1="stride",
    stride2="1",
    forward="return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))",
).replace("class BasicBlock", "class PlainBlock") + textwrap.dedent(
    """
    def resnet18(num_classes=1000, in_channels=3):
        blocks, channels = [], 64
        for stage, width in enumerate((64, 128, 256, 512)):
            for i in range(2):
                blocks.append(PlainBlock(channels, width, 2 if stage > 0 and i == 0 else 1))
                channels = width
        return nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))
    """
)
BLOCK_SHORTCUT_FIRST = """
import torch
from torch import nn

class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        identity = self.shortcut(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return torch.relu(out)
"""

SUBMISSIONS = [  # (lab, test cell, the learner's last answer cell, what the feedback must say; None: it passes)
    ("07-cnn", "test_lenet5_module", LENET_ZEROS, "returns the same zeros whatever the input"),
    ("08-architectures", "test_vgg_block", VGG_ZEROS, "returns the same zeros whatever the input"),
    ("08-architectures", "test_inception_module", INCEPTION_ZEROS, "returns the same zeros whatever the input"),
    ("09-resnet", "test_basic_block", BLOCK_BN_UNUSED, "apply the batch norms you declared"),
    ("09-resnet", "test_basic_block", BLOCK_STRIDE_ON_CONV2, "the stride belongs to conv1"),
    ("09-resnet", "test_basic_block", BLOCK_NO_FINAL_RELU, "the block ends with a ReLU after the sum"),
    ("09-resnet", "test_resnet18", RESNET_NO_SKIP, "without the skip connections"),
    ("09-resnet", "test_basic_block", BLOCK_SHORTCUT_FIRST, None),
]


@pytest.mark.parametrize(
    "lab,grade_id,answer,feedback",
    SUBMISSIONS,
    ids=[f"{g}-{i}" for i, (_, g, _, _) in enumerate(SUBMISSIONS)],
)
def test_hollow_modules_fail_their_test_cell_with_a_hint_in_the_sandbox(lab, grade_id, answer, feedback):
    from dlcourse.autograde.score import score_test_cell

    nb = source_notebook(lab)
    cell = next(c for c in graded_cells(nb) if nbgrader_meta(c)["grade_id"] == grade_id)
    answers = [strip_markers(c.source) for c in solution_cells(nb)] + [answer]  # the last definition wins
    verdict = score_test_cell(cell.source, answers, deadline=60)
    if feedback is None:
        assert verdict.passed, verdict.message
    else:
        assert not verdict.passed and feedback in verdict.message, verdict.message
