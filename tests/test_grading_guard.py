"""assert_own_work catches delegation to the reference or to torch however it was imported."""

import numpy as np
import pytest

from dlcourse.feedback.guard import DelegationError, assert_own_work

x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
w = np.random.default_rng(1).standard_normal((3, 2, 3, 3))


def own_conv(x, weight, bias=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    k = weight.shape[2]
    out = np.zeros((n, weight.shape[0], h - k + 1, wd - k + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.tensordot(x[:, :, i : i + k, j : j + k], weight, axes=([1, 2, 3], [1, 2, 3]))
    return out


def test_own_work_passes_and_returns_the_result():
    assert np.allclose(assert_own_work(own_conv, x, w), own_conv(x, w))


def test_module_attribute_delegation():
    import dlcourse.functional as F

    def conv2d(x, weight, bias=None, stride=1, padding=0):
        return F.conv2d(x, weight, bias, stride, padding)

    with pytest.raises(DelegationError, match=r"conv2d called dlcourse\..*: .*earns no points"):
        assert_own_work(conv2d, x, w)


def test_from_import_binding_is_caught():
    from dlcourse.functional import conv2d as reference_conv

    def conv2d(x, weight, bias=None, stride=1, padding=0):
        return reference_conv(x, weight, bias, stride, padding)

    with pytest.raises(DelegationError):
        assert_own_work(conv2d, x, w)


def test_reference_assigned_directly_is_caught():
    from dlcourse.functional import conv2d  # the learner's "solution" is the reference itself

    with pytest.raises(DelegationError):
        assert_own_work(conv2d, x, w)


def test_naive_and_nn_layers_are_caught():
    from dlcourse import nn
    from dlcourse.functional import naive

    with pytest.raises(DelegationError):
        assert_own_work(lambda a, b: naive.conv2d(a, b), x, w)
    layer = nn.ReLU()
    with pytest.raises(DelegationError):
        assert_own_work(lambda a: layer(a), x)


@pytest.mark.parametrize("how", ["functional", "tensor_method", "module", "builtin"])
def test_torch_is_caught(how):
    import torch

    def via_torch(x, weight):
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
        if how == "functional":
            return torch.nn.functional.conv2d(xt, wt).numpy()
        if how == "tensor_method":
            return xt.relu().numpy()
        if how == "module":
            return torch.nn.ReLU()(xt).numpy()
        return torch.conv2d(xt, wt).numpy()

    with pytest.raises(DelegationError, match="torch"):
        assert_own_work(via_torch, x, w)


def test_scipy_signal_is_caught():
    from scipy.signal import correlate

    with pytest.raises(DelegationError, match="scipy"):
        assert_own_work(lambda a: correlate(a, a), np.ones(4))


def test_allowed_helpers_pass():
    from dlcourse.functional.windows import sliding_windows

    def pool(x):
        return sliding_windows(x, (2, 2), (2, 2)).max(axis=(2, 3))

    with pytest.raises(DelegationError):
        assert_own_work(pool, x)
    assert assert_own_work(pool, x, allowed=[sliding_windows]).shape == (1, 2, 2, 2)


def test_profiler_is_restored_even_when_the_function_raises():
    import sys

    def broken(a):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        assert_own_work(broken, x)
    assert sys.getprofile() is None


def test_check_exercise_runs_the_guard_on_request():
    from dlcourse.feedback.checks import check_exercise
    from dlcourse.functional import relu as reference_relu

    def relu(x):
        return reference_relu(x)

    check_exercise("relu", relu, quiet=True)  # right numbers...
    with pytest.raises(DelegationError, match=r"^relu called dlcourse\.functional"):
        check_exercise("relu", relu, quiet=True, own_work=True)  # ...but not the learner's own work
    check_exercise("relu", lambda x: np.maximum(x, 0), quiet=True, own_work=True)


def _consume(fn, *args):
    """A harness (like the exercises' runners) that iterates what the learner's function hands back."""
    return [len(b) for b, _ in fn(*args)]


def test_handing_back_the_references_generator_is_caught():
    from dlcourse.train import batches as reference_batches

    def batches(X, y, batch_size, rng):
        return reference_batches(X, y, batch_size, rng)  # returns at once; the reference runs in the harness

    data, labels = np.arange(10.0)[:, None], np.arange(10)
    with pytest.raises(DelegationError, match=r"batches called dlcourse\.train\.batches"):
        assert_own_work(_consume, batches, data, labels, 4, np.random.default_rng(0), target=batches)


def test_own_generators_pass_whether_written_with_yield_or_returned():
    def batches_yield(X, y, batch_size, rng):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            yield X[order[start : start + batch_size]], y[order[start : start + batch_size]]

    def batches_returned(X, y, batch_size, rng):
        order = rng.permutation(len(X))
        return ((X[order[s : s + batch_size]], y[order[s : s + batch_size]]) for s in range(0, len(X), batch_size))

    data, labels = np.arange(10.0)[:, None], np.arange(10)
    for fn in (batches_yield, batches_returned):
        assert assert_own_work(_consume, fn, data, labels, 4, np.random.default_rng(0), target=fn) == [4, 4, 2]
