"""conv2d forward + backward: dlcourse (fast and naive) against torch on the CPU, as ratios from one run.

    python benchmarks/conv_speed.py            # fast path against torch, two threads
    python benchmarks/conv_speed.py --naive    # also time the loop-based oracle (slow: small repeats)

Shapes are the ones the course trains: LeNet-5 on 28x28 digits (batch 64, lab 07), every convolution of lab
09's NumPy ResNet on 28x28 digits (batch 32: a 3x3 stem, 2x2 pooling, stages of 8, 16 and 32 channels at
14x14, 7x7 and 4x4, stride-2 3x3 and 1x1 projection convs), and the three stages of a CIFAR-style ResNet
(batch 32). Each ratio is reported two ways: the median over alternating blocks of repeats (both libraries
see the same machine load) and the best single call of all blocks (best-of-N: the least disturbed run of
each). Float32 throughout. Goals: geometric mean at most 1.5, and every lab-09 shape within 2x of torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

THREADS = int(os.environ.get("DLCOURSE_BENCH_THREADS", "2"))
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))

import numpy as np  # noqa: E402  (thread counts must be set before the BLAS loads)
import torch  # noqa: E402

from dlcourse import functional as F  # noqa: E402
from dlcourse.functional import naive  # noqa: E402

torch.set_num_threads(THREADS)

# name, x shape, weight shape, stride, padding
LAB09 = [  # dlcourse.nn.small_resnet(widths=(8, 16, 32), stem_pool=True), as lab 09 trains it
    ("lab09 stem 28x28", (32, 1, 28, 28), (8, 1, 3, 3), 1, 1),
    ("lab09 stage1 14x14", (32, 8, 14, 14), (8, 8, 3, 3), 1, 1),
    ("lab09 down 14->7 s2", (32, 8, 14, 14), (16, 8, 3, 3), 2, 1),
    ("lab09 proj 14->7 1x1", (32, 8, 14, 14), (16, 8, 1, 1), 2, 0),
    ("lab09 stage2 7x7", (32, 16, 7, 7), (16, 16, 3, 3), 1, 1),
    ("lab09 down 7->4 s2", (32, 16, 7, 7), (32, 16, 3, 3), 2, 1),
    ("lab09 proj 7->4 1x1", (32, 16, 7, 7), (32, 16, 1, 1), 2, 0),
    ("lab09 stage3 4x4", (32, 32, 4, 4), (32, 32, 3, 3), 1, 1),
]
SHAPES = [
    ("LeNet conv1 28x28", (64, 1, 28, 28), (6, 1, 5, 5), 1, 2),
    ("LeNet conv2 14x14", (64, 6, 14, 14), (16, 6, 5, 5), 1, 0),
    *LAB09,
    ("ResNet stage1 32x32", (32, 16, 32, 32), (16, 16, 3, 3), 1, 1),
    ("ResNet stage2 16x16", (32, 32, 16, 16), (32, 32, 3, 3), 1, 1),
    ("ResNet stage3 8x8", (32, 64, 8, 8), (64, 64, 3, 3), 1, 1),
    ("ResNet down 32->16 s2", (32, 16, 32, 32), (32, 16, 3, 3), 2, 1),
]


def numpy_step(impl, x, w, b, stride, padding):
    def run():
        out = impl.conv2d(x, w, b, stride, padding)
        impl.conv2d_backward(np.ones_like(out), x, w, b, stride, padding)

    return run


def torch_step(x, w, b, stride, padding):
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))

    def run():
        for t in (xt, wt, bt):
            t.grad = None
        out = torch.nn.functional.conv2d(xt, wt, bt, stride, padding)
        out.backward(torch.ones_like(out))

    return run


PAUSE = 0.3


def block_medians(fns, repeats, rounds=5):
    """Median and best time of each function, timed in alternating blocks of ``repeats`` calls.

    Blocks rather than single interleaved calls: OpenBLAS and torch's OpenMP pool both keep their
    threads spinning for a while after each call, and on two cores the one that just ran would steal
    time from the other. For the same reason each block starts after a pause (PAUSE seconds), long enough
    for the other library's threads to stop spinning (without it, the first library's spinning threads
    slowed the second by up to 2x on millisecond calls).
    """
    for fn in fns:  # warm up caches, allocators and thread pools
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, bucket in zip(fns, times):
            time.sleep(PAUSE)
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                bucket.append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive", action="store_true", help="also time the loop-based implementation")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"threads={THREADS} numpy={np.__version__} torch={torch.__version__} float32, forward+backward")
    header = f"{'shape':24s} {'torch ms':>9s} {'fast ms':>8s} {'median ratio':>12s} {'best ratio':>10s}"
    print(header + (f" {'naive ms':>9s} {'naive/torch':>11s}" if args.naive else ""))
    ratios, lab09 = [], []
    for name, xs, ws, stride, padding in SHAPES:
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        b = rng.standard_normal(ws[0], dtype=np.float32)
        (t_torch, best_torch), (t_fast, best_fast) = block_medians(
            [torch_step(x, w, b, stride, padding), numpy_step(F, x, w, b, stride, padding)], args.repeats
        )
        ratio, best = t_fast / t_torch, best_fast / best_torch
        ratios.append(ratio)
        if name.startswith("lab09"):
            lab09.append((ratio, best))
        line = f"{name:24s} {t_torch * 1e3:9.2f} {t_fast * 1e3:8.2f} {ratio:12.2f} {best:10.2f}"
        if args.naive:
            ((t_naive, _),) = block_medians([numpy_step(naive, x[:4], w, b, stride, padding)], 1, rounds=1)
            t_naive *= x.shape[0] / 4  # the naive version is timed on 4 images and scaled
            line += f" {t_naive * 1e3:9.0f} {t_naive / t_torch:11.0f}"
        print(line)
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean of median ratios: {geo:.2f} (goal: at most 1.5)")
    worst_median, worst_best = max(r for r, _ in lab09), max(b for _, b in lab09)
    print(f"lab 09 shapes, worst ratio: median {worst_median:.2f}, best-of-N {worst_best:.2f} (goal: at most 2)")
    return geo


if __name__ == "__main__":
    main()
