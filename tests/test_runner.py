"""The runner and comparison: broken adapters are caught, identities too, and rows are complete."""

from __future__ import annotations

import numpy as np
import pytest

from harness import adapters, oracle
from harness.adapters import numpy_adapter
from harness.compare import compare, reduction_lengths
from harness.runner import run_item
from tests.helpers import make_case

_correct_run = numpy_adapter.run


def _unflipped_run(case, dtype, inputs, plan):
    """numpy adapter with the classic bug: transposed conv without flipping the kernel."""
    out = _correct_run(case, dtype, inputs, plan)
    if case.is_transpose:
        w = np.flip(inputs.w, axis=tuple(range(2, 2 + case.ndim)))
        out["y"] = oracle.conv_transpose(inputs.x, w, inputs.b, case.stride, case.dilation, case.padding, case.groups)
    return out


def test_unflipped_kernel_is_a_mismatch_with_the_worst_element(monkeypatch):
    monkeypatch.setattr(numpy_adapter, "run", _unflipped_run)
    case = make_case("conv_transpose", 2, 1, 2, 3, 4, 3, 2, padding=((1, 0),))
    rows = {r["quantity"]: r for r in run_item(case, "float64", adapters.get("numpy"), identities=True)}
    assert rows["y"]["status"] == "mismatch" and rows["y"]["bound_ratio"] > 1e6
    assert rows["y"]["worst_index"] is not None and "outside the bound" in rows["y"]["message"]
    assert rows["dx"]["status"] == "pass"
    # the framework's own conv_transpose no longer equals its conv gradient
    assert rows["adjoint"]["status"] == "mismatch"


def test_identities_pass_for_a_correct_adapter():
    case = make_case("conv", 2, 2, 4, 6, 9, 3, 2, 1, 2, padding=((1, 0),))
    rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("numpy"), identities=True)}
    assert {rows[q]["status"] for q in ("y", "dx", "dw", "db", "adjoint", "transpose_is_grad")} == {"pass"}


def test_exception_becomes_error_row(monkeypatch):
    def boom(*a, **k):
        raise ValueError("kaboom")

    monkeypatch.setattr(numpy_adapter, "run", boom)
    rows = run_item(make_case(), "float32", adapters.get("numpy"))
    assert {r["status"] for r in rows} == {"error"} and "kaboom" in rows[0]["message"]


def test_compare_nan_where_oracle_is_finite_never_passes():
    ref = np.ones((2, 2))
    got = ref.copy()
    got[1, 0] = np.nan
    c = compare(got, ref, np.ones((2, 2)), "float32", 4)
    assert c.status == "mismatch" and c.worst_index == (1, 0)


def test_compare_nan_where_oracle_is_nan_passes():
    ref = np.array([1.0, np.nan, np.inf])
    assert compare(ref.copy(), ref, np.ones(3), "float32", 4).status == "pass"
    assert compare(np.array([1.0, np.nan, -np.inf]), ref, np.ones(3), "float32", 4).status == "mismatch"


def test_compare_shape_mismatch():
    assert compare(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 2)), "float32", 1).status == "shape_mismatch"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_bound_is_tight_enough_to_catch_one_wrong_ulp_scale(dtype):
    """An error of 4K units of roundoff on one element fails; rounding the output once passes."""
    from harness.inputs import UNIT_ROUNDOFF, round_to_dtype

    rng = np.random.default_rng(0)
    ref = rng.standard_normal(100)
    scale = np.abs(ref) + 1.0
    assert compare(round_to_dtype(ref, dtype), ref, scale, dtype, 8).status == "pass"
    bad = ref.copy()
    bad[7] += 4 * 9 * UNIT_ROUNDOFF[dtype] * scale[7]
    assert compare(bad, ref, scale, dtype, 8).status == "mismatch"


def test_reduction_lengths():
    case = make_case("conv", 2, 2, 4, 6, 9, 3, 2, groups=2)
    k = reduction_lengths(case)
    assert k["y"] == 2 * 9 + 1 and k["dw"] == 2 * 4 * 4 and k["dx"] == 3 * 4


def test_forward_only_adapter_gives_unsupported_gradient_rows(monkeypatch):
    def forward_only(case, dtype, inputs, plan):
        return {"y": _correct_run(case, dtype, inputs, plan)["y"]}

    monkeypatch.setattr(numpy_adapter, "run", forward_only)
    monkeypatch.setattr(numpy_adapter, "GRADIENTS", False, raising=False)
    rows = {r["quantity"]: r for r in run_item(make_case(), "float32", adapters.get("numpy"), identities=True)}
    assert rows["y"]["status"] == "pass" and rows["adjoint"]["status"] == "pass"
    assert rows["dx"]["status"] == "unsupported" and "no gradients" in rows["dx"]["message"]
    assert rows["transpose_is_grad"]["status"] == "unsupported"
