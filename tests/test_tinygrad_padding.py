"""tinygrad's padding vocabulary (harness.adapters.tinygrad_padding), pure: no tinygrad import.

The facts were measured with tinygrad 0.14.0 on its CPU device (tests/test_tinygrad_adapter.py runs
them against tinygrad itself): per-side padding is last axis first, a conv crops with negative
padding but shrinks before it pads, a transposed conv crops (lo, hi - output_padding).
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.adapters import program as pg
from harness.adapters import tinygrad_padding as tgp
from tests.helpers import make_case


def test_resolve_pool_pads_orders_the_last_axis_first():
    assert tgp.resolve_pool_pads(2, 2) == [2, 2, 2, 2]
    assert tgp.resolve_pool_pads((3, 5), 2) == [5, 5, 3, 3]  # per axis (H, W) → (W, W, H, H)
    assert tgp.resolve_pool_pads((1, 2, 0, 3), 2) == [1, 2, 0, 3]  # per side: as given
    assert tgp.resolve_pool_pads((1, 2, 3), 3) == [3, 3, 2, 2, 1, 1]
    with pytest.raises(ValueError, match="length 2 or 4"):
        tgp.resolve_pool_pads((1, 2, 3), 2)


def test_per_side_is_the_inverse_of_flat_to_grouped():
    # (1, 2, 0, 3): W padded by (1, 2), H by (0, 3) (measured on a 5×7 input: output 7×8 with k 2×3)
    assert tgp.flat_to_grouped((1, 2, 0, 3)) == ((0, 3), (1, 2))
    for pairs in (((0, 3), (1, 2)), ((-1, 2),), ((1, 0), (2, -1), (0, 4))):
        assert tgp.flat_to_grouped(tgp.per_side(pairs)) == pairs
        assert tgp.flat_to_grouped(tgp.resolve_pool_pads(tgp.per_side(pairs), len(pairs))) == pairs
    assert tgp.per_side(((0, 3), (1, 2))) == (1, 2, 0, 3)


def test_shrink_validity():
    assert tgp.shrink_is_valid(5, -2, -3) and tgp.shrink_is_valid(1, 2, 0) and tgp.shrink_is_valid(1, -1, 3)
    assert not tgp.shrink_is_valid(5, -3, -3)
    assert not tgp.shrink_is_valid(1, 2, -2)  # pad 2 then crop 2 is fine, but tinygrad crops first


def test_transpose_inner_pads():
    assert tgp.transpose_inner_pads(3, 1, 1, 1) == (1, 1)
    assert tgp.transpose_inner_pads(3, 2, 0, -1) == (4, 5)
    assert tgp.transpose_inner_pads(1, 1, 2, -2) == (-2, 2)


@pytest.mark.parametrize(("case", "label", "padding", "output_padding"), [
    (make_case("conv", padding=((1, 1), (2, 2))), "native", (1, 2), None),
    (make_case("conv", padding=((1, 0), (0, 2))), "native_per_side", (0, 2, 1, 0), None),
    (make_case("conv", padding=((-1, 2), (1, -1))), "native_per_side", (1, -1, -1, 2), None),
    (make_case("conv", ndim=1, size=1, kernel=1, padding=((2, -2),)), "pre_pad", (), None),
    (make_case("conv_transpose", stride=2, padding=((1, 1),)), "native", (1, 1), None),
    (make_case("conv_transpose", stride=2, padding=((1, 0), (2, 2))), "native_output_padding", (1, 2), (1, 0)),
    (make_case("conv_transpose", stride=2, padding=((0, 1), (1, 1))), "native_per_side", (1, 1, 0, 1), None),
    (make_case("conv_transpose", stride=2, padding=((-1, -1),)), "native", (-1, -1), None),
    (make_case("conv_transpose", ndim=1, size=1, kernel=1, padding=((2, -2),)), "crop_extend", (), None),
])
def test_spelling(case, label, padding, output_padding):
    spelled = tgp.spelling(case)
    assert (spelled.label, spelled.padding, spelled.output_padding) == (label, padding, output_padding)
    assert spelled.native == label.startswith("native")
    if not spelled.native:
        assert "invalid shrink" in spelled.reason


def test_program_is_the_whole_computation():
    program, spelled = tgp.program(make_case("conv", 1, padding=((1, 0),)), "float16")
    assert spelled.label == "native_per_side" and program.autodiff == pg.STEPS and program.leaves == ("x", "w", "b")
    assert [pg.render(s) for s in program.setup][0] == \
        "x = Tensor(x, dtype=dtypes.float16, device='CPU')"
    assert [pg.render(s) for s in program.body] == \
        ["y = x.conv2d(w, b, groups=1, stride=(1,), dilation=(1,), padding=(1, 0))"]
    assert [pg.render(s) for s in program.gradient] == \
        ["dx, dw, db = y.gradient(x, w, b, gradient=g)", "Tensor.realize(y, dx, dw, db)"]
    assert [pg.render(s) for s in program.output_steps("dw")] == ["dw = dw.numpy()", "dw = dw.astype(numpy.float64)"]
    assert not program.prelude


def test_emulations_in_the_program():
    conv = tgp.program(make_case("conv", 1, size=1, kernel=1, padding=((2, -2),)), "float32")[0]
    assert [pg.render(s) for s in conv.body] == ["xp = x.pad(((0, 0), (0, 0), (2, 0)))", "xp = xp[:, :, :-2]",
                                                 "y = xp.conv2d(w, b, groups=1, stride=(1,), dilation=(1,))"]
    tr = tgp.program(make_case("conv_transpose", 1, size=1, kernel=1, padding=((2, -2),)), "float32")[0]
    assert [pg.render(s) for s in tr.body] == [
        "y = x.conv_transpose2d(w, None, groups=1, stride=(1,), dilation=(1,))",
        "y = y.pad(((0, 0), (0, 0), (0, 2)))", "y = y[:, :, 2:]", "bias = b.reshape(1, -1, 1)", "y = y + bias"]


def test_bfloat16_emulation_only_where_asked():
    case = make_case("conv_transpose", stride=2, padding=((1, 0),))
    program, spelled = tgp.program(case, "bfloat16", bf16_emulated=True)
    assert [pg.render(s) for s in program.prelude] == ["helpers.EMULATED_DTYPES.value = 'bfloat16'"]
    assert spelled.label == "native_output_padding+emulated_bf16" and not spelled.native
    assert "EMULATED_DTYPES" in spelled.reason
    assert not tgp.program(case, "float16", bf16_emulated=True)[0].prelude
    assert tgp.program(case, "bfloat16", bf16_emulated=False)[1].native
    assert tgp.layer_program(case, "bfloat16", bf16_emulated=True).prelude == program.prelude


def test_layer_names_and_same_padding():
    assert tgp.layer_name(make_case("conv", ndim=1)) == "nn.Conv1d"
    assert tgp.layer_name(make_case("conv", ndim=3)) == "nn.Conv2d"  # n-D; there is no Conv3d
    assert tgp.layer_name(make_case("conv_transpose", ndim=1)) == "nn.ConvTranspose1d"
    one = tgp.layer_program(make_case("conv", ndim=1, kernel=3, padding=((1, 1),)), "float32")
    assert "layer = nn.Conv1d(4, 6, 3, stride=(1,), padding=(1,), dilation=(1,), groups=1, bias=True)" \
        in one.source()
    # tinygrad/tinygrad#17805: kernel (3, 5), dilation (2, 3) → the layer pads (3, 3), (4, 4), not (2, 2), (6, 6)
    assert tgp.layer_same_padding((3, 5), (2, 3)) == ((3, 3), (4, 4))
    assert tgp.layer_same_padding((3, 5), (1, 1)) == ((1, 1), (2, 2))
    assert tgp.layer_same_padding((3, 3), (2, 2)) == ((2, 2), (2, 2))
    bad = dataclasses.replace(make_case("conv", kernel=(3, 5), dilation=(2, 3), padding=((2, 2), (6, 6))),
                              padding_word="same")
    layer = tgp.layer_program(bad, "float32")
    assert layer.notes[0].startswith("KNOWN ISSUE") and "padding='same'" in layer.source()
    good = dataclasses.replace(bad, dilation=(2, 2), padding=((2, 2), (4, 4)))
    assert tgp.layer_known_issue(good) is None and "padding='same'" in tgp.layer_program(good, "float32").source()
    strided = dataclasses.replace(bad, stride=(2, 1))
    assert tgp.layer_known_issue(strided) is None and "padding='same'" not in tgp.layer_program(strided, "float32").source()
