"""LiteRT's spelling of canonical cases and the program that converts and runs them, as pure functions
(no TensorFlow, no ai_edge_litert: the programs run in tests/test_litert_adapter.py)."""

from __future__ import annotations

import numpy as np

from harness.adapters import litert_padding as lp
from harness.adapters import program as pg
from tests.helpers import brute_conv, brute_conv_transpose, make_case, random_case


def _spelled(*args, **kw):
    return lp.spelling(make_case(*args, **kw))


def test_conv_words_and_explicit_2d_are_native():
    same = _spelled("conv", 2, 1, 2, 3, 6, 3, 2, padding=((0, 1),))  # SAME's (0, 1) for i=6, k3, s2
    assert same.native and same.form.padding == "SAME" and same.form.api == "conv_nd"
    explicit = _spelled("conv", 2, 1, 2, 3, 6, 3, 1, padding=((2, 0), (1, 1)))
    assert explicit.native and explicit.form.padding == "EXPLICIT" and explicit.label == "native"
    dilated = _spelled("conv", 1, 1, 2, 3, 9, 3, 2, 2)  # stride and dilation together: one CONV_2D
    assert dilated.native and dilated.form.api == "conv_nd"


def test_conv_pads_tf_cannot_spell_are_emulated_before_the_op():
    one_d = _spelled("conv", 1, 1, 2, 3, 6, 3, 1, padding=((2, 1),))
    assert not one_d.native and one_d.form.pre == ((2, 1),) and one_d.label == "pre_pad"
    crop = _spelled("conv", 2, 1, 2, 3, 6, 3, 1, padding=((-1, 0), (0, 0)))
    assert crop.form.pre == ((-1, 0), (0, 0)) and "negative padding" in crop.reasons[0]


def test_groups_block_diagonal_only_where_litert_refuses_them():
    assert _spelled("conv", 2, 1, 4, 6, 6, 3, groups=2).native  # grouped CONV_2D runs
    conv3d = _spelled("conv", 3, 1, 4, 6, 4, 2, groups=2)
    assert conv3d.block_groups and "ERROR_NEEDS_FLEX_OPS" in conv3d.reasons[0]
    transpose = _spelled("conv_transpose", 2, 1, 4, 6, 4, 3, 2, groups=2)
    assert transpose.block_groups and "SizeOfDimension" in transpose.reasons[-1]


def test_transpose_explicit_crops_and_dilation_are_emulated():
    valid = _spelled("conv_transpose", 2, 1, 2, 3, 4, 3, 2)  # crops (0, 0): VALID with o = F
    assert valid.native and valid.form.padding == "VALID"
    explicit = _spelled("conv_transpose", 2, 1, 2, 3, 4, 3, 2, padding=((2, 0),))  # SAME would crop (1, 1)
    assert explicit.form.padding == "VALID" and explicit.form.post == ((2, 0), (2, 0))
    assert explicit.label == "crop_extend" and "TRANSPOSE_CONV has SAME / VALID only" in explicit.reasons[0]
    dilated = _spelled("conv_transpose", 1, 1, 2, 3, 4, 3, 1, 2)
    assert dilated.form.dilate_kernel and "dilation" in dilated.reasons[0]
    assert dilated.label == "dilate_kernel"


def _dense_weight(case, w):
    return pg.execute(tuple(lp.block_diagonal_steps(case)), {"numpy": np, "w": w})["w"]


def test_block_diagonal_weight_computes_the_grouped_case():
    """The dense weight's ungrouped op is the grouped op (NumPy loops from tests.helpers)."""
    rng = np.random.default_rng(3)
    for op, cin, cout, g in (("conv", 4, 6, 2), ("conv", 6, 3, 3), ("conv_transpose", 4, 6, 2),
                             ("conv_transpose", 3, 6, 3)):
        case = make_case(op, 2, 1, cin, cout, 4, (2, 3), 2, groups=g, padding=((1, 0),))
        x, w = rng.normal(size=case.x_shape), rng.normal(size=case.w_shape)
        dense = _dense_weight(case, w)
        ungrouped = make_case(op, 2, 1, cin, cout, 4, (2, 3), 2, groups=1).w_shape
        assert dense.shape == ungrouped
        f = brute_conv if op == "conv" else brute_conv_transpose
        pads = case.padding
        np.testing.assert_allclose(f(x, dense, None, case.stride, case.dilation, pads, 1),
                                   f(x, w, None, case.stride, case.dilation, pads, g), rtol=1e-12, atol=1e-12)


def _steps_text(prog):
    return prog.source()


def test_the_program_converts_and_runs_in_order():
    case = make_case("conv_transpose", 2, 1, 2, 3, 4, 3, 2, padding=((1, -1),), bias=True)
    prog, spelled = lp.program(case, "float32")
    text = _steps_text(prog)
    order = ["partial(tf.nn.conv2d_transpose", "partial(tf.pad", "partial(tf.slice",
             "partial(tf.nn.bias_add", "tf.keras.Sequential", "tf.function(model)",
             "tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)", "converter.convert()",
             "litert.Interpreter(", "interpreter.allocate_tensors()", "interpreter.set_tensor(x_index, x)",
             "interpreter.invoke()", "y = interpreter.get_tensor(y_index)"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions), text
    assert "litert.OpResolverType.AUTO" in text and f"num_threads={lp.NUM_THREADS}" in text
    assert "dtype=tf.float32" in text and prog.autodiff == pg.NONE
    assert not any("harness" in module for _, module in prog.imports)
    assert ("litert", "ai_edge_litert.interpreter") in prog.imports


def test_dtypes_in_the_program():
    case = random_case(np.random.default_rng(5), op="conv", ndim=2)
    f16 = _steps_text(lp.program(case, "float16")[0])
    assert "converter.target_spec.supported_types = [tf.float16]" in f16
    assert "converter.optimizations = [tf.lite.Optimize.DEFAULT]" in f16 and "dtype=numpy.float32" in f16
    f64 = _steps_text(lp.program(case, "float64")[0])
    assert "tf.TensorSpec" in f64 and "tf.float64)" in f64 and "supported_types" not in f64
    ref = _steps_text(lp.program(case, "float32", "reference")[0])
    assert "litert.OpResolverType.BUILTIN_REF" in ref


def test_float16_contract_says_float32_arithmetic():
    case = make_case()
    contract = lp.precision(case, "float16", "interpreter", "cpu")
    assert contract.accumulation == "float32" and "dequantized to float32" in contract.source
    assert lp.precision(case, "float32", "interpreter", "cpu") is None


def test_slice_sizes_follow_the_shape():
    step = lp._slice_partial("c", [2, 9, 7, 3], ((1, 2), (0, 3)))
    kwargs = dict(step.kwargs)
    assert kwargs["begin"] == [0, 1, 0, 0] and kwargs["size"] == [2, 6, 4, 3]
