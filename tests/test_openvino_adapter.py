"""The OpenVINO adapter (opset API and ONNX frontend, CPU plugin) against the oracle, plus what was measured.

Measured with openvino 2026.4.1 (CPU with AVX512, no AVX512_BF16 / AMX):

- every opset spelling (explicit pads, auto_pad words, output_shape, output_padding >= stride, groups,
  dilation, the Pad-node emulations of negative pads) agrees with the oracle;
- float64 is computed in f32 (Converts around an f32 convolution): float64 plans are unsupported;
- the ONNX frontend shifts ConvTranspose SAME_* with output_shape (group 1: SAME_UPPER, odd T; group > 1:
  any split with something at the start) and gives length F for SAME_* without output_shape when the
  stride exceeds the dilated kernel: `known_issue`, strict.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("onnx")

from harness import adapters, printed, translate  # noqa: E402
from harness.adapters import openvino_adapter as ova  # noqa: E402
from harness.adapters import program as pg  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE, UNSUPPORTED  # noqa: E402
from harness.runner import expected_failure, reference, run_item  # noqa: E402
from tests.helpers import case_features, expected_deviation, make_case, seeded_cases  # noqa: E402

NAMES = {"openvino": "opset", "openvino-onnx": "onnx_frontend"}
RANDOM_CASES = seeded_cases("openvino", 7300, 18)


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    for name, path in NAMES.items():
        monkeypatch.setitem(adapters.REGISTRY, name, ("harness.adapters.openvino_adapter", path))


def _y(rows):
    return next(r for r in rows if r["quantity"] == "y")


def _fails(rows) -> bool:
    return any(r["status"] in ("mismatch", "shape_mismatch", "error") and not expected_deviation(r) for r in rows)


def test_random_cases_cover_the_features():
    feats = case_features(RANDOM_CASES)
    feats |= {f"{ova.plan(c, 'float32', 'opset').expression}_{c.op}" for c in RANDOM_CASES}
    for want in ("native_conv", "emulated_conv", "native_conv_transpose", "emulated_conv_transpose",
                 "groups_conv", "groups_conv_transpose", "dilation_conv_transpose", "conv1d", "conv2d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        assert want in feats, want


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_opset_random_cases_match_the_oracle(dtype):
    for case in RANDOM_CASES:
        rows = run_item(case, dtype, adapters.get("openvino"), identities=dtype == "float32")
        assert not _fails(rows), (case.id, [(r["quantity"], r["status"], r["message"]) for r in rows])
        assert {r["status"] for r in rows if r["quantity"] in ("dx", "dw", "db")} <= {"unsupported"}


def test_onnx_frontend_random_cases_fail_exactly_where_predicted():
    for case in RANDOM_CASES:
        rows = run_item(case, "float32", adapters.get("openvino-onnx"), identities=True)
        predicted = expected_failure(case, "float32", adapters.get("openvino-onnx"))
        assert _fails(rows) == (predicted is not None), (case.id, [(r["quantity"], r["status"]) for r in rows])


def _same(word, i, k, s, d=1, o=None, groups=1):
    oo = o if o is not None else translate.transpose_default_length(word, i, k, s, d)
    crop = translate.transpose_word_crop(word, i, k, s, d, oo)
    return make_case("conv_transpose", 1, 1, 2 * groups, 2 * groups, i, k, s, d, groups=groups, bias=False,
                     padding=(crop,), padding_word=word, output_shape=None if o is None else (o,))


@pytest.mark.parametrize("groups", [1, 2])
def test_onnx_frontend_same_prediction_is_exact_and_the_opset_path_is_right(groups):
    """Every SAME_* ConvTranspose of a small grid: the ONNX frontend fails exactly where known_issue
    says (both directions: strict), the opset path never."""
    broken = 0
    for word, i, k, s in [(w, i, k, s) for w in ("same", "same_lower") for i in (3,) for k in (1, 2, 3)
                          for s in (1, 2, 3)]:
        low, high = translate.transpose_length_range(word, i, k, s, 1)
        for o in (None, low, high):
            case = _same(word, i, k, s, o=o, groups=groups)
            onnx_rows = run_item(case, "float32", adapters.get("openvino-onnx"), identities=False)
            predicted = ova.known_issue(case, "float32", "onnx_frontend")
            assert _fails(onnx_rows) == (predicted is not None), (word, i, k, s, o, _y(onnx_rows)["status"])
            broken += predicted is not None
            assert _y(run_item(case, "float32", adapters.get("openvino"), identities=False))["status"] == "pass"
    assert broken, "the ONNX frontend's SAME_* bugs are fixed: update known_issue and the docstrings"


def test_the_swap_and_the_length_bug_show_as_they_are():
    shift = _same("same", 5, 3, 2, o=10)  # T = 1: one pixel at the end in ONNX, at the start in OpenVINO
    rows = run_item(shift, "float32", adapters.get("openvino-onnx"), identities=False)
    assert _y(rows)["status"] == "mismatch" and "33397" in _y(rows)["xfail"]
    length = _same("same", 4, 2, 3)  # T = 11 - 12 < 0, no output_shape
    y = _y(run_item(length, "float32", adapters.get("openvino-onnx"), identities=False))
    assert y["status"] == "shape_mismatch" and y["shape"] == [1, 2, 11] and y["expected_shape"] == [1, 2, 12]


EMULATED_CASES = {
    "conv input crop": make_case("conv", 2, 2, 2, 2, 5, 2, 1, padding=((-1, 1), (0, 0))),
    "conv crop past the data": make_case("conv", 1, 1, 2, 2, 2, 1, 1, padding=((-3, 2),)),
    "conv_transpose negative start crop": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 2, padding=((-1, 0),)),
    "conv_transpose crop into the prepended zeros": make_case("conv_transpose", 1, 1, 2, 2, 1, 1, 1, padding=((-3, 2),)),
}
NATIVE_CASES = {
    "output_padding >= stride": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 1, 2, padding=((0, -1),)),
    "zeros appended, stride > kernel": make_case("conv_transpose", 1, 1, 2, 3, 4, 2, 3, padding=((0, -1),),
                                                 padding_word="same", output_shape=(12,)),
    "3d grouped dilated": make_case("conv_transpose", 3, 1, 4, 2, 3, 2, 2, 2, groups=2, padding=((1, 0),)),
    "conv same dilated": make_case("conv", 1, 1, 2, 3, 7, 3, 1, 2, padding=((2, 2),), padding_word="same"),
}


def test_spellings_native_and_emulated_match():
    for what, case in {**EMULATED_CASES, **NATIVE_CASES}.items():
        plan = ova.plan(case, "float32", "opset")
        assert plan.expression == (EMULATED if what in EMULATED_CASES else NATIVE), what
        rows = run_item(case, "float32", adapters.get("openvino"), identities=True)
        assert not _fails(rows), (what, [(r["quantity"], r["status"], r["message"]) for r in rows])


def test_onnx_frontend_refuses_a_crop_past_the_data():
    plan = ova.plan(EMULATED_CASES["conv crop past the data"], "float32", "onnx_frontend")
    assert plan.expression == UNSUPPORTED and "crops more than the input" in plan.reason


def test_float64_is_unsupported_with_the_measured_reason():
    for name in NAMES:
        rows = run_item(RANDOM_CASES[0], "float64", adapters.get(name))
        assert {r["status"] for r in rows} == {"unsupported"}
        assert "converts an f64 model" in _y(rows)["message"]


def test_printed_program_is_what_ran():
    for name in NAMES:
        labels = set()
        for dtype in ("float32", "bfloat16"):
            for case in [*RANDOM_CASES[:8], *EMULATED_CASES.values()]:
                if expected_failure(case, dtype, adapters.get(name)) or ova.plan(case, dtype, NAMES[name]).program is None:
                    continue
                outcome = printed.check(adapters.get(name), case, dtype)
                assert outcome.same, (name, case.id, dtype, outcome.differences, outcome.skipped)
                labels.add(outcome.formulation)
        assert len(labels) == 3, (name, labels)


def test_the_program_reads_only_its_imports_inputs_and_own_steps():
    for case in [*RANDOM_CASES, *EMULATED_CASES.values()]:
        for path in NAMES.values():
            prog = ova.plan(case, "bfloat16", path).program
            if prog is None:
                continue
            assigned = {s.out for s in prog.setup + prog.body}
            imported = {alias.split(".")[0] for alias, _ in prog.imports}
            assert pg.names_used(prog) <= imported | assigned | {"x", "w", "b"}


def test_group_weights_as_openvino_takes_them_give_the_oracle():
    for case in (make_case("conv", groups=3, cin=3, cout=6, kernel=(1, 2)),
                 make_case("conv_transpose", ndim=1, groups=2, cin=4, cout=6, kernel=3, stride=2)):
        ref = reference(case, "float32")
        assert _y(run_item(case, "float32", adapters.get("openvino"), identities=False))["status"] == "pass"
        to_native, _ = adapters.get("openvino").weight_steps(case)
        native = pg.execute(to_native, {"numpy": np, "w_torch": ref.inputs.w})["w_openvino"]
        assert native.shape[0] == case.groups and native.size == ref.inputs.w.size


def test_low_precision_contract_and_environment():
    case = make_case(bias=True)
    assert adapters.get("openvino").contract(case, "bfloat16").y_roundings == 2
    assert adapters.get("openvino-onnx").contract(case, "float16").y_roundings == 2
    assert adapters.get("openvino").contract(make_case(bias=False), "bfloat16").y_roundings == 1
    env = ova.environment()
    assert env["openvino.inference_precision_hint"] == "f32" and "CPU" in env["openvino.devices"]
    assert env["openvino.cpu.default_inference_precision"] in ("f32", "bf16", "f16")
    assert ova.GRADIENTS is False and ova.version().startswith("20")


def test_available_never_raises(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (_ for _ in ()).throw(ValueError(name)))
    assert ova.available() is False
