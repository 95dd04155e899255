"""PyTorch: torch.nn.functional.conv{1,2,3}d and conv_transpose{1,2,3}d, gradients by torch.autograd.grad.

The spelling (native padding / output_padding, or an emulation) and the program that runs and
prints it are in `harness.adapters.torch_padding` (pure); this module executes that program.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from harness.adapters import program as pg
from harness.adapters import torch_padding as tpd
from harness.adapters.base import EMULATED, NATIVE, Plan, refusals
from harness.adapters.torch_padding import layer_program, precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "torch"
PATHS = ("functional",)
DTYPES = ("float64", "float32", "float16", "bfloat16")


def available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _torch():
    import torch

    # numbers must not depend on reduced-precision shortcuts
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def version() -> str:
    return _torch().__version__


def device() -> str:
    return "cuda" if _torch().cuda.is_available() else "cpu"


def environment() -> dict[str, str]:
    torch = _torch()
    return {
        "torch.cuda_tf32": str(torch.backends.cuda.matmul.allow_tf32),
        "torch.cudnn_tf32": str(torch.backends.cudnn.allow_tf32),
        "torch.mkldnn": str(torch.backends.mkldnn.is_available()),
        "torch.threads": str(torch.get_num_threads()),
        "torch.device": device(),
    }


def plan(case, dtype: str, path: str = "functional") -> Plan:
    dev = device()
    program, spelled = tpd.program(case, dtype, dev)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, dev, spelled)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("torch"):
        return pg.run(plan.program, {"torch": _torch()}, inputs.as_dict())
