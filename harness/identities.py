"""Identities every framework must satisfy on its own, whatever the other frameworks say.

For a case C and its dual D (conv ↔ conv_transpose with the same stride, dilation, groups and
padding, channels exchanged, the same weight array):

- `adjoint`:            <C(x), g> = <x, D(g)>
- `transpose_is_grad`:  D(g) equals the VJP of C with respect to x for the cotangent g

Both use the framework's own outputs only (the oracle supplies the error scale), so they catch an
adapter or a framework whose conv and conv_transpose disagree even when no oracle is trusted.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from harness import compare as cmp
from harness import translate
from harness.case import Case
from harness.inputs import Inputs
from harness.status import Status

IDENTITIES = ("adjoint", "transpose_is_grad")
DUAL = "~dual"  # the suffix of a dual case's id


def is_dual(case: Case) -> bool:
    """Whether `case` is another case's dual (`dual_case`): only its forward counts (the identities
    compare D(g) alone), so a bug of its gradients alone fails no row."""
    return case.id.endswith(DUAL)


def dual_case(case: Case) -> Case:
    """The op whose adjoint `case` is, mapping the output size back to the input size."""
    if case.is_transpose:
        pads = case.padding  # conv with the same padding maps the output back to the input
        # the conv ignores trailing pixels that cannot start a window; that is the correct adjoint
        op = "conv"
    else:
        pads = tuple(
            translate.conv_vjp_input_crop(i, k, s, d, lo, hi)
            for i, k, s, d, (lo, hi) in zip(case.input_size, case.kernel, case.stride, case.dilation, case.padding)
        )
        op = "conv_transpose"
    return replace(
        case, id=f"{case.id}{DUAL}", op=op, in_channels=case.out_channels, out_channels=case.in_channels,
        input_size=case.output_size, padding=pads, bias=False, padding_word=None, cover_all=False,
        output_padding=None, output_shape=None, golden=None,
    )


def dual_inputs(inputs: Inputs, forward_only: bool = False) -> Inputs:
    """D runs on the cotangent g with the same weights; its own cotangent is x (none when only its
    forward is needed: the identities compare D(g) alone)."""
    return Inputs(inputs.g, inputs.w, None, None if forward_only else inputs.x)


def identity_comparisons(case: Case, dtype: str, inputs: Inputs, got: dict, got_dual: dict,
                         ref_scales: dict, reduction: dict, contract=None) -> dict[str, cmp.Comparison]:
    """Compare the framework's C and D outputs with each other, under the item's precision contract."""
    y = np.asarray(got["y"], dtype=np.float64)
    if inputs.b is not None:
        y = y - inputs.b.reshape(1, -1, *([1] * case.ndim))
    d_of_g = np.asarray(got_dual["y"], dtype=np.float64)
    for name, have, want, of in (("C(x)", y, inputs.g, "g"), ("D(g)", d_of_g, inputs.x, "x")):
        if have.shape != want.shape:
            bad = cmp.Comparison(Status.SHAPE_MISMATCH, message=f"{name} has shape {have.shape}, {of} has {want.shape}")
            return {"adjoint": bad, "transpose_is_grad": bad}
    if not all(np.isfinite(a).all() for a in (inputs.x, inputs.w, inputs.g, inputs.b) if a is not None):
        adjoint = cmp.Comparison(Status.UNSUPPORTED, message="the adjoint identity needs finite inputs: with "
                                 "NaN/Inf its two sums are inf - inf in any order (found by harness fuzz)")
    else:
        adjoint = _adjoint(case, dtype, inputs, y, d_of_g, ref_scales, reduction, contract)
    if "dx" not in got:
        return {"adjoint": adjoint,
                "transpose_is_grad": cmp.Comparison(Status.UNSUPPORTED, message="no gradients to compare with")}
    grad = cmp.compare(d_of_g, np.asarray(got["dx"], dtype=np.float64), ref_scales["dx"], dtype,
                       reduction["dx"], 2.0 * case.tolerance, contract=contract and contract.for_quantity("dx"))
    return {"adjoint": adjoint, "transpose_is_grad": grad}


def _adjoint(case: Case, dtype: str, inputs: Inputs, y, d_of_g, ref_scales: dict, reduction: dict,
             contract) -> cmp.Comparison:
    """<C(x), g> against <x, D(g)>, under a bound for the rounding of both."""
    lhs = float(np.vdot(y, inputs.g))
    rhs = float(np.vdot(inputs.x, d_of_g))
    scale = float(np.vdot(np.abs(inputs.x), ref_scales["dx"]))
    k_dot = reduction["dx"] + math.prod(inputs.x.shape)
    # both sides carry rounding error; the bound covers each, hence the factor 2. The dot products are
    # float64 sums of rounded elements, so the final rounding's share is u_out * scale, not * |<C(x), g>|
    return cmp.compare(np.array(rhs), np.array(lhs), np.array(scale), dtype, k_dot, 2.0 * case.tolerance,
                       contract=contract, rounded=np.array(scale))
