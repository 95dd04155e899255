"""MLX's vocabulary (harness.adapters.mlx_padding), pure: no mlx import.

The facts checked here were measured with mlx 0.32.4 on the CPU (see the module docstring):
conv*d pads symmetrically, conv_transpose*d crops (p, p - output_padding) for any output_padding
>= 0, conv_general takes (lo list, hi list), and a transposed conv is conv_general over the
stride-dilated input padded (e-1-lo, e-1-hi) with the flipped, regrouped kernel.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from harness import oracle
from harness.adapters import mlx_padding as mp
from harness.adapters import program as pg
from tests.helpers import make_case, random_case


def test_module_does_not_import_mlx():
    tree = ast.parse(open(mp.__file__).read())
    names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(str(n).startswith("mlx") for n in names)


@pytest.mark.parametrize("lo,hi,expected", [(1, 1, (1, 0)), (2, 0, (2, 2)), (1, -2, (1, 3)), (0, -1, (0, 1)),
                                            (-1, -1, None), (0, 1, None)])
def test_transpose_padding(lo, hi, expected):
    assert mp.transpose_padding(lo, hi) == expected


def test_general_transpose_padding_is_kernel_extent_minus_crop():
    # k3 d2: e - 1 = 4; crops (1, 5) → (3, -1); k2 d1: e - 1 = 1; crops (-2, 0) → (3, 1)
    assert mp.general_transpose_padding(((1, 5), (-2, 0)), (3, 2), (2, 1)) == ((3, 3), (-1, 1))


def test_spellings_per_path():
    assert mp.spelling(make_case("conv", padding=((1, 1),))).form == "native"
    assert mp.spelling(make_case("conv", padding=((0, 1),))).form == "pre_pad"
    assert mp.spelling(make_case("conv", padding=((-1, -1),))).form == "pre_pad"
    t = mp.spelling(make_case("conv_transpose", stride=2, padding=((1, 0),)))
    assert (t.form, t.padding, t.output_padding) == ("native", (1, 1), (1, 1))
    assert mp.spelling(make_case("conv_transpose", stride=2, padding=((0, 1),))).form == "crop_extend"
    g = mp.spelling(make_case("conv", padding=((0, 2), (-1, 1))), "conv_general")
    assert (g.form, g.general_padding) == ("general", ((0, -1), (2, 1)))
    assert mp.spelling(make_case("conv_transpose", padding=((0, 1),)), "conv_general").form == "general_transpose"


def test_dilated_negative_padding_predicate():
    # the measured bug: a crop beyond d*(k-1) at stride > 1, or a negative crop at stride > 1
    assert mp.dilated_negative_padding(make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((3, 3),))) == (0,)
    assert mp.dilated_negative_padding(make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((1, -1),))) == (0,)
    assert mp.dilated_negative_padding(make_case("conv_transpose", ndim=1, kernel=3, stride=1, padding=((3, 3),))) == ()
    assert mp.dilated_negative_padding(make_case("conv_transpose", ndim=1, kernel=3, stride=2, padding=((2, 1),))) == ()
    assert mp.dilated_negative_padding(make_case("conv", ndim=1, stride=2, padding=((4, 4),))) == ()


def _mlx_weight(case, w):
    return pg.execute(mp.weight_to_native(case), {"numpy": np, "w_torch": w})["w_mlx"]


@pytest.mark.parametrize("op,groups", [("conv", 1), ("conv", 2), ("conv_transpose", 1), ("conv_transpose", 2)])
def test_weight_round_trip(op, groups):
    case = make_case(op, groups=groups, cin=4, cout=6, kernel=(3, 2))
    w = np.random.default_rng(0).normal(size=case.w_shape)
    native = _mlx_weight(case, w)
    assert native.shape == (6, 3, 2, 4 // groups)  # (C_out, *k, C_in/groups) for both ops
    back = pg.execute(mp.weight_from_native(case), {"numpy": np, "w_mlx": native})["w_torch"]
    assert np.array_equal(back, w)


def test_transposed_weight_is_the_regrouped_unflipped_kernel():
    """MLX's transposed-conv weight (C_out, *k, C_in/g): element [o, t, i] of group G is the canonical
    w[G*cin_g + i, o - G*cout_g, t] (no spatial flip)."""
    case = make_case("conv_transpose", ndim=1, groups=2, cin=4, cout=6, kernel=3)
    w = np.random.default_rng(1).normal(size=case.w_shape)
    native = _mlx_weight(case, w)
    for o, t, i in np.ndindex(native.shape):
        grp = o // 3
        assert native[o, t, i] == w[grp * 2 + i, o - grp * 3, t]


def test_emulation_shapes_follow_the_oracle():
    """The mx.slice sizes of an emulated case are the canonical output / padded input lengths."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        case = random_case(rng)
        spelled = mp.spelling(case)
        ops, setup = mp.body_ops(case, spelled)
        assert ops[-1].out == "y"
        for op in ops:
            if op.func == "mx.slice":
                size = dict(op.kwargs)["slice_size"][1:-1]
                if case.is_transpose:
                    assert size == tuple(case.output_size)
                else:
                    x = np.zeros((1, 1, *case.input_size))
                    assert size == oracle.pad_or_crop(x, case.padding).shape[2:]


def test_gradient_steps_walk_the_body_backwards():
    case = make_case("conv", padding=((0, 1),), bias=True)
    ops, _ = mp.body_ops(case, mp.spelling(case))
    steps = mp.gradient_steps(ops, ("x", "w", "b"))
    outs = [s.out for s in steps if isinstance(s.out, str) and s.func == pg.INDEX]
    # add → (g_yc, g_bias), reshape → db, conv → (g_xp, dw), pad → dx: each op once, last to first
    assert outs == ["g_yc", "g_bias", "db", "g_xp", "dw", "dx"]
    vjps = [s for s in steps if s.func == "mx.vjp"]
    assert len(vjps) == len(ops)
    with pytest.raises(ValueError):
        mp.gradient_steps([mp.Op("y", "mx.add", ("x", "x"))], ("x",))


def test_precision_contract():
    case = make_case("conv", bias=True)
    assert mp.precision(case, "float16", "core", "cpu").y_roundings == 2
    assert mp.precision(make_case("conv", bias=False), "bfloat16", "core", "cpu") is None
    f64 = mp.precision(case, "float64", "core", "cpu")
    assert (f64.storage, f64.accumulation) == ("float64", "float32")
