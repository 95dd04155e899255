"""OpenVINO's padding vocabulary as pure functions (no openvino import), against the facts measured with
openvino 2026.4.1 on the CPU plugin (see harness/adapters/openvino_padding.py)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np

from harness import translate
from harness.adapters import openvino_padding as ovp
from harness.adapters import program as pg
from tests.helpers import make_case


def test_module_does_not_import_openvino():
    code = "import sys, harness.adapters.openvino_padding; print('openvino' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_conv_words_use_auto_pad_and_explicit_pads_are_kept():
    assert ovp.conv_spelling("same", ((1, 2),)).attrs["auto_pad"] == "same_upper"
    assert ovp.conv_spelling("same_lower", ((2, 1),)).attrs["auto_pad"] == "same_lower"
    assert ovp.conv_spelling("valid", ((0, 0),)).attrs["auto_pad"] == "valid"
    s = ovp.conv_spelling(None, ((1, 2), (0, 3)))
    assert s.native and s.attrs == {"pads_begin": [1, 0], "pads_end": [2, 3], "auto_pad": "explicit"}


def test_conv_negative_padding_goes_to_pad_nodes():
    s = ovp.conv_spelling(None, ((-1, 2), (0, 0)))
    assert not s.native and s.label == "pad_before" and s.before == ((-1, 2), (0, 0))
    assert s.attrs["pads_begin"] == [0, 0] and s.attrs["pads_end"] == [0, 0]
    assert "must be >= 0" in s.reason


def test_pad_nodes_never_pad_and_crop_in_one_node():
    """Pad-12 with (3, -5) on 3 elements aborts the process (measured): grow, then crop."""
    steps = ovp._pad_nodes("p", "x_node", ((3, -5), (0, 1)))
    assert [s.func for s in steps] == ["ops.pad", "ops.pad"]
    grow, crop = steps
    assert grow.args[1:] == ([0, 0, 3, 0], [0, 0, 0, 1], "constant")
    assert crop.args[0] == pg.Ref("p") and crop.args[1:] == ([0, 0, 0, 0], [0, 0, -5, 0], "constant")
    assert ovp._pad_nodes("p", "x", ((0, 0),)) == []


def test_transpose_words_are_openvinos_swapped_same_with_output_shape():
    """OpenVINO's same_upper crops the larger half at the start, so canonical same is its same_lower."""
    s = ovp.transpose_spelling("same", ((1, 2),), (8,))
    assert s.native and s.attrs["auto_pad"] == "same_lower" and s.attrs["output_shape"] == [8]
    assert ovp.transpose_spelling("same_lower", ((2, 1),), (8,)).attrs["auto_pad"] == "same_upper"
    assert ovp.transpose_spelling("valid", ((0, -1),), (12,)).attrs["auto_pad"] == "valid"


def test_spec_split_of_output_shape_matches_the_canonical_words():
    """The spec's formula (as measured) with the spelling's auto_pad gives canonical same / same_lower
    for every length a case may ask; valid crops (0, T)."""
    for i, k, s, d in itertools.product(range(1, 6), range(1, 5), range(1, 4), range(1, 3)):
        full = translate.transpose_full_length(i, k, s, d)
        for word in ("same", "same_lower", "valid"):
            low, high = translate.transpose_length_range(word, i, k, s, d)
            for o in range(max(low, 1), high + 1):
                crop = translate.transpose_word_crop(word, i, k, s, d, o)
                auto = ovp.transpose_spelling(word, (crop,), (o,)).attrs["auto_pad"]
                assert ovp.spec_transpose_crop(auto, full, o) == crop, (word, i, k, s, d, o)


def test_spec_split_without_output_shape():
    assert ovp.spec_transpose_crop("same_upper", 11, None) == (0, 0)  # no padding: length F
    assert ovp.spec_transpose_crop("explicit", 11, None, (1, 2), 1) == (1, 1)
    assert ovp.spec_transpose_crop("same_upper", 11, 8) == (2, 1)  # larger half at the start
    assert ovp.spec_transpose_crop("same_lower", 11, 8) == (1, 2)
    assert ovp.spec_transpose_crop("same_upper", 11, 12) == (0, -1)  # T < 0: zeros at the end


def test_transpose_explicit_uses_output_padding_for_zeros_at_the_end():
    s = ovp.transpose_spelling(None, ((1, -2),), (10,))
    assert s.native and s.attrs == {"pads_begin": [1], "pads_end": [0], "auto_pad": "explicit", "output_padding": [2]}
    own = ovp.transpose_spelling(None, ((1, 0),), (10,), output_padding=(1,))
    assert own.attrs["pads_end"] == [1] and own.attrs["output_padding"] == [1]


def test_transpose_negative_start_crop_is_a_pad_after():
    s = ovp.transpose_spelling(None, ((-1, 1), (0, 0)), (10, 10))
    assert not s.native and s.label == "pad_after" and s.after == ((1, -1), (0, 0))
    assert s.attrs == {"pads_begin": [0, 0], "pads_end": [0, 0], "auto_pad": "explicit"}


def test_group_weights_split_the_leading_axis():
    conv = make_case("conv", groups=2, cin=4, cout=6, kernel=(2, 3))
    assert ovp.native_weight_shape(conv) == (2, 3, 2, 2, 3)
    tconv = make_case("conv_transpose", groups=2, cin=4, cout=6, kernel=3)
    assert ovp.native_weight_shape(tconv) == (2, 2, 3, 3, 3)
    assert ovp.native_weight_shape(make_case("conv")) == (6, 4, 3, 3)
    w = np.arange(np.prod(conv.w_shape), dtype=float).reshape(conv.w_shape)
    native = pg.execute(ovp.weight_to_native(conv), {"numpy": np, "w_torch": w})["w_openvino"]
    assert np.array_equal(native[1, 2, 0], w[5, 0])  # group 1, its output channel 2 = channel 5
    back = pg.execute(ovp.weight_from_native(conv), {"numpy": np, "w_openvino": native})["w_torch"]
    assert np.array_equal(back, w)


def test_program_builds_one_model_with_an_explicit_precision_hint():
    case = make_case("conv_transpose", ndim=1, groups=2, cin=4, cout=4, size=5, kernel=3, stride=2, padding=((-1, 0),))
    prog, spelled = ovp.program(case, "float32")
    text = prog.source()
    assert "ops.group_convolution_backprop_data(x_node, w_node" in text
    assert "node = ops.pad(node, [0, 0, 1], [0, 0, 0], 'constant')" in text
    assert text.index("ops.pad(node") < text.index("ops.add(node, b_node)")
    assert "core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})" in text
    assert "import openvino.opset16 as ops" in text and spelled.label == "pad_after"
    bf16 = ovp.program(make_case(), "bfloat16")[0].source()
    assert "y = y.view(ml_dtypes.bfloat16)" in bf16 and "ov.Type.bf16" in bf16
