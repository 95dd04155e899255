"""The TVM adapter (Relax ONNX importer `tvm`, Relax ops `tvm-relax`) against the oracle, plus what
was measured with apache-tvm 0.27.0.post1 on the llvm CPU target:

- both paths agree with the oracle in float64 / float32 for native and emulated spellings, groups,
  dilation, 1D-3D (each item compiles a module: ~0.3 s);
- the ONNX importer's ConvTranspose ignores output_shape and clamps a SAME_* total padding at 0:
  shape_mismatch where that changes the length, predicted exactly by `known_issue`;
- float16 and bfloat16 accumulate in themselves (TOPI's conv sums in out_dtype = the input dtype):
  ~9 effective bits in float16 at K = 4096, outside the float32-accumulation contract.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("tvm")
pytest.importorskip("onnx")

from harness import adapters, precision, printed  # noqa: E402
from harness.adapters import base  # noqa: E402
from harness.adapters import tvm_adapter as ta  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE  # noqa: E402
from harness.runner import expected_failure, run_item  # noqa: E402
from tests.helpers import assert_all_pass, case_features, contract_failing, make_case, seeded_cases  # noqa: E402

NAMES = {"tvm": "relax_onnx", "tvm-relax": "relax"}
RANDOM_CASES = seeded_cases("tvm", 9400, 12)
# the importer warns that y's value info has no shape (printed scripts run outside the adapter's filter)
pytestmark = pytest.mark.filterwarnings("ignore:Field 'shape' of 'type' is required but missing")


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    for name, path in NAMES.items():
        monkeypatch.setitem(adapters.REGISTRY, name, ("harness.adapters.tvm_adapter", path))


def _y(rows):
    return next(r for r in rows if r["quantity"] == "y")


def test_random_cases_cover_the_features():
    feats = case_features(RANDOM_CASES)
    for want in ("groups_conv", "groups_conv_transpose", "dilation_conv_transpose", "conv1d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "negative_conv_transpose"):
        assert want in feats, want


@pytest.mark.parametrize("name", list(NAMES))
def test_random_cases_match_the_oracle(name):
    """float32 (float64 on every third case); gradients are unsupported rows (forward only)."""
    for n, case in enumerate(RANDOM_CASES):
        dtype = "float64" if n % 3 == 0 else "float32"
        rows = run_item(case, dtype, adapters.get(name), identities=False)
        assert expected_failure(case, dtype, adapters.get(name)) is None
        assert_all_pass([r for r in rows if r["quantity"] == "y"], f"{name} {case.id} {dtype}")
        assert {r["status"] for r in rows if r["quantity"] != "y"} <= {"unsupported"}


SPELLINGS = {
    "native transpose": (make_case("conv_transpose", 2, 1, 4, 6, 5, 3, 2, groups=2, padding=((1, 0), (0, -1))),
                         NATIVE, "native"),
    "negative start crop": (make_case("conv_transpose", 1, 1, 2, 2, 4, 3, 2, padding=((-1, 0),)), EMULATED,
                            "crop_extend"),
    "input crop": (make_case("conv", 2, 1, 2, 2, 5, 2, 1, dilation=2, padding=((-1, 1), (0, 0))), EMULATED,
                   "input_crop"),
    "same conv": (make_case("conv", 1, 1, 2, 3, 6, 4, 2, padding=((1, 1),), padding_word="same"), NATIVE, "native"),
}


@pytest.mark.parametrize("name", list(NAMES))
def test_spellings_match_and_print_what_ran(name):
    """Each formulation passes, and its printed script (fresh namespace) gives run()'s y bit for bit."""
    for why, (case, expression, label) in SPELLINGS.items():
        plan = adapters.get(name).plan(case, "float32")
        assert (plan.expression, plan.details.label) == (expression, label), why
        outcome = printed.check(adapters.get(name), case, "float32")
        assert outcome.same, (why, outcome.differences, outcome.skipped)
        assert _y(run_item(case, "float32", adapters.get(name), identities=False))["status"] == "pass", why


KNOWN_ISSUE_CASES = [  # (case, fails in the importer)
    (make_case("conv_transpose", 1, 1, 2, 2, 4, 2, 3, padding=((0, -1),), padding_word="same"), True),
    (make_case("conv_transpose", 1, 1, 2, 2, 4, 2, 3, padding=((0, 0),), padding_word="same_lower",
               output_shape=(11,)), False),
    (make_case("conv_transpose", 1, 1, 2, 2, 3, 3, 3, padding=((0, -1),), padding_word="valid",
               output_shape=(10,)), True),
    (make_case("conv_transpose", 1, 1, 2, 2, 5, 4, 2, padding=((1, 1),), padding_word="same"), False),
]


@pytest.mark.parametrize("case,fails", KNOWN_ISSUE_CASES)
def test_known_issue_is_exact(case, fails):
    """The importer's failures are predicted and nothing else; TVM's own op computes every case."""
    y = _y(run_item(case, "float32", adapters.get("tvm"), identities=False))
    assert (y["status"] == "shape_mismatch") == fails == (ta.known_issue(case, "float32", "relax_onnx") is not None)
    if fails:
        assert y["xfail"] and "ignores output_shape" in y["xfail"]
    assert ta.known_issue(case, "float32", "relax") is None
    assert _y(run_item(case, "float32", adapters.get("tvm-relax"), identities=False))["status"] == "pass"


class _DefaultContract:
    """An adapter stand-in whose contract is the default one (float32 accumulation for 16-bit)."""

    def contract(self, case, dtype, device="cpu"):
        return precision.default_contract(dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_accumulates_in_itself(dtype):
    """K = 256 * 16 = 4096: TVM's y fails the float32-accumulation contract and meets its declared one."""
    case = make_case("conv", 2, 1, 256, 4, 6, 4, padding=((1, 2),))
    adapter = adapters.get("tvm-relax")
    assert adapter.contract(case, dtype).accumulation == dtype
    plan = adapter.plan(case, dtype)
    from harness.runner import reference

    y = ta.run(case, dtype, reference(case, dtype).inputs, plan)["y"]
    assert contract_failing(case, dtype, _DefaultContract(), y)[0]
    assert not contract_failing(case, dtype, adapter, y)[0]


def test_refusals_and_environment():
    assert base.refusal(ValueError("Conv2dTranspose expects the output padding less than the strides, but the "
                                   "output padding is(2, 2) while the strides are(2, 2)"), ta.TVM_REFUSALS)
    assert not base.refusal(ValueError("In Op(relax.add), the first input shape at dim 1 is 16"), ta.TVM_REFUSALS)
    env = ta.environment()
    assert env["tvm.version"] == __import__("tvm").__version__ and '"kind":"llvm"' in env["tvm.target"].replace(" ", "")
    assert ta.GRADIENTS is False and ta.available()


def test_weights_are_in_pytorch_layout():
    case = SPELLINGS["native transpose"][0]
    for name in NAMES:
        to_native, from_native = adapters.get(name).weight_steps(case)
        w = np.random.default_rng(1).normal(size=case.w_shape)
        from harness.adapters import program as pg

        assert np.array_equal(pg.execute(to_native, {"numpy": np, "w_torch": w})["w_onnx"], w)
        assert [s.out for s in from_native] == ["w_torch"]


def test_one_item_compiles_in_about_a_second():
    case = RANDOM_CASES[3]
    start = time.perf_counter()
    for name in NAMES:
        run_item(case, "float32", adapters.get(name), identities=False)
    assert (time.perf_counter() - start) / 2 < 2.0
