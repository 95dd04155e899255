"""The NumPy oracle against brute-force loops, its second formulation, adjointness and finite
differences, on random small configurations (asymmetric and negative pads, groups, dilation)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import oracle
from harness.inputs import make_inputs
from tests.helpers import brute_conv, brute_conv_transpose, make_case, random_case

SEEDS = range(40)


def _op(case):
    return oracle.conv_transpose if case.is_transpose else oracle.conv


@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_matches_brute_force(seed):
    case = random_case(np.random.default_rng(seed))
    inp = make_inputs(case)
    args = (case.stride, case.dilation, case.padding, case.groups)
    brute = brute_conv_transpose if case.is_transpose else brute_conv
    np.testing.assert_allclose(_op(case)(inp.x, inp.w, inp.b, *args), brute(inp.x, inp.w, inp.b, *args),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_two_transpose_formulations_agree(seed):
    case = random_case(np.random.default_rng(seed), op="conv_transpose")
    inp = make_inputs(case)
    args = (case.stride, case.dilation, case.padding, case.groups)
    np.testing.assert_allclose(oracle.conv_transpose(inp.x, inp.w, inp.b, *args),
                               oracle.conv_transpose_textbook(inp.x, inp.w, inp.b, *args),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_vjp_is_adjoint(seed):
    """<dy/dx · x', g> = <op(x') - b, g> and the same for w: the VJPs are true adjoints."""
    rng = np.random.default_rng(1000 + seed)
    case = random_case(rng)
    inp = make_inputs(case)
    out = oracle.forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g)
    op = _op(case)
    args = (case.stride, case.dilation, case.padding, case.groups)
    xp = rng.standard_normal(inp.x.shape)
    wp = rng.standard_normal(inp.w.shape)
    assert np.vdot(op(xp, inp.w, None, *args), inp.g) == pytest.approx(np.vdot(xp, out.dx), rel=1e-10, abs=1e-10)
    assert np.vdot(op(inp.x, wp, None, *args), inp.g) == pytest.approx(np.vdot(wp, out.dw), rel=1e-10, abs=1e-10)
    if case.bias:
        spatial = tuple(range(2, 2 + case.ndim))
        np.testing.assert_allclose(out.db, inp.g.sum(axis=(0, *spatial)))


@pytest.mark.parametrize("seed", range(12))
def test_conv_and_transpose_are_adjoint(seed):
    """<conv(x), y> = <x, conv_transpose(y)> with the same stride, dilation, groups and pads."""
    rng = np.random.default_rng(2000 + seed)
    case = random_case(rng, op="conv")
    inp = make_inputs(case)
    args = (case.stride, case.dilation, case.padding, case.groups)
    y = oracle.conv(inp.x, inp.w, None, *args)
    ybar = rng.standard_normal(y.shape)
    from harness.translate import conv_vjp_input_crop
    crops = tuple(conv_vjp_input_crop(i, k, s, d, lo, hi) for i, k, s, d, (lo, hi) in
                  zip(case.input_size, case.kernel, case.stride, case.dilation, case.padding))
    xt = oracle.conv_transpose(ybar, inp.w, None, case.stride, case.dilation, crops, case.groups)
    assert xt.shape == inp.x.shape
    assert np.vdot(y, ybar) == pytest.approx(np.vdot(inp.x, xt), rel=1e-10)


@pytest.mark.parametrize("seed", range(8))
def test_vjp_matches_finite_differences(seed):
    rng = np.random.default_rng(3000 + seed)
    case = random_case(rng)
    inp = make_inputs(case)
    out = oracle.forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g)
    op = _op(case)
    args = (case.stride, case.dilation, case.padding, case.groups)
    loss = lambda x, w, b: np.vdot(op(x, w, b, *args), inp.g)  # noqa: E731
    h = 1e-6
    for name, grad in (("x", out.dx), ("w", out.dw)):
        base = {"x": inp.x, "w": inp.w}
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in base[name].shape)
            plus, minus = base[name].copy(), base[name].copy()
            plus[idx] += h
            minus[idx] -= h
            kw_p = {**base, name: plus}
            kw_m = {**base, name: minus}
            fd = (loss(kw_p["x"], kw_p["w"], inp.b) - loss(kw_m["x"], kw_m["w"], inp.b)) / (2 * h)
            assert grad[idx] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_worked_example_transpose_2x2():
    """2×2 input, 2×2 kernel, stride 2: each input pixel stamps a scaled copy of the kernel."""
    case = make_case("conv_transpose", 2, 1, 1, 1, 2, 2, 2, bias=False)
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    y = oracle.conv_transpose(x, w, None, case.stride, case.dilation, case.padding, 1)
    expected = np.array([[1, 10, 2, 20], [100, 1000, 200, 2000], [3, 30, 4, 40], [300, 3000, 400, 4000]])
    np.testing.assert_array_equal(y[0, 0], expected)


def test_negative_crop_appends_zeros():
    case = make_case("conv_transpose", 1, 1, 1, 1, 2, 1, 3, bias=False, padding=((0, -2),))
    y = oracle.conv_transpose(np.array([[[1.0, 2.0]]]), np.array([[[5.0]]]), None, (3,), (1,), case.padding, 1)
    np.testing.assert_array_equal(y[0, 0], [5, 0, 0, 10, 0, 0])
