"""Paddle's padding vocabulary (harness/adapters/paddle_padding.py) and the programs built from it, with
no paddle needed; the programs run against the oracle in tests/test_paddle_adapter.py (tox -e paddle).

The facts below were measured with paddlepaddle 3.3.1 (CPU): e.g. conv2d_transpose(x 1×2×5×5, k 3,
stride 2, padding='SAME') is 9×9, where TF's SAME gives i*s = 10×10.
"""

from __future__ import annotations

import itertools

import pytest

from harness import adapters, translate
from harness.adapters import paddle_adapter as pa
from harness.adapters import paddle_padding as ppd
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE
from harness.runner import run_item
from tests.helpers import make_case

GRID = list(itertools.product(range(1, 9), range(1, 5), range(1, 4)))  # i, k, s


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "paddle", ("harness.adapters.paddle_adapter", "functional"))


# ------------------------------------------------------------------------------------------------
# the vocabulary


def test_same_padding_by_hand():
    """Measured: i 5, k 3, s 2 → 9 (crop (1, 1) of 11); k 4 → 9 (crop (1, 2) of 12); i 4, k 2, s 3 → 10
    (crop (0, 1) of 11); k 1 → 9 (no crop); i 14, k 3, s 2 → 28 (crop (0, 1) of 29)."""
    assert ppd.same_padding(5, 3, 2) == (1, 1)
    assert ppd.same_padding(5, 4, 2) == (1, 2)
    assert ppd.same_padding(4, 2, 3) == (0, 1)
    assert ppd.same_padding(5, 1, 2) == (0, 0)
    assert ppd.same_padding(14, 3, 2) == (0, 1)
    crop = ppd.transpose_word_crop("SAME", 5, 3, 2, 1)
    assert translate.transpose_output_length(5, 3, 2, 1, *crop) == 9


def test_conv_same_is_tfs_without_dilation_and_refused_with_it():
    for i, k, s in GRID:
        if translate.effective_kernel(k, 1) <= i + k:
            assert ppd.conv_word_padding("SAME", i, k, s, 1) == translate.conv_word_padding("same", i, k, s, 1)
        assert ppd.conv_word_padding("SAME", i, k, s, 2) is None  # Paddle resets the dilation to 1
        assert ppd.conv_word_padding("VALID", i, k, s, 2) == (0, 0)


def test_transpose_same_is_tfs_exactly_where_the_stride_divides_the_input():
    """Paddle's output (i-1)*s + k - pad_sum equals TF's i*s iff s divides i and k >= s (so always at
    stride 1): with c = ceil(i/s) the unclipped length is (i - c)*s + i, which is i*s iff i = c*s."""
    for i, k, s in GRID:
        paddle_crop = ppd.transpose_word_crop("SAME", i, k, s, 1)
        tf_crop = translate.transpose_word_crop("same", i, k, s, 1, i * s)
        assert (paddle_crop == tf_crop) == (i % s == 0 and k >= s), (i, k, s, paddle_crop, tf_crop)
        assert ppd.transpose_word_crop("SAME", i, k, s, 2) is None
        assert ppd.transpose_word_crop("VALID", i, k, s, 2, extra=1) == (0, -1)


def test_output_padding_extends_the_end_below_the_stride():
    assert ppd.transpose_crop(1, 1, 1) == (1, 0)
    assert ppd.native_extra(1, 2) == 0
    assert ppd.native_extra(-1, 2) == 1
    assert ppd.native_extra(-2, 2) is None  # the CPU kernel computes output_padding < stride only
    assert ppd.full_length(5, 3, 2, 2) == translate.transpose_full_length(5, 3, 2, 2)


# ------------------------------------------------------------------------------------------------
# spellings and programs


def test_spellings():
    spelled = ppd.spelling(make_case("conv", 2, padding=((1, 2), (0, 1))))
    assert spelled.native and spelled.padding == [[0, 0], [0, 0], [1, 2], [0, 1]]
    spelled = ppd.spelling(make_case("conv", 2, padding=((1, 2), (0, 1)), layout="channels_last"))
    assert spelled.padding == [[0, 0], [1, 2], [0, 1], [0, 0]]
    assert ppd.spelling(make_case("conv", 2, padding=((1, 1),))).padding == [1, 1]
    same = make_case("conv", 2, size=5, kernel=3, stride=2, padding=((1, 1),), padding_word="same")
    assert ppd.spelling(same).label == "native+SAME"
    dilated = make_case("conv", 2, size=9, kernel=3, stride=1, dilation=2, padding=((2, 2),), padding_word="same")
    assert ppd.spelling(dilated).label == "native" and ppd.spelling(dilated).padding == [2, 2]
    neg = ppd.spelling(make_case("conv", 1, padding=((-1, 1),)))
    assert not neg.native and neg.label == "pre_pad" and "Paddle refuses" in neg.reason


def test_transpose_spellings():
    op = make_case("conv_transpose", 2, size=5, kernel=3, stride=2, padding=((1, 0),), output_padding=(1, 1))
    assert ppd.spelling(op).padding == [1, 1] and ppd.spelling(op).output_padding == (1, 1)
    crop = make_case("conv_transpose", 2, size=5, kernel=3, stride=2, padding=((1, 0),))  # the same crops
    assert ppd.spelling(crop).padding == [[0, 0], [0, 0], [1, 0], [1, 0]] and ppd.spelling(crop).output_padding is None
    ext = make_case("conv_transpose", 1, size=5, kernel=3, stride=2, padding=((0, -1),))
    assert ppd.spelling(ext).padding == [0] and ppd.spelling(ext).output_padding == (1,)
    shape = make_case("conv_transpose", 1, size=5, kernel=3, stride=2, padding=((1, -1),), output_shape=(11,))
    assert ppd.spelling(shape).output_size == (11,) and ppd.spelling(shape).output_padding is None
    assert ppd.spelling(shape).padding == [[0, 0], [0, 0], [1, 0]]
    asym = ppd.spelling(make_case("conv_transpose", 1, size=6, kernel=4, stride=2, padding=((2, 0),)))
    assert asym.padding == [[0, 0], [0, 0], [2, 0]] and asym.output_padding is None
    # TF's SAME at stride 2 on an odd input: not Paddle's SAME (crop (0, 1), Paddle's is (1, 1))
    tf_same = make_case("conv_transpose", 2, size=5, kernel=3, stride=2, padding=((0, 1),), padding_word="same")
    assert ppd.spelling(tf_same).label == "native" and ppd.spelling(tf_same).padding == [[0, 0], [0, 0], [0, 1], [0, 1]]
    even = make_case("conv_transpose", 2, size=6, kernel=3, stride=2, padding=((0, 1),), padding_word="same")
    assert ppd.spelling(even).padding == "SAME"
    for pads, s, d in (((-1, 0),), 2, 1), (((1, -1),), 1, 2), (((0, -2),), 2, 3):
        spelled = ppd.spelling(make_case("conv_transpose", 1, size=4, kernel=3, stride=s, dilation=d, padding=pads))
        assert not spelled.native and spelled.label == "crop_extend", (pads, s, d)


def test_plans_print_the_call():
    plan = pa.plan(make_case("conv_transpose", 2, size=5, kernel=3, stride=2, padding=((1, 0),), output_padding=(1, 1)),
                   "float32")
    assert plan.expression == NATIVE
    assert ("y = paddle.nn.functional.conv2d_transpose(x, w, b, stride=[2, 2], padding=[1, 1], output_padding=[1, 1], "
            "groups=1, dilation=[1, 1], data_format='NCHW')") in plan.call
    assert "x = paddle.to_tensor(x, dtype='float32', stop_gradient=False)" in plan.call
    plan = pa.plan(make_case("conv_transpose", 1, padding=((-1, 0),), layout="channels_last"), "float64")
    assert plan.expression == EMULATED
    assert "y = paddle.nn.functional.pad(y, [0, 0, 1, 0, 0, 0], value=0.0)" in plan.call
    assert "y = y + bias" in plan.call and "bias = b.reshape([1, 1, -1])" in plan.call
    plan = pa.plan(make_case("conv", 3, size=4, kernel=2, padding=((0, -1),), layout="channels_last"), "float32")
    assert "xp = x[:, :-1, :-1, :-1]" in plan.call and "data_format='NDHWC'" in plan.call


def test_program_is_the_whole_computation():
    program, _ = ppd.program(make_case("conv", 2, layout="channels_last"), "float32")
    assert program.autodiff == pg.STEPS and program.leaves == ("x", "w", "b")
    assert [pg.render(s) for s in program.prepare] == ["x = numpy.transpose(x, (0, 2, 3, 1))"]
    assert [pg.render(s) for s in program.prepare_cotangent] == ["g = numpy.transpose(g, (0, 2, 3, 1))"]
    assert [pg.render(s) for s in program.gradient] == ["dx, dw, db = paddle.grad([y], [x, w, b], grad_outputs=[g])"]
    assert [pg.render(s) for s in program.output_steps("dx")] == [
        "dx = dx.astype('float64')", "dx = dx.numpy()", "dx = numpy.transpose(dx, (0, 3, 1, 2))"]
    assert [pg.render(s) for s in program.output_steps("dw")] == ["dw = dw.astype('float64')", "dw = dw.numpy()"]
    assert pg.names_used(program) <= {"paddle", "numpy", "x", "w", "b", "y"}


def test_layer_program():
    case = make_case("conv_transpose", 1, size=5, kernel=3, stride=2, padding=((1, -1),), output_shape=(11,))
    text = ppd.layer_program(case, "float64").source()
    assert ("layer = paddle.nn.Conv1DTranspose(4, 6, [3], stride=[2], padding=[[0, 0], [0, 0], [1, 0]], groups=1, dilation=[1], "
            "data_format='NCL')") in text
    assert "layer.to(dtype='float64')" in text and "layer.weight.set_value(w)" in text
    assert "y = layer(x, output_size=[11])" in text
    emulated = ppd.layer_program(make_case("conv_transpose", 2, padding=((-1, 0),)), "float32").source()
    assert "bias_attr=False" in emulated and "y = y + bias" in emulated
    assert ppd.weight_to_native(case) == () and ppd.weight_from_native(case) == ()
    assert ppd.layer_program(case, "float16") is None  # no CPU kernel: no layer


# ------------------------------------------------------------------------------------------------
# where Paddle is missing (the main environment): skipped rows, without importing paddle


def test_available_never_raises(monkeypatch):
    import importlib.util

    def broken(name, *a, **kw):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", broken)
    assert pa.available() is False


def test_rows_are_skipped_where_paddle_is_missing(monkeypatch):
    monkeypatch.setattr(pa, "available", lambda: False)
    rows = run_item(make_case("conv_transpose", 2, padding=((1, 1),)), "float32", adapters.get("paddle"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert all("paddlepaddle is not installed" in r["message"] for r in rows)


def test_main_environment_skips_paddle_without_importing_it():
    import sys

    if pa.available():
        pytest.skip("paddle is installed here (tox -e paddle)")
    rows = run_item(make_case(), "float32", adapters.get("paddle"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert "paddle" not in sys.modules
