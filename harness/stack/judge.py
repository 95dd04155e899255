"""Per-layer verdicts of one framework's run of a stack against the oracle: the end-to-end error of
each layer's output (against the bound propagated through the stack) and its local error (the
oracle's layer applied to the framework's own input of that layer, against that layer's own bound);
the first layer whose local error exceeds its bound is the one to blame."""

from __future__ import annotations

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


def _ratio(err: np.ndarray, bound: np.ndarray) -> float:
    """max err / bound; 0/0 is 0, err/0 infinite (an exact layer must be exact)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(err == 0, 0.0, err / bound)
    return float(np.nanmax(r)) if r.size else 0.0


def verdicts(layers: list[Layer], ref: StackReference, outputs: list[np.ndarray], dtype: str) -> list[LayerVerdict]:
    """Every layer's end-to-end and local ratio, from a framework's per-layer `outputs` (float64)."""
    out, prev, own = [], ref.x, [np.asarray(o, dtype=np.float64) for o in outputs]
    for layer, p, got, want, bound in zip(layers, ref.params, own, ref.outputs, ref.bounds):
        p = ref_mod.with_skip(layer, p, own)
        if got.shape != want.shape:
            raise ValueError(f"layer {layer.index} ({layer.name}): shape {got.shape} where the oracle has {want.shape}")
        local_ref = ref_mod.apply(layer, p, prev)
        local = _ratio(np.abs(got - local_ref), ref_mod.local_bound(layer, p, prev, dtype))
        out.append(LayerVerdict(layer.index, layer.name, layer.kind, _ratio(np.abs(got - want), bound), local,
                                float(np.abs(got - want).max())))
        prev = got
    return out


def blame(found: list[LayerVerdict]) -> LayerVerdict | None:
    """The first layer whose local error exceeds its own bound (None: every layer within)."""
    return next((v for v in found if not v.local_ok), None)
