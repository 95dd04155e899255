"""ONNX padding vocabulary as pure functions (no onnx import): spellings, the spec's own rule, and the
program's steps as printed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness import translate
from harness.adapters import onnx_padding as op
from harness.adapters import program as pg
from tests.helpers import make_case


def test_conv_words_use_auto_pad():
    assert op.conv_spelling("same", ((1, 2),)).attrs == {"auto_pad": "SAME_UPPER"}
    assert op.conv_spelling("same_lower", ((2, 1),)).attrs == {"auto_pad": "SAME_LOWER"}
    assert op.conv_spelling("valid", ((0, 0),)).attrs == {"auto_pad": "VALID"}


def test_conv_explicit_pads_are_begins_then_ends():
    s = op.conv_spelling(None, ((1, 2), (0, 3)))
    assert s.native and s.attrs == {"pads": [1, 0, 2, 3]}
    assert op.conv_spelling("full", ((2, 2),)).attrs == {"pads": [2, 2]}
    assert op.conv_spelling(None, ((0, 0), (0, 0))).attrs == {}


def test_conv_negative_padding_is_an_input_crop():
    s = op.conv_spelling(None, ((-1, 2), (0, -2)))
    assert not s.native
    assert s.attrs == {"pads": [0, 0, 2, 0]}
    assert s.input_crop == ((1, 0), (0, 2))
    assert "negative padding" in s.reason


def test_transpose_same_words_use_auto_pad_and_output_shape():
    s = op.transpose_spelling("same", ((0, 1),), (2,))
    assert s.native and s.attrs == {"auto_pad": "SAME_UPPER"}
    s = op.transpose_spelling("same_lower", ((1, 0),), (2,), output_shape=(10,))
    assert s.attrs == {"auto_pad": "SAME_LOWER", "output_shape": [10]}


def test_transpose_valid_appends_with_output_padding():
    # k=2, s=3: VALID output i*s is one longer than F: crop (0, -1)
    s = op.transpose_spelling("valid", ((0, -1),), (3,))
    assert s.native and s.attrs == {"auto_pad": "VALID", "output_padding": [1]}
    assert op.transpose_spelling("valid", ((0, 0),), (1,)).attrs == {"auto_pad": "VALID"}
    s = op.transpose_spelling("valid", ((0, -1),), (3,), output_shape=(12,))
    assert s.attrs == {"auto_pad": "VALID", "output_shape": [12]}


def test_transpose_explicit_uses_the_cases_output_padding():
    # PyTorch spelling padding=1, output_padding=1: canonical crops (1, 0)
    s = op.transpose_spelling(None, ((1, 0),), (2,), output_padding=(1,))
    assert s.native and s.attrs == {"pads": [1, 1], "output_padding": [1]}
    # without it, the smallest spelling
    assert op.transpose_spelling(None, ((1, 0),), (2,)).attrs == {"pads": [1, 0]}
    assert op.transpose_spelling(None, ((2, -1),), (2,)).attrs == {"pads": [2, 0], "output_padding": [1]}


def test_transpose_emulated_when_onnx_cannot_spell_it():
    s = op.transpose_spelling(None, ((-1, 0),), (2,))
    assert not s.native and s.output_extend == ((-1, 0),) and s.attrs == {}
    assert "negative start crop" in s.reason
    s = op.transpose_spelling(None, ((0, -2),), (2,))  # output_padding 2 would be >= stride
    assert not s.native and "output_padding >= stride" in s.reason
    # the case's own output_padding >= stride (allowed by PyTorch with dilation) is not used
    s = op.transpose_spelling(None, ((1, 0),), (1,), output_padding=(1,))
    assert s.native and s.attrs == {"pads": [1, 0]}


def _onnx_explicit_crop(attrs: dict, ax: int, nd: int) -> tuple[int, int]:
    pads = attrs.get("pads", [0] * 2 * nd)
    opad = attrs.get("output_padding", [0] * nd)[ax]
    return pads[ax], pads[nd + ax] - opad


@pytest.mark.parametrize("s", [1, 2, 3])
def test_native_explicit_transpose_spellings_give_the_canonical_crop(s):
    """pads (begin, end) + output_padding op crop (begin, end - op): the canonical crop back."""
    for lo, hi in itertools.product(range(0, 4), range(-s + 1, 4)):
        spelled = op.transpose_spelling(None, ((lo, hi),), (s,))
        assert spelled.native
        assert _onnx_explicit_crop(spelled.attrs, 0, 1) == (lo, hi)
        assert all(v >= 0 for v in spelled.attrs.get("pads", []))
        assert all(0 <= v < s for v in spelled.attrs.get("output_padding", []))


def test_spec_same_rule_is_the_canonical_rule_when_the_output_is_not_longer_than_f():
    """SAME_UPPER is canonical `same`, SAME_LOWER canonical `same_lower`, for T = F - o >= 0."""
    for i, k, s, d in itertools.product(range(1, 6), range(1, 5), range(1, 4), range(1, 3)):
        low, high = translate.transpose_length_range("same", i, k, s, d)
        for o in range(low, high + 1):
            if translate.transpose_full_length(i, k, s, d) < o:
                continue
            for word, auto in (("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")):
                assert op.spec_transpose_crop(auto, i, k, s, d, output_shape=o) == \
                    translate.transpose_word_crop(word, i, k, s, d, o), (i, k, s, d, o, word)


def test_spec_same_rule_with_a_longer_output_splits_the_negative_total():
    """i=4, k=2, s=3: F=11, SAME gives o=12, T=-1. Floor division puts the zero at the start for
    SAME_UPPER (what onnx.reference computes); canonical `same` (TF) appends it at the end."""
    assert op.spec_transpose_crop("SAME_UPPER", 4, 2, 3, 1) == (-1, 0)
    assert translate.transpose_word_crop("same", 4, 2, 3, 1, 12) == (0, -1)
    assert op.spec_transpose_crop("SAME_LOWER", 4, 2, 3, 1) == (0, -1)
    assert translate.transpose_word_crop("same_lower", 4, 2, 3, 1, 12) == (0, -1)


def test_spec_output_shape_without_same_splits_like_same_lower():
    # the spec's "else" branch (onnxruntime since microsoft/onnxruntime#13311)
    assert op.spec_transpose_crop("NOTSET", 5, 4, 2, 1, output_shape=9) == (2, 1)
    assert op.spec_transpose_crop("VALID", 5, 4, 2, 1, output_shape=9) == (2, 1)
    assert op.spec_transpose_crop("NOTSET", 5, 3, 2, 1, pads=(1, 1), output_padding=1) == (1, 0)
    assert op.spec_transpose_crop("VALID", 4, 2, 3, 1, output_padding=1) == (0, -1)


def test_node_attributes_order():
    spelled = op.conv_spelling(None, ((1, 0),))
    attrs = op.node_attributes((3,), (2,), (1,), 1, spelled)
    assert list(attrs) == ["kernel_shape", "strides", "dilations", "group", "pads"]


# --------------------------------------------------------------------------- the program (pure: no onnx needed)


def _source(case, dtype="float32", runtime="onnxruntime"):
    prog, spelled = op.program(case, dtype, runtime)
    return prog, spelled, "\n".join(pg.script(prog, gradients=False))


def test_a_native_program_casts_builds_the_model_and_runs_it():
    case = make_case("conv", 1, 2, 2, 3, 5, 3, 2, padding=((1, 0),))
    prog, spelled, src = _source(case)
    assert spelled.label == "native" and prog.autodiff == pg.NONE
    assert src.splitlines()[:3] == ["import numpy", "import onnx", "import onnxruntime"]
    for line in ("x = numpy.asarray(x, dtype=numpy.float32)", "b = numpy.asarray(b, dtype=numpy.float32)",
                 "node = onnx.helper.make_node('Conv', ['x', 'w', 'b'], ['y'], kernel_shape=[3], strides=[2], "
                 "dilations=[1], group=1, pads=[1, 0])",
                 "x_info = onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [2, 2, 5])",
                 "model = onnx.helper.make_model(graph, opset_imports=[opset], producer_name='conv-harness', "
                 "ir_version=10)",
                 "session = onnxruntime.InferenceSession(model_bytes, providers=['CPUExecutionProvider'])",
                 "outs = session.run(None, {'x': x, 'w': w, 'b': b})", "y = outs[0]",
                 "y = numpy.asarray(y, dtype=numpy.float64)"):
        assert line in src.splitlines(), line
    compile(src, "<printed>", "exec")


def test_the_reference_path_and_bfloat16_imports():
    case = make_case("conv_transpose", 1, 2, 2, 3, 5, 3, 2)
    _, _, src = _source(case, "bfloat16", "reference")
    lines = src.splitlines()
    assert lines[:4] == ["import numpy", "import onnx", "import onnx.reference", "import ml_dtypes"]
    assert "x = numpy.asarray(x, dtype=ml_dtypes.bfloat16)" in lines
    assert "session = onnx.reference.ReferenceEvaluator(model)" in lines
    assert "onnx.TensorProto.BFLOAT16" in src and "onnxruntime" not in src


def test_an_input_crop_slices_x_before_the_node():
    case = make_case("conv", 2, 2, 2, 2, 5, 2, 1, padding=((-1, 1), (0, -2)))
    _, spelled, src = _source(case, "float16")
    assert spelled.label == "input_crop"
    lines = src.splitlines()
    assert lines[3:5] == ["x = x[:, :, 1:, :-2]", "x = numpy.ascontiguousarray(x, dtype=numpy.float16)"]
    assert "x_info = onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT16, [2, 2, 4, 3])" in lines
    assert "pads=[0, 0, 1, 0]" in src


def test_a_transpose_emulation_crops_extends_and_adds_the_bias_after_the_node():
    case = make_case("conv_transpose", 1, 2, 2, 2, 4, 3, 2, padding=((-1, 1),))
    prog, spelled, src = _source(case)
    assert spelled.label == "crop_extend"
    lines = src.splitlines()
    assert "node = onnx.helper.make_node('ConvTranspose', ['x', 'w'], ['y'], kernel_shape=[3], strides=[2], " \
           "dilations=[1], group=1)" in lines
    assert "outs = session.run(None, {'x': x, 'w': w})" in lines
    tail = lines[lines.index("y = outs[0]") + 1:]
    assert tail == ["y = numpy.pad(y, [(0, 0), (0, 0), (1, 0)])", "y = y[:, :, :-1]", "bias = b.reshape(1, -1, 1)",
                    "y = y + bias", "y = numpy.asarray(y, dtype=numpy.float64)"]


def test_the_program_runs_with_numpy_alone_up_to_the_model():
    """The setup's array steps are NumPy: executed with a stand-in for onnx, they give the dtype."""
    case = make_case("conv", 2, 2, 2, 2, 5, 2, 1, padding=((-1, 1), (0, 0)))
    prog, _ = op.program(case, "float16")
    arrays = [s for s in prog.setup if s.func.startswith("numpy") or s.func == pg.INDEX]
    rng = np.random.default_rng(0)
    env = pg.execute(tuple(arrays), {"numpy": np, "x": rng.normal(size=case.x_shape), "w": rng.normal(size=case.w_shape),
                                     "b": rng.normal(size=(case.out_channels,))})
    assert env["x"].dtype == np.float16 and env["x"].shape == (2, 2, 4, 5) and env["x"].flags.c_contiguous
    assert env["w"].dtype == np.float16 and env["b"].dtype == np.float16


@pytest.mark.parametrize("op_name", ["conv", "conv_transpose"])
def test_weights_round_trip_with_numpy_alone(op_name):
    case = make_case(op_name, 2, 2, 4, 6, 5, (3, 2), groups=2)
    w = np.random.default_rng(1).normal(size=case.w_shape)
    env = pg.execute(op.weight_to_native(case), {"numpy": np, "w_torch": w})
    assert env["w_onnx"].shape == case.w_shape  # ONNX's layout is PyTorch's
    back = pg.execute(op.weight_from_native(case), {"numpy": np, "w_onnx": env["w_onnx"]})["w_torch"]
    assert np.array_equal(back, w)
