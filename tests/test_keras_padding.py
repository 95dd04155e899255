"""The pure Keras translation: padding words, kernel layout, the program and the layer (no keras needed,
except for the one test that checks a length formula against Keras's own)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from harness.adapters import keras_padding as kp
from harness.adapters import program as pg
from tests.helpers import make_case

CASES = {
    "transpose_same": make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((0, 1),), padding_word="same",
                                bias=True, layout="channels_last"),
    "transpose_output_padding": make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((0, -1), (0, 0))),
    "conv_groups": make_case("conv", 2, 2, 4, 6, 5, 3, 1, groups=2, padding=((1, 1),), padding_word="same",
                             bias=True),
    "conv_valid_3d": make_case("conv", 3, 1, 2, 3, 4, 2, 1, padding=((0, 0),), bias=False, layout="channels_last"),
}


def test_module_does_not_import_a_framework():
    code = ("import sys, harness.adapters.keras_padding; "
            "assert not {'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conv_words():
    assert kp.conv_words(7, 3, 1, 1, 1, 1) == ("same",)
    assert kp.conv_words(7, 3, 1, 1, 0, 0) == ("valid",)
    # k=1, s=1: same and valid both pad nothing
    assert kp.conv_words(5, 1, 1, 1, 0, 0) == ("valid", "same")
    # i=6, k=3, s=2: TF SAME pads (0, 1), PyTorch's padding=1 pads (1, 1): not Keras
    assert kp.conv_words(6, 3, 2, 1, 1, 1) == ()
    assert kp.conv_words(6, 3, 2, 1, 0, 1) == ("same",)
    # a trailing pad that no window reaches computes what valid computes
    assert kp.conv_words(7, 3, 2, 1, 0, 1) == ("valid",)
    assert kp.conv_words(6, 2, 2, 1, 0, 1) == ("valid", "same")


def test_transpose_lengths_and_crops():
    # k=3, s=2, i=5: F = 11; same → 10, crop (0, 1); valid → 11, crop (0, 0)
    assert kp.transpose_length("same", 5, 3, 2, 1, None) == 10
    assert kp.transpose_crop("same", 5, 3, 2, 1, None) == (0, 1)
    assert kp.transpose_crop("valid", 5, 3, 2, 1, None) == (0, 0)
    assert kp.transpose_crop("valid", 5, 3, 2, 1, 1) == (0, -1)
    # k=2, s=3: valid appends a zero (max(e, s) = s)
    assert kp.transpose_crop("valid", 4, 2, 3, 1, None) == (0, -1)
    # same + output_padding: (i-1)*s + e%2 + op; op=0 with an even kernel is refused by TF
    assert kp.transpose_length("same", 5, 4, 2, 1, 1) == 9
    assert kp.transpose_crop("same", 5, 4, 2, 1, 0) is None


def test_transpose_spelling():
    assert kp.transpose_spelling(CASES["transpose_same"]) == ("same", None)
    # PyTorch's padding=1, output_padding=1 (crop (1, 0)) has no Keras spelling for k=3, s=2
    assert kp.transpose_spelling(make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((1, 0),))) is None
    # per-axis output_padding
    assert kp.transpose_spelling(CASES["transpose_output_padding"]) == ("valid", (1, 0))


def test_transpose_length_is_keras_own_formula():
    backend_utils = pytest.importorskip("keras.src.backend.common.backend_utils")
    own = backend_utils._get_output_shape_given_tf_padding
    for i, k, s, d, word in itertools.product(range(1, 5), range(1, 5), range(1, 4), range(1, 3), ("valid", "same")):
        for op in (None, *range(max(s, d))):
            assert kp.transpose_length(word, i, k, s, d, op) == own(i, k, s, word, op, d), (i, k, s, d, word, op)


def test_spelling_labels_and_reasons():
    assert kp.spelling(CASES["transpose_same"]).label == "same"
    assert kp.spelling(CASES["transpose_output_padding"]).label == "valid+output_padding"
    assert kp.spelling(CASES["conv_groups"]).label == "same"
    grouped = make_case("conv_transpose", 2, 2, 4, 6, 5, 3, 1, groups=2, padding=((1, 1),))
    assert kp.spelling(grouped) == kp.Spelling(None, reason="keras.ops.conv_transpose has no groups")
    asymmetric = kp.spelling(make_case("conv", 2, padding=((1, 0),)))
    assert asymmetric.word is None and "neither 'valid' nor 'same'" in asymmetric.reason
    with pytest.raises(ValueError, match="no Keras spelling"):
        kp.program(grouped, "float32", "tensorflow")


def test_kernel_permutation():
    assert kp.kernel_permutation(2) == (2, 3, 1, 0)
    assert kp.perms(3) == ((0, 2, 3, 4, 1), (0, 4, 1, 2, 3))


@pytest.mark.parametrize("name", list(CASES))
def test_weight_to_native_and_back(name):
    case = CASES[name]
    w = np.random.default_rng(0).standard_normal(case.w_shape)
    native = pg.execute(kp.weight_to_native(case), {"numpy": np, "w_torch": w})["w_keras"]
    nd = case.ndim
    if case.is_transpose:  # (C_in, C_out, *k) → (*k, C_out, C_in)
        assert native.shape == (*case.kernel, case.out_channels, case.in_channels)
    else:  # (C_out, C_in/g, *k) → (*k, C_in/g, C_out)
        assert native.shape == (*case.kernel, case.in_channels // case.groups, case.out_channels)
    assert native[(0,) * nd + (0, 1)] == w[(1, 0) + (0,) * nd]
    back = pg.execute(kp.weight_from_native(case), {"numpy": np, "w_keras": native})["w_torch"]
    np.testing.assert_array_equal(back, w)


@pytest.mark.parametrize("backend, autodiff, module",
                         [("tensorflow", pg.TAPE, ("tf", "tensorflow")), ("jax", pg.VJP, ("jax", "jax")),
                          ("torch", pg.STEPS, ("torch", "torch"))])
@pytest.mark.parametrize("name", list(CASES))
def test_program_names_only_numpy_keras_and_the_backend(name, backend, autodiff, module):
    """The printed script needs no harness: every step calls numpy, keras, the backend's module or a
    variable of the program; its gradients are taken the backend's way."""
    case = CASES[name]
    prog = kp.program(case, "float32", backend)
    assert prog.autodiff == autodiff
    assert dict(prog.imports) == {"numpy": "numpy", "keras": "keras", module[0]: module[1]}
    assigned = {s.out for s in prog.setup + prog.body}
    assert pg.names_used(prog) <= {"numpy", "keras", "x", "w", "b"} | assigned
    source = "\n".join(pg.script(prog))
    assert "harness" not in source and f"KERAS_BACKEND={backend}" in prog.source()
    op = "keras.ops.conv_transpose(" if case.is_transpose else "keras.ops.conv("
    assert source.count(op) == 1 and ("y = y + bias" in source) == case.bias
    if backend == "torch":
        assert "x = x.requires_grad_(True)" in source and "torch.autograd.grad(y, (x, w" in source
    if case.layout == "channels_last":
        assert "x = numpy.transpose(x, " in source and "y = numpy.transpose(y, " in source


def test_program_spells_the_keras_call():
    source = kp.program(CASES["transpose_output_padding"], "float64", "tensorflow").source()
    assert "keras.ops.conv_transpose(x, w, strides=(2, 2), padding='valid', output_padding=(1, 0), " \
           "data_format='channels_first', dilation_rate=(1, 1))" in source
    assert "w = numpy.transpose(w, (2, 3, 1, 0))" in source
    assert "x = keras.ops.convert_to_tensor(x, dtype='float64')" in source


def test_layer_program_builds_the_layer():
    prog = kp.layer_program(CASES["conv_groups"], "float16")
    source = "\n".join(pg.script(prog, gradients=False))
    assert prog.autodiff == pg.NONE and "harness" not in source
    assert "layer = keras.layers.Conv2D(filters=6, kernel_size=(3, 3), strides=(1, 1), padding='same', " \
           "data_format='channels_first', dilation_rate=(1, 1), groups=2, use_bias=True, dtype='float16')" in source
    assert "layer.build((2, 4, 5, 5))" in source and "layer.set_weights([w_keras, b])" in source
    prog = kp.layer_program(CASES["transpose_same"], "float32")
    source = prog.source()
    assert "keras.layers.Conv2DTranspose(filters=2, kernel_size=(3, 3), strides=(2, 2), padding='same', " \
           "output_padding=None" in source and "groups" not in source
    assert "layer.build((1, 5, 5, 2))" in source  # channels-last shape


def test_layer_program_is_none_where_keras_has_no_layer():
    grouped = make_case("conv_transpose", 2, 2, 4, 6, 5, 3, 1, groups=2, padding=((1, 1),))
    strided_dilated = make_case("conv", 2, 1, 2, 2, 9, 3, (2, 1), (1, 2), padding=((0, 0),))
    for case in (grouped, strided_dilated, make_case("conv", 2, padding=((1, 0),))):
        assert kp.layer_program(case, "float32") is None and kp.layer_refusal(case, kp.spelling(case))
    # keras.ops takes output_padding < max(stride, dilation), the layer < stride
    unit_stride = make_case("conv_transpose", 2, 1, 2, 2, 5, 2, 1, 3)
    assert "output_padding < strides" in kp.layer_refusal(unit_stride, kp.Spelling("same", (0, 1)))
    assert kp.layer_program(CASES["conv_valid_3d"], "float32") is not None
