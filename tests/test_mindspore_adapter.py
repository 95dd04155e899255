"""The MindSpore adapter: skipped rows where MindSpore is missing (the main venv), and against the oracle
in its tox env (tox -e mindspore: mindspore 2.10.0 CPU, numpy 2.4.6).

Measured with 2.10.0: the primitives agree with the oracle forward and backward in float32 and float16
for native and emulated spellings (1D on a unit axis, negative pads, groups, dilation, 3D); float64 and
bfloat16 are refused (unsupported rows with MindSpore's message). No known_issue: nothing in the
harness's spelling fails; the two MindSpore bugs met on the way (ops.pad with a negative amount wrong
after its first call; BiasAddGrad refusing a 3D input of last length 1) are avoided and pinned below.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import adapters, printed
from harness.adapters import mindspore_adapter as ma
from harness.adapters.base import EMULATED, NATIVE
from harness.runner import reference, run_item
from tests.helpers import contract_failing, expected_deviation, make_case, random_case


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "mindspore", ("harness.adapters.mindspore_adapter", "ops"))


# ------------------------------------------------------------------------------------------------
# where MindSpore is not available


def test_available_never_raises(monkeypatch):
    import importlib.util

    def broken(name, *a, **kw):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", broken)
    assert ma.available() is False


def test_rows_are_skipped_where_mindspore_is_missing(monkeypatch):
    monkeypatch.setattr(ma, "available", lambda: False)
    rows = run_item(make_case("conv_transpose", stride=2, padding=((1, 1),)), "float32", adapters.get("mindspore"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert all("mindspore" in r["message"] for r in rows)


def test_main_environment_skips_without_importing_mindspore():
    import sys

    if ma.available():
        pytest.skip("mindspore is installed here (tox -e mindspore)")
    rows = run_item(make_case(), "float32", adapters.get("mindspore"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert "mindspore" not in sys.modules


# ------------------------------------------------------------------------------------------------
# against the oracle (tox -e mindspore)


@pytest.fixture
def ms():
    return pytest.importorskip("mindspore")


@pytest.fixture
def adapter(ms):
    return adapters.get("mindspore")


DEPTH_DILATION = "the depth of parameter 'dilation' must be 1"


def _refused_depth_dilation(case, row) -> bool:
    """Conv3DTranspose's refusal, where a 3D case (or its dual, for the identity rows) dilates its depth."""
    return (row["status"] == "unsupported" and DEPTH_DILATION in row["message"] and case.ndim == 3
            and case.dilation[0] > 1 and (case.is_transpose or row["quantity"] in ("adjoint", "transpose_is_grad")))


def _assert_pass(case, dtype, adapter):
    rows = run_item(case, dtype, adapter, identities=True)
    bad = [(r["quantity"], r["status"], r["message"]) for r in rows if r["status"] != "pass" and not expected_deviation(r)
           and not _refused_depth_dilation(case, r)]
    assert not bad, (case, bad, rows[0].get("call"))
    return rows[0]["expression"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_random_cases_match_the_oracle(adapter, dtype):
    seen = {NATIVE: 0, EMULATED: 0}
    for seed in range(12):
        case = random_case(np.random.default_rng(8100 + seed), op=("conv", "conv_transpose")[seed % 2],
                           ndim=1 + (seed // 2) % 3, id=f"mindspore_random_{seed}")
        expression = _assert_pass(case, dtype, adapter)
        seen[expression] = seen.get(expression, 0) + 1
    assert seen[NATIVE] and seen[EMULATED]


HAND_PICKED = [
    make_case("conv", 2, 2, 4, 6, (6, 7), (2, 3), (2, 1), (1, 2), 2, True, ((1, 0), (0, 2))),  # asymmetric, groups
    make_case("conv", 3, 1, 2, 4, (4, 5, 6), (2, 3, 2), (1, 2, 1), (1, 2, 1), 1, True, ((1, 0), (0, 1), (2, 1))),
    make_case("conv", 2, 1, 2, 3, 6, 3, 1, 1, 1, True, ((-1, 2), (1, -1))),  # PadV3 crop
    make_case("conv", 1, 2, 4, 6, 9, 3, 2, 2, 2, True, ((1, 2),)),
    make_case("conv_transpose", 2, 2, 4, 6, (4, 5), (2, 3), (2, 1), (1, 2), 2, True, ((1, 0), (0, 2))),
    make_case("conv_transpose", 2, 2, 3, 4, 5, 3, 2, padding=((1, 0),)),  # output_padding 1
    make_case("conv_transpose", 3, 1, 2, 4, (3, 4, 3), (2, 3, 2), (2, 1, 2), 1, 2, True, ((1, 0), (0, 1), (2, 1))),
    make_case("conv_transpose", 1, 2, 3, 2, 4, 2, 3, padding=((1, -1),)),  # stride > kernel, zeros appended
    make_case("conv_transpose", 2, 1, 2, 3, 4, 3, 2, 2, 1, True, ((-1, 2), (1, -1))),
    make_case("conv_transpose", 1, 1, 2, 2, 1, 2, 1, padding=((2, -1),)),  # the crop reaches into the zeros
    make_case("conv", 2, 1, 2, 3, 1, 1, 1, bias=True, padding=((0, 0),)),  # a 1-pixel output
    make_case("conv", 1, 1, 2, 3, 1, 1, 1, bias=True, padding=((0, 0),)),  # BiasAddGrad's length-1 refusal avoided
]


@pytest.mark.parametrize("case", HAND_PICKED, ids=lambda c: f"{c.op}{c.ndim}d_{c.padding}")
def test_hand_picked_cases(adapter, case):
    _assert_pass(case, "float32", adapter)


def test_padding_words(adapter):
    from harness.loader import load_paths

    cases, _ = load_paths(["cases/conv/padding.yaml", "cases/conv_transpose/padding.yaml"], stacks=False)
    words = [c for c in cases if c.padding_word in ("same", "valid") and c.ndim == 2][:4]
    assert words
    for case in words:
        _assert_pass(case, "float32", adapter)


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_dtypes_the_cpu_refuses_are_unsupported(adapter, dtype):
    for case in (make_case("conv", 2), make_case("conv_transpose", 2, stride=2), make_case("conv", 3, size=4)):
        rows = run_item(case, dtype, adapter)
        assert {r["status"] for r in rows} == {"unsupported"}, rows
        assert all(r["message"].startswith("mindspore: ") for r in rows)
    msg = run_item(make_case("conv", 2), dtype, adapter)[0]["message"]
    assert ("but got Tensor[Float64]" in msg) if dtype == "float64" else ("Unsupported data type" in msg)


def test_conv3d_transpose_depth_dilation_is_unsupported(adapter):
    case = make_case("conv_transpose", 3, 1, 2, 2, 3, 2, 1, (2, 1, 1), padding=((0, 0),))
    rows = run_item(case, "float32", adapter)
    assert {r["status"] for r in rows} == {"unsupported"}
    assert all(_refused_depth_dilation(case, r) for r in rows)


def test_printed_script_is_what_ran(adapter):
    for case in (HAND_PICKED[2], HAND_PICKED[7]):
        outcome = printed.check(adapter, case, "float32")
        assert outcome.same, outcome


def test_layers_compute_the_case(adapter):
    for case in (HAND_PICKED[0], HAND_PICKED[4], HAND_PICKED[5], HAND_PICKED[6]):
        layer = adapter.layer_program(case, "float32")
        ns = printed.execute_script(layer, reference(case, "float32").inputs.as_dict(), gradients=False)
        failing, message = contract_failing(case, "float32", adapter, ns["y"])
        assert not failing, (case, message)


# ------------------------------------------------------------------------------------------------
# the measured facts behind mindspore_padding


def test_conv2d_pad_is_top_bottom_left_right(ms):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 5, 6)).astype(np.float32), rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    padded = ms.ops.Conv2D(3, (2, 3), pad_mode="pad", pad=(1, 0, 0, 2))(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    xp = np.pad(x, [(0, 0), (0, 0), (1, 0), (0, 2)])
    plain = ms.ops.Conv2D(3, (2, 3))(ms.Tensor(xp), ms.Tensor(w)).asnumpy()
    np.testing.assert_array_equal(padded, plain)


def test_conv2d_transpose_is_the_forward_convs_input_gradient(ms):
    """Conv2DTranspose(out_channel=C_in of the transposed conv, ...)(g, w, input_size) is the input
    gradient of Conv2D(out_channel=w.shape[0], same pad/stride) with cotangent g: the weight and
    out_channel are the forward conv's (in PyNative 2.10.0 a wrong out_channel is not checked)."""
    rng = np.random.default_rng(1)
    g, w = ms.Tensor(rng.normal(size=(1, 2, 5, 5)), ms.float32), ms.Tensor(rng.normal(size=(2, 3, 3, 3)), ms.float32)
    y = ms.ops.Conv2DTranspose(out_channel=2, kernel_size=3, pad_mode="pad", pad=(1, 0, 1, 1), stride=2)(g, w, (1, 3, 10, 9))
    conv = ms.ops.Conv2D(out_channel=2, kernel_size=3, pad_mode="pad", pad=(1, 0, 1, 1), stride=2)
    x = ms.Tensor(np.zeros((1, 3, 10, 9)), ms.float32)
    dx = ms.grad(conv.__call__, grad_position=0, sens_param=True)(x, w, g)
    np.testing.assert_allclose(y.asnumpy(), dx.asnumpy(), rtol=1e-6, atol=1e-6)


def test_same_mode_is_tf_same(ms):
    from harness.adapters import mindspore_padding as mp

    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(1, 2, 6, 7)).astype(np.float32), rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    same = ms.ops.Conv2D(3, (3, 4), pad_mode="same", stride=2)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    pads = (*mp.same_padding(6, 3, 2, 1), *mp.same_padding(7, 4, 2, 1))
    explicit = ms.ops.Conv2D(3, (3, 4), pad_mode="pad", pad=pads, stride=2)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    np.testing.assert_array_equal(same, explicit)


def test_ops_pad_with_a_negative_amount_is_wrong_after_its_first_call(ms):
    """Why the conv pre-pad uses PadV3: ops.pad(x, (-1, 1)) is right once, then wrong (2.10.0 CPU)."""
    rng = np.random.default_rng(3)
    right = []
    for _ in range(3):
        a = rng.normal(size=(2, 2, 1, 7)).astype(np.float32)
        expected = np.pad(a, [(0, 0)] * 3 + [(0, 1)])[..., 1:]
        right.append(bool(np.array_equal(ms.ops.pad(ms.Tensor(a), (-1, 1)).asnumpy(), expected)))
        got = ms.ops.PadV3()(ms.Tensor(a), ms.Tensor((-1, 1), ms.int64), ms.Tensor(0.0, ms.float32)).asnumpy()
        np.testing.assert_array_equal(got, expected)
    assert right[1:] == [False, False], right


def test_bias_add_grad_refuses_a_3d_input_of_length_1(ms):
    """Why a 1D case adds its bias before the squeeze."""
    grad = ms.grad(ms.ops.bias_add, grad_position=(0, 1), sens_param=True)
    ones = ms.Tensor(np.ones((2, 3, 1)), ms.float32)
    with pytest.raises(Exception, match="last dimension size should greater than 1"):
        grad(ones, ms.Tensor(np.ones(3), ms.float32), ones)[1].asnumpy()
    four = ms.Tensor(np.ones((2, 3, 1, 1)), ms.float32)
    np.testing.assert_array_equal(grad(four, ms.Tensor(np.ones(3), ms.float32), four)[1].asnumpy(), [2, 2, 2])
