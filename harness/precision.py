"""The precision contract: how a (framework, path, dtype, device) stores and accumulates, and the
two bounds every comparison reports.

An element is a sum of K products. In the *worst case in the input dtype* (every product and every
partial sum rounded to it) a correct result satisfies |y - y_ref| <= gamma_{K+1}(u) * (|x| ⋆ |w|),
which is infinite once (K+1)*u >= 1: bfloat16 from K = 255, float16 from K = 2047. What frameworks
do for float16 and bfloat16 is accumulate in float32 and round once at the end (products of two
16-bit values are exact in float32), so the *contract* for them is

    |y - y_ref| <= u_out * |y_ref| + (1 + u_out) * gamma_K(u_acc) * (|x| ⋆ |w|)

(the inputs are rounded before the oracle runs, so their quantisation is not error). The contract
decides; the worst case is reported beside it wherever it is finite. Where the storage dtype is the
accumulation dtype (float32, float64) the two are the same bound. TF32 (float32 on GPUs, only when a
run allows it) rounds the inputs of each product to 11 significant bits and accumulates in float32.
A path that rounds y to storage more than once on the way (a bias added by a separate op) declares
`y_roundings`; each extra rounding of an intermediate bounded by |x| ⋆ |w| adds u_out times it.

Where gamma_K(u_acc) itself is infinite (a declared float16 accumulation past K = 2047) the
contract uses the probabilistic bound of Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019),
gamma~_K(lambda) = exp(lambda * sqrt(K) * u + K * u^2 / (1 - u)) - 1, which fails with probability
at most 2K * exp(-lambda^2 (1 - u)^2 / 2) per element (lambda = 8: below 1e-9 for K < 10^4).
No row is ever judged against an infinite bound.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "tf32": 2.0**-11, "float16": 2.0**-11,
                 "bfloat16": 2.0**-8}
# exponent of the smallest normal and stored mantissa bits: the smallest subnormal is 2**(e - m)
_SUBNORMAL = {"float64": 2.0**-1074, "float32": 2.0**-149, "tf32": 2.0**-149, "float16": 2.0**-24,
              "bfloat16": 2.0**-133}
SIGNIFICANT_BITS = {"float64": 53, "float32": 24, "tf32": 11, "float16": 11, "bfloat16": 8}
LOW_PRECISION = ("float16", "bfloat16")
ACCUMULATIONS = ("float64", "float32", "tf32", "float16", "bfloat16")
LAMBDA = 8.0  # confidence of the probabilistic fallback (see the module docstring)
TF32_ENV = "HARNESS_ALLOW_TF32"  # "1": float32 on GPUs may use TF32 (`--allow-tf32`); off by default
DEFAULT_SOURCE = "the default contract: 16-bit inputs accumulate in float32 and round once"


@dataclass(frozen=True)
class Contract:
    """How one quantity is computed: stored in `storage`, summed in `accumulation`."""

    storage: str
    accumulation: str
    source: str = ""  # where the accumulation comes from: the default, an adapter's documentation, a case
    y_roundings: int = 1  # roundings of y to `storage` on the way (a bias added by a separate op: 2)
    # documented per-quantity accumulations: (quantity, accumulation, source), e.g. JAX's db
    overrides: tuple[tuple[str, str, str], ...] = ()
    # measured, undocumented departures: (quantity, Deviation)
    deviations: tuple[tuple[str, Deviation], ...] = ()

    def for_quantity(self, quantity: str) -> Contract:
        """The contract of one quantity: its documented override, else this one (y alone keeps
        `y_roundings`: the gradients are single ops)."""
        for q, accumulation, source in self.overrides:
            if q == quantity:
                return Contract(self.storage, accumulation, source)
        if quantity == "y" or self.y_roundings == 1:
            return replace(self, overrides=(), deviations=())
        return replace(self, y_roundings=1, overrides=(), deviations=())

    def deviation(self, quantity: str) -> Deviation | None:
        return dict(self.deviations).get(quantity)


    @property
    def separate(self) -> bool:
        """Whether accumulation and storage differ (otherwise the contract is the worst case)."""
        return self.accumulation != self.storage

    def label(self, k: int | None = None) -> str:
        """What a row shows: 'float32 accumulation, one rounding to bfloat16 (worst case infinite at K=2049)'."""
        if not self.separate:
            text = f"{self.accumulation} accumulation in {self.storage} storage (the worst-case bound)"
            if k is not None and math.isinf(worst_case_gamma(self.storage, k)):
                text += f"; infinite at K={k}: the probabilistic bound (lambda={LAMBDA:g}) instead"
        else:
            times = {1: "once", 2: "twice"}.get(self.y_roundings, f"{self.y_roundings} times")
            text = f"{self.accumulation} accumulation, rounded to {self.storage} {times}"
            if k is not None and math.isinf(worst_case_gamma(self.storage, k)):
                text += f"; the {self.storage} worst case is infinite at K={k}"
            if k is not None and math.isinf(gamma(k, UNIT_ROUNDOFF[self.accumulation])):
                text += f"; probabilistic bound (lambda={LAMBDA:g}): gamma_K({self.accumulation}) is infinite"
        return text


@dataclass(frozen=True)
class Deviation:
    """A known failure of the contract in one quantity: the errors fit `accumulation` (measured), not
    the contract. Such a row is a mismatch expected for `reason` (a per-quantity xfail); it is
    unexpected when it fails even the deviation's bound (a wrong result, not an imprecise one). A row
    meeting the contract is not a failure: which rows deviate depends on the kernel the framework
    picks by shape (measured: torch float16 dw deviates at K = 32 and not at K = 2048). Strictness is
    per deviation instead: each has a witness case where it must show (tests/test_precision.py)."""

    accumulation: str
    reason: str


def declared(case, dtype: str, separate_bias: str = "", overrides: tuple = (), deviations: tuple = ()) -> Contract | None:
    """An adapter's contract for a 16-bit dtype: the default, with y rounded twice when the bias is
    added by a second op (`separate_bias` says which), documented per-quantity `overrides` and
    measured `deviations` ((quantity, Deviation) each); None where that is the
    default contract itself (no bias, nothing declared, or a dtype accumulating in itself)."""
    if dtype not in LOW_PRECISION:
        return None
    twice = bool(separate_bias) and case.bias
    if not (twice or overrides or deviations):
        return None
    source = f"{DEFAULT_SOURCE}; y twice: {separate_bias}" if twice else DEFAULT_SOURCE
    return Contract(dtype, "float32", source, 2 if twice else 1, tuple(overrides), tuple(deviations))


def tf32_allowed() -> bool:
    return os.environ.get(TF32_ENV, "") == "1"


def default_contract(dtype: str, device: str = "cpu", allow_tf32: bool | None = None) -> Contract:
    """float16/bfloat16 accumulate in float32; float32 on a GPU in TF32 only when the run allows it."""
    if dtype in LOW_PRECISION:
        return Contract(dtype, "float32", DEFAULT_SOURCE)
    allow = tf32_allowed() if allow_tf32 is None else allow_tf32
    if dtype == "float32" and allow and device != "cpu":
        return Contract(dtype, "tf32", "--allow-tf32: float32 products from inputs rounded to TF32 (11 bits)")
    return Contract(dtype, dtype)


def gamma(n: int, u: float) -> float:
    """gamma_n = n*u / (1 - n*u): the worst-case relative error of a sum of n rounded terms."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


def probabilistic_gamma(n: int, u: float, lam: float = LAMBDA) -> float:
    return math.expm1(lam * math.sqrt(n) * u + n * u * u / (1 - u))


def worst_case_gamma(dtype: str, k: int) -> float:
    """The worst case in the input dtype: K products and the final rounding, gamma_{K+1}."""
    return gamma(k + 1, UNIT_ROUNDOFF[dtype])


def underflow(dtype: str, k: int) -> float:
    """The smallest subnormal, k + 1 times: what an exactly-zero scale still allows (underflow)."""
    return _SUBNORMAL[dtype] * (k + 1)


@dataclass(frozen=True)
class Coefficients:
    """bound = magnitude * |y_ref| + scale * (|x| ⋆ |w|) + tiny, elementwise."""

    magnitude: float
    scale: float
    tiny: float
    rounding: float = 0.0  # the part of `scale` from extra roundings of y (not accumulation error)


def contract_coefficients(contract: Contract, k: int) -> Coefficients:
    """The contract bound's coefficients for a sum of k products (see the module docstring)."""
    if not contract.separate:
        worst = worst_case_gamma(contract.storage, k)
        if math.isinf(worst):
            worst = probabilistic_gamma(k + 1, UNIT_ROUNDOFF[contract.storage])
        return Coefficients(0.0, worst, underflow(contract.storage, k))
    u_out, u_acc = UNIT_ROUNDOFF[contract.storage], UNIT_ROUNDOFF[contract.accumulation]
    product = 0.0
    if contract.accumulation == "tf32":  # each input rounded to 11 bits, the sum in float32
        product, u_acc = 2 * u_acc + u_acc * u_acc, UNIT_ROUNDOFF["float32"]
    acc = gamma(k, u_acc)
    if math.isinf(acc):
        acc = probabilistic_gamma(k, u_acc)
    summed = product + (1 + product) * acc
    r = contract.y_roundings
    grow = (1 + u_out) ** r
    rounding = (r - 1) * u_out * grow * (1 + summed)
    tiny = r * _SUBNORMAL[contract.storage] / 2 + underflow(contract.accumulation, k)
    return Coefficients(u_out, grow * summed + rounding, tiny, rounding)


def effective_bits(max_excess_over_scale: float) -> float:
    """Effective accumulation precision in significant bits from max((|err| - u_out|y_ref|)+ / scale).

    A sum of random-sign terms accumulated with unit roundoff u errs by about u * (|x| ⋆ |w|)
    whatever K (the partial sums grow like sqrt(k), their roundings add up like sqrt(K)), so this
    ratio estimates the accumulator's u: float32 accumulation gives ~24 bits or more (inf when the
    final rounding explains every error), float16 ~9-11, bfloat16 ~6-8.
    """
    if not max_excess_over_scale > 0:
        return math.inf
    return -math.log2(max_excess_over_scale)


def behaves_like(bits: float) -> str:
    """The standard accumulator nearest to an effective precision (see `effective_bits`)."""
    # measured with tests/data/accumulating_adapter.py on cases/precision: in-order float16 sums show
    # 8.5-10.5 bits, bfloat16 sums 5.4-7.6, float32 sums rounded once 24 or more
    if bits >= 20:
        return "float32"
    if bits >= 8:
        return "float16"
    if bits >= 5:
        return "bfloat16"
    return "coarser than bfloat16"
