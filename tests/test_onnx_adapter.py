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

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from harness import adapters, printed, translate  # noqa: E402
from harness.adapters import base  # noqa: E402
from harness.adapters import onnx_adapter as oa  # noqa: E402
from harness.adapters import onnx_padding as op  # noqa: E402
from harness.adapters import program as pg  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE  # noqa: E402
from harness.runner import expected_failure, reference, run_item  # noqa: E402
from harness.status import Status  # noqa: E402
from tests.helpers import case_features, expected_deviation, make_case, seeded_cases  # noqa: E402

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
    assert by_q["y"]["status"] == "pass" or expected_deviation(by_q["y"]), (by_q["y"]["message"], by_q["y"].get("call"))
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
        failed = bool({r["status"] for r in rows if not expected_deviation(r)} & {"error", "mismatch", "shape_mismatch"})
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


EMULATED_CASES = {
    "negative start crop": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 2, padding=((-1, 0),)),
    "output_padding >= stride": make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 1, 2, padding=((0, -1),)),
    "input crop": make_case("conv", 2, 2, 2, 2, 5, 2, 1, padding=((-1, 1), (0, 0))),
}


def test_emulated_spellings_say_why_and_match():
    for why, case in EMULATED_CASES.items():
        plan = oa.plan(case, "float32", "onnxruntime")
        assert plan.expression == EMULATED
        assert why.split()[0] in plan.reason or "slice" in plan.reason, plan.reason
        assert plan.details.label == ("input_crop" if why == "input crop" else "crop_extend")
        for name in NAMES:
            rows = {r["quantity"]: r for r in run_item(case, "float32", adapters.get(name), identities=True)}
            assert rows["y"]["status"] == "pass" and rows["adjoint"]["status"] == "pass", (why, name)


def _computable(name, case, dtype="float32"):
    """Cases the runtime computes (not onnx.reference's grouped ConvTranspose: its run raises)."""
    return oa.known_issue(case, dtype, NAMES[name]) is None and not oa._negative_same_total(case)


def test_printed_program_is_what_ran():
    """plan.call is the whole program; its script, run in a fresh namespace holding only x, w, b
    (it imports numpy, onnx and the runtime itself), gives run()'s y bit for bit."""
    for name in NAMES:
        labels = set()
        for case in [*RANDOM_CASES, *EMULATED_CASES.values()]:
            if not _computable(name, case):
                continue
            outcome = printed.check(adapters.get(name), case, "float32")
            assert outcome.same, (name, case.id, outcome.differences, outcome.skipped)
            labels.add(outcome.formulation)
        assert labels == {"native", "input_crop", "crop_extend"}, (name, labels)


def test_the_program_reads_only_its_imports_inputs_and_own_steps():
    """No harness import and no helper: every name the program reads is an import, x / w / b, `dict`,
    or a variable an earlier step assigned."""
    for case in [*RANDOM_CASES, *EMULATED_CASES.values()]:
        for dtype in ("float32", "bfloat16"):
            for runtime in op.RUNTIMES:
                prog = oa.plan(case, dtype, runtime).program
                assigned = {s.out for s in prog.setup + prog.body}
                imported = {alias.split(".")[0] for alias, _ in prog.imports}
                assert pg.names_used(prog) <= imported | assigned | {"x", "w", "b", "dict"}
                assert not any("harness" in module for _, module in prog.imports)


def test_make_node_line_is_the_node():
    for case in RANDOM_CASES[:8]:
        plan = oa.plan(case, "float32", "onnxruntime")
        line = next(ln for ln in plan.call.splitlines() if ln.startswith("node = "))
        node = eval(line.removeprefix("node = "), {"onnx": onnx})  # noqa: S307 - our own generated source
        assert node.op_type == ("ConvTranspose" if case.is_transpose else "Conv")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert list(attrs["strides"]) == list(case.stride) and attrs["group"] == case.groups


def test_the_model_is_valid():
    """The program's own model steps build a one-node model; ir_version 10 is set by make_model's
    keyword. (onnx.checker would refuse it: y's shape is left to the runtime.)"""
    for case in RANDOM_CASES[:6]:
        model = pg.execute(tuple(op.model_steps(case, "float16", op.spelling(case))), {"onnx": onnx})["model"]
        assert [n.op_type for n in model.graph.node] == ["ConvTranspose" if case.is_transpose else "Conv"]
        assert model.ir_version == oa.IR_VERSION == 10
        assert [(o.domain, o.version) for o in model.opset_import] == [("", oa.OPSET)]
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def test_weights_are_in_pytorch_layout():
    """to_native / from_native are identities, and the weight as ONNX takes it gives the oracle's y."""
    for case in [*RANDOM_CASES[:6], *EMULATED_CASES.values()]:
        ref = reference(case, "float32")
        env = pg.execute(op.weight_to_native(case), {"numpy": np, "w_torch": ref.inputs.w})
        assert env["w_onnx"].shape == case.w_shape
        back = pg.execute(op.weight_from_native(case), {"numpy": np, "w_onnx": env["w_onnx"]})["w_torch"]
        assert np.array_equal(back, ref.inputs.w)
        plan = oa.plan(case, "float32", "onnxruntime")
        y = pg.run(plan.program, oa._modules("onnxruntime"), {**ref.inputs.as_dict(), "w": env["w_onnx"]})["y"]
        assert np.array_equal(y, oa.run(case, "float32", ref.inputs, plan)["y"])
        rows = run_item(case, "float32", adapters.get("onnxruntime"), identities=False)
        assert next(r for r in rows if r["quantity"] == "y")["status"] == "pass"


def test_no_layer_program_and_identity_weight_hooks():
    """The node is ONNX's layer and the plan's program builds it: no layer_program for either runtime
    (the default None). The weight hooks are registered, identities between w_torch and w_onnx."""
    case = make_case("conv_transpose", groups=2, cin=4, cout=6, kernel=(3, 2), stride=2)
    w = np.random.default_rng(2).normal(size=case.w_shape)
    for name in NAMES:
        adapter = adapters.get(name)
        assert adapter.layer_program(case, "float32") is None
        to_native, from_native = adapter.weight_steps(case)
        assert [s.out for s in to_native] == ["w_onnx"] and [s.out for s in from_native] == ["w_torch"]
        assert np.array_equal(pg.execute(to_native, {"numpy": np, "w_torch": w})["w_onnx"], w)


def test_refusals_are_sorted_by_the_runtimes_words():
    """NOT_IMPLEMENTED (no kernel for the dtype) and a type the op does not allow are refusals, with
    the runtime's first line; what else a runtime raises is an error."""
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3])
    elem = onnx.TensorProto.INT32
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", elem, [1, 1, 5]),
                                                 onnx.helper.make_tensor_value_info("w", elem, [1, 1, 3])],
                                   [onnx.helper.make_tensor_value_info("y", elem, None)])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 22)], ir_version=10)
    with pytest.raises(base.Unsupported, match=r"^onnxruntime: \[ONNXRuntimeError\] : 10 : INVALID_GRAPH"):
        with base.refusals("onnxruntime", extra=oa.ORT_REFUSALS):
            oa._ort().InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    case = RANDOM_CASES[0]
    plan = oa.plan(case, "float64", "onnxruntime")
    with pytest.raises(base.Unsupported, match="^onnxruntime: .*NOT_IMPLEMENTED"):
        oa.run(case, "float64", reference(case, "float64").inputs, plan)
    assert not base.refusal(ValueError("cannot reshape array of size 81 into shape (1,2,27)"), oa.ORT_REFUSALS)


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


def test_ort_same_conv_shift_is_predicted_exactly():
    """onnxruntime's Conv SAME_* with a stride past the kernel and the input: y fails exactly where
    known_issue says (1D grid: s 2-6, k < s, i 1-13, both words)."""
    adapter = adapters.get("onnxruntime")
    wrong = []
    for s in range(2, 7):
        for k in range(1, s):
            for i in range(1, 14):
                for word in ("same", "same_lower"):
                    case = make_case("conv", ndim=1, batch=1, cin=1, cout=1, size=i, kernel=k, stride=s,
                                     bias=False, padding=(translate.conv_word_padding(word, i, k, s, 1),),
                                     padding_word=word)
                    rows = run_item(case, "float32", adapter, identities=False)
                    failing = next(r for r in rows if r["quantity"] == "y")["status"] != Status.PASS
                    if failing != bool(oa.known_issue(case, "float32", "onnxruntime")):
                        wrong.append((word, i, k, s))
    assert not wrong, wrong
