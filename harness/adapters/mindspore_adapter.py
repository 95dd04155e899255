"""MindSpore 2.10 (CPU): the conv primitives ops.Conv2D / Conv3D and ops.Conv2DTranspose (which is
Conv2DBackpropInput) / Conv3DTranspose in PyNative mode, 1D on a unit axis of the 2D ones, gradients
by mindspore.grad with the seeded cotangent as sens, stage by stage.

MindSpore (~1.5 GB) lives in its own tox environment (tox -e mindspore); in the main environment
`available()` is False (no mindspore package: found without importing it) and every row is
`skipped`. The vocabulary, the emulations and the program that runs and prints them are in
`harness.adapters.mindspore_padding` (pure); this module executes that program.

There is no `mint` path: in 2.10.0 on CPU, mint.nn.functional.conv_transpose2d and conv2d have no
CPU kernel ("The kernel ConvTranspose2D unregistered", "The kernel Conv2DExt unregistered") and
mint's conv1d / conv3d raise "only supports Ascend" (measured), so every row of it would be
unsupported.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from harness.adapters import mindspore_padding as mp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, refusals
from harness.adapters.mindspore_padding import layer_program, precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "mindspore"
PATHS = ("ops",)
DTYPES = ("float64", "float32", "float16", "bfloat16")  # float64 and bfloat16: refused by MindSpore itself
# MindSpore's refusals beyond base.REFUSALS, measured (2.10.0 CPU): the primitives' dtype check,
# "For primitive[Conv2D], the input argument[w] must be a type of {Tensor[BFloat16], Tensor[Float16],
# Tensor[Float32], ...}, but got Tensor[Float64]." (bfloat16's "Select CPU operator[Conv2D] fail!
# Unsupported data type!" is a common one), and Conv3DTranspose's depth dilation.
REFUSALS = ("must be a type of", "the depth of parameter 'dilation' must be 1")


def available() -> bool:
    """MindSpore is installed here (find_spec: never imports it). Never raises."""
    return installed("mindspore")


@lru_cache(maxsize=1)
def _mindspore():
    import mindspore

    mindspore.set_context(mode=mindspore.PYNATIVE_MODE)
    mindspore.set_device("CPU")
    return mindspore


def version() -> str:
    return _mindspore().__version__


def environment() -> dict[str, str]:
    ms = _mindspore()
    return {
        "mindspore.mode": "PYNATIVE" if ms.get_context("mode") == ms.PYNATIVE_MODE else "GRAPH",
        "mindspore.device": str(ms.get_context("device_target")),
        "mindspore.numpy": np.__version__,
        "mindspore.omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
    }


def plan(case, dtype: str, path: str = "ops") -> Plan:
    program, spelled = mp.program(case, dtype)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


def message(exc: BaseException) -> str:
    """MindSpore's own words: its kernel-selection errors open with rules of dashes and a heading
    ("- Kernel select failed:"); the lines before its node dump and C++ stack say what failed."""
    kept = []
    for line in str(exc).splitlines():
        text = line.strip()
        if text.startswith(("node:", "- C++ Call Stack")):
            break
        if text and not set(text) <= {"-"} and not text.startswith("- "):
            kept.append(text)
    return " ".join(kept)[:400] or type(exc).__name__


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("mindspore", REFUSALS, message=message):
        return pg.run(plan.program, {"mindspore": _mindspore(), "numpy": np}, inputs.as_dict())
