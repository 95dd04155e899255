"""The stack oracle (harness.stack.reference) against torch running the same layers natively, in
float64 (values and every gradient) and in float32 (each layer's error inside its propagated bound);
and shape inference that names the layer that does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from harness.case import Case
from harness.stack import model as m
from harness.stack.reference import reference


def _conv(op, cin, cout, size, k, s, pads, bias=True, groups=1):
    nd = len(size)
    return Case(id="layer", file="test", line=1, op=op, ndim=nd, batch=2, in_channels=cin, out_channels=cout, input_size=tuple(size),
                kernel=(k,) * nd, stride=(s,) * nd, dilation=(1,) * nd, groups=groups, bias=bias,
                padding=tuple(pads for _ in range(nd)))


def _layers():
    """A small generator: linear → reshape → batch norm → relu → transposed conv → leaky relu →
    unpool (cover_all) → conv → upsample → tanh → sigmoid."""
    up = _conv("conv_transpose", 8, 4, (3, 3), 4, 2, (1, 1))  # 3 → 6
    down = _conv("conv", 4, 3, (11, 11), 3, 1, (1, 1), groups=1)  # unpool 6 → 11 (cover_all)
    layers = [m.linear(0, "fc", (5,), 72, True), m.reshape(1, "to_map", (72,), (8, 3, 3)),
              m.elementwise(2, "batch_norm", "bn", (8, 3, 3)), m.elementwise(3, "relu", "relu", (8, 3, 3)),
              m.conv_like(4, "conv_transpose", "up", (8, 3, 3), up),
              m.elementwise(5, "leaky_relu", "leaky", (4, 6, 6), slope=0.2)]
    pool = m.unpool_case((4, 6, 6), 2, 2, 0, True, 2)
    layers.append(m.conv_like(6, "unpool", "unpool", (4, 6, 6), pool, cover_all=True))
    layers += [m.conv_like(7, "conv", "down", layers[-1].out_shape, down),
               m.upsample(8, "nearest", (3, 11, 11), 2),
               m.elementwise(9, "tanh", "tanh", (3, 22, 22)), m.elementwise(10, "sigmoid", "sigmoid", (3, 22, 22))]
    return layers


def _torch_stack(torch, layers, params, x, dtype):
    """The same layers as torch modules and functions; every output kept, gradients by autograd."""
    F = torch.nn.functional
    leaves = [{n: torch.tensor(v, dtype=dtype, requires_grad=n not in ("mean", "var")) for n, v in p.items()}
              for p in params]
    h = torch.tensor(x, dtype=dtype, requires_grad=True)
    x_t, outs = h, []
    for layer, p in zip(layers, leaves):
        k = layer.kind
        if k == "linear":
            h = F.linear(h, p["w"], p.get("b"))
        elif k == "reshape":
            h = h.reshape(h.shape[0], *layer.out_shape)
        elif k == "batch_norm":
            h = F.batch_norm(h, p["mean"], p["var"], p["gamma"], p["beta"], training=False, eps=layer.eps)
        elif k in ("relu", "tanh", "sigmoid"):
            h = getattr(torch, k)(h)
        elif k == "leaky_relu":
            h = F.leaky_relu(h, layer.slope)
        elif k == "conv_transpose":
            c = layer.case
            h = F.conv_transpose2d(h, p["w"], p.get("b"), stride=c.stride, padding=c.padding[0][0])
        elif k == "unpool":  # torch has no unpooling_nd: the depthwise ones-kernel transposed conv, cropped
            c = layer.case
            ones = torch.ones(c.w_shape, dtype=dtype)
            h = F.conv_transpose2d(h, ones, stride=c.stride, groups=c.groups)[..., :-1, :-1]
        elif k == "conv":
            c = layer.case
            h = F.conv2d(h, p["w"], p.get("b"), stride=c.stride, padding=c.padding[0][0])
        elif k == "upsample":
            h = F.interpolate(h, scale_factor=layer.scale, mode="nearest")
        outs.append(h)
    return x_t, leaves, outs


def test_the_stack_oracle_is_what_torch_computes_in_float64():
    torch = pytest.importorskip("torch")
    layers = _layers()
    ref = reference("stack-test", layers, 2, "float64")
    x_t, leaves, outs = _torch_stack(torch, layers, ref.params, ref.x, torch.float64)
    for i, (got, want) in enumerate(zip(outs, ref.outputs)):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-11, atol=1e-12, err_msg=layers[i].name)
    params = [(i, n, v) for i, p in enumerate(leaves) for n, v in p.items() if v.requires_grad]
    grads = torch.autograd.grad(outs[-1], [x_t] + [v for _, _, v in params], torch.tensor(ref.g))
    np.testing.assert_allclose(grads[0].numpy(), ref.dx, rtol=1e-10, atol=1e-12)
    for (i, n, _), got in zip(params, grads[1:]):
        np.testing.assert_allclose(got.numpy(), ref.grads[i][n], rtol=1e-10, atol=1e-12, err_msg=f"{i} {n}")
    assert {n for _, n, _ in params} == {"w", "b", "gamma", "beta"}


def test_torch_float32_stays_inside_every_layers_propagated_bound_and_a_shift_does_not():
    """torch float32 end to end: each layer's error is inside its bound, and well above 0 (the bound is
    not vacuous); a one-pixel shift of the middle layer's output is far outside it."""
    torch = pytest.importorskip("torch")
    from harness.stack import torch_stack

    torch_stack._resolve_vml(torch)  # pytorch#188792, as the runner does
    layers = _layers()
    ref = reference("stack-test", layers, 2, "float32")
    _, _, outs = _torch_stack(torch, layers, ref.params, ref.x, torch.float32)
    ratios = [float((np.abs(o.detach().double().numpy() - want) / np.maximum(b, 1e-300)).max())
              for o, want, b in zip(outs, ref.outputs, ref.bounds)]
    assert max(ratios) <= 1.0, ratios
    assert max(ratios) > 1e-3, ratios
    shifted = np.roll(ref.outputs[4], 1, axis=-1)
    assert (np.abs(shifted - ref.outputs[4]) / ref.bounds[4]).max() > 1e3


@pytest.mark.parametrize("build,words", [
    (lambda: m.conv_like(3, "conv", "c", (4, 8, 8), _conv("conv", 3, 4, (8, 8), 3, 1, (1, 1))),
     "layer 3 (conv): takes input (C, *spatial) = (3, 8, 8), but the layer before gives (4, 8, 8)"),
    (lambda: m.reshape(1, "r", (72,), (8, 3, 4)), "layer 1 (reshape): (72,) has 72 values per sample, (8, 3, 4) needs 96"),
    (lambda: m.linear(2, "fc", (8, 3, 3), 10, True), "layer 2 (linear): takes (features,) per sample"),
    (lambda: m.upsample(4, "u", (3, 5, 5), (2, 2, 2)), "layer 4 (upsample): scale: one positive int or 2"),
])
def test_a_layer_that_does_not_fit_is_named(build, words):
    with pytest.raises(m.StackError) as err:
        build()
    assert str(err.value).startswith(words), err.value


def test_unpooling_with_cover_all_is_chainers_length():
    """100 → 199 along the unpooled axis with cover_all (k = s = 2), 200 without (Chainer's
    get_deconv_outsize); the other axis untouched with k = s = 1."""
    on = m.unpool_case((1, 100, 100), (2, 1), (2, 1), 0, True, 1)
    off = m.unpool_case((1, 100, 100), (2, 1), (2, 1), 0, False, 1)
    assert on.output_size == (199, 100) and off.output_size == (200, 100)
