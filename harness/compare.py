"""Compare a framework's result with the oracle under a dtype- and reduction-aware bound.

Each element y is a sum of K products. The bound is the row's precision contract (see
`harness.precision`): gamma_{K+1}(u) * (|x| ⋆ |w|) where the dtype accumulates in itself (float32,
float64), u_out * |y_ref| + gamma_K(u_acc) * (|x| ⋆ |w|) for float16 and bfloat16 accumulating in
float32; |x| ⋆ |w| is the same operation on absolute values. The worst case in the input dtype is
reported beside it (`worst_case_ratio`) wherever it is finite. We report the error ratio
max |y - y_ref| / (u * (|x| ⋆ |w|)), comparable across dtypes and sizes, and pass when every element
is within `factor` times the contract bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from harness import precision as prec
from harness.case import Case
from harness.inputs import MANTISSA_BITS, MIN_EXPONENT, UNIT_ROUNDOFF
from harness.precision import Contract
from harness.status import Status


@dataclass
class Comparison:
    status: Status
    max_abs_error: float = math.nan
    max_rel_error: float = math.nan
    error_ratio: float = math.nan  # max |err| / (u * scale)
    bound_ratio: float = math.nan  # max |err| / contract bound: <= factor passes
    worst_case_ratio: float = math.nan  # max |err| / worst-case bound in the input dtype; NaN where infinite
    effective_bits: float = math.nan  # the accumulation precision the errors show (precision.effective_bits)
    max_ulps: float = math.nan
    worst_index: tuple[int, ...] | None = None
    worst_actual: float = math.nan
    worst_expected: float = math.nan
    worst_bound: float = math.nan
    reduction_length: int = 0
    accumulation: str = ""
    contract: str = ""
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


@dataclass(frozen=True)
class Expected:
    """The oracle's side of one comparison, computed once per (case, dtype, contract, quantity) and
    reused by every framework: the values, |x| ⋆ |w|, and what the bound, the relative error and the
    ULPs divide by.

    `finite` is False when the oracle itself holds NaN/Inf (the robustness cases): such quantities
    take the careful path, which never reuses these arrays.
    """

    values: np.ndarray
    scale: np.ndarray
    dtype: str
    k: int
    exact: bool
    bound: np.ndarray  # the contract bound (0 in the exact tier)
    magnitude: np.ndarray  # |values|
    ulp: np.ndarray  # spacing(values) in the dtype
    finite: bool
    contract: Contract | None = None
    worst: np.ndarray | None = None  # the worst-case bound in the dtype (`bound` itself when the same); None: infinite
    rounded: float = 0.0  # u_out: the final rounding's share of the bound, per unit of |values|
    rounded_scale: float = 0.0  # extra roundings' share, per unit of scale (a bias added by a second op)
    separate: bool = False  # the contract differs from the worst case (16-bit storage, wider accumulation)


def expected(values: np.ndarray, scale: np.ndarray, dtype: str, k: int, exact: bool = False,
             contract: Contract | None = None, rounded: np.ndarray | None = None) -> Expected:
    """Everything a comparison needs from the oracle alone (see `Expected`).

    `contract` defaults to the dtype's (`precision.default_contract`); `rounded` is what the final
    rounding scales with (default |values|; a dot product of rounded elements passes its scale).
    """
    contract = contract or prec.default_contract(dtype)
    finite = bool(np.isfinite(values).all() and np.isfinite(scale).all())
    magnitude = np.abs(values)
    if exact:
        c = prec.Coefficients(0.0, 0.0, 0.0)
    else:
        c = prec.contract_coefficients(contract, k)
    with np.errstate(over="ignore", invalid="ignore"):
        if not finite:
            bound = scale
        elif c.magnitude:
            bound = (magnitude if rounded is None else np.abs(rounded)) * c.magnitude
            bound += scale * c.scale
            bound += c.tiny
        else:
            bound = scale * c.scale + c.tiny
        g = prec.worst_case_gamma(dtype, k)
        separate = not exact and (bool(c.magnitude) or math.isinf(g))
        worst = bound
        if separate:
            worst = scale * g + prec.underflow(dtype, k) if math.isfinite(g) and finite else None
    return Expected(values, scale, dtype, k, exact, bound, magnitude, spacing(values, dtype), finite,
                    contract=contract, worst=worst, rounded=c.magnitude, rounded_scale=c.rounding, separate=separate)


def compare(actual, expected_values: np.ndarray, scale: np.ndarray, dtype: str, k: int, factor: float = 1.0,
            exact: bool = False, reference: Expected | None = None, contract: Contract | None = None,
            rounded: np.ndarray | None = None) -> Comparison:
    """Compare one quantity; `scale` is the abs-value operation |x| ⋆ |w| (float64).

    With `exact` (see `sums_are_exact`) the bound is 0: any difference is a mismatch. `reference`
    (from `expected`, the same values, scale, dtype, k and exact) saves recomputing the oracle's side.
    """
    if actual is None:
        return Comparison(Status.ERROR, message="the adapter returned no value", reduction_length=k)
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != expected_values.shape:
        return Comparison(
            Status.SHAPE_MISMATCH, reduction_length=k,
            message=f"shape {tuple(a.shape)} where the oracle has {tuple(expected_values.shape)}",
        )
    if a.size == 0:
        return Comparison(Status.PASS, 0.0, 0.0, 0.0, 0.0, 0.0, reduction_length=k)
    ref = reference or expected(expected_values, scale, dtype, k, exact, contract, rounded)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: handled on the careful path
        err = np.subtract(a, ref.values, out=np.empty(a.shape))  # an array even for 0-d inputs
        np.abs(err, out=err)
        total = float(err.sum())
    if ref.finite and math.isfinite(total):
        return _judge(a, err, ref, None, factor)
    return _judge_careful(a, err, ref, factor)


def compare_to(actual, ref: Expected, factor: float = 1.0) -> Comparison:
    """`compare` against a prepared `Expected` (its values, scale, dtype, k and tier)."""
    return compare(actual, ref.values, ref.scale, ref.dtype, ref.k, factor, ref.exact, ref, ref.contract)


def _judge_careful(a: np.ndarray, err: np.ndarray, ref: Expected, factor: float) -> Comparison:
    """Some value is NaN/Inf (or huge): non-finite oracle values must be reproduced exactly (NaN for
    NaN, the same infinity), a non-finite result where the oracle is finite never passes, and the
    finite elements are judged as usual."""
    values = ref.values
    finite_ref = np.isfinite(values)
    finite_both = finite_ref & np.isfinite(a)
    same_special = (np.isnan(values) & np.isnan(a)) | (np.isinf(values) & (a == values))
    judged = finite_part(ref)
    overflow = _rounds_to_infinity(a, values, judged.bound * factor, ref.dtype)
    bad = (~finite_ref & ~same_special) | (finite_ref & ~np.isfinite(a) & ~overflow)
    err[~finite_both] = 0.0
    return _judge(a, err, judged, bad, factor, shown=values)


# where round-to-nearest overflows: the largest finite value plus half its spacing
OVERFLOW = {"float16": (2 - 2**-11) * 2.0**15, "bfloat16": (2 - 2**-8) * 2.0**127, "float32": (2 - 2**-24) * 2.0**127}


def _rounds_to_infinity(a: np.ndarray, values: np.ndarray, bound: np.ndarray, dtype: str) -> np.ndarray:
    """An infinity where the oracle is finite, but a value within the bound of it overflows the dtype
    with the same sign: what rounding that value to the dtype gives (found by harness fuzz, float16
    with large inputs)."""
    limit = OVERFLOW.get(dtype)
    if limit is None:
        return np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.isinf(a) & np.isfinite(values) & (np.sign(a) == np.sign(values)) & (np.abs(values) + bound >= limit)


def finite_part(ref: Expected) -> Expected:
    """What the finite elements are judged against when the oracle holds NaN/Inf: its non-finite
    values and scales taken as 0 (the bound there is the underflow allowance alone)."""
    if ref.finite:
        return ref
    clean = np.where(np.isfinite(ref.values), ref.values, 0.0)
    scale = np.where(np.isfinite(ref.scale), ref.scale, 0.0)
    return expected(clean, scale, ref.dtype, ref.k, ref.exact, ref.contract)


def _judge(a: np.ndarray, err: np.ndarray, ref: Expected, bad: np.ndarray | None, factor: float,
           shown: np.ndarray | None = None) -> Comparison:
    """Error statistics of |a - ref| (`err`) against the bound, the worst element, and the status."""
    u = UNIT_ROUNDOFF[ref.dtype]
    # Few, reused temporaries (out=): each fresh large array costs page faults, which dominated.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio_b = np.divide(err, ref.bound, out=np.empty(a.shape))  # exact tier: inf where err > 0, else NaN
        if ref.exact:
            np.copyto(ratio_b, np.where(err > 0, np.inf, 0.0))
        if bad is not None:
            ratio_b[bad] = np.inf
        flat = int(ratio_b.argmax())
        bound_ratio = float(ratio_b.flat[flat])
        n_over = int(np.count_nonzero(ratio_b > factor)) if bound_ratio > factor else 0
        # 0/0 (no error where the reference is 0) gives NaN, which fmax.reduce skips
        max_rel = float(np.fmax.reduce(np.divide(err, ref.magnitude, out=ratio_b), axis=None))
        max_eu = float(np.fmax.reduce(np.divide(err, ref.scale, out=ratio_b), axis=None)) / u
        max_ulps = float(np.divide(err, ref.ulp, out=ratio_b).max())
        tiers = _tiers(err, ref, bound_ratio, max_eu * u, ratio_b, bad)
    return _comparison(a, ref, factor, flat, bound_ratio, n_over, float(err.max()), max_rel, max_eu, max_ulps,
                       tiers, shown=shown, bad=bad)


def _tiers(err: np.ndarray, ref: Expected, bound_ratio: float, max_over_scale: float, tmp: np.ndarray,
           bad: np.ndarray | None = None) -> tuple[float, float]:
    """(worst_case_ratio, effective_bits) of one quantity; `tmp` is scratch of err's shape.

    Where the contract is the worst case, both come from what `_judge` has already computed.
    """
    if not ref.separate:
        return bound_ratio, prec.effective_bits(max_over_scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        worst_ratio = math.nan
        if ref.worst is not None:
            np.divide(err, ref.worst, out=tmp)
            if bad is not None:
                tmp[bad] = np.inf
            worst_ratio = float(tmp.max())
        np.multiply(ref.magnitude, ref.rounded, out=tmp)  # what the final rounding explains
        np.subtract(err, tmp, out=tmp)
        np.divide(tmp, ref.scale, out=tmp)
        excess = float(np.fmax.reduce(tmp, axis=None)) - ref.rounded_scale
    return worst_ratio, prec.effective_bits(excess)


def _comparison(a: np.ndarray, ref: Expected, factor: float, flat: int, bound_ratio: float, n_over: int,
                max_abs: float, max_rel: float, max_eu: float, max_ulps: float, tiers: tuple[float, float],
                shown: np.ndarray | None = None, bad: np.ndarray | None = None) -> Comparison:
    """One quantity's statistics → its Comparison: the worst element (`flat`) and the status."""
    contract = ref.contract or prec.default_contract(ref.dtype)
    result = Comparison(
        Status.PASS, max_abs_error=max_abs, max_rel_error=0.0 if math.isnan(max_rel) else max_rel,
        error_ratio=0.0 if math.isnan(max_eu) else max_eu, bound_ratio=bound_ratio, worst_case_ratio=tiers[0],
        effective_bits=tiers[1], max_ulps=max_ulps,
        worst_index=tuple(int(i) for i in np.unravel_index(flat, a.shape)), worst_actual=float(a.flat[flat]),
        worst_expected=float((ref.values if shown is None else shown).flat[flat]),
        worst_bound=float(ref.bound.flat[flat]) * factor, reduction_length=ref.k,
        accumulation=contract.accumulation, contract=contract.label(ref.k),
    )
    if bad is not None and bad.any():
        result.status = Status.MISMATCH
        result.message = f"{int(bad.sum())} element(s) non-finite where the oracle differs (NaN/Inf)"
    elif bound_ratio > factor:
        result.status = Status.MISMATCH
        result.message = (f"{n_over} of {a.size} element(s) differ where integer inputs make every sum exact"
                          if ref.exact else f"{n_over} of {a.size} element(s) {_outside(ref, tiers, factor)}")
    return result


def contract_name(ref: Expected) -> str:
    """'float32-accumulation' (the default for 16-bit storage), or what the row's contract declares."""
    contract = ref.contract or prec.default_contract(ref.dtype)
    return f"{contract.accumulation}-accumulation"


def _outside(ref: Expected, tiers: tuple[float, float], factor: float) -> str:
    """What a mismatch is outside of: the bound, or the contract (and how the errors behave)."""
    if not ref.separate:
        return "outside the bound"
    worst_ratio, bits = tiers
    where = (f"the {ref.dtype} worst case is infinite at K={ref.k}" if ref.worst is None
             else f"inside the {ref.dtype} worst case" if worst_ratio <= factor
             else f"outside the {ref.dtype} worst case too")
    return (f"outside the {contract_name(ref)} contract ({where}): behaves like "
            f"{prec.behaves_like(bits)} accumulation (~{bits:.1f} effective bits)")


@dataclass(frozen=True)
class ExpectedSet:
    """The `Expected` of every quantity of one (case, dtype), laid end to end in flat arrays (each
    quantity's arrays are views into them), so that one item's quantities are compared in one pass:
    for small convs the per-call cost of NumPy, not the elements, is what a comparison costs."""

    parts: dict[str, Expected]
    offsets: np.ndarray  # where each quantity starts in the flat arrays
    values: np.ndarray
    scale: np.ndarray
    bound: np.ndarray
    magnitude: np.ndarray
    ulp: np.ndarray

    @property
    def batchable(self) -> bool:
        """Every quantity finite, non-empty and outside the exact tier: the one-pass path applies."""
        return all(p.finite and not p.exact and p.values.size for p in self.parts.values())


def expected_set(values: dict[str, np.ndarray], scales: dict[str, np.ndarray], dtype: str, k: dict[str, int],
                 exact: dict[str, bool], contract: Contract | None = None) -> ExpectedSet:
    """`expected` for every quantity, the arrays shared end to end (no more memory than one each)."""
    names = list(values)
    sizes = [values[q].size for q in names]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    flat_values = np.concatenate([values[q].ravel() for q in names]) if names else np.empty(0)
    flat_scale = np.concatenate([scales[q].ravel() for q in names]) if names else np.empty(0)
    parts, flats = {}, {"bound": [], "magnitude": [], "ulp": []}
    for q, start, n in zip(names, offsets, sizes):
        view = lambda flat: flat[start:start + n].reshape(values[q].shape)  # noqa: B023, E731
        part = expected(view(flat_values), view(flat_scale), dtype, k[q], exact[q],
                        contract.for_quantity(q) if contract else None)
        parts[q] = part
        for name in flats:
            flats[name].append(getattr(part, name).ravel())
    joined = {name: np.concatenate(arrays) if arrays else np.empty(0) for name, arrays in flats.items()}
    for q, start, n in zip(names, offsets, sizes):  # the parts' own arrays become views too
        view = lambda flat: flat[start:start + n].reshape(values[q].shape)  # noqa: B023, E731
        bound = view(joined["bound"])
        worst = parts[q].worst if parts[q].separate else bound
        parts[q] = replace(parts[q], bound=bound, magnitude=view(joined["magnitude"]), ulp=view(joined["ulp"]),
                           worst=worst)
    return ExpectedSet(parts, offsets, flat_values, flat_scale, **joined)


def compare_all(actuals: dict, ref: ExpectedSet, factor: float = 1.0) -> dict[str, Comparison]:
    """`compare` for every quantity of `ref` at once; the same numbers as one call per quantity."""
    arrays = {q: None if actuals.get(q) is None else np.asarray(actuals[q], dtype=np.float64) for q in ref.parts}
    if ref.batchable and all(a is not None and a.shape == ref.parts[q].values.shape for q, a in arrays.items()):
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.concatenate([a.ravel() for a in arrays.values()])
            np.subtract(err, ref.values, out=err)
            np.abs(err, out=err)
            finite = math.isfinite(float(err.sum()))
        if finite:
            return _judge_all(arrays, err, ref, factor)
    return {q: compare_to(arrays[q], p, factor) for q, p in ref.parts.items()}


def _judge_all(arrays: dict[str, np.ndarray], err: np.ndarray, ref: ExpectedSet, factor: float) -> dict:
    """`_judge` over all quantities in one pass (maxima per quantity with reduceat: order-free, exact)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.divide(err, ref.bound)
        tmp = np.empty_like(err)
        max_rel = np.fmax.reduceat(np.divide(err, ref.magnitude, out=tmp), ref.offsets)
        max_eu = np.fmax.reduceat(np.divide(err, ref.scale, out=tmp), ref.offsets)
        max_ulps = np.maximum.reduceat(np.divide(err, ref.ulp, out=tmp), ref.offsets)
        max_abs = np.maximum.reduceat(err, ref.offsets)
    out = {}
    for i, (q, part) in enumerate(ref.parts.items()):
        start, a = int(ref.offsets[i]), arrays[q]
        segment = ratio[start:start + a.size]
        flat = int(segment.argmax())
        bound_ratio = float(segment[flat])
        n_over = int(np.count_nonzero(segment > factor)) if bound_ratio > factor else 0
        tiers = _tiers(err[start:start + a.size].reshape(a.shape), part, bound_ratio, float(max_eu[i]),
                       tmp[start:start + a.size].reshape(a.shape))
        out[q] = _comparison(a, part, factor, flat, bound_ratio, n_over, float(max_abs[i]), float(max_rel[i]),
                             float(max_eu[i]) / UNIT_ROUNDOFF[part.dtype], float(max_ulps[i]), tiers)
    return out
