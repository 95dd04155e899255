"""LiteRT (TFLite): the case as a TF function converted by tf.lite.TFLiteConverter and run by the
ai-edge-litert interpreter, forward only.

Paths (`litert_padding.RESOLVERS`, the interpreter's op resolver): ``interpreter``, the default
AUTO (the XNNPACK delegate takes CONV_2D and TRANSPOSE_CONV; CONV_3D and CONV_3D_TRANSPOSE fall back to
the builtin kernels); ``builtin`` (BUILTIN_WITHOUT_DEFAULT_DELEGATES: the optimized builtin kernels);
``reference`` (BUILTIN_REF: the reference kernels). One thread each. Measured (builtin: scratch scripts over
the vocabulary; reference: cases/upstream and the tests), all three meet the float32 bound with different roundings (bound ratios differ): a
second registry row (`litert-reference`) is a second kernel, as onnx.reference is beside onnxruntime;
it doubles the conversions, so the default registry needs only ``litert``.

The vocabulary (what converts to TFLite builtins and what the interpreter runs), the emulations and
the program that converts and runs the case are in `harness.adapters.litert_padding` (pure); this
module executes that program. Every case converts a model in its setup (measured: ~0.15 s a conversion on an
idle core, 0.53 s an item on average over cases/conv and cases/conv_transpose on the shared
2-core machine; the interpreter's invoke takes microseconds).

Forward only (`GRADIENTS = False`): a .tflite model computes no gradients. Data types: float32;
float16 as the converter's float16 quantization (weights stored as float16, float32 arithmetic:
`litert_padding.precision` says so); float64 builds a float64 graph, which the converter refuses
(ERROR_NEEDS_FLEX_OPS) → `unsupported` with its message.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from harness.adapters import litert_padding as lp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, quiet_import, refusals
from harness.adapters.litert_padding import precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "ai-edge-litert"
PATHS = ("interpreter", "builtin", "reference")
ALL_PATHS = tuple(lp.RESOLVERS)  # interpreter, builtin, reference: what plan() and run() take
DTYPES = ("float64", "float32", "float16")
GRADIENTS = False  # forward only: the runner marks dx, dw, db unsupported
# LiteRT's refusals beyond base.REFUSALS (measured): the converter's "'tf.Conv2D' op is neither a custom
# op nor a flex op" (ERROR_NEEDS_FLEX_OPS), the interpreter's kernel checks at allocate/invoke
# ("transpose_conv.cc:906 SizeOfDimension(output, 3) != SizeOfDimension(weights, 0)")
LITERT_REFUSALS = ("neither a custom op nor a flex op", "ERROR_NEEDS_FLEX_OPS", "failed to invoke",
                   "failed to prepare")


def available() -> bool:
    return (importlib.util.find_spec("ai_edge_litert") is not None
            and importlib.util.find_spec("tensorflow") is not None)


@lru_cache(maxsize=1)
def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = quiet_import("tensorflow")
    tf.get_logger().setLevel("ERROR")
    return tf


@lru_cache(maxsize=1)
def _litert():
    import ai_edge_litert.interpreter as litert

    return litert


def _modules() -> dict:
    from functools import partial

    return {"numpy": np, "partial": partial, "tf": _tf(), "litert": _litert()}


def version() -> str:
    from importlib import metadata

    return f"ai-edge-litert {metadata.version('ai-edge-litert')}, tensorflow {_tf().__version__} (converter)"


def environment() -> dict[str, str]:
    from importlib import metadata

    return {
        "litert.version": metadata.version("ai-edge-litert"),
        "litert.converter": f"tensorflow {_tf().__version__}",
        "litert.num_threads": str(lp.NUM_THREADS),
        "litert.op_resolvers": ", ".join(f"{p}={r}" for p, r in lp.RESOLVERS.items()),
        "litert.TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
    }


def plan(case, dtype: str, path: str = "interpreter") -> Plan:
    program, spelled = lp.program(case, dtype, path)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, "; ".join(spelled.reasons), details=spelled)


def known_issue(case, dtype: str, path: str) -> str | None:
    """LiteRT's wrong numbers over whole classes of cases, predicted exactly (the xfails are strict).
    Measured with ai-edge-litert 2.3.0 on a case with an Inf input (cases/fuzz grouped_conv_inf_in_one_group)
    and minimal TFLite models around it (float64 is refused before any number exists: no prediction).

    - builtin / reference kernels: CONV_2D and friends clamp their output to the activation range, which
      for no activation is [lowest, max] of float32, so +-Inf comes out as +-3.4028235e38;
    - the XNNPACK delegate (interpreter): a depthwise conv (groups == C_in == C_out) with a 1×1 kernel turns
      inf * w into NaN (a 3×3 depthwise kernel, or two channels per group, keep the Inf).
    """
    if dtype == "float64" or case.inputs != "with_inf":
        return None
    if path in ("builtin", "reference"):
        return (f"LiteRT {lp.RESOLVERS[path]} kernels (ai-edge-litert 2.3.0) clamp the output to float32's finite "
                "range (the fused 'no activation' clamp is [lowest, max]): an Inf result becomes +-3.4028235e38. "
                "Repro: a one-CONV_2D model, x = [inf], w = 0.5 gives 3.4028235e38.")
    depthwise_1x1 = (not case.is_transpose and case.ndim <= 2 and case.groups > 1
                     and case.groups == case.in_channels == case.out_channels and set(case.kernel) == {1})
    if path == "interpreter" and depthwise_1x1:
        return ("LiteRT's XNNPACK delegate (ai-edge-litert 2.3.0): a depthwise conv with a 1×1 kernel gives NaN "
                "where an Inf input times a finite weight is Inf (the builtin kernels give Inf clamped to "
                "3.4028235e38, a 3×3 kernel keeps Inf). Repro: tf.nn.conv2d(x (1, 1, 1, 2) = [inf, -0.165], w "
                "(1, 1, 1, 2)) converted and run with the default resolver: [nan, -0.0264]. XNNPACK makes no "
                "guarantees about NaN behaviour (tensorflow/tfjs PR 3855); no report of this case found.")
    return None


def message(exc: BaseException) -> str:
    """LiteRT's own words: the converter's failing-op line (without the MLIR location) and its error
    code, else the exception's first line."""
    text = str(exc)
    op = re.search(r"error: ('[^']+' op [^\n]*)", text)
    if op:
        code = re.search(r"Error code: (\w+)", text)
        return op.group(1).strip() + (f" ({code.group(1)})" if code else "")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else type(exc).__name__


@contextmanager
def quiet_stderr():
    """The converter writes its MLIR diagnostics (pages of locations) and the interpreter its
    'Created TensorFlow Lite XNNPACK delegate' line to file descriptor 2; the same text comes back in
    the exception. Dropped here so that a run's stderr stays readable."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Execute the plan's program: NumPy layouts, the model converted, the interpreter run, y as float64."""
    modules = _modules()
    with quiet_stderr(), refusals("litert", extra=LITERT_REFUSALS, message=message):
        return pg.run(plan.program, modules, inputs.as_dict())
