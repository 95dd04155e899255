"""The oracle of a stack in float64 NumPy: seeded parameters, every layer's output, the VJP for the
input and every parameter, each layer applied alone (for the local error: the oracle's layer on a
framework's own input of that layer), and the error bound propagated through the stack.

The bound of layer l's end-to-end error is first order: B_l = local_l + |J_l|·B_{l-1}, where local_l
is the layer's own rounding bound on the oracle's input (harness.compare's contract for a conv,
a few units of roundoff of |y| for an elementwise op) and |J_l| the layer's Jacobian in absolute
values (|w| ⋆ B for a conv, max|f'|·B for an activation, |gamma/sigma|·B for batch norm).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness import compare as cmp
from harness import oracle
from harness import precision as prec
from harness.inputs import UNIT_ROUNDOFF, round_to_dtype
from harness.stack.model import Layer

# an activation's own error, in units of roundoff u of |y|: measured over [-9, 9] in float32, torch 2.13
# tanh / sigmoid reach 1.1 / 2.0 u|y|, XLA's CPU tanh (jax 0.10.2, a rational approximation) 4.6 u|y|
ELEMENTWISE_ULPS = 8.0
COPIES = ("reshape", "upsample", "concat", "condition")  # exact: no rounding of their own


def _rng(stack_id: str, index: int, seed: int = 0) -> np.random.Generator:
    digest = hashlib.sha256(f"{stack_id}/{index}/{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_params(stack_id: str, layers: list[Layer], dtype: str, seed: int = 0, batch: int = 1) -> list[dict[str, np.ndarray]]:
    """Seeded parameters per layer, scaled by 1/sqrt(fan-in) so magnitudes stay near 1 through depth,
    rounded to `dtype` (every framework gets the same values, exact in its dtype); a condition layer's
    values `c` (batch, features) are fixed inputs, not trained."""
    out = []
    for layer in layers:
        rng, p = _rng(stack_id, layer.index, seed), {}
        if layer.kind in ("conv", "conv_transpose"):
            case = layer.case
            fan_in = int(np.prod(case.kernel)) * (case.in_channels // case.groups)
            p["w"] = rng.standard_normal(case.w_shape) / np.sqrt(fan_in)
            if case.bias:
                p["b"] = 0.1 * rng.standard_normal(case.out_channels)
        elif layer.kind == "linear":
            p["w"] = rng.standard_normal((layer.features, layer.in_shape[0])) / np.sqrt(layer.in_shape[0])
            if layer.bias:
                p["b"] = 0.1 * rng.standard_normal(layer.features)
        elif layer.kind == "batch_norm":
            c = layer.in_shape[0]
            p = {"gamma": 1 + 0.1 * rng.standard_normal(c), "beta": 0.1 * rng.standard_normal(c),
                 "mean": 0.1 * rng.standard_normal(c), "var": rng.uniform(0.5, 1.5, c)}
        elif layer.kind == "condition":
            p["c"] = rng.standard_normal((batch, layer.features))
        out.append({k: round_to_dtype(v, dtype) for k, v in p.items()})
    return out


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape(1, -1, *([1] * (ndim - 2)))


def with_skip(layer: Layer, p: dict, outputs: list, bounds: list | None = None) -> dict:
    """A concat layer's parameters with the earlier output it appends (`skip`) and that output's
    bound (`skip_bound`); any other layer's as they are."""
    if layer.kind != "concat":
        return p
    extra = {"skip": outputs[layer.source]}
    if bounds is not None:
        extra["skip_bound"] = bounds[layer.source]
    return {**p, **extra}


def appended(layer: Layer, p: dict, x: np.ndarray) -> np.ndarray:
    """What a concat or condition layer appends to x along the channels."""
    if layer.kind == "concat":
        return p["skip"]
    c = p["c"].reshape(*p["c"].shape, *([1] * (x.ndim - 2)))
    return np.broadcast_to(c, (x.shape[0], layer.features, *x.shape[2:]))


def apply(layer: Layer, p: dict, x: np.ndarray) -> np.ndarray:
    """The layer on x (float64, channels-first); a concat's `p` carries its `skip` (with_skip)."""
    k = layer.kind
    if k in ("concat", "condition"):
        return np.concatenate([x, appended(layer, p, x)], axis=1)
    if k in ("conv", "conv_transpose", "unpool"):
        c = layer.case
        f = oracle.conv if k == "conv" else oracle.conv_transpose
        w = p["w"] if k != "unpool" else np.ones(c.w_shape)
        return f(x, w, p.get("b"), c.stride, c.dilation, c.padding, c.groups)
    if k == "relu":
        return np.maximum(x, 0)
    if k == "leaky_relu":
        return np.where(x >= 0, x, layer.slope * x)
    if k == "tanh":
        return np.tanh(x)
    if k == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if k == "batch_norm":
        scale = p["gamma"] / np.sqrt(p["var"] + layer.eps)
        return (x - _channel(p["mean"], x.ndim)) * _channel(scale, x.ndim) + _channel(p["beta"], x.ndim)
    if k == "linear":
        return x @ p["w"].T + (p["b"] if "b" in p else 0)
    if k == "reshape":
        return x.reshape(x.shape[0], *layer.out_shape)
    if k == "upsample":
        for axis, f in enumerate(layer.scale):
            x = np.repeat(x, f, axis=2 + axis)
        return x
    raise ValueError(f"unknown layer kind {k!r}")


def vjp(layer: Layer, p: dict, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(dx, {parameter: gradient}) of the layer at x for the cotangent g; a concat's `skip` entry is the
    cotangent of the earlier output it appended."""
    k = layer.kind
    if k in ("concat", "condition"):
        c = x.shape[1]
        return g[:, :c], ({"skip": g[:, c:]} if k == "concat" else {})
    if k in ("conv", "conv_transpose", "unpool"):
        c = layer.case
        if k == "unpool":
            return oracle.input_vjp(c, np.ones(c.w_shape), g), {}
        db = {"b": g.sum(axis=(0, *range(2, g.ndim)))} if "b" in p else {}
        return oracle.input_vjp(c, p["w"], g), {"w": oracle.weight_vjp(c, x, g), **db}
    if k == "relu":
        return g * (x > 0), {}
    if k == "leaky_relu":
        return g * np.where(x >= 0, 1.0, layer.slope), {}
    if k == "tanh":
        return g * (1 - np.tanh(x) ** 2), {}
    if k == "sigmoid":
        s = 1 / (1 + np.exp(-x))
        return g * s * (1 - s), {}
    if k == "batch_norm":
        sigma = np.sqrt(p["var"] + layer.eps)
        axes = (0, *range(2, x.ndim))
        xhat = (x - _channel(p["mean"], x.ndim)) / _channel(sigma, x.ndim)
        return g * _channel(p["gamma"] / sigma, x.ndim), {"gamma": (g * xhat).sum(axis=axes), "beta": g.sum(axis=axes)}
    if k == "linear":
        return g @ p["w"], {"w": g.T @ x, **({"b": g.sum(axis=0)} if "b" in p else {})}
    if k == "reshape":
        return g.reshape(x.shape), {}
    if k == "upsample":
        for axis, f in enumerate(layer.scale):
            n = g.shape[2 + axis] // f
            g = g.reshape(*g.shape[:2 + axis], n, f, *g.shape[3 + axis:]).sum(axis=3 + axis)
        return g, {}
    raise ValueError(f"unknown layer kind {k!r}")


def propagate(layer: Layer, p: dict, bound: np.ndarray) -> np.ndarray:
    """|J|·bound: how far an error of at most `bound` (elementwise) in the input can move the output."""
    k = layer.kind
    if k == "concat":
        return np.concatenate([bound, p["skip_bound"]], axis=1)
    if k == "condition":  # the condition is exact
        return np.concatenate([bound, np.zeros_like(appended(layer, p, bound))], axis=1)
    if k in ("conv", "conv_transpose", "unpool"):
        return apply(layer, {"w": np.abs(p["w"])} if "w" in p else {}, bound)
    if k == "batch_norm":
        return bound * _channel(np.abs(p["gamma"]) / np.sqrt(p["var"] + layer.eps), bound.ndim)
    if k == "linear":
        return bound @ np.abs(p["w"]).T
    if k in ("reshape", "upsample"):
        return apply(layer, p, bound)
    return bound * layer.max_slope


def local_scale(layer: Layer, p: dict, x: np.ndarray) -> np.ndarray:
    """What the layer's own rounding error scales with: |x| ⋆ |w| + |b| for a conv or linear layer,
    (|x| + |mean|)·|alpha| + |beta| for batch norm, |y| for an activation (reshape, upsample, concat and
    condition copy: 0)."""
    k = layer.kind
    if k in ("reshape", "upsample", "concat", "condition"):
        return np.zeros((x.shape[0], *layer.out_shape))
    if k in ("conv", "conv_transpose", "unpool", "linear"):
        return apply(layer, {n: np.abs(v) for n, v in p.items()}, np.abs(x))
    if k == "batch_norm":  # computed as x*alpha + (beta - mean*alpha), or (x - mean)*alpha + beta
        alpha = _channel(np.abs(p["gamma"]) / np.sqrt(p["var"] + layer.eps), x.ndim)
        return (np.abs(x) + _channel(np.abs(p["mean"]), x.ndim)) * alpha + _channel(np.abs(p["beta"]), x.ndim)
    return np.abs(apply(layer, p, x))


def reduction_length(layer: Layer) -> int:
    """K of the layer's longest sum (the gamma_K of its bound): a conv's y as a single case counts it
    (harness.compare.reduction_lengths); a linear layer's inputs (+ bias); 1 for an elementwise layer."""
    if layer.case is not None:
        return cmp.reduction_lengths(layer.case)["y"]
    if layer.kind == "linear":
        return layer.in_shape[0] + (1 if layer.bias else 0)
    return 1


def local_bound(layer: Layer, p: dict, x: np.ndarray, dtype: str) -> np.ndarray:
    """The layer's own error bound in `dtype` on input x (see `bound_from`)."""
    return bound_from(layer, np.abs(apply(layer, p, x)), local_scale(layer, p, x), dtype)


def bound_from(layer: Layer, y_abs: np.ndarray, scale: np.ndarray, dtype: str) -> np.ndarray:
    """The layer's own error bound from |y| and its scale: a sum's the single cases' contract
    (harness.precision: gamma_K of the scale, plus one final rounding of |y| in 16-bit dtypes), an
    elementwise op a few units of roundoff of |y|, a copy none."""
    if layer.kind in COPIES:
        return np.zeros_like(y_abs)
    if layer.kind in ("conv", "conv_transpose", "unpool", "linear"):
        c = prec.contract_coefficients(prec.default_contract(dtype), reduction_length(layer))
        return y_abs * c.magnitude + scale * c.scale + c.tiny
    return ELEMENTWISE_ULPS * UNIT_ROUNDOFF[dtype] * scale


def bound_near(layer: Layer, ref: StackReference, dtype: str) -> np.ndarray:
    """The layer's own bound at any input within the oracle's end-to-end bound B of its input: |y|
    and the scale there are at most the oracle's plus |J|·B (its `propagated`), so no new sum is
    needed to judge a framework's layer on the framework's own input."""
    i = layer.index
    moved = ref.propagated[i]
    return bound_from(layer, np.abs(ref.outputs[i]) + moved, ref.scales[i] + moved, dtype)


@dataclass(frozen=True)
class StackReference:
    """The oracle's stack: its input, every layer's output and end-to-end bound, and the gradients."""

    x: np.ndarray
    params: list[dict[str, np.ndarray]]
    outputs: list[np.ndarray]  # outputs[l]: the oracle's output of layer l
    bounds: list[np.ndarray]  # the end-to-end error bound of layer l's output in the dtype
    g: np.ndarray  # the cotangent at the last output
    dx: np.ndarray
    grads: list[dict[str, np.ndarray]]  # per layer: the parameters' gradients
    cotangents: list[np.ndarray]  # cotangents[l]: the cotangent at layer l's output
    input_cotangents: list[np.ndarray]  # layer l's VJP for its input (before any skip joins it)
    scales: list[np.ndarray]  # local_scale of layer l on the oracle's input
    propagated: list[np.ndarray]  # |J_l|·B_{l-1}: how far the error of its input can move its output


def forward(layers: list[Layer], params, x: np.ndarray, dtype: str) -> dict[str, list[np.ndarray]]:
    """Every layer's output, end-to-end bound, scale and propagated input bound."""
    out = {"outputs": [], "bounds": [], "scales": [], "propagated": []}
    h, b = x, np.zeros_like(x)
    for layer, p in zip(layers, params):
        p = with_skip(layer, p, out["outputs"], out["bounds"])
        moved, scale = propagate(layer, p, b), local_scale(layer, p, h)
        h = apply(layer, p, h)
        b = bound_from(layer, np.abs(h), scale, dtype) + moved
        for key, value in (("outputs", h), ("bounds", b), ("scales", scale), ("propagated", moved)):
            out[key].append(value)
    return out


def backward(layers: list[Layer], params, x: np.ndarray, outputs, g: np.ndarray) -> dict:
    """dx, every layer's parameter gradients, the cotangent at every layer's output and every layer's
    VJP for its input; a concat's skip cotangent joins its source layer's."""
    n = len(layers)
    out = {"grads": [None] * n, "cotangents": [None] * n, "input_cotangents": [None] * n}
    pending = [0.0] * n  # cotangents reaching a layer's output through a later concat
    for i in reversed(range(n)):
        g = out["cotangents"][i] = g + pending[i]
        g, grads = vjp(layers[i], params[i], outputs[i - 1] if i else x, g)
        out["input_cotangents"][i] = g
        if "skip" in grads:
            pending[layers[i].source] = pending[layers[i].source] + grads.pop("skip")
        out["grads"][i] = grads
    out["dx"] = g
    return out


def reference(stack_id: str, layers: list[Layer], batch: int, dtype: str, seed: int = 0) -> StackReference:
    """The oracle's stack on seeded inputs rounded to `dtype` (x, parameters and the cotangent)."""
    rng = _rng(stack_id, -1, seed)
    x = round_to_dtype(rng.standard_normal((batch, *layers[0].in_shape)), dtype)
    params = make_params(stack_id, layers, dtype, seed, batch)
    fwd = forward(layers, params, x, dtype)
    g = round_to_dtype(rng.standard_normal(fwd["outputs"][-1].shape), dtype)
    return StackReference(x=x, params=params, g=g, **fwd, **backward(layers, params, x, fwd["outputs"], g))
