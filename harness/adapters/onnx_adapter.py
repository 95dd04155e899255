"""ONNX: a one-node Conv / ConvTranspose model (opset 22) run by onnxruntime or onnx.reference.

Two paths over the same model:

- ``onnxruntime``: ``onnxruntime.InferenceSession`` on the CPU execution provider;
- ``reference``: ``onnx.reference.ReferenceEvaluator``, the spec's own Python implementation.

The case is spelled in its own ONNX vocabulary where ONNX has one (see
`harness.adapters.onnx_padding`): `same` → auto_pad SAME_UPPER, `same_lower` → SAME_LOWER,
`valid` → VALID, `output_shape` / `output_padding` as attributes, explicit asymmetric pads
otherwise. Cases ONNX cannot spell (negative padding, output_padding >= stride) are emulated
around the one node, in NumPy: the input is sliced before a Conv, zeros are appended after a
ConvTranspose and the bias is added after them, in the case's dtype.

The program (`harness.adapters.onnx_padding.program`) is the one description that both runs and
prints: NumPy casts, the model built with onnx.helper, the session or evaluator run, the emulation
steps; `run` executes it. Weights: ONNX's layout is PyTorch's (identity hooks). No `layer_program`:
ONNX's layer is the node, which the program already builds (see `onnx_padding`).

Forward only: neither runtime computes gradients, so `GRADIENTS = False` and the runner reports
dx/dw/db as unsupported. Data types are what each runtime registers: a dtype a runtime has no
kernel for (onnxruntime 1.31 CPU: float64 and bfloat16 Conv and ConvTranspose) raises
NOT_IMPLEMENTED, which becomes `unsupported` with the runtime's own message.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from harness.adapters import onnx_padding as op
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, refusals, unsupported_plan
from harness.adapters.onnx_padding import precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "onnxruntime"
PATHS = op.RUNTIMES  # ("onnxruntime", "reference")
DTYPES = ("float64", "float32", "float16", "bfloat16")  # refused at run time where a runtime has no kernel
GRADIENTS = False  # forward only: the runner marks dx, dw, db unsupported
OPSET = op.OPSET
IR_VERSION = op.IR_VERSION
# onnxruntime's refusals beyond base.REFUSALS, measured (onnxruntime 1.31.1):
# "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Conv(22) node ..."
# (float64, bfloat16 on the CPU provider), and a tensor type the op's schema does not allow:
# "[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. Type Error: Type 'tensor(int32)' of
# input parameter (x) of operator (Conv) in node () is invalid."
ORT_REFUSALS = ("NOT_IMPLEMENTED", "This is an invalid model. Type Error: Type")


def available() -> bool:
    return importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None


@lru_cache(maxsize=1)
def _onnx():
    import onnx
    import onnx.reference  # noqa: F401 - the second path

    return onnx


@lru_cache(maxsize=1)
def _ort():
    import onnxruntime

    # refusals and errors come back as exceptions (with the message): keep stderr quiet. Sessions use
    # the default logger's severity, so the printed program needs no SessionOptions.
    onnxruntime.set_default_logger_severity(4)
    return onnxruntime


def _modules(runtime: str) -> dict:
    """What the program's names resolve to: its imports, and `dict` (the feeds are `dict(x=x, ...)`)."""
    import ml_dtypes  # onnx's own dependency: bfloat16 arrays

    runner = {"onnxruntime": _ort()} if runtime == "onnxruntime" else {}
    return {"numpy": np, "onnx": _onnx(), "ml_dtypes": ml_dtypes, **runner}


def version() -> str:
    return f"onnx {_onnx().__version__}, onnxruntime {_ort().__version__}"


def environment() -> dict[str, str]:
    ort = _ort()
    return {
        "onnxruntime.version": ort.__version__,
        "onnx.version": _onnx().__version__,
        "onnxruntime.providers": ",".join(ort.get_available_providers()),
        "onnxruntime.device": ort.get_device(),
        "onnx.opset": str(OPSET),
        "onnx.ir_version": str(IR_VERSION),
    }


def plan(case, dtype: str, path: str = "onnxruntime") -> Plan:
    program, spelled = op.program(case, dtype, path)
    crop = spelled.input_crop or ()
    if any(i < lo + hi for i, (lo, hi) in zip(case.input_size, crop)):
        return unsupported_plan(path, f"padding {case.padding} crops more than the input's {case.input_size} "
                                "(into the zeros on the other side): a slice of x before the node cannot, and ONNX "
                                "pads cannot be negative")
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


_REFERENCE_GROUPS_BUG = (
    "onnx.reference ConvTranspose with group > 1 (onnx {version}): each group takes the weight rows "
    "W[g*M/group:(g+1)*M/group] (output, not input, channels), writes its M/group output channels into "
    "one channel slot, and adds B[0] to every group; only group == C == M without a bias is right. "
    "See onnx/onnx#8446 (reassembly part, merged 2026-09)."
)


def _same_totals(case) -> list[int]:
    """The total padding T = F - o per axis of a SAME / SAME_LOWER ConvTranspose (empty otherwise).

    T is negative when the stride exceeds the dilated kernel: o = i*s (or the given output_shape) is
    longer than the full output F = (i-1)*s + d*(k-1) + 1, so zeros must be appended.
    """
    if not case.is_transpose or case.padding_word not in ("same", "same_lower"):
        return []
    outs = case.output_shape or tuple(i * s for i, s in zip(case.input_size, case.stride))
    return [(i - 1) * s + d * (k - 1) + 1 - o
            for i, k, s, d, o in zip(case.input_size, case.kernel, case.stride, case.dilation, outs)]


def _negative_same_total(case) -> bool:
    return any(t < 0 for t in _same_totals(case))


def _same_conv_totals(case) -> list[int]:
    """The total padding T = (o-1)*s + k - i per axis of an undilated SAME / SAME_LOWER Conv, o = ceil(i/s)
    (empty otherwise); negative where the stride is larger than the kernel and the input's length."""
    if case.is_transpose or case.padding_word not in ("same", "same_lower") or max(case.dilation) > 1:
        return []
    return [(-(-i // s) - 1) * s + k - i for i, k, s in zip(case.input_size, case.kernel, case.stride)]


def _ort_same_conv_shift(case) -> bool:
    """onnxruntime 1.31.1's Conv SAME_UPPER with T <= -3 or SAME_LOWER with T <= -4 on an axis: the first
    window starts inside the input (measured: its pad_head is negative, not 0; s 2-8, k < s, i 1-19)."""
    limit = -3 if case.padding_word == "same" else -4
    return any(t <= limit for t in _same_conv_totals(case))


def known_issue(case, dtype: str, path: str) -> str | None:
    """ONNX bugs over whole classes of cases, predicted exactly (the xfails are strict).

    - onnxruntime, SAME_* without output_shape and a negative total padding: output length F, not i*s;
    - onnx.reference, SAME_UPPER with a negative total padding, SAME_LOWER with one of -2 or less: a
      zero goes before the data;
    - onnx.reference, grouped ConvTranspose (a conv case reaches it through its identity rows:
      `harness.runner.expected_failure` asks about the dual op too).
    """
    if _negative_same_total(case):
        if path == "onnxruntime" and case.output_shape is None:
            return ("onnxruntime ConvTranspose auto_pad SAME_* without output_shape, stride > dilated kernel: "
                    "the spec's output length is i*stride (total padding T = F - i*s < 0, zeros appended), "
                    "onnxruntime returns the full length F instead (shape_mismatch).")
        if path == "reference" and case.padding_word == "same":
            return ("onnx.reference ConvTranspose SAME_UPPER with a negative total padding T (stride > dilated "
                    "kernel): it crops T//2 (floor, = -1) at the start, so the appended zero goes before the data: "
                    "a one-pixel shift against TensorFlow's conv_transpose and onnxruntime, which append it at the end.")
        if path == "reference" and any(t <= -2 for t in _same_totals(case)):
            return ("onnx.reference ConvTranspose SAME_LOWER with a total padding T <= -2 (stride > dilated kernel "
                    "+ 1): it crops T - T//2 (= -1 for T = -2) at the start, so one appended zero goes before the "
                    "data (T = -1 is right). Found by harness fuzz, the SAME_UPPER bug's sibling.")
    if path == "onnxruntime" and _ort_same_conv_shift(case):
        return ("onnxruntime Conv auto_pad SAME_UPPER with a total padding T = (ceil(i/s)-1)*s + k - i <= -3 (SAME_LOWER: "
                "<= -4), i.e. a stride larger than the kernel: it keeps the negative T and its pad_head is negative, so "
                "every window starts one or more pixels late (TF, onnx.reference and the canonical `same` start at the first "
                "pixel). microsoft/onnxruntime#10086 (open) reports this pad_head arithmetic. Found by the LiteRT case "
                "litert_4847_conv2d_k3_s10_same_17x18.")
    if path != "reference" or case.groups == 1 or not case.is_transpose:
        return None
    with_bias = "b" in op.node_inputs(case, op.spelling(case))
    if case.in_channels == case.out_channels == case.groups and not with_bias:
        return None
    return _REFERENCE_GROUPS_BUG.format(version=_onnx().__version__)




def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Execute the plan's program: setup (casts, model), the runtime, the emulation steps, y as float64."""
    if plan.path == "onnxruntime":
        with refusals("onnxruntime", extra=ORT_REFUSALS):
            return pg.run(plan.program, _modules(plan.path), inputs.as_dict())
    with refusals("onnx.reference"):
        return pg.run(plan.program, _modules(plan.path), inputs.as_dict())
