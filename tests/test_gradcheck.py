"""Analytic backward passes against centred finite differences, and the gradcheck helpers themselves."""

import numpy as np
import pytest

from dlcourse import functional as F
from dlcourse.gradcheck import check_gradients, numerical_gradient, numerical_gradient_of_array, relative_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    assert np.allclose(numerical_gradient(lambda: np.sum(x**3), x), 3 * x**2, rtol=1e-6)
    assert np.array_equal(x, [1.0, -2.0, 3.0])  # restored after perturbing


def test_relative_error():
    assert relative_error(np.ones(3), np.ones(3)) == 0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes"):
        relative_error(np.ones(2), np.ones(3))


def test_numerical_gradient_rejects_float32():
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda: 0.0, np.ones(3, np.float32))


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((3, 2), (1, 2))])
def test_conv2d_backward_by_finite_differences(rng, stride, padding):
    x, w, b = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    dout = rng.standard_normal(F.conv2d(x, w, b, stride, padding).shape)
    dx, dw, db = F.conv2d_backward(dout, x, w, b, stride, padding)
    f = lambda: F.conv2d(x, w, b, stride, padding)  # noqa: E731
    for analytic, arr in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient_of_array(f, arr, dout)) < 1e-6


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_backward_by_finite_differences(rng, kind):
    x = rng.standard_normal((2, 2, 7, 7))  # continuous values: no ties, so max pooling is differentiable
    dout = rng.standard_normal(getattr(F, f"{kind}_pool2d")(x, 3, 2, 1).shape)
    analytic = getattr(F, f"{kind}_pool2d_backward")(dout, x, 3, 2, 1)
    numeric = numerical_gradient_of_array(lambda: getattr(F, f"{kind}_pool2d")(x, 3, 2, 1), x, dout)
    assert relative_error(analytic, numeric) < 1e-6


def test_batch_norm_and_losses_by_finite_differences(rng):
    x = rng.standard_normal((6, 3, 2, 2))
    w, b = 1 + rng.standard_normal(3) * 0.1, rng.standard_normal(3)
    dout = rng.standard_normal(x.shape)
    dx, dw, db = F.batch_norm_backward(dout, x, None, None, w, b, training=True)
    f = lambda: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    for analytic, arr in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient_of_array(f, arr, dout)) < 1e-6
    logits, target = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    assert (
        relative_error(
            F.cross_entropy_backward(logits, target),
            numerical_gradient(lambda: F.cross_entropy(logits, target), logits),
        )
        < 1e-6
    )


def test_check_gradients_prints_a_table_and_fails_a_wrong_gradient(rng, capsys):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    dout = rng.standard_normal((4, 2))
    dx, dw, _ = F.linear_backward(dout, x, w)
    f = lambda: np.sum(F.linear(x, w) * dout)  # noqa: E731
    assert check_gradients(f, {"x": x, "weight": w}, {"x": dx, "weight": dw})
    table = capsys.readouterr().out
    assert "max rel. error" in table and table.count("pass") == 2
    assert not check_gradients(f, {"x": x, "weight": w}, {"x": dx, "weight": dw.T.T * 1.01})
    assert "FAIL" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no entry"):
        check_gradients(f, {"x": x}, {})
