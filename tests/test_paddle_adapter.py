"""The Paddle adapter against the oracle (tox -e paddle: paddlepaddle 3.3.1, CPU), forward and gradients.

Measured with paddlepaddle 3.3.1: conv{1,2,3}d and conv{1,2,3}d_transpose agree with the oracle in
float64 and float32 for every native and emulated spelling, both layouts, groups (the depthwise
kernels included), dilation, output_padding and output_size; float16 / bfloat16 have no CPU kernel.
Two behaviours of Paddle's own are held here as tests, since the translation depends on them:
'SAME' resets the dilation to 1 and, for a transposed conv, pads as a SAME conv of its input; an
output_padding in [stride, dilation) passes Paddle's shape check but fails in the CPU kernel.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import adapters, oracle
from harness.adapters import paddle_adapter as pa
from harness.adapters import paddle_padding as ppd
from harness.adapters.base import NATIVE, Unsupported
from harness.printed import execute_script
from harness.runner import reference, run_item
from tests.helpers import assert_all_pass, contract_failing, make_case, seeded_cases

paddle = pytest.importorskip("paddle")
F = paddle.nn.functional
N_RANDOM = 24


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "paddle", ("harness.adapters.paddle_adapter", "functional"))


@pytest.fixture
def adapter():
    return adapters.get("paddle")


def _t(a):
    return paddle.to_tensor(a)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_random_cases_match_the_oracle(adapter, dtype):
    labels = set()
    for case in seeded_cases("paddle", 7300, N_RANDOM, layouts=("channels_first", "channels_last")):
        rows = run_item(case, dtype, adapter, identities=True)
        assert_all_pass(rows, case)
        labels.add(pa.plan(case, dtype).details.label)
    assert {"native", "pre_pad", "crop_extend"} <= labels


HAND_PICKED = [
    make_case("conv", 2, size=(7, 9), kernel=3, stride=2, padding=((1, 1),), padding_word="same"),  # SAME word
    make_case("conv", 1, size=9, kernel=3, dilation=2, padding=((2, 2),), padding_word="same"),  # explicit
    make_case("conv", 3, 1, 2, 4, 5, 2, 2, groups=2, padding=((0, 1),), layout="channels_last"),
    make_case("conv", 2, 2, 3, 6, 6, 3, 1, 2, groups=3, padding=((2, 1),)),  # depthwise_conv2d
    make_case("conv_transpose", 2, size=6, kernel=3, stride=2, padding=((0, 1),), padding_word="same"),  # SAME
    make_case("conv_transpose", 2, size=(6, 5), kernel=(4, 3), padding=((1, 2), (1, 1)), padding_word="same"),
    make_case("conv_transpose", 1, size=5, kernel=3, stride=2, padding=((1, 0),), output_padding=(1,)),
    make_case("conv_transpose", 1, size=5, kernel=3, stride=3, padding=((1, -1),), output_shape=(15,)),
    make_case("conv_transpose", 2, 2, 4, 4, 4, 3, 2, groups=4, padding=((1, 0),), layout="channels_last"),  # depthwise
    make_case("conv_transpose", 3, 1, 2, 4, 3, 2, (1, 2, 3), (2, 1, 1), groups=2, padding=((1, -1),),
              layout="channels_last"),
    make_case("conv_transpose", 1, size=4, kernel=3, stride=1, dilation=2, padding=((1, -1),)),  # op >= stride
]


@pytest.mark.parametrize("case", HAND_PICKED, ids=lambda c: f"{c.op}{c.ndim}d_{ppd.spelling(c).label}_{c.layout}")
def test_hand_picked_spellings(adapter, case):
    rows = run_item(case, "float64", adapter, identities=True)
    assert_all_pass(rows, case)


def test_words_are_used_where_paddles_rule_gives_the_case():
    assert "padding='SAME'" in pa.plan(HAND_PICKED[0], "float32").call
    assert "padding='SAME'" not in pa.plan(HAND_PICKED[1], "float32").call
    assert "padding='SAME'" in pa.plan(HAND_PICKED[4], "float32").call
    assert "output_size=[15]" in pa.plan(HAND_PICKED[7], "float32").call
    assert pa.plan(HAND_PICKED[-1], "float32").details.label == "crop_extend"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_is_unsupported_with_paddles_message(adapter, dtype):
    rows = run_item(make_case("conv_transpose", 2, padding=((1, 1),)), dtype, adapter)
    assert {r["status"] for r in rows} == {"unsupported"}
    assert all(f"paddle: (NotFound) The kernel with key (CPU, Undefined(AnyLayout), {dtype})" in r["message"]
               and "is not registered" in r["message"] for r in rows)
    with pytest.raises(Unsupported):
        pa.run(make_case(), dtype, reference(make_case(), dtype).inputs, pa.plan(make_case(), dtype))


# ------------------------------------------------------------------------------------------------
# Paddle's own behaviours the translation rests on (measured; a change in Paddle fails these)


def test_transposed_same_is_a_same_conv_of_the_input():
    """The lead's measurement: x 1×2×5×5, k 3, stride 2, 'SAME' → 9×9 (TF: 10×10), crop (1, 1)."""
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(2, 3, 3, 3))
    y = F.conv2d_transpose(_t(x), _t(w), stride=2, padding="SAME").numpy()
    assert y.shape == (1, 3, 9, 9)
    np.testing.assert_allclose(y, oracle.conv_transpose(x, w, None, (2, 2), (1, 1), ((1, 1), (1, 1)), 1), atol=1e-12)


def test_same_drops_the_dilation():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(1, 2, 6)), rng.normal(size=(3, 2, 3))
    y = F.conv1d(_t(x), _t(w), padding="SAME", dilation=2).numpy()
    np.testing.assert_allclose(y, oracle.conv(x, w, None, (1,), (1,), ((1, 1),), 1), atol=1e-12)
    wt = rng.normal(size=(2, 3, 3))
    y = F.conv1d_transpose(_t(x), _t(wt), stride=2, padding="SAME", dilation=2).numpy()  # i 6: crop (0, 1)
    np.testing.assert_allclose(y, oracle.conv_transpose(x, wt, None, (2,), (1,), ((0, 1),), 1), atol=1e-12)


def test_output_padding_past_the_stride_fails_in_the_cpu_kernel():
    """Paddle's shape check allows output_padding < max(stride, dilation), its CPU col2im only < stride:
    why the harness emulates those crops (no upstream report found)."""
    x, w = _t(np.ones((1, 2, 5, 5))), _t(np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="col_height"):
        F.conv2d_transpose(x, w, stride=1, dilation=2, padding=1, output_padding=1)


def test_negative_padding_is_refused_in_python():
    with pytest.raises(ValueError, match="Invalid padding"):
        F.conv1d(_t(np.ones((1, 2, 5))), _t(np.ones((3, 2, 3))), padding=[[0, 0], [0, 0], [-1, 0]])


def test_layer_objects_match_the_oracle():
    for case in HAND_PICKED:
        if ppd.spelling(case).padding == "SAME" and case.is_transpose:
            continue  # checked below: the layer with padding='SAME'
        ref = reference(case, "float64")
        y = execute_script(pa.layer_program(case, "float64"), ref.inputs.as_dict(), gradients=False)["y"]
        failing, message = contract_failing(case, "float64", adapters.get("paddle"), y)
        assert not failing, (case, message)
    case = HAND_PICKED[5]
    ref = reference(case, "float32")
    y = execute_script(pa.layer_program(case, "float32"), ref.inputs.as_dict(), gradients=False)["y"]
    assert not contract_failing(case, "float32", adapters.get("paddle"), y)[0]


def test_environment_and_version():
    env = pa.environment()
    assert env["paddle.use_mkldnn"] == "False" and env["paddle.use_onednn"] == "False"
    assert env["paddle.device"] == "cpu" and "paddle.omp_threads" in env
    assert pa.version() == paddle.__version__ and pa.plan(make_case(), "float32").expression == NATIVE
