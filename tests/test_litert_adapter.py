"""The LiteRT adapter (TFLiteConverter + ai-edge-litert interpreter) against the oracle, plus what was
measured (ai-edge-litert 2.3.0, tensorflow-cpu 2.21.0):

- the XNNPACK delegate (path interpreter), the optimized builtin kernels and the reference kernels
  all meet the float32 bound on these cases;
- TRANSPOSE_CONV refuses groups at run time and the converter refuses explicit padding and dilation of
  a transposed conv and grouped 3D convs (the emulations in litert_padding exist because of these);
- a float64 graph is refused by the converter (ERROR_NEEDS_FLEX_OPS).

Each item converts a model (~0.1-0.5 s on a shared core): the file keeps to a few dozen conversions.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from harness import adapters, printed  # noqa: E402
from harness.adapters import base  # noqa: E402
from harness.adapters import litert_adapter as la  # noqa: E402
from harness.adapters import litert_padding as lp  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE  # noqa: E402
from harness.runner import reference, run_item  # noqa: E402
from tests.helpers import assert_all_pass, case_features, make_case, seeded_cases  # noqa: E402

NAMES = {"litert": "interpreter", "litert-reference": "reference"}


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    for name, path in NAMES.items():
        monkeypatch.setitem(adapters.REGISTRY, name, ("harness.adapters.litert_adapter", path))


RANDOM_CASES = seeded_cases("litert", 9300, 8)
EMULATED_CASES = {
    "crop_extend": make_case("conv_transpose", 2, 1, 2, 3, 4, 3, 2, padding=((2, -1), (0, 1))),
    "dilate_kernel": make_case("conv_transpose", 1, 2, 2, 3, 5, 3, 2, 2, padding=((0, 0),)),
    "block_groups": make_case("conv_transpose", 2, 1, 4, 6, 4, 3, 2, groups=2, padding=((1, 1),)),
    "pre_pad": make_case("conv", 3, 1, 2, 2, 4, 2, 1, groups=2, padding=((1, 0), (0, -1), (0, 0))),
}


def _y(rows):
    return next(r for r in rows if r["quantity"] == "y")


def _forward_only(rows):
    for r in rows:
        if r["quantity"] in ("dx", "dw", "db", "transpose_is_grad"):
            assert r["status"] == "unsupported", r
    assert_all_pass([r for r in rows if r["quantity"] in ("y", "adjoint")], rows[0]["case_id"])


def test_random_cases_match_the_oracle():
    feats = case_features(RANDOM_CASES)
    assert {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "groups_conv"} <= feats
    for case in RANDOM_CASES:
        _forward_only(run_item(case, "float32", adapters.get("litert"), identities=True))


def test_emulated_spellings_say_why_and_match():
    labels = set()
    for label, case in EMULATED_CASES.items():
        plan = la.plan(case, "float32")
        assert plan.expression == EMULATED and plan.details.label.startswith(label.split("+")[0]), plan.details.label
        labels.add(plan.details.label)
        _forward_only(run_item(case, "float32", adapters.get("litert"), identities=False))
    assert {"crop_extend", "dilate_kernel", "block_groups"} <= {p for lab in labels for p in lab.split("+")}


def test_reference_kernels_agree():
    """The reference kernels (BUILTIN_REF) meet the same bound: a second row is a second kernel."""
    for case in (RANDOM_CASES[2], EMULATED_CASES["block_groups"]):
        plan = la.plan(case, "float32", "reference")
        assert "BUILTIN_REF" in plan.call
        _forward_only(run_item(case, "float32", adapters.get("litert-reference"), identities=False))


def test_float16_is_weight_quantization_and_meets_the_contract():
    case = RANDOM_CASES[1]
    rows = run_item(case, "float16", adapters.get("litert"), identities=False)
    assert _y(rows)["status"] == "pass" and "float32" in _y(rows)["contract"]
    assert "supported_types" in la.plan(case, "float16").call


def test_float64_is_refused_by_the_converter():
    case = RANDOM_CASES[0]
    y = _y(run_item(case, "float64", adapters.get("litert"), identities=False))
    assert y["status"] == "unsupported"
    assert y["message"].startswith("litert: '") and "neither a custom op nor a flex op" in y["message"]
    assert "ERROR_NEEDS_FLEX_OPS" in y["message"]


def _native_anyway(case):
    """The case's program without the emulation LiteRT needs (the refusals the emulations avoid)."""
    form, _ = lp.tp.first_choice(case, "nn")
    return lp.Spelling(form)


AVOIDED = {
    "groups": (EMULATED_CASES["block_groups"], "SizeOfDimension(output, 3) != SizeOfDimension(weights, 0)"),
    "explicit": (make_case("conv_transpose", 2, 1, 2, 3, 4, 3, 2, padding=((2, 0),)),
                 "'tf.Conv2DBackpropInput' op is neither a custom op nor a flex op (ERROR_NEEDS_FLEX_OPS)"),
    "dilation": (EMULATED_CASES["dilate_kernel"], "neither a custom op nor a flex op"),
    "groups_3d": (make_case("conv", 3, 1, 4, 4, 3, 2, groups=2), "'tf.Conv3D' op is neither a custom op"),
}


@pytest.mark.parametrize("what", list(AVOIDED))
def test_what_the_emulations_avoid_is_refused(monkeypatch, what):
    case, words = AVOIDED[what]
    monkeypatch.setattr(lp, "spelling", _native_anyway)
    plan = la.plan(case, "float32")
    assert plan.expression == NATIVE
    with pytest.raises(base.Unsupported, match="^litert: ") as refused:
        la.run(case, "float32", reference(case, "float32").inputs, plan)
    assert words in str(refused.value)


def test_printed_program_is_what_ran():
    for case in (RANDOM_CASES[3], EMULATED_CASES["block_groups"]):
        outcome = printed.check(adapters.get("litert"), case, "float32")
        assert outcome.same, (case.id, outcome.differences, outcome.skipped)


def test_the_program_reads_only_its_imports_inputs_and_own_steps():
    for case in [*RANDOM_CASES, *EMULATED_CASES.values()]:
        prog = la.plan(case, "float16").program
        assigned = {s.out for s in prog.prepare + prog.setup + prog.body}
        imported = {alias for alias, _ in prog.imports}
        assert pg_names(prog) <= imported | assigned | {"x", "w", "b"}


def pg_names(prog):
    from harness.adapters import program as pg

    return pg.names_used(prog)


def test_weights_in_tf_layout_give_the_oracle():
    case = replace(RANDOM_CASES[1], id="litert_weights")
    ref = reference(case, "float32")
    from harness.adapters import program as pg

    w_tf = pg.execute(la.weight_to_native(case), {"numpy": np, "w_torch": ref.inputs.w})["w_tf"]
    back = pg.execute(la.weight_from_native(case), {"numpy": np, "w_tf": w_tf})["w_torch"]
    assert np.array_equal(back, ref.inputs.w)


def test_environment_version_and_item_time():
    env = la.environment()
    assert env["litert.version"] == __import__("importlib.metadata").metadata.version("ai-edge-litert")
    assert "interpreter=AUTO" in env["litert.op_resolvers"] and la.GRADIENTS is False
    assert "ai-edge-litert" in la.version() and la.available()
    case = RANDOM_CASES[5]
    start = time.perf_counter()
    run_item(case, "float32", adapters.get("litert"), identities=False)
    assert time.perf_counter() - start < 3  # one conversion (measured ~0.1-0.5 s)


@pytest.mark.parametrize("kernel,groups,cout,predicted", [(1, 2, 2, True), (3, 2, 2, False), (1, 2, 4, False)])
def test_inf_known_issue_is_exact(kernel, groups, cout, predicted):
    """XNNPACK's 1×1 depthwise NaN for an Inf input: predicted exactly (3×3 depthwise and a channel
    multiplier of 2 keep the Inf); the reference kernels clamp Inf to float32's max."""
    case = make_case("conv", 1, 1, 2, cout, 3, kernel, groups=groups, bias=False, inputs="with_inf",
                     padding=((kernel // 2, kernel // 2),))
    assert (la.known_issue(case, "float32", "interpreter") is not None) == predicted
    y = _y(run_item(case, "float32", adapters.get("litert"), identities=False))
    assert (y["status"] != "pass") == predicted, y["message"]
    if predicted:
        assert y["xfail"]
    ref = _y(run_item(case, "float32", adapters.get("litert-reference"), identities=False))
    assert la.known_issue(case, "float32", "reference") and ref["status"] == "mismatch" and ref["xfail"]
