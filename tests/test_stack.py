"""Stacks end to end: `layers:` as written → layers with inferred shapes, run natively by torch, judged
layer by layer against the oracle; a wrong middle layer is blamed, and no layer before or after it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stack import judge, spec
from harness.stack.model import StackError
from harness.stack.reference import reference

# seed 004's Chainer generator in miniature (the real one: 512 → 256 from 4×4), written as its author did
GENERATOR = [
    {"linear": {"out_features": 64}}, {"reshape": [16, 2, 2]}, {"batch_norm": {}}, "relu",
    {"torch": "nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)", "name": "deconv1"}, {"batch_norm": {}}, "relu",
    {"conv_transpose2d": {"out_channels": 4, "kernel": 5, "stride": 2, "padding": "same", "output_shape": [8, 8]},
     "name": "deconv2"},
    {"leaky_relu": {"slope": 0.2}},
    {"unpool": {"ksize": 2, "cover_all": True}},
    {"conv2d": {"out_channels": 3, "kernel": 3, "padding": 1}, "name": "conv"}, {"upsample": {"scale": 2}}, "tanh",
]


def _stack():
    return spec.layers((10,), GENERATOR, batch=2)


def test_shapes_are_inferred_layer_by_layer():
    layers = _stack()
    assert [lay.out_shape for lay in layers] == [
        (64,), (16, 2, 2), (16, 2, 2), (16, 2, 2), (8, 4, 4), (8, 4, 4), (8, 4, 4), (4, 8, 8), (4, 8, 8),
        (4, 15, 15), (3, 15, 15), (3, 30, 30), (3, 30, 30)]
    assert layers[4].case.padding == ((1, 1), (1, 1)) and layers[7].case.padding == ((1, 2), (1, 2))


@pytest.mark.parametrize("entries,words", [
    ([{"linear": {"out_features": 64}}, {"reshape": [16, 2, 3]}], "layer 1 (reshape): (64,) has 64 values"),
    ([{"linear": {"out_features": 64}}, {"reshape": [16, 2, 2]}, {"torch": "nn.Conv2d(8, 4, 1)"}],
     "layer 2 (conv): takes input (C, *spatial) = (8, 2, 2), but the layer before gives (16, 2, 2)"),
    ([{"linear": {"out_features": 64}}, "swish"], "layer 1 (swish): a layer named by a word is one of relu"),
    ([{"linear": {"out_features": 64}}, {"reshape": [16, 2, 2]}, {"conv2d": {"out_channels": 4, "kernel": 3,
                                                                             "strde": 2}}],
     "layer 2 (conv2d): 'strde' is not a conv layer's field; did you mean 'stride'?"),
    ([{"linear": {"out_features": 64}}, {"reshape": [16, 2, 2]}, {"torch": "nn.Conv2d(16, 4, 3, strde=2)"}],
     "layer 2 (torch): column 21: torch Conv2d has no argument 'strde'"),
])
def test_a_layer_that_does_not_fit_is_named_with_what_is_wrong(entries, words):
    with pytest.raises(StackError) as err:
        spec.layers((10,), entries, batch=2)
    assert str(err.value).startswith(words), err.value


def test_torch_runs_the_stack_inside_every_bound_with_its_gradients():
    pytest.importorskip("torch")
    from harness.stack import torch_stack

    layers = _stack()
    ref = reference("generator", layers, 2, "float32")
    got = torch_stack.run(layers, ref, "float32")
    found = judge.verdicts(layers, ref, got["outputs"], "float32")
    assert judge.blame(found) is None and max(v.e2e_ratio for v in found) <= 1.0, found
    assert max(v.local_ratio for v in found) > 1e-3  # the bounds are not vacuous
    scale = np.abs(ref.dx).max()
    assert np.abs(got["dx"] - ref.dx).max() <= 1e-4 * scale
    for i, grads in enumerate(ref.grads):
        assert set(got["grads"][i]) == set(grads), i
        for n, want in grads.items():
            assert np.abs(got["grads"][i][n] - want).max() <= 1e-4 * np.abs(want).max(), (i, n)


@pytest.mark.parametrize("wrong", [4, 7, 10])
def test_a_wrong_middle_layer_is_blamed_and_no_other(wrong):
    """torch with layer `wrong` shifted one pixel: its local error is far outside its bound, every
    other layer's local error (on the framework's own input) inside; the end-to-end errors from it on
    exceed their bounds, the ones before do not."""
    pytest.importorskip("torch")
    from harness.stack import torch_stack

    layers = _stack()
    ref = reference("generator", layers, 2, "float32")
    got = torch_stack.run(layers, ref, "float32", override={wrong: torch_stack.shifted})
    found = judge.verdicts(layers, ref, got["outputs"], "float32")
    assert judge.blame(found).index == wrong
    assert [v.index for v in found if not v.local_ok] == [wrong], [(v.name, v.local_ratio) for v in found]
    assert all(v.e2e_ratio <= 1 for v in found[:wrong]) and found[wrong].e2e_ratio > 10


def test_jax_runs_the_same_stack_inside_every_bound_with_its_gradients():
    pytest.importorskip("jax")
    from harness.stack import jax_stack

    layers = _stack()
    ref = reference("generator", layers, 2, "float32")
    got = jax_stack.run(layers, ref, "float32")
    found = judge.verdicts(layers, ref, got["outputs"], "float32")
    assert judge.blame(found) is None and max(v.e2e_ratio for v in found) <= 1.0, found
    assert np.abs(got["dx"] - ref.dx).max() <= 1e-4 * np.abs(ref.dx).max()
    for i, grads in enumerate(ref.grads):
        for n, want in grads.items():
            assert np.abs(got["grads"][i][n] - want).max() <= 1e-4 * np.abs(want).max(), (i, n)
