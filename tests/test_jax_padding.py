"""Pure translation of canonical cases into jax.lax vocabulary, checked in NumPy (no jax needed)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from harness import oracle, translate
from harness.adapters import jax_padding as jp
from harness.adapters import program as pg
from harness.adapters.base import inverse_permutation
from tests.helpers import make_case, random_case


def test_conv_padding_is_canonical_pairs():
    assert jp.conv_padding([(1, 2), (-1, 0)]) == ((1, 2), (-1, 0))
    assert jp.conv_padding([(np.int64(3), np.int64(-2))]) == ((3, -2),)
    assert all(type(v) is int for v in jp.conv_padding([(np.int64(3), np.int64(-2))])[0])


@pytest.mark.parametrize(("pads", "kernel", "dilation", "expected"), [
    (((1, 1),), (3,), (1,), ((1, 1),)),            # PyTorch padding=1, k=3: lax pads 1
    (((0, 0),), (3,), (2,), ((4, 4),)),            # full output: pad d*(k-1) on both sides
    (((-1, 2),), (3,), (2,), ((5, 2),)),           # negative crop = more zeros
    (((3, 0),), (2,), (1,), ((-2, 1),)),           # crop beyond d*(k-1): negative lax padding
    (((0, 1), (2, 2)), (1, 4), (1, 1), ((0, -1), (1, 1))),
])
def test_transpose_padding_examples(pads, kernel, dilation, expected):
    assert jp.transpose_padding(pads, kernel, dilation) == expected


def test_transpose_padding_is_an_involution():
    for lo, hi, k, d in itertools.product(range(-2, 4), range(-2, 4), range(1, 4), range(1, 3)):
        pairs = jp.transpose_padding(((lo, hi),), (k,), (d,))
        assert jp.crops_from_transpose_padding(pairs, (k,), (d,)) == ((lo, hi),)


def test_lax_transpose_length_matches_canonical_length():
    """Including stride > kernel, dilation and crops beyond d*(k-1)."""
    for i, k, s, d, lo, hi in itertools.product(range(1, 5), range(1, 4), range(1, 5), range(1, 3),
                                                range(-2, 4), range(-2, 4)):
        ((a, b),) = jp.transpose_padding(((lo, hi),), (k,), (d,))
        assert jp.lax_transpose_output_length(i, k, s, d, a, b) == translate.transpose_output_length(
            i, k, s, d, lo, hi)


def _zero_insert(x, stride):
    """The lhs dilation of lax: s-1 zeros between neighbouring input pixels."""
    nd = x.ndim - 2
    shape = (*x.shape[:2], *((i - 1) * s + 1 for i, s in zip(x.shape[2:], stride)))
    out = np.zeros(shape)
    out[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = x
    assert out.ndim == nd + 2
    return out


# the program's jnp steps run on NumPy arrays: methods (transpose, reshape, swapaxes) are NumPy's,
# jax.lax.rev is np.flip
FAKE_JAX = SimpleNamespace(lax=SimpleNamespace(rev=lambda a, dims: np.flip(a, dims)))


def _kernel_as_conv(w, case):
    """The forward-conv kernel (canonical layout) the dilated formulation computes from canonical w."""
    perm = jp.weight_permutation(case.ndim, case.layout)
    env = pg.execute(tuple(jp.kernel_as_conv_steps("wc", "w", case)), {"jax": FAKE_JAX, "w": w.transpose(perm)})
    return env["wc"].transpose(inverse_permutation(perm))


@pytest.mark.parametrize("seed", range(24))
def test_dilated_formulation_equals_oracle_transpose(seed):
    """conv(zero-inserted x, kernel_as_conv_steps(w), pads=transpose_padding) is the transposed
    conv: the mapping behind both JAX paths, verified with NumPy alone (both layouts)."""
    rng = np.random.default_rng(500 + seed)
    case = replace(random_case(rng, op="conv_transpose", ndim=1 + seed % 3),
                   layout=("channels_first", "channels_last")[seed % 2])
    x = rng.standard_normal(case.x_shape)
    w = rng.standard_normal(case.w_shape)
    want = oracle.conv_transpose(x, w, None, case.stride, case.dilation, case.padding, case.groups)
    pairs = jp.transpose_padding(case.padding, case.kernel, case.dilation)
    wc = _kernel_as_conv(w, case)
    got = oracle.conv(_zero_insert(x, case.stride), wc, None, (1,) * case.ndim, case.dilation, pairs, case.groups)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_kernel_as_conv_steps_elementwise(layout):
    groups, cin_g, cout_g, k = 3, 2, 4, (2, 3)
    case = make_case("conv_transpose", 2, cin=groups * cin_g, cout=groups * cout_g, kernel=k, groups=groups,
                     layout=layout)
    w = np.arange(groups * cin_g * cout_g * 6, dtype=float).reshape(groups * cin_g, cout_g, *k)
    wc = _kernel_as_conv(w, case)
    assert wc.shape == (groups * cout_g, cin_g, *k)
    for g, i, o, a, b in itertools.product(range(groups), range(cin_g), range(cout_g), range(2), range(3)):
        assert wc[g * cout_g + o, i, a, b] == w[g * cin_g + i, o, 1 - a, 2 - b]


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_weight_to_native_and_back(op, layout):
    case = make_case(op, 3, cin=4, cout=6, kernel=(1, 2, 3), groups=2, layout=layout)
    w = np.random.default_rng(1).standard_normal(case.w_shape)
    native = pg.execute(jp.weight_to_native(case), {"numpy": np, "w_torch": w})["w_jax"]
    assert native.shape == tuple(case.w_shape[p] for p in jp.weight_permutation(3, layout))
    back = pg.execute(jp.weight_from_native(case), {"numpy": np, "w_jax": native})["w_torch"]
    assert np.array_equal(back, w)


def test_dimension_numbers_and_permutations():
    assert jp.dimension_numbers(1, "channels_first") == ("NCH", "OIH", "NCH")
    assert jp.dimension_numbers(2, "channels_last") == ("NHWC", "HWIO", "NHWC")
    assert jp.dimension_numbers(3, "channels_last") == ("NDHWC", "DHWIO", "NDHWC")
    with pytest.raises(ValueError):
        jp.dimension_numbers(2, "nchw")
    assert jp.data_permutation(2, "channels_first") == (0, 1, 2, 3)
    assert jp.data_permutation(3, "channels_last") == (0, 2, 3, 4, 1)
    assert jp.weight_permutation(2, "channels_last") == (2, 3, 1, 0)
    assert jp.weight_permutation(1, "channels_first") == (0, 1, 2)
    for nd, layout in itertools.product((1, 2, 3), ("channels_first", "channels_last")):
        for perm in (jp.data_permutation(nd, layout), jp.weight_permutation(nd, layout)):
            inv = inverse_permutation(perm)
            a = np.empty(tuple(range(2, nd + 4)))
            assert a.transpose(perm).transpose(inv).shape == a.shape
    # the spec letters and the permutation agree: N/C (O/I) land where the spec says
    lhs, rhs, _ = jp.dimension_numbers(2, "channels_last")
    assert [("N", "C", "H", "W")[p] for p in jp.data_permutation(2, "channels_last")] == list(lhs)
    assert [("O", "I", "H", "W")[p] for p in jp.weight_permutation(2, "channels_last")] == list(rhs)


def test_formulations_and_labels():
    conv = make_case("conv", 2, groups=2, padding=((-1, 2), (0, 1)))
    grouped = make_case("conv_transpose", 2, groups=2)
    plain = make_case("conv_transpose", 2, groups=1)
    assert jp.formulation(conv, "lax") == jp.formulation(conv, "conv_general_dilated")
    assert jp.formulation(conv, "lax").label == "conv" and jp.formulation(conv, "lax").padding == ((-1, 2), (0, 1))
    assert jp.formulation(plain, "lax").label == "transpose"
    split = jp.formulation(grouped, "lax")
    assert split.label == "transpose_split" and not split.native and "groups" in split.reason
    assert jp.formulation(grouped, "conv_general_dilated").label == "dilated"
    assert {jp.formulation(c, p).label for c in (conv, grouped, plain) for p in ("lax", "conv_general_dilated")} \
        == set(jp.FORMS)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize(("op", "groups", "path"), [("conv", 2, "lax"), ("conv_transpose", 1, "lax"),
                                                     ("conv_transpose", 3, "lax"),
                                                     ("conv_transpose", 3, "conv_general_dilated")])
def test_program_is_hashable_and_prints_runnable_code(op, groups, path, layout):
    """A program is its own cache key (no slices, no lists) and its printed script imports only
    NumPy and JAX and reads nothing but x, w, b, g."""
    case = make_case(op, 2, cin=6, cout=3, groups=groups, layout=layout, padding=((1, -1), (0, 2)))
    program, f = jp.program(case, "float32", path)
    assert hash(program) == hash(jp.program(case, "float32", path)[0])
    steps = program.prelude + program.setup + program.body
    assigned = {n for s in steps for n in ((s.out,) if isinstance(s.out, str) else s.out or ())}
    assert pg.names_used(program) - assigned <= {"numpy", "jax", "jnp", "x", "w", "b", "g"}
    text = "\n".join(pg.script(program))
    compile(text, "<script>", "exec")
    assert "harness" not in text and "jax.config.update('jax_enable_x64', True)" in text
    assert text.count("precision=jax.lax.Precision.HIGHEST") == (groups if f.label == "transpose_split" else 1)


def test_layer_program_none_for_grouped_transpose():
    assert jp.layer_program(make_case("conv_transpose", 2, groups=2), "float32") is None
    program = jp.layer_program(make_case("conv_transpose", 2, groups=1), "float32")
    text = "\n".join(pg.script(program, gradients=False))
    assert "nn.ConvTranspose(" in text and "transpose_kernel=True" in text and "harness" not in text
    assert "feature_group_count=2" in "\n".join(pg.script(jp.layer_program(make_case("conv", 2, groups=2),
                                                                             "bfloat16"), gradients=False))


def test_module_does_not_import_jax():
    code = ("import sys; import harness.adapters.jax_padding, harness.adapters.jax_adapter as a; "
            "assert a.available() in (True, False); assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
