"""NumPy LeNet-5 from ``dlcourse.nn`` on the offline digits: test accuracy and wall time on this machine.

    python benchmarks/lenet_numpy.py            # the full run: 15 epochs, about 30 s on two cores
    python benchmarks/lenet_numpy.py --epochs 1 # one epoch, for a quick timing

Goal: at least 97% test accuracy in under three minutes on two cores. Recipe: Adam (lr 2e-3) with cosine
decay, batches of 32, random shifts of up to two pixels (the 4,000 training digits are few).
"""

from __future__ import annotations

import argparse
import os
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import numpy as np  # noqa: E402

from dlcourse import nn, optim  # noqa: E402
from dlcourse.data import load_digits, random_shift  # noqa: E402
from dlcourse.train import accuracy, cosine, fit  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_digits()
    model = nn.lenet5(rng=args.seed)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=32,
        rng=np.random.default_rng(args.seed),
        augment=lambda xb, rng: random_shift(xb, 2, rng),
        lr_schedule=cosine(2e-3, args.epochs),
        progress=False,
    )
    seconds = time.perf_counter() - start
    acc = accuracy(model, X_test, y_test)
    print(
        f"LeNet-5 (NumPy, {model.num_parameters():,} parameters), {len(X_train)} training digits, "
        f"{args.epochs} epochs: {seconds:.1f} s ({seconds / args.epochs:.2f} s/epoch), "
        f"final training loss {history['loss'][-1]:.3f}, test accuracy {acc:.2%} on {len(X_test)} digits"
    )
    return acc, seconds


if __name__ == "__main__":
    main()
