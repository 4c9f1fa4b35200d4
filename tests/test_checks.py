"""The feedback checks accept the reference, reject every known mistake with its hint, and explain."""

import numpy as np
import pytest

from dlcourse.feedback.checks import CheckFailed, check_exercise, differences
from dlcourse.feedback.exercises import EXERCISES

ALL_MISTAKES = [(name, m) for name, ex in EXERCISES.items() for m in ex.mistakes]


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_visible_and_hidden_cases(name):
    check_exercise(name, EXERCISES[name].reference, quiet=True)
    check_exercise(name, EXERCISES[name].reference, seed=None, hidden=True, quiet=True)


@pytest.mark.parametrize("name,mistake", ALL_MISTAKES, ids=[f"{n}-{m.name}" for n, m in ALL_MISTAKES])
def test_every_mistake_fails_hidden_cases_and_gets_its_hint(name, mistake):
    with pytest.raises(CheckFailed) as caught:
        check_exercise(name, mistake.fn, seed=None, hidden=True, quiet=True)
    assert mistake.hint in str(caught.value)


def test_every_graded_op_has_known_mistakes():
    without = [
        n
        for n, ex in EXERCISES.items()
        if not ex.mistakes and n not in {"step", "relu", "tanh", "log_softmax", "avg_pool2d", "batch_norm_backward"}
    ]
    assert without == []


def test_success_prints_one_line(capsys):
    check_exercise("relu", EXERCISES["relu"].reference)
    assert capsys.readouterr().out.strip() == "\u2714 relu: matches the reference on 3 test cases"


def test_blank_exercise_says_not_implemented():
    def conv2d(x, weight, bias=None, stride=1, padding=0):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match=r"conv2d is not implemented yet"):
        check_exercise("conv2d", conv2d)


def test_missing_return_and_wrong_shape_and_errors_are_explained():
    with pytest.raises(CheckFailed, match=r"got None: did you forget to `return`"):
        check_exercise("relu", lambda x: None)
    with pytest.raises(CheckFailed, match=r"shape: expected \(5,\), got \(1, 5\)"):
        check_exercise("relu", lambda x: np.maximum(x, 0)[None])
    with pytest.raises(CheckFailed, match=r"your function raised ZeroDivisionError"):
        check_exercise("relu", lambda x: 1 / 0)
    with pytest.raises(CheckFailed, match=r"got a torch tensor"):
        check_exercise("relu", lambda x: __import__("torch").relu(__import__("torch").tensor(x)))


def test_value_mismatch_names_entries_and_relative_error():
    def relu(x):
        out = np.maximum(x, 0)
        out.flat[1] += 1
        return out

    with pytest.raises(CheckFailed) as caught:
        check_exercise("relu", relu)
    msg = str(caught.value)
    assert "1 of 5 entries differ" in msg and "max relative error" in msg and "at [1]: expected 0, got 1" in msg


def test_changing_an_input_in_place_is_reported():
    def relu(x):
        np.maximum(x, 0, out=x)
        return x

    with pytest.raises(CheckFailed, match=r"changed its input\(s\) \['x'\] in place"):
        check_exercise("relu", relu)


def test_channels_last_shape_hint():
    msg = differences(np.zeros((2, 5, 5, 3)), np.zeros((2, 3, 5, 5)))
    assert any("channels-last" in m for m in msg)


def test_constant_factor_hint():
    msg = differences(np.arange(1.0, 5.0) * 2, np.arange(1.0, 5.0))
    assert any("times 2" in m for m in msg)


def test_tuple_outputs_name_the_wrong_part():
    from dlcourse import functional as F

    def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
        dx, dw, db = F.conv2d_backward(dout, x, weight, bias, stride, padding)
        return dx, dw, db * 2

    with pytest.raises(CheckFailed, match=r"dbias: .*entries differ"):
        check_exercise("conv2d_backward", conv2d_backward)
    with pytest.raises(CheckFailed, match=r"expected a tuple \(dx, dweight, dbias\)"):
        check_exercise("conv2d_backward", lambda **kw: F.conv2d_backward(**kw)[0])


def test_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise"):
        check_exercise("conv3d", lambda: None)


def test_returns_none_so_nbgrader_sees_no_partial_credit():
    assert check_exercise("relu", EXERCISES["relu"].reference, quiet=True) is None


# --- generic hints say nothing false -----------------------------------------------------------------------------


def test_ratio_hint_only_where_a_factor_means_something():
    assert not any("times" in p for p in differences(np.array(2.0), np.array(1.0)))  # every wrong scalar is a multiple
    assert not any("times" in p for p in differences(np.array([True, True]), np.array([False, True])))  # booleans
    assert "hint: your result is the reference times 2: a missing or extra factor?" in differences(
        2 * np.arange(1.0, 5.0), np.arange(1.0, 5.0)
    )
    zeros = differences(np.zeros((2, 3)), np.ones((2, 3)))
    assert not any("times 0" in p for p in zeros) and any("all zeros" in p for p in zeros)


def test_layout_hint_names_nchw_only_for_images():
    matrix = " ".join(differences(np.ones((3, 2)), np.ones((2, 3))))
    assert "transpose" in matrix and "NCHW" not in matrix
    assert "channels-last" in " ".join(differences(np.ones((1, 3, 4, 2)), np.ones((1, 2, 3, 4))))
    assert "NCHW" in " ".join(differences(np.ones((2, 4, 3, 1)), np.ones((2, 1, 3, 4))))
    assert "NCHW" not in " ".join(differences(np.ones((4, 3, 2)), np.ones((2, 3, 4))))


def test_optimiser_feedback_names_the_step_and_summarises_the_gradients():
    from dlcourse.feedback.mistakes import adam_step_off_by_one

    with pytest.raises(CheckFailed) as caught:
        check_exercise("adam_update", adam_step_off_by_one)
    message = str(caught.value)
    assert "grads: 12 arrays of shape (3,)" in message and "array([" not in message
    assert "param after each step (row k: after step k + 1)" in message
    assert "step count runs one ahead" in message


def test_a_stub_helper_is_named_in_the_not_implemented_message():
    """Lab 06's max_pool2d calls the learner's pool_windows: while that is a stub, say so, not max_pool2d."""

    def pool_windows(x, kernel_size, stride=None, padding=0, pad_value=0.0):
        raise NotImplementedError()

    def max_pool2d(x, kernel_size, stride=None, padding=0):
        return pool_windows(x, kernel_size, stride, padding, -np.inf).max(axis=(4, 5))

    def avg_pool2d(x, kernel_size, stride=None, padding=0):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match=r"max_pool2d calls pool_windows, which is not implemented yet"):
        check_exercise("max_pool2d", max_pool2d)
    with pytest.raises(CheckFailed, match=r"^avg_pool2d is not implemented yet"):
        check_exercise("avg_pool2d", avg_pool2d)


def test_an_uncatalogued_bug_gets_the_smallest_failing_input():
    def relu(x):
        return np.maximum(x, 0) + 1e-3  # no known mistake does this

    with pytest.raises(CheckFailed) as failed:
        check_exercise("relu", relu)
    message = str(failed.value)
    assert "next step: no known mistake matches" in message
    from dlcourse.feedback.exercises import EXERCISES

    cases = EXERCISES["relu"].cases(np.random.default_rng(None), False)
    smallest = min(range(len(cases)), key=lambda i: sum(np.size(v) for v in cases[i].kwargs.values()))
    assert f"smallest input yours gets wrong is case {smallest + 1} " in message
    assert "centred differences" not in message  # not a backward pass


def test_the_fallback_works_when_a_later_case_fails_first():
    """Cases hold arrays: finding the failing case must not compare them (it once crashed with ValueError)."""

    def relu(x):
        x = np.asarray(x, dtype=float)
        return np.maximum(x, 0) + (1e-3 if x.size == 4 else 0.0)  # wrong on the four-entry case only

    with pytest.raises(CheckFailed) as failed:
        check_exercise("relu", relu)
    assert "next step: no known mistake matches" in str(failed.value)


def test_the_fallback_counts_ragged_lists_of_arrays():
    """l2_penalty's weights are arrays of different shapes: sizing its cases must not build one array of them."""

    def l2_penalty(weights, lam):
        return lam * sum(float(np.sum(np.asarray(w) ** 2)) for w in weights) + 1e-3  # no known mistake

    with pytest.raises(CheckFailed) as failed:
        check_exercise("l2_penalty", l2_penalty)
    assert "next step: no known mistake matches" in str(failed.value)


def test_an_uncatalogued_backward_bug_suggests_a_gradient_check_of_the_learners_forward():
    def relu_backward(dout, x):
        return np.where(x > 0, dout, 0.0) + np.where(np.abs(x) > 1.5, 0.1, 0.0)  # wrong far from zero only

    with pytest.raises(CheckFailed) as failed:
        check_exercise("relu_backward", relu_backward)
    assert "next step: no known mistake matches" in str(failed.value)
    assert "centred differences, (f(x + h) - f(x - h)) / 2h, of your own relu on that input" in str(failed.value)


def test_a_catalogued_or_ratio_hint_is_not_followed_by_the_fallback():
    def relu(x):
        return 2.0 * np.maximum(x, 0)

    with pytest.raises(CheckFailed) as failed:
        check_exercise("relu", relu)
    assert "hint:" in str(failed.value) and "next step" not in str(failed.value)


def test_a_stub_class_is_not_implemented_whichever_method_raises():
    """Lab 07's LeNet5 as released: its __init__ raises; the message names the class, not __init__."""
    import torch

    class LeNet5(torch.nn.Module):
        def __init__(self, num_classes=10, in_channels=1):
            super().__init__()
            raise NotImplementedError()

        def forward(self, x):
            raise NotImplementedError()

    with pytest.raises(CheckFailed, match=r"^LeNet5 is not implemented yet"):
        check_exercise("LeNet5", LeNet5)
