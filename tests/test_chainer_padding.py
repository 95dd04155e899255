"""Chainer's get_conv_outsize / get_deconv_outsize rules and their canonical meaning, and the programs
built from them (no chainer needed; where Chainer is installed, the reimplementation is checked
against chainer.utils.conv itself, and the programs run in tests/test_chainer_adapter.py)."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

from harness import loader, translate
from harness.adapters import chainer_padding as cp
from harness.adapters import program as pg
from tests.helpers import make_case, random_case

GRID = list(itertools.product(range(1, 7), range(1, 5), range(1, 4), range(1, 3), range(0, 3)))  # i, k, s, d, p


def test_outsizes_by_hand():
    # k=3, s=2, p=1, i=6: floor (6+2-3)//2+1 = 3; cover_all (6+2-3+1)//2+1 = 4
    assert cp.get_conv_outsize(6, 3, 2, 1) == 3
    assert cp.get_conv_outsize(6, 3, 2, 1, cover_all=True) == 4
    # dilation 2: dk = 5
    assert cp.get_conv_outsize(7, 3, 1, 0, d=2) == 3
    # deconv: s*(i-1) + dk - 2p; with cover_all s*(i-1) + dk - s + 1 - 2p
    assert cp.get_deconv_outsize(5, 4, 2, 1) == 10
    assert cp.get_deconv_outsize(5, 4, 2, 1, cover_all=True) == 9
    assert cp.get_deconv_outsize(3, 3, 1, 0, d=2) == 7


@pytest.mark.skipif(importlib.util.find_spec("chainer") is None, reason="chainer is not installed here")
def test_outsizes_are_chainers_own():
    try:
        from chainer.utils import conv
    except Exception as exc:  # noqa: BLE001 - chainer under numpy 2 fails to import
        pytest.skip(f"chainer does not import here: {exc!r}")
    for i, k, s, d, p in GRID:
        for cover_all in (False, True):
            assert cp.get_conv_outsize(i, k, s, p, cover_all, d) == conv.get_conv_outsize(i, k, s, p, cover_all, d)
            assert cp.get_deconv_outsize(i, k, s, p, cover_all, d) == conv.get_deconv_outsize(i, k, s, p, cover_all, d)


def test_conv_padding_is_canonical():
    """Chainer's conv output length is the canonical one for (p, p), and (p, p + s - 1) with cover_all."""
    for i, k, s, d, p in GRID:
        for cover_all in (False, True):
            lo, hi = cp.conv_padding(p, s, cover_all)
            assert (lo, hi) == ((p, p + s - 1) if cover_all else (p, p))
            if i + lo + hi >= translate.effective_kernel(k, d):
                assert translate.conv_output_length(i, k, s, d, lo, hi) == cp.get_conv_outsize(i, k, s, p, cover_all, d)


def test_loader_cover_all_is_chainers():
    text = """
cases:
  - id: ca
    op: conv2d
    in_channels: 1
    out_channels: 1
    input_size: [6, 7]
    kernel: 3
    stride: [2, 3]
    padding: 1
    cover_all: true
"""
    (case,), errors = loader.load_text(text, "t.yaml")
    assert not errors
    assert case.padding == (cp.conv_padding(1, 2, True), cp.conv_padding(1, 3, True))
    assert cp.conv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding,
                            prefer_cover_all=True) == ((1, 1), True)


def test_deconv_crop_default_and_outsize():
    # i=5, k=4, s=2, p=1: F = 12, default outsize 10: crops (1, 1); outsize 11: (1, 0)
    assert cp.deconv_crop(5, 4, 2, 1, 1) == (1, 1)
    assert cp.deconv_crop(5, 4, 2, 1, 1, 11) == (1, 0)
    # a crop larger at the end than p is allowed up to p + s - 1
    assert cp.deconv_crop(5, 4, 2, 1, 1, 9) == (1, 2)


def test_outsize_range_is_what_check_type_forward_accepts():
    for i, k, s, d, p in GRID:
        accepted = [o for o in range(1, 40)
                    if cp.get_conv_outsize(o, k, s, p, d=d) <= i <= cp.get_conv_outsize(o, k, s, p, True, d)]
        low, high = cp.outsize_range(i, k, s, d, p)
        assert accepted == list(range(low, high + 1)), (i, k, s, d, p)


def test_deconv_spelling_round_trip():
    for i, k, s, d, p in GRID:
        full = translate.transpose_full_length(i, k, s, d)
        for hi in range(-3, 5):
            crop = (p, hi)
            if full - p - hi < 1:
                continue
            spelled = cp.deconv_spelling((i,), (k,), (s,), (d,), (crop,))
            in_range = p - s + 1 <= hi <= p + s - 1
            assert (spelled is not None) == in_range, (i, k, s, d, crop)
            if spelled:
                pad, outsize = spelled
                assert cp.deconv_crop(i, k, s, d, pad[0], None if outsize is None else outsize[0]) == crop
                assert (outsize is None) == (hi == p)
    assert cp.deconv_spelling((5,), (3,), (2,), (1,), ((-1, 0),)) is None  # no negative pad


def test_conv_spelling():
    # (1, 1) with k=3, s=1: pad 1
    assert cp.conv_spelling((5,), (3,), (1,), (1,), ((1, 1),)) == ((1,), False)
    # TF SAME for i=6, k=3, s=2 is (0, 1): pad 0 gives 2 outputs, cover_all 3 = SAME's 3
    assert cp.conv_spelling((6,), (3,), (2,), (1,), ((0, 1),)) == ((0,), True)
    # (1, 0) with k=3, s=1: lo = 1 but 4 outputs; Chainer's pad 1 gives 5, even with cover_all
    assert cp.conv_spelling((5,), (3,), (1,), (1,), ((1, 0),)) is None
    assert cp.conv_spelling((5,), (3,), (1,), (1,), ((-1, 0),)) is None
    # one cover_all for all axes: one axis needs it, the other must not
    assert cp.conv_spelling((6, 6), (3, 3), (2, 2), (1, 1), ((0, 1), (1, 1))) is None


def test_deconv_backward_breaks_when_axes_disagree_on_cover_all():
    # axis 0 maps back without cover_all, axis 1 needs it (Chainer keeps one flag)
    size, kernel, stride, dil, pad = (3, 3), (3, 2), (2, 3), (1, 1), (2, 1)
    outsize = (4, 5)
    assert cp.get_conv_outsize(4, 3, 2, 2) == 3 and cp.get_conv_outsize(5, 2, 3, 1) == 2
    assert cp.deconv_cover_all(size, kernel, stride, dil, pad, outsize)
    assert cp.deconv_backward_breaks(size, kernel, stride, dil, pad, outsize)
    # both axes need it, or neither: fine
    assert not cp.deconv_backward_breaks((3, 3), (2, 2), (3, 3), (1, 1), (1, 1), (5, 5))
    assert not cp.deconv_backward_breaks(size, kernel, stride, dil, pad, None)


def test_spelling_labels():
    assert cp.spelling(make_case("conv", 2, padding=((1, 1),))).label == "native"
    assert cp.spelling(make_case("conv", 1, size=6, stride=2, padding=((0, 1),))).label == "native+cover_all"
    assert cp.spelling(make_case("conv", 1, padding=((1, 0),))).label == "pre_pad"
    assert cp.spelling(make_case("conv_transpose", 1, size=5, kernel=4, stride=2, padding=((1, 0),))).label \
        == "native+outsize"
    assert cp.spelling(make_case("conv_transpose", 1, padding=((-1, 0),))).label == "crop_extend"
    spelled = cp.spelling(make_case("conv_transpose", 1, size=5, kernel=4, stride=2, padding=((1, 0),)))
    assert (spelled.native, spelled.pad, spelled.outsize) == (True, (1,), (11,))


def test_weight_round_trip():
    """Chainer's W is the canonical layout, groups included: to_native then from_native is w."""
    rng = np.random.default_rng(0)
    for case in (make_case("conv", 2, cin=4, cout=6, groups=2), make_case("conv_transpose", 3, cin=6, cout=4, groups=2)):
        w = rng.standard_normal(case.w_shape)
        env = pg.execute(cp.weight_to_native(case), {"numpy": np, "w_torch": w})
        assert env["w_chainer"].shape == case.w_shape
        env = pg.execute(cp.weight_from_native(case), {"numpy": np, "w_chainer": env["w_chainer"]})
        assert np.array_equal(env["w_torch"], w)


def test_emulations_are_steps():
    pre = cp.program(make_case("conv", 1, padding=((-1, 2),)), "float32")[0]
    assert [pg.render(s) for s in pre.body] == [
        "xp = chainer.functions.pad(x, [(0, 0), (0, 0), (0, 2)], 'constant')",
        "xp = xp[:, :, 1:]",
        "y = chainer.functions.convolution_nd(xp, w, b, stride=(1,), pad=0, dilate=(1,), groups=1)"]
    crop = cp.program(make_case("conv_transpose", 1, padding=((2, -1),), bias=True), "float64")[0]
    assert [pg.render(s) for s in crop.body] == [
        "y = chainer.functions.deconvolution_nd(x, w, None, stride=(1,), pad=0, dilate=(1,), groups=1)",
        "y = chainer.functions.pad(y, [(0, 0), (0, 0), (0, 1)], 'constant')",
        "y = y[:, :, 2:]",
        "y = chainer.functions.bias(y, b, axis=1)"]


def test_layer_programs():
    cover = cp.layer_program(make_case("conv", 2, size=6, stride=2, padding=((0, 1),)), "float16")
    assert "layer = chainer.links.ConvolutionND(2, 4, 6, (3, 3), stride=(2, 2), pad=(0, 0), nobias=False, " \
           "initialW=initial_w, initial_bias=initial_b, cover_all=True" in cover.source()
    assert "initial_w = chainer.initializers.Constant(w, dtype=numpy.float16)" in cover.source()
    crop = cp.layer_program(make_case("conv_transpose", 2, padding=((-1, 0),)), "float32").source()
    assert "chainer.links.Deconvolution2D(4, 6, (3, 3), stride=(1, 1), pad=0, nobias=True, initialW=initial_w, " \
           "dilate=(1, 1), groups=1)" in crop
    assert crop.endswith("y = chainer.functions.bias(y, b, axis=1)")
    pre = cp.layer_program(make_case("conv", 3, padding=((1, 0),), bias=False), "float64")
    assert "nobias=True" in pre.source() and "y = layer(xp)" in pre.source() and "initial_b" not in pre.source()


def test_programs_print_valid_python_needing_only_numpy_and_chainer():
    rng = np.random.default_rng(7)
    for n in range(40):
        case = random_case(rng, id=f"r{n}")
        for prog in (cp.program(case, "float32")[0], cp.layer_program(case, "float32")):
            compile("\n".join(pg.script(prog)), "<printed>", "exec")
            assert pg.names_used(prog) <= {"chainer", "numpy", "x", "w", "b", "xp", "y", "layer",
                                           "initial_w", "initial_b"}, case
