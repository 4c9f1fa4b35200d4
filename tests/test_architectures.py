"""Lab 08's numbers and reference code: the cost calculator against PyTorch models, the famous totals, the
Inception arithmetic, the torch architectures' parameter counts, and the profiler."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import architectures
from dlcourse.feedback.exercises.network import _random_stack
from dlcourse.reference import architectures as reference


def _on_meta(build, *args):
    with torch.device("meta"):
        return build(*args)


def test_vgg16_totals():
    rows = reference.layer_costs(reference.VGG16, (3, 224, 224))
    params, macs = sum(r[1] for r in rows), sum(r[2] for r in rows)
    stored = 3 * 224 * 224 + sum(r[3] for r in rows)
    assert (params, stored) == (138_357_544, 15_237_608)
    assert round(stored * 4 / 1e6) == 61  # "about 61 MB per image in float32"
    fc1 = rows[-5][1]
    assert fc1 == 102_764_544 and round(fc1 / params, 2) == 0.74
    conv_macs = sum(r[2] for s, r in zip(reference.VGG16, rows) if s["type"] == "conv")
    assert round(conv_macs / 1e9, 1) == 15.3 and round(macs / 1e9, 1) == 15.5 and conv_macs / macs > 0.99


def test_alexnet_numbers():
    rows = reference.layer_costs(reference.ALEXNET, (3, 227, 227))
    assert rows[0][:2] == ((96, 55, 55), 34_944) and rows[2][0] == (96, 27, 27)
    assert sum(r[1] for r in rows) == 62_378_344
    # The two-GPU original: conv2, conv4 and conv5 see half the channels ("about 61 million").
    grouped = nn.Sequential(*[m for m in architectures.alexnet()])
    for index in (3, 8, 10):
        conv = grouped[index]
        grouped[index] = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, groups=2
        )
    assert sum(p.numel() for p in grouped.parameters()) == 60_965_224


@pytest.mark.parametrize(
    "name,build,size,params",
    [
        ("AlexNet", architectures.alexnet, (1, 3, 227, 227), 62_378_344),
        ("VGG16", architectures.vgg16, (1, 3, 224, 224), 138_357_544),
        ("ResNet-18", architectures.resnet18, (1, 3, 224, 224), 11_689_512),
        ("GoogLeNet", architectures.googlenet, (1, 3, 224, 224), 6_998_552),
    ],
)
def test_torch_architectures_and_the_profiler(name, build, size, params):
    model = _on_meta(build)
    rows = architectures.profile(model, size)
    assert sum(p.numel() for p in model.parameters()) == sum(r[3] for r in rows) == params
    assert rows[-1][2] == (1, 1000)


def test_resnet18_macs_and_googlenet_head():
    rows = architectures.profile(_on_meta(architectures.resnet18), (1, 3, 224, 224))
    assert round(sum(r[4] for r in rows) / 1e9, 2) == 1.81  # the usual "1.8 GFLOPs" (multiply-adds)
    rows = architectures.profile(_on_meta(architectures.googlenet), (1, 3, 224, 224))
    assert rows[-1][3] == 1_025_000


@pytest.mark.parametrize("seed", range(6))
def test_calculator_agrees_with_the_profiler_on_random_stacks(seed):
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(8, 41)), int(rng.integers(8, 41)))
    layers, channels = _random_stack(rng, size), int(rng.integers(1, 5))
    model = architectures.from_layers(layers, channels)
    model(torch.zeros(1, channels, *size))  # sizes the lazy linear layers
    rows = architectures.profile(model, (2, channels, *size))
    mine = reference.layer_costs(layers, (channels, *size))
    assert [r[2][1:] for r in rows] == [m[0] for m in mine]
    assert [r[3] for r in rows] == [m[1] for m in mine]
    assert [r[4] for r in rows] == [m[2] for m in mine]
    assert [r[5] for r in rows] == [m[3] for m in mine]


def test_inception_numbers_and_the_slide():
    assert reference.inception_macs(256, 28, 28, 128, 192, 96) == (672, 854_196_224)
    assert reference.inception_macs(256, 28, 28, 128, 192, 96, 64, 64, 64) == (480, 271_351_808)
    hw = 28 * 28
    slide = [hw * 64 * 256, hw * 64 * 256, hw * 128 * 256, hw * 192 * 9 * 64, hw * 96 * 25 * 264, hw * 64 * 256]
    assert sum(slide) != 353_000_000 and sum(slide) - hw * 96 * 25 * 200 == 271_351_808
    with pytest.raises(ValueError, match="in_channels must be an int >= 1"):
        reference.inception_macs(0, 28, 28, 1, 1, 1)


@pytest.mark.parametrize("module", list(architectures.GOOGLENET_MODULES))
def test_inception_macs_is_what_the_module_computes(module):
    c, c1, r3, c3, r5, c5, proj = architectures.GOOGLENET_MODULES[module]
    block = architectures.Inception(c, c1, r3, c3, r5, c5, proj)
    rows = architectures.profile(block, (1, c, 14, 14))
    out, macs = reference.inception_macs(c, 14, 14, c1, c3, c5, r3, r5, proj)
    assert block(torch.zeros(1, c, 14, 14)).shape[1] == out
    assert sum(r[4] for r in rows) == macs


def test_self_check_bottleneck_numbers():
    """Lab 08's self-check 1."""
    direct = [{"type": "conv", "out_channels": 256, "kernel_size": 3, "padding": 1}]
    bottleneck = [{"type": "conv", "out_channels": 64, "kernel_size": 1}, *direct]
    rows = reference.layer_costs(direct, (128, 28, 28))
    assert (rows[0][1], rows[0][2]) == (295_168, 231_211_008)
    rows = reference.layer_costs(bottleneck, (128, 28, 28))
    assert (sum(r[1] for r in rows), sum(r[2] for r in rows)) == (155_968, 122_028_032)


def test_three_3x3_against_one_7x7():
    from dlcourse.reference.cnn import receptive_fields

    conv3 = {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False}
    assert receptive_fields([conv3] * 3)[0][-1] == 7
    assert sum(r[1] for r in reference.layer_costs([conv3] * 3, (8, 9, 9))) == 27 * 64


def test_vgg_block_shapes():
    block = architectures.vgg_block(3, 8, 2)
    assert block(torch.zeros(1, 3, 16, 16)).shape == (1, 8, 8, 8)
    assert sum(p.numel() for p in block.parameters()) == (8 * 3 * 9 + 8) + (8 * 8 * 9 + 8)


def test_architecture_explorer_totals_follow_its_memory_model():
    from dlcourse.explorers.architecture import ArchitectureExplorer

    e = ArchitectureExplorer("VGG16", batch_size=2, dtype="float16")
    t = e.totals()
    assert t["parameters"] == 138_357_544 and t["stored values per example"] == 15_237_608
    assert t["training memory (bytes)"] == 2 * (4 * 138_357_544 + 2 * 15_237_608)
    largest_pair = 2 * 64 * 224 * 224  # conv1_1's output and conv1_2's output
    assert t["inference memory (bytes)"] == 2 * (138_357_544 + 2 * largest_pair)
    e.set(network="small (type its layers)", layers="conv3 c4, relu, flatten, fc10")
    assert e.totals()["parameters"] == (4 * 9 + 4) + (4 * 26 * 26 * 10 + 10)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        e.set(batch_size=0)
    with pytest.raises(ValueError, match="network must be one of"):
        e.set(network="LeNet")
