"""Stacks run as Keras 3 models (harness.stack.keras_stack, TensorFlow backend): the generator of
tests/test_stack.py, a U-Net-like decoder with a skip and a condition, a 3D conv_transpose + unpool, and
paddings Keras's padding words cannot spell (ZeroPadding / Cropping around a 'valid' layer); every layer
within its bound, gradients near the oracle's. What no Keras layer expresses is StackUnsupported,
naming the layer, before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stack import judge, spec
from harness.stack.model import StackUnsupported
from harness.stack.reference import reference
from tests.test_stack import _stack
from tests.test_stack_tf import UNET, VOLUME, inside

# paddings no Keras word spells: asymmetric, a crop of a conv's input, a transposed conv's uneven crop,
# zeros appended after a bias-free transposed conv
UNSPELLED = [{"conv2d": {"out_channels": 3, "kernel": 3, "padding": [[2, 0], [-1, 1]]}}, "relu",
             {"conv_transpose2d": {"out_channels": 3, "kernel": 3, "stride": 2, "padding": [[2, 0], [0, 1]]}},
             {"conv_transpose2d": {"out_channels": 2, "kernel": 2, "padding": [[-1, 0], [0, 1]], "bias": False}}]


@pytest.fixture(scope="module")
def keras_stack():
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    from harness.adapters import keras_adapter
    from harness.stack import keras_stack

    if keras_adapter.backend_name() != "tensorflow":
        pytest.skip("the keras stack runs on the tensorflow backend")
    return keras_stack


def test_keras_runs_the_generator_inside_every_bound_with_its_gradients(keras_stack):
    got = inside(keras_stack, _stack(), "generator", 2, "float32")
    assert got["calls"][4].startswith("keras.layers.Conv2DTranspose(filters=8, kernel_size=(4, 4), strides=(2, 2), "
                                      "padding='same'")
    assert "trainable=False" in got["calls"][9]  # the unpool: a fixed dense kernel ones(k) x eye(C)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_keras_runs_a_unet_decoder_with_a_skip_and_a_condition(keras_stack, dtype):
    got = inside(keras_stack, spec.layers((3, 8, 8), UNET, batch=2), "unet", 2, dtype)
    assert got["calls"][6] == f"keras.layers.Concatenate(axis=-1, dtype='{dtype}')([h, outputs[1]])"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_keras_runs_a_3d_conv_transpose_and_unpool(keras_stack, dtype):
    inside(keras_stack, spec.layers((2, 3, 2, 3), VOLUME, batch=2), "volume", 2, dtype)


def test_keras_pads_and_crops_around_a_valid_layer_where_no_word_spells_the_padding(keras_stack):
    got = inside(keras_stack, spec.layers((2, 6, 6), UNSPELLED, batch=2), "unspelled", 2, "float32")
    assert got["calls"][0].startswith("keras.layers.ZeroPadding2D(padding=((2, 0), (0, 1))")
    assert "keras.layers.Cropping2D(cropping=((0, 0), (1, 0))" in got["calls"][0]
    assert got["calls"][3].endswith("keras.layers.ZeroPadding2D(padding=((1, 0), (0, 0)), data_format='channels_last', "
                                    "dtype='float32')")


@pytest.mark.parametrize("entry,dtype,words", [
    ({"conv_transpose2d": {"out_channels": 4, "kernel": 3, "groups": 2}}, "float32",
     "layer 1 (conv_transpose): keras.layers.Conv2DTranspose has no groups"),
    ({"conv_transpose2d": {"out_channels": 4, "kernel": 2, "padding": [[-1, 0], [0, 0]]}}, "float32",
     "layer 1 (conv_transpose): crops ((-1, 0), (0, 0)) append zeros that get the bias"),
    ({"conv2d": {"out_channels": 4, "kernel": 3, "stride": 2, "dilation": 2}}, "float32",
     "layer 1 (conv): keras.layers refuse strides > 1 together with dilation_rate > 1"),
    ({"conv_transpose2d": {"out_channels": 4, "kernel": 3, "dilation": 2}}, "float64",
     "layer 1 (conv_transpose): TensorFlow refuses it under Keras: InvalidArgumentError: Current CPU "
     "implementations do not yet support dilation rates larger than 1"),
])
def test_a_layer_keras_cannot_express_is_unsupported_and_named(keras_stack, entry, dtype, words):
    layers = spec.layers((4, 5, 5), ["relu", entry, "tanh"], batch=1)
    with pytest.raises(StackUnsupported) as err:
        keras_stack.run(layers, reference("refused", layers, 1, dtype), dtype)
    assert err.value.index == 1 and str(err.value).startswith(words), err.value


def test_float64_leaky_relu_runs_a_float32_slope_a_finding(keras_stack):
    """keras.layers.LeakyReLU on TensorFlow is tf.nn.leaky_relu, whose `alpha` is a float32 attribute
    (Keras 3.15.1, tensorflow-cpu 2.21): in float64 the slope 0.2 is 0.20000000298023224. Pinned."""
    layers = _stack()
    ref = reference("generator", layers, 2, "float64")
    got = keras_stack.run(layers, ref, "float64")
    bad = judge.blame(judge.verdicts(layers, ref, got["outputs"], "float64"))
    assert (bad.index, bad.kind) == (8, "leaky_relu") and bad.local_ratio > 1e6
    h = got["outputs"][7]
    assert np.array_equal(got["outputs"][8], np.where(h >= 0, h, np.float64(np.float32(0.2)) * h))


def test_another_keras_backend_is_unsupported_before_keras_is_asked(keras_stack, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(StackUnsupported, match="keras backend 'jax': the stack's gradients are taken with tf.GradientTape"):
        keras_stack.plans(spec.layers((4,), ["relu"], batch=1), "float32")
