"""Per-layer verdicts of one framework's run of a stack against the oracle: the end-to-end error of
each layer's output (against the bound propagated through the stack) and its local error (the
oracle's layer applied to the framework's own input of that layer, against that layer's own bound);
the first layer whose local error exceeds its bound is the one to blame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.stack import reference as ref_mod
from harness.stack.model import Layer
from harness.stack.reference import StackReference


@dataclass(frozen=True)
class LayerVerdict:
    index: int
    name: str
    kind: str
    e2e_ratio: float  # max |y_fw - y_ref| / propagated bound
    local_ratio: float  # max |y_fw - layer_ref(x_fw)| / the layer's own bound at x_fw
    max_abs: float

    @property
    def local_ok(self) -> bool:
        return self.local_ratio <= 1.0


CHUNK = 1 << 15  # elements per pass: the temporaries stay in the CPU cache


def compare(got: np.ndarray, want: np.ndarray, bound: np.ndarray) -> tuple[float, float]:
    """(max |got - want| / bound, max |got - want|) in cache-sized chunks (one pass over memory).

    0/0 counts 0, an error where the bound is 0 enormous (an exact layer must be exact), a NaN
    error infinite (a framework's NaN where the oracle is finite never passes)."""
    got, want, bound = (np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in (got, want, bound))
    worst_ratio = worst_abs = 0.0
    nan = False
    err, floor = np.empty(min(CHUNK, got.size)), np.empty(min(CHUNK, got.size))
    for start in range(0, got.size, CHUNK):
        n = min(CHUNK, got.size - start)
        e, f = err[:n], floor[:n]
        np.subtract(got[start:start + n], want[start:start + n], out=e)
        np.abs(e, out=e)
        largest = float(e.max())
        nan = nan or math.isnan(largest)
        worst_abs = max(worst_abs, largest)
        np.maximum(bound[start:start + n], np.finfo(np.float64).tiny, out=f)
        worst_ratio = max(worst_ratio, float(np.divide(e, f, out=f).max()))
    return (float("inf"), float("nan")) if nan else (worst_ratio, worst_abs)


def near_bounds(layers: list[Layer], ref: StackReference, dtype: str) -> list[np.ndarray]:
    """Every layer's own bound near the oracle's input (reference.bound_near): the same for every
    framework, so computed once per (stack, dtype)."""
    return [ref_mod.bound_near(layer, ref, dtype) for layer in layers]


def verdicts(layers: list[Layer], ref: StackReference, outputs: list[np.ndarray], dtype: str,
             near: list[np.ndarray] | None = None) -> list[LayerVerdict]:
    """Every layer's end-to-end and local ratio, from a framework's per-layer `outputs` (float64).

    While every output so far is within its end-to-end bound, a layer's own bound on the framework's
    input is the oracle's widened by |J|·B (reference.bound_near: no extra sum); once one is not, the
    bound is computed on the framework's own input (reference.local_bound)."""
    out, prev, own, within = [], ref.x, [np.asarray(o, dtype=np.float64) for o in outputs], True
    near = near if near is not None else near_bounds(layers, ref, dtype)
    for layer, p, got, want, bound in zip(layers, ref.params, own, ref.outputs, ref.bounds):
        p = ref_mod.with_skip(layer, p, own)
        if got.shape != want.shape:
            raise ValueError(f"layer {layer.index} ({layer.name}): shape {got.shape} where the oracle has {want.shape}")
        own_bound = near[layer.index] if within else ref_mod.local_bound(layer, p, prev, dtype)
        e2e, max_abs = compare(got, want, bound)
        local, _ = compare(got, ref_mod.apply(layer, p, prev), own_bound)
        out.append(LayerVerdict(layer.index, layer.name, layer.kind, e2e, local, max_abs))
        within = within and out[-1].e2e_ratio <= 1.0
        prev = got
    return out


def blame(found: list[LayerVerdict], tolerance: float = 1.0) -> LayerVerdict | None:
    """The first layer whose local error exceeds its own bound (times the case's tolerance factor;
    None: every layer within)."""
    return next((v for v in found if v.local_ratio > tolerance), None)


def message(v: LayerVerdict, blamed: LayerVerdict | None, tolerance: float = 1.0) -> str:
    """Why a layer's row fails (empty when it passes)."""
    if blamed is not None and v.index == blamed.index:
        return (f"the layer to blame: on the framework's own input of this layer it is off by {v.local_ratio:.3g}x "
                "its own bound (the first layer that is)")
    if v.local_ratio > tolerance:
        return f"off by {v.local_ratio:.3g}x its own bound on its own input, after the blamed layer {blamed.index}"
    if v.e2e_ratio > tolerance:
        after = f"carries the error of layer {blamed.index} ({blamed.name})" if blamed and blamed.index < v.index else (
            "exceeds the propagated bound with no layer to blame (the first-order bound missed a growth)")
        return f"end to end {v.e2e_ratio:.3g}x the bound propagated through the stack: {after}"
    return ""
