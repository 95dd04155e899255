"""NumPy: the oracle's second formulation, as if it were one more framework.

Transposed convolutions (forward, and the input-gradient of conv) use the textbook formulation
(zero insertion, padding, flipped kernel) instead of the oracle's scatter, in float64; results are
rounded to the case's dtype like any framework's output. A row that fails here is an oracle bug.
Its program calls the harness's own functions: there is no framework to reproduce a bug in.
"""

from __future__ import annotations

import numpy as np

from harness import inputs as harness_inputs
from harness import oracle, translate
from harness.adapters import program as pg
from harness.adapters.base import NATIVE, Plan
from harness.adapters.program import Ref

LIBRARY = "numpy"
PATHS = ("textbook",)
DTYPES = ("float64", "float32", "float16", "bfloat16")
MODULES = {"oracle": oracle, "inputs": harness_inputs}


def available() -> bool:
    return True


def version() -> str:
    return np.__version__


def environment() -> dict[str, str]:
    return {}


def _steps(case) -> tuple[tuple, tuple]:
    s, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    X, W, G = Ref("x"), Ref("w"), Ref("g")
    b = Ref("b") if case.bias else None
    if case.is_transpose:
        body = (pg.call("y", "oracle.conv_transpose_textbook", X, W, b, s, d, p, groups),)
        grads = [pg.call("dx", "oracle.conv", G, W, None, s, d, p, groups),
                 pg.call("dw", "oracle.conv_weight_grad", G, X, case.kernel, s, d, p, groups)]
    else:
        body = (pg.call("y", "oracle.conv", X, W, b, s, d, p, groups),)
        crops = tuple(translate.conv_vjp_input_crop(i, k, ss, dd, lo, hi) for i, k, ss, dd, (lo, hi)
                      in zip(case.input_size, case.kernel, s, d, p))
        grads = [pg.call("dx", "oracle.conv_transpose_textbook", G, W, None, s, d, crops, groups),
                 pg.call("dw", "oracle.conv_weight_grad", X, G, case.kernel, s, d, p, groups)]
    if case.bias:
        grads.append(pg.call("db", "g.sum", axis=(0, *range(2, 2 + case.ndim))))
    return body, tuple(grads)


def plan(case, dtype: str, path: str = "textbook") -> Plan:
    body, grads = _steps(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    outputs = tuple((q, (pg.call(q, "inputs.round_to_dtype", Ref(q), dtype),))
                    for q in ("y", "dx", "dw", "db")[:len(leaves) + 1])
    program = pg.Program(imports=(("oracle", "harness.oracle"), ("inputs", "harness.inputs")), setup=(),
                         body=body, leaves=leaves, gradient=grads, outputs=outputs)
    return Plan(path, NATIVE, program)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    return pg.run(plan.program, MODULES, inputs.as_dict())
