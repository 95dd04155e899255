"""NumPy: the oracle's second formulation, as if it were one more framework.

Transposed convolutions (forward, and the input-gradient of conv) use the textbook formulation
(zero insertion, padding, flipped kernel) instead of the oracle's scatter, in float64; results are
rounded to the case's dtype like any framework's output. A row that fails here is an oracle bug.
"""

from __future__ import annotations

import numpy as np

from harness import oracle, translate
from harness.adapters.base import NATIVE, Plan, fmt_call
from harness.inputs import round_to_dtype

LIBRARY = "numpy"
PATHS = ("textbook",)


def available() -> bool:
    return True


def version() -> str:
    return np.__version__


def environment() -> dict[str, str]:
    return {}


def plan(case, dtype: str, path: str = "textbook") -> Plan:
    func = "oracle.conv_transpose_textbook" if case.is_transpose else "oracle.conv"
    call = fmt_call(func, "x", "w", "b", stride=case.stride, dilation=case.dilation,
                    pads=case.padding, groups=case.groups)
    return Plan("numpy", path, NATIVE, call)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    x, w, b, g = inputs.x, inputs.w, inputs.b, inputs.g
    s, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    spatial = tuple(range(2, 2 + case.ndim))
    if case.is_transpose:
        y = oracle.conv_transpose_textbook(x, w, b, s, d, p, groups)
        dx = oracle.conv(g, w, None, s, d, p, groups)
        dw = oracle.conv_weight_grad(g, x, case.kernel, s, d, p, groups)
    else:
        y = oracle.conv(x, w, b, s, d, p, groups)
        crops = tuple(translate.conv_vjp_input_crop(i, k, ss, dd, lo, hi) for i, k, ss, dd, (lo, hi)
                      in zip(case.input_size, case.kernel, s, d, p))
        dx = oracle.conv_transpose_textbook(g, w, None, s, d, crops, groups)
        dw = oracle.conv_weight_grad(x, g, case.kernel, s, d, p, groups)
    out = {"y": y, "dx": dx, "dw": dw}
    if b is not None:
        out["db"] = g.sum(axis=(0, *spatial))
    return {k: round_to_dtype(v, dtype) for k, v in out.items()}
