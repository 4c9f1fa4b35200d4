"""Plant known bugs in a copy of ``dlcourse`` one at a time and check that the framework tests catch each one.

    python benchmarks/mutations.py                       # every mutation, against the framework tests
    python benchmarks/mutations.py --only cosine_doubled --tests tests/test_framework.py tests/test_nn.py

Each mutation is an exact text substitution in one source file of a *temporary copy* of the package (the
working tree is never touched: others run tests from it). The tests run with that copy first on
PYTHONPATH; a canary run (a copy whose import raises) proves the copy is what they import. Prints a table
and exits 1 if any mutation survives, 2 if the unmutated copy fails or the canary is not seen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dlcourse"
DEFAULT_TESTS = ("tests/test_framework.py", "tests/test_resnet.py")
CANARY = "MUTATION-CANARY: the tests imported the temporary copy"


class Mutation(NamedTuple):  # a NamedTuple, so the file loads by path without sys.modules
    name: str
    path: str  # relative to the package directory
    substitutions: tuple[tuple[str, str], ...]  # (exact text, replacement); each text must occur exactly once
    what: str


def _one(name, path, old, new, what):
    return Mutation(name, path, ((old, new),), what)


MUTATIONS = [
    # the bugs the brief asks for
    _one(
        "dropout_backward_ignores_mask",
        "nn.py",
        "return F.dropout_backward(dout, self._cache, self.p)",
        "return dout / (1 - self.p)",
        "Dropout.backward scales every unit instead of using the forward's mask",
    ),
    _one(
        "global_avg_pool_backward_no_division",
        "nn.py",
        "np.asarray(dout)[:, :, None, None] / (h * w)",
        "np.asarray(dout)[:, :, None, None]",
        "GlobalAvgPool2d.backward forgets the 1/(H*W) of the mean",
    ),
    _one(
        "batchnorm_backward_current_mode",
        "nn.py",
        "x, training = self._need_forward()",
        "x, _ = self._need_forward()\n        training = self.training",
        "BatchNorm backward follows the current mode, not the forward's",
    ),
    _one(
        "predict_keeps_eval_mode",
        "train.py",
        "    finally:\n        model.train(was_training)",
        "    finally:\n        pass",
        "predict leaves the model in eval mode",
    ),
    Mutation(
        "fit_unweighted_batch_mean",
        "train.py",
        (
            ("            total += loss * len(yb)\n", "            total += loss\n"),
            ('history["loss"].append(total / seen)', 'history["loss"].append(total / n_batches)'),
        ),
        "fit's epoch loss is the plain mean of the batch means (a short last batch counts fully)",
    ),
    _one(
        "cosine_doubled",
        "train.py",
        "lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))",
        "lr * (1 + np.cos(np.pi * epoch / epochs))",
        "cosine schedule starts at 2 * lr",
    ),
    _one(
        "shift_same_on_both_axes",
        "data/augment.py",
        "dy, dx = rng.integers(0, 2 * m + 1, size=(2, n))",
        "dy = dx = rng.integers(0, 2 * m + 1, size=n)",
        "random_shift moves both axes by the same amount",
    ),
    _one(
        "linear_regression_doubled_gradient",
        "reference/regression.py",
        "w = w - lr * 2 * (X.T @ r) / n",
        "w = w - lr * 4 * (X.T @ r) / n",
        "linear regression steps along twice the gradient of w",
    ),
    _one(
        "logistic_regression_doubled_gradient",
        "reference/regression.py",
        "w = w - lr * (X.T @ (p - y)) / n",
        "w = w - lr * 2 * (X.T @ (p - y)) / n",
        "logistic regression steps along twice the gradient of w",
    ),
    _one(
        "conv_param_count_drops_in_channels",
        "reference/conv_arithmetic.py",
        "return out_channels * in_channels * kh * kw +",
        "return out_channels * kh * kw +",
        "conv2d_param_count forgets in_channels",
    ),
    # our own
    _one(
        "linear_backward_dw_transposed",
        "nn.py",
        "self.bias is None else self.bias.data)\n        self.weight.grad += dw\n",
        "self.bias is None else self.bias.data)\n        self.weight.grad += dw.T\n",
        "Linear adds dW transposed (only square layers survive the shapes)",
    ),
    _one(
        "linear_backward_overwrites_grad",
        "nn.py",
        "self.bias is None else self.bias.data)\n        self.weight.grad += dw\n",
        "self.bias is None else self.bias.data)\n        self.weight.grad[...] = dw\n",
        "Linear overwrites its weight gradient instead of accumulating it",
    ),
    _one(
        "sgd_momentum_buffer_not_kept",
        "optim/rules.py",
        'return param - lr * buf, {**state, "momentum_buffer": buf}',
        "return param - lr * buf, state",
        "SGD momentum forgets its buffer: plain SGD in disguise",
    ),
    _one(
        "adam_bias_correction_off_by_one",
        "optim/rules.py",
        "m / (1 - beta1**t), v / (1 - beta2**t)",
        "m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))",
        "Adam corrects the bias for one step too many",
    ),
    _one(
        "weight_decay_sign_flipped",
        "optim/__init__.py",
        "grad = grad + self.weight_decay * p.data",
        "grad = grad - self.weight_decay * p.data",
        "the L2 penalty pushes weights away from zero",
    ),
    _one(
        "residual_shortcut_gradient_dropped",
        "nn.py",
        "self.branch.backward(dsum) + self.shortcut.backward(dsum)",
        "self.branch.backward(dsum) + dsum",
        "ResidualBlock passes the gradient around the projection shortcut untouched",
    ),
    _one(
        "dropout_active_in_eval",
        "nn.py",
        "if not self.training or self.p == 0:",
        "if self.p == 0:",
        "Dropout keeps dropping in eval mode",
    ),
    _one(
        "batchnorm_eval_uses_batch_stats",
        "nn.py",
        "            self.training,\n            self.momentum,",
        "            True,\n            self.momentum,",
        "BatchNorm normalises with batch statistics in eval mode (and keeps updating them)",
    ),
    _one(
        "batchnorm_running_var_biased",
        "functional/normalization.py",
        "momentum * var * count / (count - 1)",
        "momentum * var",
        "the running variance is updated with the biased batch variance",
    ),
    _one(
        "fit_schedule_one_epoch_late",
        "train.py",
        "optimizer.lr = float(lr_schedule(epoch))",
        "optimizer.lr = float(lr_schedule(epoch + 1))",
        "fit asks the schedule for the next epoch's rate",
    ),
    _one(
        "summary_leaves_eval_mode",
        "models.py",
        "    finally:\n        model.train(was_training)\n        for h in hooks:",
        "    finally:\n        for h in hooks:",
        "summary leaves the model in eval mode",
    ),
    _one(
        "conv_channels_last_fold_overwrites",
        "functional/conv.py",
        "self._tap(grid, i, j)[...] += dcols[:, :, :, i, j]",
        "self._tap(grid, i, j)[...] = dcols[:, :, :, i, j]",
        "conv2d_backward's channels-last col2im overwrites where windows overlap instead of adding",
    ),
    _one(
        "conv_channels_last_weight_order",
        "functional/conv.py",
        "return weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])",
        "return weight.transpose(1, 2, 3, 0).reshape(-1, weight.shape[0])",
        "the channels-last weight matrix is ordered (C, kH, kW), not the columns' (kH, kW, C)",
    ),
    _one(
        "small_resnet_stem_pool_ignored",
        "nn.py",
        "    if stem_pool:\n        layers.append(MaxPool2d(2))",
        "    if stem_pool:\n        pass",
        "small_resnet forgets the stem's pooling",
    ),
]


def mutated_copy(destination: Path, mutation: Mutation | None) -> Path:
    """A copy of the package under destination with the mutation applied; asserts every substitution applied."""
    copy = destination / "dlcourse"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if mutation is not None:
        target = copy / mutation.path
        source = target.read_text()
        for old, new in mutation.substitutions:
            count = source.count(old)
            assert count == 1, f"{mutation.name}: {old!r} occurs {count} times in {mutation.path}, expected once"
            source = source.replace(old, new)
        target.write_text(source)
    return copy


def run_tests(package_root: Path, tests, timeout) -> tuple[int, str, float]:
    """Run pytest from the repository with package_root first on the import path: (exit code, output, seconds)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(package_root), os.environ.get("PYTHONPATH", "")]),
        PYTHONDONTWRITEBYTECODE="1",
    )  # no stale or shared .pyc between the copies and the working tree
    # -P: `python -m` would otherwise put the cwd (the working tree, with the real package) first on sys.path.
    # --import-mode=append: pytest must not insert test directories ahead of the copy either.
    command = [
        sys.executable,
        "-P",
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=append",
        *tests,
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        return -1, f"timed out after {timeout} s\n{expired.stdout or ''}", time.perf_counter() - start
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def first_failure(output: str) -> str:
    """The test that failed first, as pytest's short summary names it."""
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0].split("::")[-1][:60]
    return output.strip().splitlines()[-1][:60] if output.strip() else "?"


def check_setup(tests, timeout) -> None:
    """The unmutated copy must pass (else every mutation would look caught), and a copy whose import raises
    must fail with our message (else the tests are not importing the copy)."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-mutant-") as tmp:
        code, output, seconds = run_tests(mutated_copy(Path(tmp), None).parent, tests, timeout)
    if code != 0:
        print(f"the unmutated copy fails the tests (exit {code}); fix that first:\n{output[-3000:]}", file=sys.stderr)
        sys.exit(2)
    print(f"baseline: the unmutated copy passes ({seconds:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="dlcourse-canary-") as tmp:
        init = mutated_copy(Path(tmp), None) / "__init__.py"
        init.write_text(f"raise ImportError({CANARY!r})\n" + init.read_text())
        code, output, _ = run_tests(init.parent.parent, tests, timeout)
    if code == 0 or CANARY not in output:
        print(
            f"the tests did not import the temporary copy (exit {code}); mutations would prove nothing", file=sys.stderr
        )
        sys.exit(2)
    print("canary: the tests import the temporary copy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test files, relative to the repo")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per test run (a hang counts as caught)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutation in {args.only}; see --list")
    if args.list:
        for m in chosen:
            print(f"{m.name:<40} {m.path:<28} {m.what}")
        return 0

    check_setup(args.tests, args.timeout)
    width = max(len(m.name) for m in chosen)
    print(f"\n{'mutation':<{width}}  {'result':<7} {'secs':>5}  first failing test")
    missed = []
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix="dlcourse-mutant-") as tmp:
            code, output, seconds = run_tests(mutated_copy(Path(tmp), mutation).parent, args.tests, args.timeout)
        caught = code != 0
        if not caught:
            missed.append(mutation.name)
        detail = first_failure(output) if caught else mutation.what
        print(f"{mutation.name:<{width}}  {'caught' if caught else 'MISSED':<7} {seconds:>5.1f}  {detail}", flush=True)
    summary = f"{len(chosen) - len(missed)}/{len(chosen)} mutations caught"
    print(f"\n{summary}; missed: {', '.join(missed)}" if missed else f"\n{summary}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
