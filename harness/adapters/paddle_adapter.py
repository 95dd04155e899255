"""PaddlePaddle: paddle.nn.functional.conv{1,2,3}d and conv{1,2,3}d_transpose in dygraph, gradients
by paddle.grad with the seeded cotangent.

Paddle lives in its own tox environment (tox -e paddle: paddlepaddle 3.3.1, CPU wheel); in the main
environment `available()` is False (no `paddle` package) and every row is `skipped`. The spelling
(native padding pairs, output_padding / output_size, the SAME / VALID words where Paddle's rule gives
the case, or an emulation) and the program that runs and prints it are in
`harness.adapters.paddle_padding` (pure); this module executes that program.

Paddle's CPU convolutions have float64 and float32 kernels only: float16 / bfloat16 rows are
`unsupported` with Paddle's own message ("... of kernel `conv2d` is not registered"). The CPU kernels
do not go through oneDNN by default (FLAGS_use_mkldnn / FLAGS_use_onednn False in 3.3.1, measured;
turning FLAGS_use_mkldnn on gave the same float32 bits on a 3x3 conv): environment() records both.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from harness.adapters import paddle_padding as ppd
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, quiet_import, refusals
from harness.adapters.paddle_padding import layer_program, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "paddlepaddle"
PATHS = ("functional",)
DTYPES = ("float64", "float32", "float16", "bfloat16")
# Paddle's words for a kernel it lacks (measured, 3.3.1 CPU: float16 / bfloat16 convolutions)
REFUSAL_PHRASES = ("is not registered",)


def available() -> bool:
    return installed("paddle")


@lru_cache(maxsize=1)
def _paddle():
    import warnings

    with warnings.catch_warnings():  # paddle's import warns that ccache (for C++ extensions) is missing
        warnings.filterwarnings("ignore", message="No ccache found")
        return quiet_import("paddle")


def version() -> str:
    return _paddle().__version__


def environment() -> dict[str, str]:
    paddle = _paddle()
    flags = paddle.get_flags(["FLAGS_use_mkldnn", "FLAGS_use_onednn", "FLAGS_use_accuracy_compatible_kernel"])
    return {
        "paddle.device": paddle.device.get_device(),
        "paddle.onednn_compiled": str(paddle.base.core.is_compiled_with_onednn()),
        **{f"paddle.{name.removeprefix('FLAGS_')}": str(value) for name, value in flags.items()},
        "paddle.omp_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def plan(case, dtype: str, path: str = "functional") -> Plan:
    program, spelled = ppd.program(case, dtype)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


def _message(exc: BaseException) -> str:
    """Paddle's error text: its first line that says what happened (its C++ errors start with a
    traceback banner)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    said = [line for line in lines if "(NotFound)" in line or "(InvalidArgument)" in line]
    return (said or lines or [type(exc).__name__])[0]


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("paddle", REFUSAL_PHRASES, message=_message):
        return pg.run(plan.program, {"paddle": _paddle(), "numpy": np}, inputs.as_dict())
