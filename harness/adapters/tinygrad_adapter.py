"""tinygrad: Tensor.conv2d / Tensor.conv_transpose2d (n-D) on the CPU device, gradients by Tensor.gradient.

The spelling (tinygrad's padding tuples, measured: per-side amounts last axis first) and the
program that runs and prints it are in `harness.adapters.tinygrad_padding` (pure); this module
executes that program. tinygrad's CPU device compiles every kernel with clang (Debian's clang 14
here): without a clang on PATH the device cannot start ("RuntimeError: no usable devices"), so
`available()` is False there and the rows are `skipped`. The device is pinned: every tensor is
created with device='CPU' (tinygrad would otherwise open the first device it finds).

bfloat16: tinygrad's clang renderer needs clang's `__bf16`, which Debian's clang 14 lacks on x86-64
(every bfloat16 kernel fails to compile). `clang_has_bf16()` probes the compiler once (a one-line C
file with the renderer's own `__builtin_bit_cast(__bf16, ...)`); where it fails, bfloat16 programs set
tinygrad's own emulation (EMULATED_DTYPES=bfloat16) and their rows say `emulated`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

import numpy as np

from harness.adapters import program as pg
from harness.adapters import tinygrad_padding as tgp
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, refusals
from harness.adapters.tinygrad_padding import precision  # noqa: F401 - hook

LIBRARY = "tinygrad"
PATHS = ("tensor",)
DTYPES = ("float64", "float32", "float16", "bfloat16")
FORWARD_ONLY_RUNS = True  # pg.run without a cotangent computes y alone
# tinygrad's environment variables that change the kernels it runs (and so, possibly, the numbers)
FLAGS = ("DEV", "BEAM", "NOOPT", "WINO", "IMAGE", "FLOAT16", "THREADS", "TC", "SPLIT_REDUCEOP", "EMULATED_DTYPES")


def available() -> bool:
    """tinygrad is installed and its CPU device has its compiler (clang on PATH). Cheap: no import."""
    return installed("tinygrad") and shutil.which("clang") is not None


@lru_cache(maxsize=1)
def _tinygrad():
    import tinygrad
    import tinygrad.nn  # noqa: F401 - the layer programs' nn

    return tinygrad


# the renderer's own spelling of a float → bfloat16 store (ClangRenderer, tinygrad 0.14.0), and its flags
BF16_PROBE = "int f(void) { __bf16 b = __builtin_bit_cast(__bf16, (unsigned short)16256); (void)b; return 0; }\n"
CLANG_FLAGS = ("-c", "-x", "c", "-O2", "-ffreestanding", "-nostdlib", "--target=x86_64-none-unknown-elf",
               "-march=native", "-", "-o", os.devnull)


@lru_cache(maxsize=1)
def clang_has_bf16() -> bool:
    """Whether the CPU device's clang compiles `__bf16` (clang 14 on x86-64: "__bf16 is not supported on
    this target"). Only asked when a bfloat16 case is planned."""
    clang = shutil.which("clang")
    if clang is None:
        return False
    try:
        done = subprocess.run([clang, *CLANG_FLAGS], input=BF16_PROBE, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _bf16_emulated(dtype: str) -> bool:
    return dtype == "bfloat16" and not clang_has_bf16()


def modules() -> dict:
    """What the programs' names resolve to (their imports: `from tinygrad import Tensor, dtypes, nn, helpers`)."""
    tinygrad = _tinygrad()
    return {"numpy": np, "Tensor": tinygrad.Tensor, "dtypes": tinygrad.dtypes, "nn": tinygrad.nn,
            "helpers": tinygrad.helpers}


def version() -> str:
    from importlib import metadata

    return metadata.version("tinygrad")


def environment() -> dict[str, str]:
    tinygrad = _tinygrad()
    device = tinygrad.Device[tgp.DEVICE]
    env = {"tinygrad.device": tgp.DEVICE, "tinygrad.renderer": type(device.renderer).__name__,
           "tinygrad.clang": shutil.which("clang") or ""}
    env["tinygrad.clang_bf16"] = str(clang_has_bf16())
    env.update({f"tinygrad.{flag}": os.environ[flag] for flag in FLAGS if flag in os.environ})
    return env


def plan(case, dtype: str, path: str = "tensor") -> Plan:
    program, spelled = tgp.program(case, dtype, _bf16_emulated(dtype))
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


def layer_program(case, dtype: str):
    """tinygrad.nn's layer for the case (`tinygrad_padding.layer_program`), under the same bfloat16
    emulation as `plan` where the compiler needs it."""
    return tgp.layer_program(case, dtype, _bf16_emulated(dtype))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("tinygrad"):
        return pg.run(plan.program, modules(), inputs.as_dict())
