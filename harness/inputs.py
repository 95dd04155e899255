"""Seeded inputs for a case: x, w, b and the cotangent g, in float64 and rounded to a dtype.

The seed depends only on the case id and its `seed` field, never on the worker, the order of
execution or the framework, so every process draws the same numbers for the same case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness.case import Case

# unit roundoff and mantissa bits (without the implicit bit) per dtype
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
MANTISSA_BITS = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}
MIN_EXPONENT = {"float64": -1022, "float32": -126, "float16": -14, "bfloat16": -126}
MAX_VALUE = {"float64": np.finfo(np.float64).max, "float32": float(np.finfo(np.float32).max),
             "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


@dataclass(frozen=True)
class Inputs:
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    g: np.ndarray | None  # None: forward only (see adapters.base FORWARD_ONLY_RUNS)

    def as_dict(self) -> dict[str, np.ndarray | None]:
        return {"x": self.x, "w": self.w, "b": self.b, "g": self.g}


def case_seed(case: Case) -> int:
    digest = hashlib.sha256(f"{case.id}::{case.seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def round_to_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 values to the nearest value of `dtype` (ties to even), returned as float64."""
    if dtype == "float64":
        return np.asarray(a, dtype=np.float64)
    if dtype in ("float32", "float16"):
        return np.asarray(a).astype(dtype).astype(np.float64)
    if dtype == "bfloat16":
        bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
        return np.where(np.isnan(a), a, out)
    raise ValueError(f"unknown dtype {dtype!r}")


def _draw(rng: np.random.Generator, kind: str, shape: tuple[int, ...], scale: float) -> np.ndarray:
    if kind == "integers":
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    if kind == "zeros":
        return np.zeros(shape)
    a = rng.standard_normal(shape) * scale
    if kind == "large":
        a *= 1e3
    return a


def make_inputs(case: Case) -> Inputs:
    """float64 inputs for a case (not yet rounded to any dtype). Golden cases use their literals."""
    if case.golden and "x" in case.golden:
        gold = case.golden
        b = np.asarray(gold["b"], dtype=np.float64) if case.bias else None
        return Inputs(*(np.asarray(gold[k], dtype=np.float64) for k in ("x", "w")), b,
                      np.asarray(gold["g"], dtype=np.float64))
    rng = np.random.default_rng(case_seed(case))
    fan_in = max(1, int(np.prod(case.w_shape[1:])))
    kind = case.inputs
    x = _draw(rng, kind, case.x_shape, 1.0)
    w = _draw(rng, kind, case.w_shape, 1.0 / np.sqrt(fan_in))
    b = _draw(rng, kind, (case.out_channels,), 1.0) if case.bias else None
    g = _draw(rng, kind, case.y_shape, 1.0)
    if kind in ("with_nan", "with_inf"):
        special = np.nan if kind == "with_nan" else np.inf
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size)] = special
    return Inputs(x, w, b, g)


def inputs_for_dtype(inputs: Inputs, dtype: str) -> Inputs:
    """The same inputs rounded to `dtype` (values stay float64, exactly representable)."""
    r = lambda a: None if a is None else round_to_dtype(a, dtype)  # noqa: E731
    return Inputs(r(inputs.x), r(inputs.w), r(inputs.b), r(inputs.g))
