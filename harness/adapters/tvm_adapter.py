"""Apache TVM (Relax, llvm on the CPU): the case compiled into a Relax module and run by its VM.

Two paths (`harness.adapters.tvm_padding` builds both programs; pure):

- ``relax_onnx`` (adapter `tvm`): the one-node ONNX model the ONNX adapter builds, imported with
  `tvm.relax.frontend.onnx.from_onnx(model, keep_params_in_input=True)`;
- ``relax`` (adapter `tvm-relax`): TVM's own `relax.op.nn.conv*d` / `conv*d_transpose` in a
  `relax.Function`.

Each then runs `relax.transform.LegalizeOps()`, `tvm.compile(mod, target="llvm")` and
`relax.VirtualMachine(ex, tvm.cpu())`: every item compiles a module (measured over `harness run cases`: median 0.24 s, mean 0.5 s an item).
Forward only (`GRADIENTS = False`: Relax has a Gradient pass, not used here). Weights: ONNX's and
Relax's IOHW / OIHW layouts are PyTorch's (identity hooks, as for ONNX).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from functools import lru_cache

import numpy as np

from harness.adapters import program as pg
from harness.adapters import tvm_padding as tp
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, refusals, unsupported_plan
from harness.adapters.onnx_padding import weight_from_native, weight_to_native  # noqa: F401 - hooks
from harness.adapters.tvm_padding import precision  # noqa: F401 - hook

LIBRARY = "apache-tvm"
PATHS = tp.PATHS  # ("relax_onnx", "relax")
DTYPES = ("float64", "float32", "float16", "bfloat16")
GRADIENTS = False  # forward only: the runner marks dx, dw, db unsupported
# TVM's refusals beyond base.REFUSALS, measured (0.27.0.post1): Relax's shape inference of a
# transposed conv, "Conv2dTranspose expects the output padding less than the strides, ..."
TVM_REFUSALS = ("expects the output padding less than the strides",)


def available() -> bool:
    return installed("tvm")


@lru_cache(maxsize=1)
def _tvm():
    import tvm
    import tvm.relax.frontend.onnx  # noqa: F401 - the relax_onnx path

    return tvm


def _modules(dtype: str) -> dict:
    """What the program's names resolve to (the relax_onnx path also needs onnx, the bfloat16 one ml_dtypes)."""
    mods = {"numpy": np, "tvm": _tvm()}
    if importlib.util.find_spec("onnx") is not None:
        import onnx

        mods["onnx"] = onnx
    if dtype == "bfloat16":
        import ml_dtypes

        mods["ml_dtypes"] = ml_dtypes
    return mods


def version() -> str:
    return f"tvm {_tvm().__version__}"


def environment() -> dict[str, str]:
    tvm = _tvm()
    threads = tvm.get_global_func("runtime.NumThreads", allow_missing=True)
    return {
        "tvm.version": tvm.__version__,
        "tvm.target": str(tvm.target.Target(tp.TARGET)),
        "tvm.num_threads": str(threads()) if threads is not None else "",
        "tvm.TVM_NUM_THREADS": os.environ.get("TVM_NUM_THREADS", ""),
    }


def plan(case, dtype: str, path: str = "relax_onnx") -> Plan:
    program, spelled = tp.program(case, dtype, path)
    crop = spelled.input_crop or ()
    if any(i < lo + hi for i, (lo, hi) in zip(case.input_size, crop)):
        return unsupported_plan(path, f"padding {case.padding} crops more than the input's {case.input_size} "
                                "(into the zeros on the other side): a slice of x before the op cannot")
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


def known_issue(case, dtype: str, path: str) -> str | None:
    """The ONNX importer's ConvTranspose (TVM 0.27) computes other crops than the spec where it ignores
    output_shape or clamps a SAME_* total padding at 0 (`tvm_padding.importer_transpose_crop`)."""
    if path != "relax_onnx":
        return None
    differs = tp.importer_differs(case, tp.onnx_program(case, dtype)[1])
    if not differs:
        return None
    return ("TVM 0.27 Relax ONNX importer, ConvTranspose: it ignores output_shape and clamps the SAME_* total "
            "padding d*(k-1)+1+output_padding-s at 0 (stride > dilated kernel: length F, not i*s); "
            + "; ".join(differs) + " (apache/tvm PR 19450 leaves output_shape unsupported)")


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Execute the plan's program: casts, the Relax module, compile, the VM run, y as float64."""
    with refusals("tvm", extra=TVM_REFUSALS), warnings.catch_warnings():
        # the importer warns that y's value info has no shape (left to the runtime, as for onnxruntime)
        warnings.filterwarnings("ignore", message="Field 'shape' of 'type' is required but missing")
        return pg.run(plan.program, _modules(dtype), inputs.as_dict())
