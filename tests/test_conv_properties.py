"""Properties of conv2d and pooling over generated shapes, strides and paddings."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse import functional as F
from dlcourse.functional import naive


@st.composite
def conv_setups(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31))
    return n, c_in, c_out, h, w, kh, kw, (sh, sw), (ph, pw), seed


@settings(max_examples=60, deadline=None)
@given(conv_setups())
def test_output_size_formula_and_naive_oracle(setup):
    n, c_in, c_out, h, w, kh, kw, stride, padding, seed = setup
    rng = np.random.default_rng(seed)
    x, wt, b = (
        rng.standard_normal((n, c_in, h, w)),
        rng.standard_normal((c_out, c_in, kh, kw)),
        rng.standard_normal(c_out),
    )
    out = F.conv2d(x, wt, b, stride, padding)
    expected_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    expected_w = (w + 2 * padding[1] - kw) // stride[1] + 1
    assert out.shape == (n, c_out, expected_h, expected_w)
    assert np.allclose(out, naive.conv2d(x, wt, b, stride, padding))
    dout = rng.standard_normal(out.shape)
    for fast, slow in zip(
        F.conv2d_backward(dout, x, wt, b, stride, padding), naive.conv2d_backward(dout, x, wt, b, stride, padding)
    ):
        assert np.allclose(fast, slow)


@settings(max_examples=60, deadline=None)
@given(conv_setups())
def test_adjoint_identity(setup):
    """<conv(x), y> = <x, conv^T(y)>: the input gradient is the transpose of the (linear) forward map."""
    n, c_in, c_out, h, w, kh, kw, stride, padding, seed = setup
    rng = np.random.default_rng(seed)
    x, wt = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, kh, kw))
    y = rng.standard_normal(F.conv2d(x, wt, None, stride, padding).shape)
    lhs = np.sum(F.conv2d(x, wt, None, stride, padding) * y)
    rhs = np.sum(x * F.conv2d_backward(y, x, wt, None, stride, padding)[0])
    assert np.isclose(lhs, rhs, rtol=1e-9, atol=1e-9)
    # The same identity in the weight: conv is linear in w too.
    assert np.isclose(lhs, np.sum(wt * F.conv2d_backward(y, x, wt, None, stride, padding)[1]), rtol=1e-9, atol=1e-9)


@st.composite
def pool_setups(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(kh, 8)), draw(st.integers(kw, 8))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    return (kh, kw), stride, (ph, pw), h, w, draw(st.integers(0, 2**31))


@settings(max_examples=60, deadline=None)
@given(pool_setups())
def test_pooling_matches_naive(setup):
    k, stride, padding, h, w, seed = setup
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 3, size=(2, 2, h, w)).astype(float)  # ties are common
    for kind in ("max_pool2d", "avg_pool2d"):
        out = getattr(F, kind)(x, k, stride, padding)
        s = k if stride is None else stride
        assert out.shape[2:] == ((h + 2 * padding[0] - k[0]) // s[0] + 1, (w + 2 * padding[1] - k[1]) // s[1] + 1)
        assert np.allclose(out, getattr(naive, kind)(x, k, stride, padding))
        dout = rng.standard_normal(out.shape)
        assert np.allclose(
            getattr(F, kind + "_backward")(dout, x, k, stride, padding),
            getattr(naive, kind + "_backward")(dout, x, k, stride, padding),
        )


def test_translation_equivariance(rng):
    """Shifting the input shifts the output of a stride-1 convolution by the same amount."""
    x = np.zeros((1, 1, 12, 12))
    x[0, 0, 3:6, 4:7] = rng.standard_normal((3, 3))
    w = rng.standard_normal((2, 1, 3, 3))
    shifted = np.roll(x, (2, 1), axis=(2, 3))
    assert np.allclose(np.roll(F.conv2d(x, w), (2, 1), axis=(2, 3)), F.conv2d(shifted, w))
