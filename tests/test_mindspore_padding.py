"""MindSpore's vocabulary as the harness spells it (harness.adapters.mindspore_padding), without mindspore:
the pad tuples' order, the spellings' choices, the stage chain and its gradient steps. The measured
facts behind them are checked against mindspore itself in tests/test_mindspore_adapter.py."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from harness import translate
from harness.adapters import mindspore_padding as mp
from harness.adapters import program as pg
from tests.helpers import make_case, random_case


def test_module_does_not_import_mindspore():
    source = Path(mp.__file__).read_text()
    names = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
             if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.ImportFrom) and node.module}
    assert "mindspore" not in names


def test_pad_tuples():
    # primitives: axis order, (lo, hi) per axis: (top, bottom, left, right)
    assert mp.primitive_pad(((1, 2), (3, 0))) == (1, 2, 3, 0)
    assert mp.primitive_pad(((1, 2), (3, 0), (0, 5))) == (1, 2, 3, 0, 0, 5)
    # ops.pad / PadV3: the last axis first (torch's order)
    assert mp.ops_pad(((1, 2), (3, 0))) == (3, 0, 1, 2)
    assert mp.ops_pad(((-1, 2),)) == (-1, 2)


def test_same_padding_puts_the_extra_pixel_at_the_end():
    assert mp.same_padding(7, 3, 2, 1) == (1, 1)
    assert mp.same_padding(6, 3, 2, 1) == (0, 1)
    assert mp.same_padding(5, 4, 1, 1) == (1, 2)


def test_spellings():
    native = mp.spelling(make_case("conv", 2, padding=((1, 0), (0, 2))))
    assert native.native and native.pad == (1, 0, 0, 2) and native.label == "native"
    unit = mp.spelling(make_case("conv", 1, padding=((1, 2),)))
    assert not unit.native and unit.unit_axis and unit.pad == (1, 2) and unit.label == "unit_axis"
    pre = mp.spelling(make_case("conv", 2, padding=((-1, 2), (1, -1))))
    assert pre.label == "pre_pad" and pre.pad == (0, 0, 0, 0) and pre.pre_pad == (1, -1, -1, 2)
    assert "PadV3" in pre.reason
    crop = mp.spelling(make_case("conv_transpose", 2, stride=2, padding=((-1, 2), (1, -1))))
    # the primitive crops the positive amounts; ops.pad appends the zeros of the negative ones
    assert crop.label == "crop_extend" and crop.pad == (0, 2, 1, 0) and crop.post_pad == (0, 1, 1, 0)


def test_transposed_primitive_takes_the_forward_convs_channels():
    case = make_case("conv_transpose", 2, 2, cin=4, cout=6, size=(4, 5), kernel=(2, 3), stride=(2, 1),
                     groups=2, padding=((1, 0), (0, 2)))
    step = mp.primitive_step(case, mp.spelling(case))
    assert step.func == "mindspore.ops.Conv2DTranspose"
    assert dict(step.kwargs)["out_channel"] == 4 and dict(step.kwargs)["pad"] == (1, 0, 0, 2)
    three = make_case("conv_transpose", 3, cin=4, cout=6, groups=2, padding=((1, 0),))
    kwargs = dict(mp.primitive_step(three, mp.spelling(three)).kwargs)
    assert (kwargs["in_channel"], kwargs["out_channel"]) == (4, 6)


def test_input_size_is_the_canonical_output():
    for seed in range(40):
        case = random_case(np.random.default_rng(700 + seed), op="conv_transpose", ndim=2)
        spelled = mp.spelling(case)
        conv = next(s for s in mp.stages(case, spelled) if s.func == "conv")
        size = conv.consts[0]
        assert size[:2] == (case.batch, case.out_channels)
        if spelled.post_crops:  # the full output, cropped and extended after
            assert size[2:] == tuple(translate.transpose_full_length(i, k, s, d) for i, k, s, d in
                                     zip(case.input_size, case.kernel, case.stride, case.dilation))
            continue
        # the native output, before ops.pad appends the zeros of negative crops
        grow = [(max(-lo, 0), max(-hi, 0)) for lo, hi in case.padding]
        assert tuple(o - a - b for o, (a, b) in zip(case.output_size, grow)) == size[2:]


def test_one_d_stages_and_their_chain_rule():
    # size 7, k2, s3: F = 6*3 + 2 = 20; the primitive crops 1 at the start (19), ops.pad appends 1 zero
    case = make_case("conv_transpose", 1, stride=3, kernel=2, padding=((1, -1),))
    program, spelled = mp.program(case, "float32")
    body = [pg.render(s) for s in program.body]
    assert body[1:] == ["x4 = mindspore.ops.expand_dims(x, 2)", "w4 = mindspore.ops.expand_dims(w, 2)",
                        "y0 = conv(x4, w4, (2, 6, 1, 19))", "yp = mindspore.ops.pad(y0, (0, 1))",
                        "yb = mindspore.ops.bias_add(yp, b)", "y = mindspore.ops.squeeze(yb, 2)"]
    grads = [pg.render(s) for s in program.gradient]
    assert grads[:2] == ["grad_y = mindspore.grad(mindspore.ops.squeeze, grad_position=0, sens_param=True)",
                         "g_yb = grad_y(yb, 2, g)"]
    assert "grad_y0 = mindspore.grad(conv.__call__, grad_position=(0, 1), sens_param=True)" in grads
    assert "g_x4, g_w4 = grad_y0(x4, w4, (2, 6, 1, 19), g_y0)" in grads
    assert grads[-4:] == ["grad_w4 = mindspore.grad(mindspore.ops.expand_dims, grad_position=0, sens_param=True)",
                          "dw = grad_w4(w, 2, g_w4)",
                          "grad_x4 = mindspore.grad(mindspore.ops.expand_dims, grad_position=0, sens_param=True)",
                          "dx = grad_x4(x, 2, g_x4)"]
    assert "g_yp, db = grad_yb(yp, b, g_yb)" in grads
    assert pg.names_used(program) <= {"mindspore", "numpy", "x", "w", "b", "x4", "w4", "conv", "y0", "yp", "yb"}


def test_pre_pad_uses_padv3():
    program, _ = mp.program(make_case("conv", 2, padding=((-1, 2), (0, 0)), bias=False), "float16")
    text = program.source()
    assert "pad = mindspore.ops.PadV3()" in text
    assert "paddings = mindspore.Tensor((0, 0, -1, 2), mindspore.int64)" in text
    assert "value = mindspore.Tensor(0.0, mindspore.float16)" in text
    assert "xp = pad(x, paddings, value)" in text and "y = conv(xp, w)" in text
    assert program.leaves == ("x", "w")


def test_layer_program_only_where_the_layer_says_it():
    assert mp.layer_program(make_case("conv", 1), "float32") is None  # no 1D layer
    assert mp.layer_program(make_case("conv", 2, padding=((-1, 0),)), "float32") is None  # emulated
    assert mp.layer_program(make_case("conv", 2), "float64") is None  # the CPU refuses float64
    layer = mp.layer_program(make_case("conv_transpose", 2, stride=2, padding=((1, 0),)), "float16")
    assert ("layer = mindspore.nn.Conv2dTranspose(4, 6, (3, 3), stride=(2, 2), pad_mode='pad', "
            "padding=(1, 0, 1, 0)") in layer.source()
    assert layer.autodiff == pg.NONE


def test_output_padding_is_an_asymmetric_pad():
    """PyTorch's output_padding op crops (p, p - op): the primitive's pad says it directly (no zeros)."""
    case = make_case("conv_transpose", 2, size=5, kernel=3, stride=2, padding=((1, 0),))
    assert mp.spelling(case).pad == (1, 0, 1, 0)
    assert case.output_size == (translate.transpose_output_length(5, 3, 2, 1, 1, 0),) * 2 == (10, 10)
