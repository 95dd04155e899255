"""TensorFlow: tf.nn convolutions and the raw backprop-input ops, forward and VJP (GradientTape).

Two paths:

- ``nn``: conv via ``tf.nn.convolution`` (the op Keras calls; with dilation and stride 1 it runs
  space-to-batch, the only dilated conv whose gradient TF computes on CPU in every dtype), or
  ``tf.nn.conv{1,2,3}d`` where tf.nn.convolution refuses: explicit padding (2D only) and
  stride > 1 together with dilation > 1. conv_transpose via ``tf.nn.conv{1,2,3}d_transpose``
  with ``output_shape``.
- ``backprop_input`` (conv_transpose only): ``tf.raw_ops.Conv2DBackpropInput`` (a 1D case gets
  a unit H axis) and ``tf.raw_ops.Conv3DBackpropInputV2``.

Data always runs channels-last (NWC/NHWC/NDHWC: TF's CPU kernels refuse NCHW except float32 and
bfloat16 with SAME/VALID, measured), filters in TF's layouts (`tf_padding`); both case layouts
transpose at the edge. Padding is spelled 'SAME'/'VALID' when TF's rule gives the canonical
(lo, hi), else explicitly where TF takes a list (2D only, amounts >= 0), else emulated: conv pads
(tf.pad) or crops (slicing) its input before a 'VALID' conv; conv_transpose computes the uncropped
'VALID' output (o = F) and crops or appends zeros after it, and the bias is added after that.

The formulation (`tf_padding.Formulation`, the plan's details) and the program that runs and
prints it are built in `harness.adapters.tf_padding` (pure); this module runs that program, its
body under tf.GradientTape, and asks TF's kernels what they refuse.

What TF refuses on CPU is measured, not assumed: for a grouped or dilated case plan() calls
`kernel_refusal(case, dtype, formulation)`, which runs the formulation's program (forward and
gradients, ones as data) on a batch-1, bias-free copy of the case and returns TF's message, or
None when TF computes it. It is cached (functools.lru_cache) per formulation, dtype and geometry
(op, channels, sizes, kernel, stride, dilation, groups, padding; not batch, bias, layout or id:
oneDNN's refusals may depend on the shapes). The refusal it returns goes into the plan's reason.
Measured with TF 2.21 on CPU, oneDNN on (float32 and bfloat16 run oneDNN kernels, float64 and
float16 Eigen ones):

    feature                             float32, bfloat16       float64, float16
    groups, 1D/2D (conv and transpose)  native                  forward only; gradients refused
                                                                ("Gradients for grouped convolutions
                                                                are not supported on CPU")
    groups, 3D (conv and transpose)     refused, even forward   refused, even forward
    dilated conv, stride 1              native (tf.nn.convolution runs space-to-batch)
    dilated conv, stride > 1            native                  refused (gradient; 3D: forward)
    dilated conv_transpose              native                  refused ("do not yet support
                                                                dilation rates larger than 1")

A refusal is emulated: groups by splitting channels and concatenating, dilation by inserting
d - 1 zeros between the kernel taps (tf_padding.dilate_kernel_steps); TF's message goes into the
plan's reason.
Anything still refused at run time raises `Unsupported` with TF's message.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import replace
from functools import cache, lru_cache

import numpy as np

from harness import precision as prec
from harness.adapters import program as pg
from harness.adapters import tf_padding as tp
from harness.adapters.base import EMULATED, NATIVE, Plan, quiet_import, refusals, unsupported_plan
from harness.adapters.tf_padding import Formulation, precision, weight_from_native, weight_to_native  # noqa: F401 - hooks
from harness.case import Case

LIBRARY = "tensorflow"
PATHS = ("nn", "backprop_input")
DTYPES = ("float64", "float32", "float16", "bfloat16")
# TF refusals beyond base.REFUSALS (measured messages)
_REFUSALS = ("do not yet support", "could not create a primitive descriptor", "could not find device for node",
             "no kernel")


def available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


@lru_cache(maxsize=1)
def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # failures come back as exceptions; keep stderr readable
    tf = quiet_import("tensorflow")

    tf.get_logger().setLevel("ERROR")

    # numbers must not depend on reduced-precision shortcuts (TF32 matters on Ampere+ GPUs) unless the
    # run allows them (--allow-tf32)
    try:
        tf.config.experimental.enable_tensor_float_32_execution(prec.tf32_allowed())
    except (AttributeError, RuntimeError):  # pragma: no cover - older TF or initialised context
        pass
    return tf


def version() -> str:
    return _tf().__version__


@lru_cache(maxsize=1)
def device() -> str:
    return "gpu" if _tf().config.list_physical_devices("GPU") else "cpu"


def environment() -> dict[str, str]:
    tf = _tf()
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn_build = str(bool(_pywrap_util_port.IsMklEnabled()))
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        onednn_build = "unknown"
    threading = tf.config.threading
    return {
        "tf.TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default)"),
        "tf.onednn_build": onednn_build,
        "tf.tf32": str(tf.config.experimental.tensor_float_32_execution_enabled()),
        "tf.intra_op_threads": str(threading.get_intra_op_parallelism_threads() or "0 (auto)"),
        "tf.inter_op_threads": str(threading.get_inter_op_parallelism_threads() or "0 (auto)"),
        "tf.device": device(),
        "tf.eager": str(tf.executing_eagerly()),
    }


def applies_to(case, path: str) -> bool:
    """The backprop_input path exists only for conv_transpose."""
    return case.is_transpose or path != "backprop_input"


# --------------------------------------------------------------------------- what TF's kernels refuse


def _probe_case(case) -> Case:
    """The geometry of a case alone (batch 1, no bias): what a refusal is measured on and cached by."""
    return Case("probe", "", 0, case.op, case.ndim, 1, case.in_channels, case.out_channels, case.input_size,
                case.kernel, case.stride, case.dilation, case.groups, False, case.padding)


def kernel_refusal(case, dtype: str, formulation: Formulation) -> str | None:
    """None if TF computes `formulation` of this case (forward and gradients), else TF's message.

    Runs the formulation's program once per (geometry, dtype, formulation) on a batch-1 copy of
    the case with ones as data: what oneDNN accepts depends on the shapes (a dilated float32
    conv1d_transpose runs with 'VALID' and o = F but not with 'SAME'), so a refusal measured on one
    geometry is not assumed for another."""
    return _refusal(_probe_case(case), dtype, formulation)


@cache
def _refusal(probe: Case, dtype: str, formulation: Formulation) -> str | None:
    ones = {"x": np.ones(probe.x_shape), "w": np.ones(probe.w_shape), "b": None, "g": np.ones(probe.y_shape)}
    try:
        _execute(tp.program(probe, dtype, formulation), ones)
    except Exception as exc:  # noqa: BLE001 - any failure on a valid configuration is a refusal
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _choose(case, dtype: str, path: str) -> tuple[Formulation, list[str]]:
    """The first formulation, with dilation and then groups emulated where TF's kernels refuse them."""
    form, reasons = tp.first_choice(case, path)
    dilated = any(d > 1 for d in case.dilation)
    if not (dilated or case.groups > 1) or kernel_refusal(case, dtype, form) is None:
        return form, reasons
    if dilated:
        msg = kernel_refusal(replace(case, groups=1), dtype, form)
        if msg:
            form = replace(form, dilate_kernel=True)
            reasons.append(f"TF refuses dilation {case.dilation} here ({msg}): zeros inserted between "
                           f"kernel taps, dilation 1")
    if case.groups > 1:
        msg = kernel_refusal(case, dtype, form)
        if msg:
            form = replace(form, split_groups=True)
            reasons.append(f"TF refuses {case.groups} groups here ({msg}): one op per group, concatenated")
    return form, reasons


# --------------------------------------------------------------------------- plan and run


def plan(case, dtype: str, path: str = "nn") -> Plan:
    if not applies_to(case, path):
        return unsupported_plan(path, "the backprop_input path computes conv_transpose only", device())
    form, reasons = _choose(case, dtype, path)
    program = tp.program(case, dtype, form)
    return Plan(path, EMULATED if reasons else NATIVE, program, "; ".join(reasons), device(), form)


def _execute(program: pg.Program, arrays: dict) -> dict[str, np.ndarray]:
    """The TAPE program run as `program.script` prints it (`program.run_tape`)."""
    return pg.run_tape(program, {"numpy": np, "tf": _tf()}, arrays)


def _first_line(exc: BaseException) -> str:
    """TF's message without the eager wrapper noise ({{function_node ...}} and 'name:')."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(exc)).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"\s*name:\s*$", "", text)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    with refusals("tensorflow", extra=_REFUSALS, message=_first_line):
        return _execute(plan.program, inputs.as_dict())
