"""The comparison: bounds, NaN-awareness and the exact tier."""

from __future__ import annotations

import numpy as np

from harness import compare as cmp
from harness import oracle
from harness.inputs import inputs_for_dtype, make_inputs
from harness.status import Status
from tests.helpers import make_case


def _one_ulp_off(values: np.ndarray) -> np.ndarray:
    off = values.astype(np.float32).copy()
    off.flat[3] = np.nextafter(off.flat[3], np.float32(np.inf))
    return off.astype(np.float64)


def test_integer_inputs_make_the_comparison_exact():
    case = make_case("conv", 2, 2, 4, 6, 6, 3, inputs="integers")
    inp = inputs_for_dtype(make_inputs(case), "float32")
    y = oracle.forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g).as_dict()["y"]
    scale = oracle.abs_forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g).as_dict()["y"]
    assert np.array_equal(y, np.round(y))  # integer sums
    assert cmp.sums_are_exact("integers", scale, "float32")
    assert not cmp.sums_are_exact("normal", scale, "float32")
    assert not cmp.sums_are_exact("integers", scale * 2.0**20, "float32")  # partial sums beyond 2**24
    k = cmp.reduction_lengths(case)["y"]
    off = _one_ulp_off(y)
    # the rounding bound lets one ulp through; the exact comparison does not
    assert cmp.compare(off, y, scale, "float32", k).status == Status.PASS
    exact = cmp.compare(off, y, scale, "float32", k, exact=True)
    assert exact.status == Status.MISMATCH and exact.worst_index == np.unravel_index(3, y.shape)
    assert "differ where integer inputs make every sum exact" in exact.message
    assert cmp.compare(y.copy(), y, scale, "float32", k, exact=True).status == Status.PASS


def test_nan_where_the_oracle_is_finite_is_a_mismatch():
    ref = np.arange(6.0).reshape(2, 3)
    got = ref.copy()
    got[1, 2] = np.nan
    res = cmp.compare(got, ref, np.ones_like(ref), "float32", 3)
    assert res.status == Status.MISMATCH and "non-finite" in res.message
    both = ref.copy()
    both[0, 0] = np.nan
    assert cmp.compare(both, both, np.ones_like(ref), "float32", 3).status == Status.PASS


def test_an_infinity_is_right_where_rounding_the_oracle_to_the_dtype_overflows():
    """Found by harness fuzz (float16, large inputs): 7e4 rounds to inf in float16, so a framework's
    inf there is right; the wrong sign, or an inf where the value is far below float16's largest, is not."""
    from harness.compare import compare

    want, scale = np.array([7e4, -7e4, 6e4]), np.array([7e4, 7e4, 6e4])
    assert compare(np.array([np.inf, -np.inf, 6e4]), want, scale, "float16", 4).status == "pass"
    assert compare(np.array([np.inf, np.inf, 6e4]), want, scale, "float16", 4).status == "mismatch"
    assert compare(np.array([np.inf, -np.inf, np.inf]), want, scale, "float16", 4).status == "mismatch"
    assert compare(np.array([np.inf, -np.inf, 6e4]), want, scale, "float32", 4).status == "mismatch"
