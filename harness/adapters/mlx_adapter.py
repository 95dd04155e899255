"""MLX (mlx.core, the CPU backend here): conv{1,2,3}d / conv_transpose{1,2,3}d and conv_general, gradients
by mx.vjp of each op of the body (autodiff STEPS).

Two paths:

- ``core``: mx.conv{n}d / mx.conv_transpose{n}d with their symmetric padding (and output_padding);
  other paddings emulated with mx.pad / mx.slice around the call.
- ``conv_general``: mx.conv_general with explicit (lo, hi) padding for every case; a transposed conv as
  conv_general over the stride-dilated input with the flipped kernel (flip=True).

The vocabulary, the emulations and the program that runs and prints them are in
`harness.adapters.mlx_padding` (pure); this module executes that program with `program.run`. MLX is
lazy: the program's output steps (numpy.array of each quantity) evaluate the graph.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from harness.adapters import mlx_padding as mp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, refusals, unsupported_plan
from harness.adapters.mlx_padding import layer_program, precision, weight_from_native, weight_to_native  # noqa: F401 - hooks
from harness.identities import is_dual

LIBRARY = "mlx"
PATHS = mp.PATHS
DTYPES = ("float64", "float32", "float16", "bfloat16")
FORWARD_ONLY_RUNS = True  # run() with inputs.g None returns y alone (see base.py)


def available() -> bool:
    return installed("mlx", "mlx.core")


@lru_cache(maxsize=1)
def _mx():
    import mlx.core

    return mlx.core


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mlx")
    except metadata.PackageNotFoundError:
        return str(_mx().__version__)


def device() -> str:
    return "gpu" if _mx().default_device().type == _mx().DeviceType.gpu else "cpu"


def environment() -> dict[str, str]:
    mx = _mx()
    return {"mlx.default_device": str(mx.default_device()), "mlx.metal_available": str(mx.metal.is_available())}


def plan(case, dtype: str, path: str = "core") -> Plan:
    if refused := mp.refusal(case, dtype):
        return unsupported_plan(path, f"mlx: {refused} (mlx 0.32.4 CPU refuses this case: measured)", device())
    program, spelled = mp.program(case, dtype, path)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, device(), spelled)


def known_issue(case, dtype: str, path: str) -> str | None:
    """mlx 0.32.4's negative conv_general padding of a stride-dilated input (a transposed conv whose crop
    exceeds d*(k-1) on an axis with stride > 1): cropped before the dilation, so the output is wrong."""
    gradients = not is_dual(case)  # a conv's dual: its identity rows compare the forward alone
    if (dtype not in DTYPES or mp.refusal(case, dtype) or not mp.dilated_negative_padding(case, gradients)
            or not mp.spelling(case, path).native):
        return None
    return mp.known_issue_text(case, gradients)


# measured refusals of mlx 0.32.4's CPU backend (besides "[Convolution::eval] got unsupported data type.",
# float64 outside the explicit-GEMM path: kernel or input dilation, which the common phrases catch)
REFUSALS = ("can only handle groups != 1 in 1d or 2d convolutions",)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("mlx", extra=REFUSALS):
        return pg.run(plan.program, {"mx": _mx(), "numpy": np, "partial": partial}, inputs.as_dict())
