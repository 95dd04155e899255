"""The precision contract (harness/precision.py): finite bounds everywhere, a float16 accumulator
fails it, a float32 accumulator meets it, a one-pixel shift fails in every dtype at every size."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import adapters, loader
from harness import compare as cmp
from harness import precision as prec
from harness import profile as prof
from harness.inputs import Inputs
from harness.runner import run_item
from harness.status import Status

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
DOUBLES = "acc16=accumulating_adapter:float16_sums,acc32=accumulating_adapter:float32_sums,shift=accumulating_adapter:shifted"


@pytest.fixture(scope="module")
def doubles():
    """The accumulating test double (tests/data/accumulating_adapter.py) under three names."""
    sys.path.insert(0, str(DATA))
    try:
        yield {name: adapters.Adapter(name, "accumulating_adapter", path) for name, path in
               (("acc16", "float16_sums"), ("acc32", "float32_sums"), ("shift", "shifted"))}
    finally:
        sys.path.remove(str(DATA))


def realistic():
    cases, errors = loader.load_paths([ROOT / "cases" / "precision"])
    assert not errors and cases
    return cases


def library():
    cases, errors = loader.load_paths([ROOT / "cases"], stacks=False)
    return cases


def test_every_library_row_has_a_finite_contract_bound():
    """No row may pass against an infinite bound: the contract of every adapter, every library case,
    every dtype and quantity has finite coefficients, including where the worst case is infinite."""
    infinite_worst = 0
    for case in library():
        k = cmp.reduction_lengths(case)
        for dtype in case.dtypes:
            for adapter in adapters.all_adapters():
                contract = adapter.contract(case, dtype)
                for q, n in k.items():
                    c = prec.contract_coefficients(contract.for_quantity(q), n)
                    assert math.isfinite(c.scale) and math.isfinite(c.magnitude), (case.id, dtype, adapter.name, q)
                    infinite_worst += math.isinf(prec.worst_case_gamma(dtype, n))
    assert infinite_worst > 0  # the realistic cases are where the worst case alone could not judge


def test_contract_formula():
    c16 = prec.default_contract("float16")
    assert (c16.accumulation, c16.separate) == ("float32", True)
    k = 2049
    coef = prec.contract_coefficients(c16, k)
    assert coef.magnitude == 2.0**-11
    assert coef.scale == pytest.approx((1 + 2.0**-11) * prec.gamma(k, 2.0**-24))
    assert math.isinf(prec.worst_case_gamma("float16", k)) and math.isinf(prec.worst_case_gamma("bfloat16", 255))
    # float32 accumulates in itself: the contract is the worst case, unchanged
    c32 = prec.contract_coefficients(prec.default_contract("float32"), 100)
    assert (c32.magnitude, c32.scale) == (0.0, prec.gamma(101, 2.0**-24))
    # TF32 only on a GPU and only when the run allows it
    assert prec.default_contract("float32", "cuda", allow_tf32=True).accumulation == "tf32"
    assert prec.default_contract("float32", "cpu", allow_tf32=True).accumulation == "float32"
    assert prec.default_contract("float32", "cuda", allow_tf32=False).accumulation == "float32"
    # a declared float16 accumulation past K = 2047 falls back to the probabilistic bound, finite
    declared = prec.contract_coefficients(prec.Contract("float16", "float16"), 4096)
    assert math.isfinite(declared.scale) and declared.scale == pytest.approx(prec.probabilistic_gamma(4097, 2.0**-11))
    # a bias added by a second op rounds y twice: one more u_out * scale
    twice = prec.contract_coefficients(prec.Contract("bfloat16", "float32", y_roundings=2), k)
    assert twice.scale - prec.contract_coefficients(prec.default_contract("bfloat16"), k).scale == pytest.approx(
        2.0**-8, rel=1e-2)


def _y_row(case, dtype: str, adapter) -> cmp.Comparison:
    """y alone (the double computes only the forward without a cotangent): its comparison's row."""
    from harness.runner import expected_for, reference

    ref = reference(case, dtype)
    got = adapter.run(case, dtype, Inputs(ref.inputs.x, ref.inputs.w, ref.inputs.b, None), adapter.plan(case, dtype))
    return cmp.compare_to(got["y"], expected_for(case, dtype, adapter.contract(case, dtype)).parts["y"])


@pytest.mark.parametrize("case", realistic(), ids=lambda c: c.id)
@pytest.mark.parametrize("name,should_fail", [("acc16", True), ("acc32", False)])
def test_accumulator_precision_decides_y_on_every_realistic_case(doubles, name, should_fail, case):
    """A float16/bfloat16 accumulator fails the float32-accumulation contract in y on every realistic
    case, with the contract's own message; float32 accumulation and one rounding passes."""
    for dtype in case.dtypes:
        y = _y_row(case, dtype, doubles[name])
        if not should_fail:
            assert y.status == Status.PASS, (case.id, dtype, y.message)
            continue
        assert y.status == Status.MISMATCH, (case.id, dtype)
        assert "outside the float32-accumulation contract" in y.message and "behaves like" in y.message
        assert y.effective_bits < 11, (case.id, dtype, y.effective_bits)


GRADIENT_CASES = ("lowp_dcgan_g4_64_3_k4_s2_p1", "lowp_conv3d_3x3x3_64", "lowp_depthwise3x3_256")


@pytest.mark.parametrize("name", ["acc16", "acc32"])
def test_accumulator_precision_decides_the_gradients(doubles, name):
    """The same for dx, dw and db (K = batch × pixels for dw and db): a float32 accumulator passes every
    quantity; a float16 one fails dx and dw (db's contract at K = 8192 is as loose as one float16
    rounding of the scale: float16 sums of random signs can meet it)."""
    for case in [c for c in realistic() if c.id in GRADIENT_CASES]:
        rows = {r["quantity"]: r for r in run_item(case, "float16", doubles[name], identities=False)}
        statuses = {q: r["status"] for q, r in rows.items()}
        if name == "acc32":
            assert set(statuses.values()) == {Status.PASS}, (case.id, statuses)
        else:
            assert statuses["dx"] == statuses["dw"] == Status.MISMATCH, (case.id, statuses)


def test_a_one_pixel_shift_fails_in_every_dtype_at_every_size(doubles):
    small = [c for c in library() if c.id in ("convT2d_k4_s2_p1_lowp", "conv2d_k3_p1_lowp", "convT3d_k2_s2_lowp")]
    big = [c for c in realistic() if c.id in ("lowp_dcgan_g1_512_256_k4_s2_p1", "lowp_depthwise3x3_256")]
    assert len(small) == 3 and len(big) == 2
    for case in small + big:
        for dtype in ("float64", "float32", "float16", "bfloat16"):
            y = next(r for r in run_item(case, dtype, doubles["shift"], identities=False) if r["quantity"] == "y")
            assert y["status"] == Status.MISMATCH and y["bound_ratio"] > 10, (case.id, dtype, y["bound_ratio"])


def test_the_float32_double_agrees_with_the_oracle_on_random_small_cases(doubles):
    """The double's own gathering (im2col, zero insertion, crops) is right: in float64 it is the oracle."""
    for case in library()[::97]:
        rows = run_item(case, "float64", doubles["acc32"], identities=False)
        assert {r["status"] for r in rows} <= {Status.PASS}, (case.id, [(r["quantity"], r["message"]) for r in rows])


def test_contract_failure_inside_the_worst_case_has_its_own_message():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(256)
    scale = np.abs(values) + 4.0
    # errors of one float16 unit of the scale: a float16 accumulator's signature
    got = values + 2.0**-11 * scale * rng.choice([-1, 1], 256)
    found = cmp.compare(got, values, scale, "float16", 100)
    assert found.status == Status.MISMATCH and 0 < found.worst_case_ratio <= 1
    assert "outside the float32-accumulation contract (inside the float16 worst case): behaves like float16" \
        in found.message
    assert 10 <= found.effective_bits <= 12
    # one rounding of the output alone: inside the contract, effective bits infinite
    rounded = np.asarray(values, dtype=np.float16).astype(np.float64)
    ok = cmp.compare(rounded, values, scale, "float16", 100)
    assert ok.status == Status.PASS and math.isinf(ok.effective_bits)


def test_profile_tells_a_float16_accumulator_from_a_float32_one(doubles):
    import pandas as pd

    rows = []
    for case in realistic()[3:4] + [c for c in library() if c.id in ("conv2d_k3_p1_lowp", "convT2d_c8_k5_lowp")]:
        for name in ("acc16", "acc32"):
            rows += run_item(case, "float16", doubles[name], identities=False)
    table = prof.by_framework(prof.profile(pd.DataFrame(rows)))
    by_name = table.set_index("framework")
    assert by_name.loc["acc16", "behaves_like"] == "float16" and by_name.loc["acc16", "contract_failures"] > 0
    assert by_name.loc["acc32", "effective_bits"] >= 20 and by_name.loc["acc32", "contract_failures"] == 0
    lines = prof.summary_lines(pd.DataFrame(rows))
    assert len(lines) == 1 and lines[0].startswith("acc16 float16:")


def test_case_accumulation_field(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("cases:\n  - {id: a, op: conv1d, in_channels: 1, out_channels: 1, input_size: 4, kernel: 2,\n"
                 "     dtype: [float16], accumulation: {dtype: float16, reason: a float16 accumulator on purpose}}\n"
                 "  - {id: b, op: conv1d, in_channels: 1, out_channels: 1, input_size: 4, kernel: 2,\n"
                 "     dtype: [float32], accumulation: {dtype: float16, reason: r}}\n")
    cases, errors = loader.load_paths([f])
    assert [c.id for c in cases] == ["a"] and cases[0].accumulation == "float16"
    assert "accumulation applies to float16 and bfloat16 rows" in str(errors[0]) and "c.yaml:5:" in str(errors[0])
    contract = adapters.get("numpy").contract(cases[0], "float16")
    assert contract.accumulation == "float16" and "on purpose" in contract.source


def test_allow_tf32_reaches_the_printed_prelude(monkeypatch):
    from harness.adapters import program as pg
    from harness.adapters import torch_padding

    assert "allow_tf32 = False" in "\n".join(pg.render(s) for s in torch_padding.prelude())
    monkeypatch.setenv(prec.TF32_ENV, "1")
    assert "allow_tf32 = True" in "\n".join(pg.render(s) for s in torch_padding.prelude())
    monkeypatch.delenv(prec.TF32_ENV)
    assert not os.environ.get(prec.TF32_ENV)


# Every measured deviation a framework declares (harness.precision.Deviation), and a library case
# where it shows: a deviation that no longer shows there has gone from the framework (strict).
WITNESSES = {
    ("torch", "float16", "db"): "conv1d_k5_d2_lowp",
    ("torch", "float16", "dw"): "conv2d_k3_p1_lowp",
    ("torch", "float16", "dx"): "conv2d_k3_p1_lowp",
    ("torch", "float16", "y"): "convT2d_k4_s2_p1_lowp",
    ("tensorflow", "float16", "dw"): "conv2d_k3_p1_lowp",
    ("tensorflow", "float16", "dx"): "conv2d_k3_p1_lowp",
    ("tensorflow", "float16", "y"): "convT2d_k4_s2_p1_lowp",
    ("tensorflow", "bfloat16", "db"): "conv2d_k3_p1_lowp",
    ("tensorflow-backprop", "float16", "dw"): "convT2d_k4_s2_p1_lowp",
    ("tensorflow-backprop", "float16", "dx"): "convT3d_k2_s2_lowp",
    ("tensorflow-backprop", "float16", "y"): "convT2d_k4_s2_p1_lowp",
    ("tensorflow-backprop", "bfloat16", "db"): "convT2d_k4_s2_p1_lowp",
    ("keras", "float16", "db"): "conv2d_depthwise_lowp",
    ("keras", "float16", "dw"): "conv2d_nhwc_lowp",
    ("keras", "float16", "dx"): "conv2d_nhwc_lowp",
    ("onnx-reference", "float16", "y"): "conv2d_k3_p1_lowp",
    ("chainer", "float16", "y"): "conv2d_c8_k5_lowp",
    ("chainer", "float16", "dx"): "conv2d_c8_k5_lowp",
    ("chainer", "float16", "db"): "conv2d_k3_p1_lowp",
}


def test_every_declared_deviation_has_a_witness():
    cases = {c.id: c for c in library()}
    declared = set()
    for adapter in adapters.all_adapters():
        for case_id in ("conv2d_k3_p1_lowp", "convT2d_k4_s2_p1_lowp"):
            for dtype in prec.LOW_PRECISION:
                if adapter.applies_to(cases[case_id]):
                    contract = adapter.contract(cases[case_id], dtype)
                    declared |= {(adapter.name, dtype, q) for q, _ in contract.deviations}
    assert declared == set(WITNESSES)


@pytest.mark.parametrize("framework,dtype,quantity", sorted(WITNESSES))
def test_declared_deviations_still_show(framework, dtype, quantity):
    adapter = adapters.get(framework)
    if not adapter.available():
        pytest.skip(f"{adapter.library} is not installed here")
    case = next(c for c in library() if c.id == WITNESSES[framework, dtype, quantity])
    row = next(r for r in run_item(case, dtype, adapter, identities=False) if r["quantity"] == quantity)
    assert row["deviation_seen"] == "observed", (
        f"{framework} {dtype} {quantity} on {case.id}: {row['status']} {row['message']} (effective bits "
        f"{row['effective_bits']:.1f}): the declared deviation does not show; has the framework changed?")


def test_a_declared_deviation_excuses_imprecision_not_a_wrong_result(doubles, monkeypatch):
    """With a float16 deviation declared for y, the float16-accumulating double's y is an expected
    mismatch (observed, its xfail set); the one-pixel shift is outside the deviation's bound too: an
    unexpected mismatch; the float32 double meets the contract (not shown)."""
    declared = prec.Contract("float16", "float32", "test", deviations=(("y", prec.Deviation("float16", "a test")),))
    monkeypatch.setattr(adapters.Adapter, "contract", lambda self, case, dtype, device="cpu": declared)
    case = next(c for c in library() if c.id == "conv2d_k3_p1_lowp")
    seen = {}
    for name in ("acc16", "shift", "acc32"):
        y = next(r for r in run_item(case, "float16", doubles[name], identities=False) if r["quantity"] == "y")
        seen[name] = (y["status"], y["deviation_seen"], bool(y["xfail"]))
    assert seen == {"acc16": (Status.MISMATCH, "observed", True), "shift": (Status.MISMATCH, "exceeded", False),
                    "acc32": (Status.PASS, "not shown", False)}
