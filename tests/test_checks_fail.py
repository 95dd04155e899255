"""Every checker fails on a deliberately wrong input: a check that nothing can make fail is a defect.

The right answers here come from the numpy adapter (the textbook formulation, independent of the
oracle); each test then breaks one thing and expects the check that guards it to say so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness import adapters
from harness import compare as cmp
from harness.identities import dual_case, dual_inputs, identity_comparisons
from harness.loader import load_paths
from harness.runner import golden_rows, reference
from harness.status import Status
from tests.helpers import make_case

CASE = make_case("conv_transpose", 1, 2, 3, 4, 6, 3, 2, padding=((1, 0),))


def _framework_outputs(case, dtype="float64"):
    ref = reference(case, dtype)
    numpy = adapters.get("numpy")
    got = numpy.module.run(case, dtype, ref.inputs, numpy.module.plan(case, dtype))
    dual = dual_case(case)
    got_dual = numpy.module.run(dual, dtype, dual_inputs(ref.inputs), numpy.module.plan(dual, dtype))
    return ref, got, got_dual


def _identities(case, got, got_dual, ref):
    return identity_comparisons(case, "float64", ref.inputs, got, got_dual, ref.scales, ref.reduction)


def test_the_identities_pass_on_right_outputs():
    ref, got, got_dual = _framework_outputs(CASE)
    assert {c.status for c in _identities(CASE, got, got_dual, ref).values()} == {Status.PASS}


def test_adjoint_fails_when_the_dual_op_is_wrong():
    ref, got, got_dual = _framework_outputs(CASE)
    got_dual = {**got_dual, "y": got_dual["y"] * (1 + 1e-6)}
    assert _identities(CASE, got, got_dual, ref)["adjoint"].status == Status.MISMATCH


def test_transpose_is_grad_fails_when_the_gradient_is_wrong():
    ref, got, got_dual = _framework_outputs(CASE)
    dx = got["dx"].copy()
    dx.flat[3] += 1e-9
    assert _identities(CASE, {**got, "dx": dx}, got_dual, ref)["transpose_is_grad"].status == Status.MISMATCH


def test_identities_report_a_wrong_shape_instead_of_crashing():
    ref, got, got_dual = _framework_outputs(CASE)
    found = _identities(CASE, got, {"y": got_dual["y"][..., :-1]}, ref)
    assert {c.status for c in found.values()} == {Status.SHAPE_MISMATCH}


@pytest.mark.parametrize("wrong, status", [
    (lambda y: y[..., :-1], Status.SHAPE_MISMATCH),  # one pixel short
    (lambda y: None, Status.ERROR),  # the adapter returned nothing
    (lambda y: np.where(np.arange(y.size).reshape(y.shape) == 5, np.nan, y), Status.MISMATCH),  # a NaN
    (lambda y: np.roll(y, 1, axis=-1), Status.MISMATCH),  # a one-pixel shift
])
def test_the_comparison_fails_on_each_kind_of_wrong_output(wrong, status):
    ref, got, _ = _framework_outputs(CASE, "float32")
    y = ref.values["y"]
    assert cmp.compare(got["y"], y, ref.scales["y"], "float32", ref.reduction["y"]).status == Status.PASS
    assert cmp.compare(wrong(got["y"]), y, ref.scales["y"], "float32", ref.reduction["y"]).status == status


def test_golden_rows_fail_when_the_literal_expected_values_are_wrong():
    cases, errors = load_paths(["cases/golden"])
    golden = next(c for c in cases if c.golden and "y" in c.golden)
    assert not errors and {r["status"] for r in golden_rows(golden)} == {Status.PASS}
    y = np.array(golden.golden["y"], dtype=np.float64)
    y.flat[0] += 1.0
    wrong = replace(golden, id=golden.id + "-wrong", golden={**golden.golden, "y": y.tolist()})
    rows = {r["quantity"]: r for r in golden_rows(wrong)}
    assert rows["y"]["status"] == Status.MISMATCH and rows["y"]["worst_index"] == [0] * y.ndim
