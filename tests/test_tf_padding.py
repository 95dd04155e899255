"""The pure TensorFlow translation functions (no TensorFlow needed)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from harness import translate
from harness.adapters import program as pg
from harness.adapters import tf_padding as tp
from harness.adapters.base import inverse_permutation


def test_module_does_not_import_tensorflow():
    code = "import sys, harness.adapters.tf_padding; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("word", ["same", "valid"])
def test_conv_word_recognises_its_own_padding(word):
    for i, k, s, d in itertools.product(range(1, 8), range(1, 4), range(1, 4), range(1, 3)):
        if word == "valid" and i < translate.effective_kernel(k, d):
            continue
        pads = (translate.conv_word_padding(word, i, k, s, d),)
        got = tp.conv_word(pads, (i,), (k,), (s,), (d,))
        # SAME with no padding is VALID too; VALID is preferred then
        assert got == ("VALID" if pads == ((0, 0),) else word.upper())


def test_conv_word_rejects_other_padding():
    # k3 s1: SAME pads (1, 1); (1, 0), (0, 1), (2, 2) and crops are not a word
    for pads in [((1, 0),), ((0, 1),), ((2, 2),), ((-1, 0),)]:
        assert tp.conv_word(pads, (5,), (3,), (1,), (1,)) is None
    # k4 s1: SAME pads (1, 2) (odd pixel at the end), (2, 1) is SAME_LOWER
    assert tp.conv_word(((1, 2),), (5,), (4,), (1,), (1,)) == "SAME"
    assert tp.conv_word(((2, 1),), (5,), (4,), (1,), (1,)) is None
    # one word for all axes: SAME on one axis and VALID-only on another is not spellable
    assert tp.conv_word(((1, 1), (0, 0)), (5, 5), (3, 3), (1, 1), (1, 1)) is None
    assert tp.conv_word(((1, 1), (0, 0)), (5, 5), (3, 1), (1, 1), (1, 1)) == "SAME"


def test_transpose_word_same_k3_s2():
    # i = 4, k = 3, s = 2: F = 9; output_shape 8 → T = 1, SAME crops (0, 1) (PyTorch p=1, op=1 crops (1, 0))
    assert translate.transpose_word_crop("same", 4, 3, 2, 1, 8) == (0, 1)
    assert tp.transpose_word(((0, 1),), (4,), (3,), (2,), (1,)) == "SAME"
    assert tp.transpose_word(((1, 0),), (4,), (3,), (2,), (1,)) is None
    assert tp.transpose_word(((0, 0),), (4,), (3,), (2,), (1,)) == "VALID"  # o = F
    assert tp.transpose_word(((0, -1),), (4,), (3,), (2,), (1,)) == "VALID"  # o = F + 1 < F + s


def test_transpose_word_every_allowed_length():
    """Every output length TF accepts for a word maps back to a word giving the same crops."""
    for i, k, s, d in itertools.product(range(1, 5), range(1, 4), range(1, 4), range(1, 3)):
        for word in ("same", "valid"):
            first, last = translate.transpose_length_range(word, i, k, s, d)
            for o in range(max(first, 1), last + 1):
                pads = (translate.transpose_word_crop(word, i, k, s, d, o),)
                got = tp.transpose_word(pads, (i,), (k,), (s,), (d,))
                assert got is not None, (word, i, k, s, d, o)
                assert translate.transpose_word_crop(got.lower(), i, k, s, d, o) == pads[0]


def test_transpose_stride_beyond_kernel():
    """k2 s3 i4: F = 11. SAME allows o in (9, 12], VALID o in [11, 13]. A negative T (o > F,
    zeros appended at the end) gives (0, T) under both rules, so VALID (preferred) spells it."""
    assert tp.transpose_word(((0, -1),), (4,), (2,), (3,), (1,)) == "VALID"
    assert translate.transpose_word_crop("same", 4, 2, 3, 1, 12) == (0, -1)
    assert tp.transpose_word(((0, 1),), (4,), (2,), (3,), (1,)) == "SAME"  # o = 10: SAME only
    assert tp.transpose_word(((0, -2),), (4,), (2,), (3,), (1,)) == "VALID"  # o = 13: VALID only
    assert tp.transpose_word(((1, -3),), (4,), (2,), (3,), (1,)) is None


def test_explicit_formats():
    pads = ((1, 2), (0, 3))
    assert tp.explicit_ok(pads) and not tp.explicit_ok(((1, -1),))
    assert tp.explicit_padding(pads) == [[0, 0], [1, 2], [0, 3], [0, 0]]
    assert tp.explicit_paddings_attr(pads) == [0, 0, 1, 2, 0, 3, 0, 0]
    assert tp.explicit_paddings_attr(((1, 2),), unit_axis=True) == [0, 0, 0, 0, 1, 2, 0, 0]


def test_split_pad_and_crop():
    assert tp.split_pad(((2, -1), (0, 3))) == (((2, 0), (0, 3)), ((0, 1), (0, 0)))
    assert tp.split_crop(((2, -1), (0, 3))) == (((0, 1), (0, 0)), ((2, 0), (0, 3)))


def _pad_then_crop(a: np.ndarray, grow, crop) -> np.ndarray:
    """What the adapter does (in TF) on one axis: append zeros first, then slice."""
    a = np.pad(a, [grow])
    return a[crop[0]:a.shape[0] - crop[1]]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_pad_first_then_crop_is_canonical(n):
    """Canonical: out[p] = full[p + lo] (zero outside); zeros first, so a crop beyond the data
    reaches into them (slicing first would lose them)."""
    full = np.arange(1.0, n + 1)
    for lo, hi in itertools.product(range(-3, 4), repeat=2):
        o = n - lo - hi
        if o < 1:
            continue
        want = np.array([full[p + lo] if 0 <= p + lo < n else 0.0 for p in range(o)])
        grow, crop = tp.split_crop(((lo, hi),))
        np.testing.assert_array_equal(_pad_then_crop(full, grow[0], crop[0]), want)
        # a conv's input padding is the same operation with the signs flipped
        grow, crop = tp.split_pad(((-lo, -hi),))
        np.testing.assert_array_equal(_pad_then_crop(full, grow[0], crop[0]), want)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_permutations(ndim):
    xperm = tp.data_permutation(ndim)
    wperm = tp.weight_permutation(ndim)
    x = np.zeros((2, 3, *range(4, 4 + ndim)))
    assert np.transpose(x, xperm).shape == (2, *range(4, 4 + ndim), 3)
    w = np.zeros((5, 6, *range(7, 7 + ndim)))  # (C_out, C_in/g, *k) → HWIO (*k, C_in/g, C_out)
    assert np.transpose(w, wperm).shape == (*range(7, 7 + ndim), 6, 5)
    for a, perm in ((x, xperm), (w, wperm)):
        assert np.transpose(np.transpose(a, perm), inverse_permutation(perm)).shape == a.shape
    assert tp.DATA_FORMAT[ndim] in ("NWC", "NHWC", "NDHWC")


def test_kernel_and_groups_helpers():
    assert tp.dilated_kernel_size((3, 1, 2), (2, 3, 1)) == (5, 1, 2)
    assert tp.group_bounds(6, 3) == ((0, 2), (2, 4), (4, 6))
    assert tp.full_lengths((4, 3), (3, 2), (2, 1), (1, 2)) == (9, 5)


# --------------------------------------------------------------------------- formulation and program


def _case(op="conv", ndim=2, **kw):
    from tests.helpers import make_case

    return make_case(op, ndim, **kw)


@pytest.mark.parametrize(("op", "nd", "path", "pads", "label"), [
    ("conv", 2, "nn", ((0, 0),), "native"),
    ("conv", 2, "nn", ((1, 0), (0, 2)), "explicit"),
    ("conv", 1, "nn", ((1, 0),), "pre_pad"),  # explicit padding in 1D: tf.pad
    ("conv", 2, "nn", ((-1, 1), (0, 0)), "pre_pad"),  # a crop
    ("conv_transpose", 2, "nn", ((1, 1), (0, -1)), "crop_extend"),
    ("conv_transpose", 2, "nn", ((1, 0), (0, 1)), "explicit"),
    ("conv_transpose", 1, "backprop_input", ((1, 2),), "explicit+unit_axis"),
    ("conv_transpose", 1, "backprop_input", ((0, -1),), "crop_extend+unit_axis"),
])
def test_first_choice_labels(op, nd, path, pads, label):
    form, reasons = tp.first_choice(_case(op, nd, size=5, kernel=3, padding=pads), path)
    assert form.label == label
    assert bool(reasons) == (form.pre is not None or form.post is not None)


def test_label_joins_the_emulations():
    form = tp.Formulation("conv", "convolution", "VALID", pre=((1, 0),), dilate_kernel=True, split_groups=True)
    assert form.label == "pre_pad+dilate_kernel+split_groups"


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_weight_round_trip(op, ndim):
    case = _case(op, ndim, cin=4, cout=6, groups=2, kernel=(2, 3, 1)[:ndim], padding=((0, 0),))
    w = np.random.default_rng(0).standard_normal(case.w_shape)
    w_tf = pg.execute(tp.weight_to_native(case), {"numpy": np, "w_torch": w})["w_tf"]
    assert w_tf.shape == tuple(tp.filter_shape(case))
    back = pg.execute(tp.weight_from_native(case), {"numpy": np, "w_tf": w_tf})["w_torch"]
    np.testing.assert_array_equal(back, w)


# tf.expand_dims / tf.pad / tf.reshape as NumPy spells them: the dilation steps run without TF
NUMPY_TF = SimpleNamespace(expand_dims=np.expand_dims, pad=np.pad, reshape=np.reshape)


@pytest.mark.parametrize(("shape", "dilation"), [((3, 2, 4), (2,)), ((2, 3, 1, 2), (3, 1)), ((2, 1, 2, 1, 1), (2, 1, 3))])
def test_dilate_kernel_steps_insert_zeros_between_taps(shape, dilation):
    w = np.arange(1.0, 1 + np.prod(shape)).reshape(shape)
    nd = len(dilation)
    steps = tp.dilate_kernel_steps("wd", "w", shape, dilation)
    got = pg.execute(steps, {"tf": NUMPY_TF, "w": w})["wd"] if steps else w
    want = np.zeros(tp.dilated_kernel_size(shape[:nd], dilation) + shape[nd:])
    want[tuple(slice(None, None, d) for d in dilation)] = w
    np.testing.assert_array_equal(got, want)


def test_program_steps_only_name_numpy_and_tf():
    """Every step calls numpy, tf or a variable of the program: the printed code needs no harness."""
    case = _case("conv_transpose", 1, cin=4, cout=2, groups=2, dilation=2, padding=((1, -1),))
    form = replace(tp.first_choice(case, "backprop_input")[0], dilate_kernel=True, split_groups=True)
    prog = tp.program(case, "float32", form)
    assert prog.autodiff == pg.TAPE and dict(prog.imports) == {"numpy": "numpy", "tf": "tensorflow"}
    assigned = {s.out for s in prog.setup + prog.body}
    assert pg.names_used(prog) <= {"numpy", "tf", "x", "w", "b"} | assigned
    source = "\n".join(pg.script(prog))
    assert "harness" not in source and source.count("tf.raw_ops.Conv2DBackpropInput(") == 2
    assert "tf.concat([y0, y1], axis=-1)" in source and "y = y[:, 0]" not in source  # per group: y0[:, 0]
    assert "y0 = y0[:, 0]" in source and "tf.reshape(wd, " in source


def test_tf_has_no_layer_of_its_own():
    assert tp.layer_program(_case(), "float32") is None
