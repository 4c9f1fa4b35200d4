"""Lab 09's experiments at length: the degradation problem over seeds, depths and epochs, and the two small
ResNets' accuracy over seeds.

    python benchmarks/resnet.py degradation                          # depths 18 and 34, 2 epochs, seeds 0 1 2
    python benchmarks/resnet.py degradation --depths 10 18 34 50 --epochs 6 --seeds 0 1
    python benchmarks/resnet.py accuracy --seeds 0 1 2 3 4           # NumPy and PyTorch ResNets, the lab's recipes

Degradation: ``models.digits_net`` plain and residual at each depth, trained alike (Adam, lr 3e-3 with cosine
decay, batches of 64, no augmentation), on the GPU when there is one; reported: the mean training loss of the
last epoch and the held-out accuracy, which pairs of depths degrade, and where the residual net is below its
plain twin. Goal (lab 09's claim): plain-34 ends above plain-18 and residual-18 and -34 below their plain twins.
(Degradation needs depth: at 6 epochs plain-10 and plain-18 end close together, plain-34 and -50 far above.)

Accuracy: the lab's NumPy ResNet (``nn.small_resnet(widths=(8, 16, 32), stem_pool=True)``, Adam 6e-3 with
cosine decay, batches of 32, 6 epochs) and PyTorch ResNet (``digits_net(10, residual=True, widths=(16, 32))``,
6 epochs with random shifts); goal: at least 97 % of the 1,000 held-out digits each, within the lab's two-minute
budget. Seed 0 is exactly the lab's run.
"""

from __future__ import annotations

import argparse
import os
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dlcourse import models, nn, optim  # noqa: E402
from dlcourse.data import load_digits, random_shift  # noqa: E402
from dlcourse.train import accuracy, cosine, fit  # noqa: E402


def degradation(data, seeds, depths, epochs):
    X_train, y_train, X_test, y_test = data
    dev = models.device()
    print(f"degradation on {dev}: depths {depths}, {epochs} epochs; last-epoch training loss (held-out accuracy)")
    print(f"{'seed':>4} {'kind':>8} " + " ".join(f"{f'depth {d}':>16}" for d in depths))
    verdicts = []
    for seed in seeds:
        last = {}
        for residual in (False, True):
            cells = []
            for depth in depths:
                torch.manual_seed(seed)
                net = models.digits_net(depth, residual=residual).to(dev)
                start = time.perf_counter()
                losses = models.fit_classifier(net, X_train, y_train, epochs=epochs, seed=seed, every_step=True)
                loss = float(np.mean(losses[-len(losses) // epochs :]))
                acc = float(np.mean(models.predict_proba(net, X_test).argmax(1) == y_test))
                last[(residual, depth)] = loss
                cells.append(f"{loss:6.3f} ({acc:5.1%}) {time.perf_counter() - start:3.0f}s")
            print(f"{seed:>4} {'ResNet' if residual else 'plain':>8} " + " ".join(f"{c:>16}" for c in cells))
        worse = [f"{b}>{a}" for a, b in zip(depths, depths[1:]) if last[(False, b)] > last[(False, a)]]
        helped = [str(d) for d in depths if last[(True, d)] < last[(False, d)]]
        print(
            f"     plain: deeper trains worse at {', '.join(worse) or 'no pair'}; residual below plain at depth "
            f"{', '.join(helped) or 'none'}"
        )
        if {18, 34} <= set(depths):  # the lab's pair
            verdicts.append(
                last[(False, 34)] > last[(False, 18)] and all(last[(True, d)] < last[(False, d)] for d in (18, 34))
            )
    if verdicts:
        print(
            f"lab 09's claim (plain-34 above plain-18, each residual net below its plain twin): "
            f"{sum(verdicts)} of {len(verdicts)} seeds"
        )


def numpy_resnet(seed, data, epochs=6, lr=6e-3):
    X_train, y_train, X_test, y_test = data
    model = nn.small_resnet(widths=(8, 16, 32), stem_pool=True, rng=seed)
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), X_train, y_train, epochs=epochs,
        batch_size=32, rng=np.random.default_rng(seed), progress=False, lr_schedule=cosine(lr, epochs))  # fmt: skip
    model.eval()
    return accuracy(model, X_test, y_test)


def torch_resnet(seed, data, epochs=6):
    X_train, y_train, X_test, y_test = data
    torch.manual_seed(seed)
    model = models.digits_net(10, residual=True, widths=(16, 32)).to(models.device())
    models.fit_classifier(
        model, X_train, y_train, epochs=epochs, seed=seed, augment=lambda xb, r: random_shift(xb, 2, r)
    )
    return float(np.mean(models.predict_proba(model, X_test).argmax(1) == y_test))


def accuracies(data, seeds):
    print(f"{'seed':>4} {'NumPy ResNet':>14} {'s':>5} {'PyTorch ResNet':>15} {'s':>5}")
    worst = [1.0, 1.0]
    for seed in seeds:
        row = []
        for i, run in enumerate((numpy_resnet, torch_resnet)):
            start = time.perf_counter()
            acc = run(seed, data)
            worst[i] = min(worst[i], acc)
            row.append(f"{acc:14.1%} {time.perf_counter() - start:5.1f}")
        print(f"{seed:>4} " + " ".join(row))
    print(f"worst: NumPy {worst[0]:.1%}, PyTorch {worst[1]:.1%} (goal: at least 97 % each)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("degradation", "accuracy"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--depths", type=int, nargs="+", default=[18, 34])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    data = load_digits()
    if args.part == "degradation":
        degradation(data, args.seeds, args.depths, args.epochs)
    else:
        accuracies(data, args.seeds)


if __name__ == "__main__":
    main()
