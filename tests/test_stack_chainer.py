"""Stacks run natively in Chainer (harness.stack.chainer_stack) and judged layer by layer against the
oracle: the generator of test_stack.py, seed 004's Chainer generator in miniature (its own
L.Deconvolution2D spelling), seed 000's ways from 100×100 to 50×200, and a 3D stack with Chainer's
unpooling_nd. Chainer lives in its own env (tox -e chainer); elsewhere these tests skip, except the
ones that only build the program (no chainer import)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness.stack import chainer_stack, judge, spec
from harness.stack.model import Layer, StackUnsupported
from harness.stack.reference import reference
from tests.test_stack import _stack


def _run(layers, stack_id: str, dtype: str, grad_rtol: float, batch: int = 2) -> dict:
    """Chainer's run of the stack: every layer inside its bounds, dx and every trained parameter's
    gradient within `grad_rtol` of the oracle's (relative to the largest entry)."""
    pytest.importorskip("chainer")
    ref = reference(stack_id, layers, batch, dtype)
    got = chainer_stack.run(layers, ref, dtype)
    found = judge.verdicts(layers, ref, got["outputs"], dtype)
    table = [(v.name, round(v.e2e_ratio, 4), round(v.local_ratio, 4)) for v in found]
    assert judge.blame(found) is None and max(v.e2e_ratio for v in found) <= 1.0, table
    assert np.abs(got["dx"] - ref.dx).max() <= grad_rtol * np.abs(ref.dx).max()
    for i, grads in enumerate(ref.grads):
        assert set(got["grads"][i]) == set(grads), i
        for n, want in grads.items():
            assert np.abs(got["grads"][i][n] - want).max() <= grad_rtol * np.abs(want).max(), (i, n)
    assert len(got["calls"]) == len(layers) and got["version"] == "7.8.1"
    return got


def test_the_generator_runs_inside_every_bound_with_its_gradients():
    """test_stack's generator (unpool with cover_all: 8 → 15) in float32."""
    got = _run(_stack(), "generator", "float32", 1e-4)
    assert got["calls"][9] == "y = chainer.functions.unpooling_nd(x, (2, 2), (2, 2), (0, 0), cover_all=True)"
    assert got["calls"][2].endswith("fixed_batch_normalization(x, gamma, beta, mean, var, eps=1e-05)")


def _chainer_generator(side: int) -> list:
    """Seed 004's Chainer generator in miniature: linear → side×side, then L.Deconvolution2D k4 s2 p1 twice."""
    return spec.layers((10,), [
        {"linear": {"out_features": 16 * side * side}}, {"reshape": [16, side, side]}, {"batch_norm": {}}, "relu",
        {"chainer": "L.Deconvolution2D(16, 8, 4, 2, 1)", "name": "dc1"}, {"batch_norm": {}}, "relu",
        {"chainer": "L.Deconvolution2D(8, 3, 4, 2, 1)", "name": "dc2"}, "tanh"], batch=2)


@pytest.mark.parametrize("side", [4, 6])
def test_seed_004_generator_in_its_own_chainer_spelling(side):
    layers = _chainer_generator(side)
    assert layers[-1].out_shape == (3, 4 * side, 4 * side)
    got = _run(layers, f"seed004-{side}", "float32", 1e-4)
    assert got["calls"][4] == ("y = chainer.functions.deconvolution_2d(x, w, b, stride=(2, 2), pad=(1, 1), "
                               "dilate=(1, 1), groups=1)")


SEED_000 = {  # three ways from 100×100 to 50×200 (2 channels here)
    "conv_then_deconv": [{"conv2d": {"out_channels": 3, "kernel": [2, 1], "stride": [2, 1]}}, "relu",
                         {"conv_transpose2d": {"out_channels": 2, "kernel": [1, 2], "stride": [1, 2]}}],
    "unpool_then_conv": [{"unpool": {"ksize": [1, 2], "cover_all": False}}, "relu",
                         {"conv2d": {"out_channels": 3, "kernel": [2, 1], "stride": [2, 1]}}],
    # the [0, 1, 0]-mask deconvolution (stride 2) inserts zeros; its equal here is unpooling with a
    # 1-tap ones kernel (ksize 1, stride 2: 100 → 199), as a stack has no fixed mask weight
    "zero_insert_then_conv": [{"unpool": {"ksize": [1, 1], "stride": [1, 2], "cover_all": False}}, "relu",
                              {"conv2d": {"out_channels": 3, "kernel": 2, "stride": [2, 1], "padding": [0, 1]}}],
}


@pytest.mark.parametrize("dtype,grad_rtol", [("float64", 1e-12), ("float32", 1e-4)])
@pytest.mark.parametrize("name", list(SEED_000))
def test_seed_000_stacks_from_100x100_to_50x200(name, dtype, grad_rtol):
    layers = spec.layers((2, 100, 100), SEED_000[name], batch=1)
    assert layers[-1].out_shape[1:] == (50, 200)
    _run(layers, f"seed000-{name}", dtype, grad_rtol, batch=1)


def test_a_3d_stack_with_chainers_unpooling_nd():
    """conv_transpose3d, then unpooling_nd in 3D (cover_all: 5×7×9 → 9×13×17), then conv3d."""
    layers = spec.layers((3, 3, 4, 5), [
        {"conv_transpose3d": {"out_channels": 4, "kernel": 3, "stride": 2, "padding": 1}}, {"batch_norm": {}},
        {"leaky_relu": {"slope": 0.2}}, {"unpool": {"ksize": 2}}, {"conv3d": {"out_channels": 2, "kernel": 3,
                                                                             "padding": 1}}, "sigmoid"], batch=2)
    assert [lay.out_shape for lay in layers][2:4] == [(4, 5, 7, 9), (4, 9, 13, 17)]
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-4)):
        got = _run(layers, "chainer3d", dtype, rtol)
    assert got["calls"][0].startswith("y = chainer.functions.deconvolution_nd(x, w, b, stride=(2, 2, 2)")
    assert "unpooling_nd(x, (2, 2, 2), (2, 2, 2), (0, 0, 0), cover_all=True)" in got["calls"][3]


def test_skip_and_condition_layers():
    """A U-Net skip (concat) and a broadcast label (condition), with nearest upsampling."""
    layers = spec.layers((2, 5, 6), [
        {"conv2d": {"out_channels": 3, "kernel": 3, "padding": 1}}, "relu", {"condition": {"features": 2}},
        {"concat": {"from": 0}}, {"upsample": {"scale": [2, 3]}},
        {"conv_transpose2d": {"out_channels": 2, "kernel": 3, "stride": 2, "padding": [[-1, 0], [2, 1]]}}],
        batch=2)
    got = _run(layers, "chainer-skip", "float32", 1e-4)
    assert "broadcast_to(c, (2, 2, 5, 6))" in got["calls"][2]
    assert "chainer.functions.pad(y, " in got["calls"][5]  # a negative start crop: the adapter's emulation


def test_a_layer_chainer_has_not_is_unsupported_before_anything_runs():
    layers = [Layer(0, "softmax", "softmax", (3,), (3,))]
    with pytest.raises(StackUnsupported) as err:
        chainer_stack.run(layers, SimpleNamespace(x=np.zeros((1, 3))), "float32")
    assert (err.value.index, err.value.kind) == (0, "softmax")


def test_measured_chainer_semantics():
    """What the runner relies on (chainer 7.8.1): unpooling_nd's length with cover_all, fixed batch
    norm's default eps 2e-5, unpooling_nd with cover_all=False as exact nearest upsampling."""
    chainer = pytest.importorskip("chainer")
    F = chainer.functions
    x = np.random.default_rng(0).standard_normal((1, 2, 100, 7)).astype(np.float32)
    assert F.unpooling_nd(x, 2, 2, 0).shape == (1, 2, 199, 13)  # cover_all is its default
    assert F.unpooling_nd(x, 2, 2, 0, cover_all=False).shape == (1, 2, 200, 14)
    assert np.array_equal(F.unpooling_nd(x, (2, 3), (2, 3), 0, cover_all=False).array,
                          np.repeat(np.repeat(x, 2, axis=2), 3, axis=3))
    one, zero = np.ones(2), np.zeros(2)  # x = 1, mean = var = 0: y = 1 / sqrt(eps)
    y = F.fixed_batch_normalization(one[None], one, zero, zero, zero).array
    assert y[0, 0] == pytest.approx(1 / np.sqrt(2e-5), rel=1e-12)


def test_chainers_known_deconvolution_backward_bug_names_the_layer():
    """outsize (8, 10) from 4×4 (k3 s2) needs cover_all on axis 0 only: Chainer 7.8.1's backward fails
    (chainer_padding.deconv_backward_breaks); the run says which layer and why."""
    pytest.importorskip("chainer")
    layers = spec.layers((2, 4, 4), [{"conv_transpose2d": {"out_channels": 2, "kernel": 3, "stride": 2,
                                                           "padding": [[0, 1], [0, -1]]}, "name": "up"}], batch=1)
    with pytest.raises(RuntimeError, match=r"shape-mismatch for sum\): layer 0 \(up\): chainer 7.8.1 deconvolution"):
        chainer_stack.run(layers, reference("breaks", layers, 1, "float32"), "float32")


@pytest.mark.parametrize("ksize,stride,pad,cover_all", [
    (3, 2, 1, True), (3, 2, 1, False), (2, 3, 0, True), (4, 2, 1, True), (1, 2, 0, True), (3, 1, 1, True),
    (5, 3, 2, True)])
def test_unpooling_nd_is_the_ones_kernel_depthwise_deconvolution(ksize, stride, pad, cover_all):
    """The model's claim, checked on Chainer's own unpooling_nd in 1D: overlapping windows (k > s),
    gaps (k < s), pads, with and without cover_all (7 → 12 for k3 s2 p1 with it, 13 without)."""
    layers = spec.layers((2, 7), [{"unpool": {"ksize": ksize, "stride": stride, "pad": pad, "cover_all": cover_all}},
                                  {"conv1d": {"out_channels": 2, "kernel": 2}}], batch=2)
    _run(layers, f"unpool-{ksize}-{stride}-{pad}-{cover_all}", "float64", 1e-12)
