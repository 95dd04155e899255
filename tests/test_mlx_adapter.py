"""The MLX adapter against the oracle (mlx 0.32.4, CPU backend), on both paths.

Measured: native and emulated spellings agree with the oracle forward and backward in float32 (and
16-bit under the default contract, float64 with float32 accuracy: the declared contract), except the
MLX bug `mlx_padding.dilated_negative_padding` predicts (a negative conv_general padding applied
before the input dilation); 3D grouped convolutions and float64 with a dilation are refusals.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("mlx.core")

from harness import adapters  # noqa: E402
from harness.adapters import mlx_adapter as ma  # noqa: E402
from harness.adapters import mlx_padding as mp  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE, UNSUPPORTED  # noqa: E402
from harness.runner import expected_failure, run_item  # noqa: E402
from tests.helpers import assert_all_pass, make_case, seeded_cases  # noqa: E402

NAMES = {"mlx": "core", "mlx-general": "conv_general"}


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    for name, path in NAMES.items():
        monkeypatch.setitem(adapters.REGISTRY, name, ("harness.adapters.mlx_adapter", path))


def _rows(case, dtype, name, identities=False):
    return run_item(case, dtype, adapters.get(name), identities=identities)


HAND = [
    make_case("conv", padding=((1, 1),)),
    make_case("conv", padding=((0, 2), (-1, 1)), stride=2),
    make_case("conv", ndim=1, groups=2, stride=2, dilation=2, padding=((2, 2),)),
    make_case("conv", ndim=3, size=4, kernel=2, padding=((1, 0),), stride=(1, 2, 1)),
    make_case("conv_transpose", stride=2, padding=((1, 0),)),  # output_padding 1
    make_case("conv_transpose", stride=2, padding=((0, 1),)),  # crop_extend on core
    make_case("conv_transpose", stride=2, groups=2, padding=((0, 2), (1, 1))),
    make_case("conv_transpose", ndim=1, stride=1, dilation=2, padding=((0, -2),)),
    make_case("conv_transpose", ndim=3, size=3, kernel=2, stride=(2, 1, 2), padding=((0, 1),)),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", HAND, ids=lambda c: f"{c.op}{c.ndim}d_{c.padding}_s{c.stride}_g{c.groups}")
def test_hand_picked_cases_match_the_oracle(case, name):
    assert not expected_failure(case, "float32", adapters.get(name))
    assert_all_pass(_rows(case, "float32", name), f"{name} {case.op}")


def _grouped_strided_weight_grad(case, name: str) -> bool:
    """Open finding (not characterised into an exact predicate yet): on the conv_general path, the weight
    gradient of a grouped, strided conv with unequal lo/hi padding can get a wrong shape
    (test_grouped_strided_weight_gradient_shape). Such cases are left out of the random sweep."""
    return (name == "mlx-general" and not case.is_transpose and case.groups > 1
            and any(s > 1 and lo != hi for s, (lo, hi) in zip(case.stride, case.padding)))


@pytest.mark.parametrize("name", NAMES)
def test_random_cases_match_the_oracle_or_are_predicted(name):
    adapter = adapters.get(name)
    checked = 0
    for case in seeded_cases("mlx", 300, 14):
        if (case.ndim == 3 and case.groups > 1) or _grouped_strided_weight_grad(case, name):
            continue  # refused (test_refusals), or the open finding below
        rows = run_item(case, "float32", adapter, identities=False)
        failing = [r for r in rows if r["status"] != "pass"]
        if expected_failure(case, "float32", adapter):
            assert failing, f"{case.id}: predicted to fail, passes"
        else:
            assert not failing, f"{case.id} {case.padding}: {[(r['quantity'], r['message']) for r in failing]}"
        checked += 1
    assert checked >= 8


def test_plan_expressions():
    assert ma.plan(make_case("conv"), "float32", "core").expression == NATIVE
    assert ma.plan(make_case("conv", padding=((0, 1),)), "float32", "core").expression == EMULATED
    assert ma.plan(make_case("conv_transpose", padding=((0, 1),)), "float32", "core").expression == EMULATED
    assert ma.plan(make_case("conv_transpose", padding=((0, 1),)), "float32", "conv_general").expression == NATIVE


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_meets_the_contract(dtype):
    for case in (make_case("conv", padding=((1, 1),)), make_case("conv_transpose", stride=2, padding=((1, 0),))):
        assert_all_pass(_rows(case, dtype, "mlx"), f"{dtype} {case.op}")


def test_float64_runs_at_float32_accuracy():
    """The declared float64 contract: MLX's CPU conv returns float64 with float32-sized errors (it would
    fail the float64 worst case: checked against the oracle directly)."""
    from harness.runner import reference

    case = make_case("conv", padding=((1, 1),), cin=8, kernel=3)
    ref = reference(case, "float64")
    got = ma.run(case, "float64", ref.inputs, ma.plan(case, "float64", "core"))
    rel = np.abs(got["y"] - ref.values["y"]).max() / np.abs(ref.values["y"]).max()
    assert 1e-10 < rel < 1e-5
    assert_all_pass(_rows(case, "float64", "mlx"), "float64")


def test_refusals():
    grouped3d = make_case("conv", ndim=3, size=4, kernel=2, groups=2, cin=4, cout=4)
    rows = _rows(grouped3d, "float32", "mlx")
    assert {r["status"] for r in rows} == {UNSUPPORTED}
    assert "groups != 1" in rows[0]["message"]
    dilated64 = make_case("conv", dilation=2)
    rows = _rows(dilated64, "float64", "mlx")
    assert {r["status"] for r in rows} == {UNSUPPORTED}
    assert "unsupported data type" in rows[0]["message"]


def test_predicted_refusals_are_what_mlx_raises():
    """plan() says unsupported exactly where the call raises MLX's own message (the predicate is
    checked against the framework: the program built anyway raises it)."""
    from harness.runner import reference

    for case, dtype in ((make_case("conv", ndim=3, size=4, kernel=2, groups=2, cin=4, cout=4), "float32"),
                        (make_case("conv_transpose", ndim=3, size=3, kernel=2, groups=2, cin=2, cout=2), "float32"),
                        (make_case("conv", stride=2), "float64"), (make_case("conv", groups=2), "float64"),
                        (make_case("conv_transpose", dilation=2), "float64")):
        message = mp.refusal(case, dtype)
        assert message and ma.plan(case, dtype).expression == UNSUPPORTED
        program, _ = mp.program(case, dtype)
        plan = ma.Plan("core", NATIVE, program)
        with pytest.raises(Exception, match=re.escape(message)):
            ma.run(case, dtype, reference(case, dtype).inputs, plan)
    assert not mp.refusal(make_case("conv", padding=((1, 1),)), "float64")


@pytest.mark.parametrize("name", NAMES)
def test_known_issue_is_exact(name):
    """The predicted cases fail (too short y, or dx), their neighbours without the trigger pass."""
    adapter = adapters.get(name)
    beyond = make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((3, 3),))
    extended = make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((1, -1),))
    for case in (beyond, extended):
        assert adapter.known_issue(case, "float32")
        bad = {r["quantity"] for r in _rows(case, "float32", name) if r["status"] != "pass"}
        assert bad and (bad == {"dx"} if case is extended else "y" in bad)
    for case in (make_case("conv_transpose", ndim=1, kernel=3, stride=1, padding=((3, 3),)),
                 make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((2, 1),))):
        assert not adapter.known_issue(case, "float32")
        assert_all_pass(_rows(case, "float32", name), f"{name} neighbour")


@pytest.mark.xfail(strict=True, reason="mlx 0.32.4 CPU: conv_general's weight gradient of a grouped conv with "
                   "stride 3 and padding (2, 0) on a 1-long axis has 3 taps where the kernel has 1")
def test_grouped_strided_weight_gradient_shape():
    case = make_case("conv", ndim=1, batch=1, cin=2, cout=2, size=1, kernel=1, stride=3, groups=2, bias=False,
                     padding=((2, 0),))
    assert_all_pass(_rows(case, "float32", "mlx-general"), "grouped strided dw")


def test_core_emulation_avoids_the_negative_start_crop():
    case = make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((-1, 1),))
    assert not adapters.get("mlx").known_issue(case, "float32")
    assert adapters.get("mlx-general").known_issue(case, "float32")
    assert_all_pass(_rows(case, "float32", "mlx"), "crop_extend")


def test_layer_program_matches_run():
    from harness import printed
    from harness.runner import reference

    for case in HAND[:6]:
        layer = ma.layer_program(case, "float32")
        ref = reference(case, "float32")
        got = ma.run(case, "float32", ref.inputs, ma.plan(case, "float32", "core"))
        ns = printed.execute_script(layer, ref.inputs.as_dict(), gradients=False)
        assert np.array_equal(ns["y"], got["y"]), case
    assert mp.layer_program(HAND[6], "float32") is None  # grouped transposed conv: no nn layer


def test_environment_names_the_device():
    env = ma.environment()
    assert "cpu" in env["mlx.default_device"].lower()
    assert ma.available() and ma.version().startswith("0.")
