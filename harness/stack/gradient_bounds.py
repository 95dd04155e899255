"""The error bound of a framework's gradients through a stack: for the input and every parameter.

Reverse mode carries the cotangent's error bound E (0 at the last output: the cotangent is given)
back through the layers. At layer l, with input h (the oracle's), its end-to-end bound B (the
framework's h is off by at most B) and the cotangent g at its output:

- the input cotangent's bound is |J|^T E (the error arriving), plus the layer's own rounding of its
  VJP (the single cases' contract on |J|^T |g|, gamma_K with K the VJP's sum length), plus the
  curvature term: an activation's derivative is evaluated at the framework's h, so tanh and sigmoid
  add max|f''|·B·|g|, and a ReLU whose input lies within B of 0 may take either slope (|g|, or
  (1 - slope)|g| for a leaky one); a conv, linear or batch norm layer's VJP does not depend on h;
- a parameter's gradient (bilinear in g and h) is off by at most |g|⋆B + E⋆|h| + E⋆B (computed as
  the VJP on absolute values at |h|+B, |g|+E, less the one at |h|, |g|) plus its own rounding.

First order in the forward errors (the same as the forward bound) but exact in where a ReLU may flip.
"""

from __future__ import annotations

import math

import numpy as np

from harness import compare as cmp
from harness import oracle
from harness import precision as prec
from harness.inputs import UNIT_ROUNDOFF
from harness.stack import reference as ref_mod
from harness.stack.model import ACTIVATIONS, Layer

CURVATURE = {"tanh": 4 / (3 * math.sqrt(3)), "sigmoid": 1 / (6 * math.sqrt(3))}  # max |f''|
CONV_LIKE = ("conv", "conv_transpose", "unpool")


def _derivative(layer: Layer, h: np.ndarray) -> np.ndarray:
    """|f'(h)| of an activation."""
    k = layer.kind
    if k == "relu":
        return (h > 0).astype(np.float64)
    if k == "leaky_relu":
        return np.where(h >= 0, 1.0, abs(layer.slope))
    if k == "tanh":
        return 1 - np.tanh(h) ** 2
    s = 1 / (1 + np.exp(-h))
    return s * (1 - s)


def abs_vjp(layer: Layer, p: dict, h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The VJP on absolute values (h, g >= 0): |J|^T g for the input and g ⋆ h for each parameter,
    what a VJP's sums scale with; an activation's input cotangent as |f'(h)|·g."""
    k, a = layer.kind, {n: np.abs(v) for n, v in p.items()}
    if k in CONV_LIKE or k == "linear":
        return ref_mod.vjp(layer, a, h, g)
    if k == "batch_norm":
        sigma = np.sqrt(p["var"] + layer.eps)
        axes, ch = (0, *range(2, h.ndim)), ref_mod._channel
        hat = (h + ch(a["mean"], h.ndim)) / ch(sigma, h.ndim)
        return g * ch(a["gamma"] / sigma, h.ndim), {"gamma": (g * hat).sum(axis=axes), "beta": g.sum(axis=axes)}
    if k in ("relu", "leaky_relu", "tanh", "sigmoid"):
        return g * _derivative(layer, h), {}
    return ref_mod.vjp(layer, p, h, g)  # copies (reshape, upsample, concat, condition): 0/1 entries


def _lengths(layer: Layer, h: np.ndarray) -> dict[str, int]:
    """K of each VJP sum: the input cotangent's ("dx") and each parameter gradient's."""
    if layer.case is not None:
        k = cmp.reduction_lengths(layer.case)
        return {"dx": k["dx"], "w": k["dw"], "b": k["db"]}
    n = h.shape[0]
    if layer.kind == "linear":
        return {"dx": layer.features, "w": n, "b": n}
    if layer.kind == "batch_norm":
        return {"dx": 1, "gamma": n * math.prod(h.shape[2:]), "beta": n * math.prod(h.shape[2:])}
    if layer.kind == "upsample":
        return {"dx": math.prod(layer.scale)}
    return {"dx": 1}


def _rounding(value_scale: np.ndarray, scale: np.ndarray, k: int, dtype: str, elementwise: bool) -> np.ndarray:
    """A VJP's own rounding: the contract on a sum of k terms, a few units of roundoff for a product."""
    if elementwise:
        return ref_mod.ELEMENTWISE_ULPS * UNIT_ROUNDOFF[dtype] * scale
    c = prec.contract_coefficients(prec.default_contract(dtype), k)
    return value_scale * c.magnitude + scale * c.scale + c.tiny


def _curvature(layer: Layer, h: np.ndarray, b: np.ndarray, g: np.ndarray) -> np.ndarray:
    """How far the framework's own h (within b of the oracle's) can move an activation's derivative."""
    k = layer.kind
    if k in CURVATURE:
        return CURVATURE[k] * b * np.abs(g)
    if k in ("relu", "leaky_relu"):
        jump = 1.0 if k == "relu" else abs(1 - layer.slope)
        return np.where(np.abs(h) <= b, jump * np.abs(g), 0.0)
    return 0.0


def _arrived(layer: Layer, p: dict, h: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """|J|^T e: how far the error e of the output's cotangent moves the input's (and a skip's part)."""
    k = layer.kind
    if k in ACTIVATIONS or k == "leaky_relu":
        return e * layer.max_slope, None
    if k in CONV_LIKE:
        w = np.ones(layer.case.w_shape) if k == "unpool" else np.abs(p["w"])
        return oracle.input_vjp(layer.case, w, e), None
    dx, parts = abs_vjp(layer, p, h, e)
    return dx, parts.get("skip")


def _moved(layer: Layer, p: dict, h: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    """The parameters' gradients on absolute values at h, g (no input cotangent needed)."""
    if layer.kind in ("conv", "conv_transpose"):
        db = {"b": g.sum(axis=(0, *range(2, g.ndim)))} if "b" in p else {}
        return {"w": oracle.weight_vjp(layer.case, h, g), **db}
    return abs_vjp(layer, p, h, g)[1]


def _layer_bounds(layer: Layer, p: dict, ref, dtype: str, e: np.ndarray):
    """(bound of the input cotangent, {parameter: bound of its gradient}, a skip's part) at one layer."""
    i = layer.index
    h, b = (ref.outputs[i - 1], ref.bounds[i - 1]) if i else (ref.x, np.zeros_like(ref.x))
    g = ref.cotangents[i]
    elementwise = layer.kind in ACTIVATIONS or layer.kind == "leaky_relu"
    lengths = _lengths(layer, h)
    dx_scale, scales = abs_vjp(layer, p, np.abs(h), np.abs(g))
    dx_arrived, skip = _arrived(layer, p, np.abs(h), e)
    dx_bound = (dx_arrived + _curvature(layer, h, b, g)
                + _rounding(np.abs(ref.input_cotangents[i]), dx_scale, lengths["dx"], dtype, elementwise))
    grads = {}
    if layer.params:
        moved = _moved(layer, p, np.abs(h) + b, np.abs(g) + e)
        for n in layer.params:
            own = _rounding(np.abs(ref.grads[i][n]), scales[n], lengths[n], dtype, False)
            grads[n] = (moved[n] - scales[n]) + own
    return dx_bound, grads, skip


def gradient_bounds(layers: list[Layer], ref, dtype: str) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """(bound of dx, per layer {parameter: bound of its gradient}) for a framework's gradients in `dtype`."""
    e, pending, grads = np.zeros_like(ref.g), [0.0] * len(layers), [None] * len(layers)
    for i in reversed(range(len(layers))):
        layer = layers[i]
        e = e + pending[i]
        e, grads[i], skip = _layer_bounds(layer, ref_mod.with_skip(layer, ref.params[i], ref.outputs), ref, dtype, e)
        if skip is not None:
            pending[layer.source] = pending[layer.source] + skip
    return e, grads
