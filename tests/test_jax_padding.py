"""Pure translation of canonical cases into jax.lax vocabulary, checked in NumPy (no jax needed)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from harness import oracle, translate
from harness.adapters import jax_padding as jp
from harness.adapters.base import inverse_permutation
from tests.helpers import random_case


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


@pytest.mark.parametrize("seed", range(24))
def test_dilated_formulation_equals_oracle_transpose(seed):
    """conv(zero-inserted x, transpose_kernel_as_conv(w), pads=transpose_padding) is the transposed
    conv: the mapping behind both JAX paths, verified with NumPy alone."""
    rng = np.random.default_rng(500 + seed)
    case = random_case(rng, op="conv_transpose", ndim=1 + seed % 3)
    x = rng.standard_normal(case.x_shape)
    w = rng.standard_normal(case.w_shape)
    want = oracle.conv_transpose(x, w, None, case.stride, case.dilation, case.padding, case.groups)
    pairs = jp.transpose_padding(case.padding, case.kernel, case.dilation)
    wc = jp.transpose_kernel_as_conv(w, case.groups)
    got = oracle.conv(_zero_insert(x, case.stride), wc, None, (1,) * case.ndim, case.dilation, pairs, case.groups)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_transpose_kernel_as_conv_elementwise():
    groups, cin_g, cout_g, k = 3, 2, 4, (2, 3)
    w = np.arange(groups * cin_g * cout_g * 6, dtype=float).reshape(groups * cin_g, cout_g, *k)
    wc = jp.transpose_kernel_as_conv(w, groups)
    assert wc.shape == (groups * cout_g, cin_g, *k)
    for g, i, o, a, b in itertools.product(range(groups), range(cin_g), range(cout_g), range(2), range(3)):
        assert wc[g * cout_g + o, i, a, b] == w[g * cin_g + i, o, 1 - a, 2 - b]


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


def test_group_slices():
    assert jp.group_slices(6, 3) == (slice(0, 2), slice(2, 4), slice(4, 6))
    assert jp.group_slices(4, 1) == (slice(0, 4),)


def test_module_does_not_import_jax():
    code = ("import sys; import harness.adapters.jax_padding, harness.adapters.jax_adapter as a; "
            "assert a.available() in (True, False); assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
