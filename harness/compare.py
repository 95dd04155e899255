"""Compare a framework's result with the oracle under a dtype- and reduction-aware bound.

Each element y is a sum of K products. A correct result satisfies
|y - y_ref| <= gamma_{K+1} * (|x| ⋆ |w|) with gamma_n = n*u / (1 - n*u) (the +1 is the final
rounding of the output to the dtype), where |x| ⋆ |w| is the same operation on absolute values.
We report the error ratio max |y - y_ref| / (u * (|x| ⋆ |w|)), comparable across dtypes and sizes,
and pass when every element is within `factor` times the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.case import Case
from harness.inputs import MANTISSA_BITS, MIN_EXPONENT, UNIT_ROUNDOFF
from harness.status import Status


@dataclass
class Comparison:
    status: Status
    max_abs_error: float = math.nan
    max_rel_error: float = math.nan
    error_ratio: float = math.nan  # max |err| / (u * scale)
    bound_ratio: float = math.nan  # max |err| / (gamma_{K+1} * scale): <= factor passes
    max_ulps: float = math.nan
    worst_index: tuple[int, ...] | None = None
    worst_actual: float = math.nan
    worst_expected: float = math.nan
    worst_bound: float = math.nan
    reduction_length: int = 0
    message: str = ""

    def as_row(self) -> dict:
        d = dict(vars(self))
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        return d


def _taps(k: int, s: int, d: int) -> int:
    """Most kernel taps that land on one output pixel of a transposed conv along one axis."""
    return -(-k // (s // math.gcd(s, d)))


def reduction_lengths(case: Case) -> dict[str, int]:
    """K per quantity: the number of products summed into one element."""
    cin_g, cout_g = case.in_channels // case.groups, case.out_channels // case.groups
    k_all = math.prod(case.kernel)
    k_taps = math.prod(_taps(k, s, d) for k, s, d in zip(case.kernel, case.stride, case.dilation))
    n_out = case.batch * math.prod(case.output_size)
    n_in = case.batch * math.prod(case.input_size)
    if case.is_transpose:
        return {"y": cin_g * k_taps + case.bias, "dx": cout_g * k_all, "dw": n_in, "db": n_out}
    return {"y": cin_g * k_all + case.bias, "dx": cout_g * k_taps, "dw": n_out, "db": n_out}


def gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u) if n * u < 1 else math.inf


def spacing(ref: np.ndarray, dtype: str) -> np.ndarray:
    """Distance between adjacent `dtype` values around ref (one ULP), subnormals included."""
    # |ref| = m * 2**exponent with m in [0.5, 1); 0 for ref == 0 (int32). The mantissas are dropped at
    # once: a second large live temporary makes the next allocations fault in fresh pages (~5x slower)
    exponent = np.asarray(np.frexp(ref)[1])
    exponent -= 1
    np.maximum(exponent, MIN_EXPONENT[dtype], out=exponent)
    exponent[ref == 0] = MIN_EXPONENT[dtype]
    exponent -= MANTISSA_BITS[dtype]  # int32 throughout: ldexp with int64 exponents is ~9x slower
    return np.ldexp(1.0, exponent)


def sums_are_exact(inputs_kind: str, scale: np.ndarray, dtype: str) -> bool:
    """Whether every partial sum of this quantity is exactly representable in `dtype`.

    With integer inputs each product is an integer, and every partial sum is bounded by the sum of
    absolute values, `scale` (|x| ⋆ |w| + |b|). When that is at most 2**p (p = significand bits), every
    partial sum is an exactly representable integer, so any summation order gives the exact result:
    a framework must then agree bit for bit (the exact tier).
    """
    if inputs_kind != "integers" or scale.size == 0:
        return False
    return bool(np.all(np.isfinite(scale))) and float(scale.max()) <= 2.0 ** (MANTISSA_BITS[dtype] + 1)


def compare(actual, expected: np.ndarray, scale: np.ndarray, dtype: str, k: int, factor: float = 1.0,
            exact: bool = False) -> Comparison:
    """Compare one quantity; `scale` is the abs-value operation |x| ⋆ |w| (float64).

    With `exact` (see `sums_are_exact`) the bound is 0: any difference is a mismatch.
    """
    if actual is None:
        return Comparison(Status.ERROR, message="the adapter returned no value", reduction_length=k)
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != expected.shape:
        return Comparison(
            Status.SHAPE_MISMATCH, reduction_length=k,
            message=f"shape {tuple(a.shape)} where the oracle has {tuple(expected.shape)}",
        )
    if a.size == 0:
        return Comparison(Status.PASS, 0.0, 0.0, 0.0, 0.0, 0.0, reduction_length=k)
    u = UNIT_ROUNDOFF[dtype]
    # Few, reused temporaries (out=): each fresh large array costs page faults, which dominated.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: handled below
        err = np.subtract(a, expected, out=np.empty(a.shape))  # an array even for 0-d inputs
        np.abs(err, out=err)
        total = float(err.sum())
    bad = None
    ref = expected
    if not math.isfinite(total):  # some value is NaN/Inf (or huge): the careful path
        finite_ref = np.isfinite(expected)
        finite_both = finite_ref & np.isfinite(a)
        # non-finite oracle values must be reproduced exactly (NaN for NaN, the same infinity)
        same_special = (np.isnan(expected) & np.isnan(a)) | (np.isinf(expected) & (a == expected))
        bad = (~finite_ref & ~same_special) | (finite_ref & ~np.isfinite(a))
        err[~finite_both] = 0.0
        ref = np.where(finite_ref, expected, 0.0)
        scale = np.where(np.isfinite(scale), scale, 0.0)
    tiny = math.ldexp(1.0, MIN_EXPONENT[dtype] - MANTISSA_BITS[dtype]) * (k + 1)
    g = 0.0 if exact else gamma(k + 1, u)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if exact:
            ratio_b = np.where(err > 0, np.inf, 0.0)
        else:
            ratio_b = np.multiply(scale, g, out=np.empty(a.shape))  # the bound, then err / bound in place
            ratio_b += tiny
            np.divide(err, ratio_b, out=ratio_b)
        if bad is not None:
            ratio_b[bad] = np.inf
        flat = int(ratio_b.argmax())
        bound_ratio = float(ratio_b.flat[flat])
        n_over = int(np.count_nonzero(ratio_b > factor)) if bound_ratio > factor else 0
        # 0/0 (no error where the reference is 0) gives NaN, which fmax.reduce skips
        tmp = np.abs(ref, out=ratio_b)
        max_rel = float(np.fmax.reduce(np.divide(err, tmp, out=tmp), axis=None))
        max_eu = float(np.fmax.reduce(np.divide(err, scale, out=tmp), axis=None)) / u
        ulps = np.asarray(spacing(ref, dtype))
        max_ulps = float(np.divide(err, ulps, out=ulps).max())
    worst = np.unravel_index(flat, a.shape)
    worst_bound = 0.0 if exact else g * float(scale.flat[flat]) + tiny
    result = Comparison(
        Status.PASS,
        max_abs_error=float(err.max()),
        max_rel_error=0.0 if math.isnan(max_rel) else max_rel,
        error_ratio=0.0 if math.isnan(max_eu) else max_eu,
        bound_ratio=bound_ratio,
        max_ulps=max_ulps,
        worst_index=tuple(int(i) for i in worst),
        worst_actual=float(a.flat[flat]),
        worst_expected=float(expected.flat[flat]),
        worst_bound=worst_bound * factor,
        reduction_length=k,
    )
    if bad is not None and bad.any():
        result.status = Status.MISMATCH
        result.message = f"{int(bad.sum())} element(s) non-finite where the oracle differs (NaN/Inf)"
    elif result.bound_ratio > factor:
        result.status = Status.MISMATCH
        result.message = (f"{n_over} of {a.size} element(s) differ where integer inputs make every sum exact"
                          if exact else f"{n_over} of {a.size} element(s) outside the bound")
    return result
