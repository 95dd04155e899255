"""The ONNX adapter (onnxruntime and onnx.reference) against the oracle, plus what was measured.

Measured with onnxruntime 1.31.1 / onnx 1.23.2 (the pins in constraints.txt):

- ConvTranspose SAME_UPPER crops the smaller half at the start, SAME_LOWER the larger, as the ONNX
  spec says (microsoft/onnxruntime#9370, the swap, was fixed in ORT 1.13 by #12537).
- Without output_shape, a SAME_* ConvTranspose whose stride is larger than the dilated kernel
  should give i*s elements (spec); onnxruntime gives F = (i-1)*s + d*(k-1) + 1: shape_mismatch.
  onnx.reference gives i*s but, for SAME_UPPER, puts the extra zero at the start (floor division
  of a negative total): mismatch against canonical `same` (TF appends it at the end).
- onnxruntime refuses output_padding >= stride, and auto_pad SAME_* with dilation > 1 in Conv.
- onnxruntime CPU has no float64 or bfloat16 Conv / ConvTranspose kernel (NOT_IMPLEMENTED).
- onnx.reference ConvTranspose with group > 1 is wrong (weights sliced along the wrong axis,
  outputs written to one channel per group): error or mismatch rows (see onnx/onnx#8446).
"""

from __future__ import annotations

import time

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from harness import adapters, translate  # noqa: E402
from harness.adapters import onnx_adapter as oa  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE  # noqa: E402
from harness.runner import expected_failure, run_item  # noqa: E402
from tests.helpers import case_features, make_case, seeded_cases  # noqa: E402

NAMES = {"onnxruntime": "onnxruntime", "onnx-reference": "reference"}
N_RANDOM = 20
NO_GRADIENTS = "computes no gradients"  # "onnxruntime computes no gradients (forward only)"


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    for name, path in NAMES.items():
        monkeypatch.setitem(adapters.REGISTRY, name, ("harness.adapters.onnx_adapter", path))


RANDOM_CASES = seeded_cases("onnx", 9100, N_RANDOM)


def _check_forward_only_rows(rows, case, allow_failure=False):
    by_q = {r["quantity"]: r for r in rows}
    if allow_failure:  # the known onnx.reference bug: errors or wrong numbers, never a crash
        assert {r["status"] for r in rows} <= {"pass", "unsupported", "error", "mismatch"}
        return
    for q in ("dx", "dw", "db"):
        if q in by_q:
            assert by_q[q]["status"] == "unsupported"
            assert NO_GRADIENTS in by_q[q]["message"]
            if by_q[q]["framework"] == "onnxruntime":
                assert by_q[q]["message"].startswith("onnxruntime computes no gradients")
    if "transpose_is_grad" in by_q:
        assert by_q["transpose_is_grad"]["status"] == "unsupported"
    assert by_q["y"]["status"] == "pass", (by_q["y"]["message"], by_q["y"].get("call"))
    if "adjoint" in by_q:
        assert by_q["adjoint"]["status"] == "pass", by_q["adjoint"]["message"]


def test_random_cases_cover_the_features():
    feats = case_features(RANDOM_CASES)
    for c in RANDOM_CASES:
        feats.add(f"{oa.plan(c, 'float32', 'onnxruntime').expression}_{c.op}")
    for want in ("native_conv", "emulated_conv", "native_conv_transpose", "emulated_conv_transpose",
                 "groups_conv", "groups_conv_transpose", "conv1d", "conv2d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        assert want in feats, want


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_onnxruntime_random_cases_match_the_oracle(dtype):
    start = time.perf_counter()
    for case in RANDOM_CASES:
        rows = run_item(case, dtype, adapters.get("onnxruntime"), identities=True)
        _check_forward_only_rows(rows, case)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_onnxruntime_has_no_float64_or_bfloat16_kernels(dtype):
    for case in RANDOM_CASES[:4]:
        rows = run_item(case, dtype, adapters.get("onnxruntime"))
        assert {r["status"] for r in rows} == {"unsupported"}
        y = next(r for r in rows if r["quantity"] == "y")
        kind = "ConvTranspose" if case.is_transpose else "Conv"
        assert "NOT_IMPLEMENTED" in y["message"] and f"implementation for {kind}(22)" in y["message"]


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_reference_random_cases_fail_exactly_where_the_known_issue_says(dtype):
    """The strict xfail from `known_issue` must predict every failure and nothing else."""
    broken = 0
    for case in RANDOM_CASES:
        rows = run_item(case, dtype, adapters.get("onnx-reference"))
        failed = bool({r["status"] for r in rows} & {"error", "mismatch", "shape_mismatch"})
        predicted = expected_failure(case, dtype, adapters.get("onnx-reference"))
        assert failed == (predicted is not None), (case.id, case.groups, case.in_channels, case.out_channels,
                                                   [(r["quantity"], r["status"], r["message"]) for r in rows])
        broken += failed
        _check_forward_only_rows(rows, case, allow_failure=failed)
    assert broken or dtype != "float32", "onnx.reference grouped ConvTranspose passes now: update the docstring"


@pytest.mark.parametrize("cin,cout,groups,bias,wrong", [
    (4, 4, 4, False, False),  # depthwise, multiplier 1, no bias: the one grouped form it gets right
    (4, 4, 4, True, True),  # ... with a bias: B[0] is added to every group
    (4, 8, 4, False, True), (4, 6, 2, False, True), (6, 3, 3, True, True),
])
def test_reference_grouped_transpose_prediction(cin, cout, groups, bias, wrong):
    case = make_case("conv_transpose", 1, 2, cin, cout, 5, 3, 2, groups=groups, bias=bias)
    rows = run_item(case, "float32", adapters.get("onnx-reference"), identities=False)
    y = next(r for r in rows if r["quantity"] == "y")
    assert (y["status"] != "pass") == wrong == (oa.known_issue(case, "float32", "reference") is not None)


def test_reference_grouped_conv_transpose_is_wrong():
    """onnx 1.23.2 slices the weights by output channels along axis 0 (the input channels) and
    writes one channel per group; with 2 output channels per group it cannot even broadcast."""
    case = make_case("conv_transpose", 2, 1, 4, 4, 5, 3, 2, groups=2, padding=((1, 1),))
    rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnx-reference"))}
    assert rows["y"]["status"] == "error" and "broadcast" in rows["y"]["message"]
    rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnxruntime"))}
    assert rows["y"]["status"] == "pass"


def _same_case(op, word, i, k, s, d=1, **kw):
    if op == "conv":
        pads = (translate.conv_word_padding(word, i, k, s, d),)
    else:
        o = translate.transpose_default_length(word, i, k, s, d)
        pads = (translate.transpose_word_crop(word, i, k, s, d, o),)
    return make_case(op, 1, 2, 2, 3, i, k, s, d, padding=pads, padding_word=word, bias=True, **kw)


@pytest.mark.parametrize("word,auto_pad", [("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_same_upper_and_lower_are_spelled_natively_and_match(op, word, auto_pad):
    # odd total padding (k=4, s=2 for the transpose: T = 3 with output_shape 9; k=2 for conv)
    cases = [_same_case(op, word, 5, 2 if op == "conv" else 3, 1 if op == "conv" else 2)]
    if op == "conv_transpose":
        o = 9
        crop = translate.transpose_word_crop(word, 5, 4, 2, 1, o)
        cases.append(make_case(op, 1, 2, 2, 3, 5, 4, 2, padding=(crop,), padding_word=word, output_shape=(o,)))
    for case in cases:
        assert sum(case.padding[0]) % 2 == 1 or case.is_transpose  # the sides differ
        for name in NAMES:
            plan = oa.plan(case, "float32", NAMES[name])
            assert plan.expression == NATIVE and f"auto_pad={auto_pad!r}" in plan.call
            rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get(name))}
            assert rows["y"]["status"] == "pass", (name, case.padding, rows["y"]["message"])


@pytest.mark.parametrize("word", ["same", "same_lower"])
def test_ort_same_transpose_with_stride_beyond_the_kernel_has_the_wrong_length(word):
    """k=2, s=3, i=4: the spec (and canonical same) give 12 elements; ORT gives F = 11. A finding:
    the row is shape_mismatch, not hidden by spelling the case another way."""
    case = _same_case("conv_transpose", word, 4, 2, 3)
    assert case.output_size == (12,) and case.padding == ((0, -1),)
    rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnxruntime"))}
    assert rows["y"]["status"] == "shape_mismatch"
    assert rows["y"]["shape"] == [2, 3, 11] and rows["y"]["expected_shape"] == [2, 3, 12]
    # onnx.reference has the spec's length; SAME_UPPER puts the zero at the start, SAME_LOWER at the end
    ref = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnx-reference"))}
    assert ref["y"]["status"] == ("mismatch" if word == "same" else "pass")
    # with output_shape given, ORT appends the zero at the end: canonical
    given = make_case("conv_transpose", 1, 2, 2, 3, 4, 2, 3, padding=((0, -1),), padding_word=word,
                      output_shape=(12,))
    rows = {r["quantity"]: r for r in run_item(given, "float32", adapters.get("onnxruntime"))}
    assert rows["y"]["status"] == "pass"


def test_ort_refuses_auto_pad_same_with_dilation():
    case = _same_case("conv", "same", 7, 3, 1, 2)
    rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnxruntime"))}
    assert rows["y"]["status"] == "unsupported"
    assert "Dilation not supported for AutoPadType::SAME_UPPER" in rows["y"]["message"]
    ref = {r["quantity"]: r for r in run_item(case, "float32", adapters.get("onnx-reference"))}
    assert ref["y"]["status"] == "pass"


def test_valid_transpose_with_stride_beyond_kernel_uses_output_padding():
    case = _same_case("conv_transpose", "valid", 4, 2, 3)
    plan = oa.plan(case, "float32", "onnxruntime")
    assert plan.expression == NATIVE and "auto_pad='VALID'" in plan.call and "output_padding=[1]" in plan.call
    for name in NAMES:
        rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get(name))}
        assert rows["y"]["status"] == "pass"


def test_emulated_spellings_say_why_and_match():
    cases = {
        "negative start crop": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 2, padding=((-1, 0),)),
        "output_padding >= stride": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 1, 2, padding=((0, -1),)),
        "input crop": make_case("conv", 2, 2, 2, 2, 5, 2, 1, padding=((-1, 1), (0, 0))),
    }
    for why, case in cases.items():
        plan = oa.plan(case, "float32", "onnxruntime")
        assert plan.expression == EMULATED
        assert why.split()[0] in plan.reason or "slice" in plan.reason, plan.reason
        for name in NAMES:
            rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get(name), identities=True)}
            assert rows["y"]["status"] == "pass" and rows["adjoint"]["status"] == "pass", (why, name)


def test_plan_call_is_a_runnable_make_node():
    for case in RANDOM_CASES[:8]:
        plan = oa.plan(case, "float32", "onnxruntime")
        src = plan.call.split("  #")[0]
        if plan.expression == EMULATED:
            src = next(part.strip() for part in src.split(";") if "make_node" in part)
        node = eval(src, {"onnx": onnx})  # noqa: S307 - our own generated source
        assert node.op_type == ("ConvTranspose" if case.is_transpose else "Conv")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert list(attrs["strides"]) == list(case.stride) and attrs["group"] == case.groups


def test_environment_and_version():
    env = oa.environment()
    assert "CPUExecutionProvider" in env["onnxruntime.providers"] and env["onnx.opset"] == "22"
    assert __import__("onnxruntime").__version__ in oa.version()
    assert oa.GRADIENTS is False


def test_one_item_takes_milliseconds():
    case = RANDOM_CASES[1]
    run_item(case, "float32", adapters.get("onnxruntime"))
    start = time.perf_counter()
    for _ in range(5):
        run_item(case, "float32", adapters.get("onnxruntime"), identities=True)
    assert (time.perf_counter() - start) / 5 < 0.5
