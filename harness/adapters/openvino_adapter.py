"""OpenVINO (CPU plugin): a one-node model compiled by `openvino.Core().compile_model`, two ways.

- ``opset``: the model built with OpenVINO's own opset API (openvino.opset16: convolution,
  group_convolution, convolution_backprop_data, group_convolution_backprop_data, Pad and Add nodes;
  see `harness.adapters.openvino_padding`);
- ``onnx_frontend``: the same one-node ONNX model the ONNX adapter builds
  (`onnx_padding.model_program`), read by `Core().read_model(model_bytes)`, which gives the bytes to
  OpenVINO's ONNX frontend (measured: `openvino.convert_model` refuses an onnx.ModelProto, "Unknown
  model type"; read_model of the serialized bytes and convert_model of a file give the same
  ConvolutionBackpropData graph); emulations are the ONNX adapter's, NumPy around the node.

Both compile for the CPU with INFERENCE_PRECISION_HINT f32 set explicitly in the printed program.
Measured with openvino 2026.4.1 on this machine (AVX512 without AVX512_BF16 or AMX): the plugin's
default hint is f32 here (`environment()` records it); it would be bf16 on CPUs with AVX512_BF16 / AMX.
float16 models run as Convert(f16 → f32), an f32 convolution, Convert back (the runtime model's
precisions); bfloat16 models run bf16 nodes that accumulate in f32 and round once (error ratio
< 0.6 ulp at K = 12 .. 2560). Both are the default contract. float64 is not computed in float64: the
plugin converts x and w to f32 around an f32 convolution (6.5e-7 errors) and the hint takes only bf16,
f16, f32, so float64 plans are unsupported with that reason rather than rows that would look like
float64 results.

Forward only: OpenVINO has no autodiff (`GRADIENTS = False`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from harness import precision as prec
from harness.adapters import onnx_padding as onp
from harness.adapters import openvino_padding as ovp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, installed, refusals, unsupported_plan
from harness.adapters.openvino_padding import weight_from_native, weight_to_native  # noqa: F401 - hooks
from harness.adapters.program import Ref

LIBRARY = "openvino"
PATHS = ("opset", "onnx_frontend")
DTYPES = ("float64", "float32", "float16", "bfloat16")  # float64: unsupported plans (see the docstring)
GRADIENTS = False
FLOAT64 = ("the OpenVINO CPU plugin does not compute float64: it converts an f64 model's x and w to f32 around "
           "an f32 convolution (measured, openvino 2026.4.1; INFERENCE_PRECISION_HINT takes only bf16, f16, f32)")
# OpenVINO's refusals beyond base.REFUSALS: none measured (the CPU plugin's compile failures on
# negative pads are avoided by the translations; anything it raises is an error row)
OV_REFUSALS: tuple[str, ...] = ()


def available() -> bool:
    return installed("openvino")


@lru_cache(maxsize=1)
def _ov():
    import openvino
    import openvino.opset16  # noqa: F401 - the opset path's module

    return openvino


def _modules(path: str, dtype: str) -> dict:
    import ml_dtypes  # openvino and onnx depend on it; bfloat16 arrays

    ov = _ov()
    mods = {"numpy": np, "ov": ov, "ops": ov.opset16, "ml_dtypes": ml_dtypes}
    if path == "onnx_frontend":
        import onnx

        mods["onnx"] = onnx
    return mods


def version() -> str:
    return _ov().__version__


def environment() -> dict[str, str]:
    ov = _ov()
    core = ov.Core()
    return {
        "openvino.version": ov.get_version(),
        "openvino.devices": ",".join(core.available_devices),
        "openvino.cpu": str(core.get_property("CPU", "FULL_DEVICE_NAME")),
        "openvino.cpu.capabilities": ",".join(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        "openvino.cpu.default_inference_precision": core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string(),
        "openvino.inference_precision_hint": ovp.INFERENCE_PRECISION,
        "openvino.cpu.inference_num_threads": str(core.get_property("CPU", "INFERENCE_NUM_THREADS")),
    }


def _onnx_run_steps(case, dtype: str, spelled) -> list[pg.Step]:
    """From the ONNX model and the cast arrays to y: OpenVINO's ONNX frontend, compiled for the CPU."""
    feeds = {n: Ref(n) for n in onp.node_inputs(case, spelled)}
    return [pg.call("model_bytes", "model.SerializeToString"), pg.call("core", "ov.Core"),
            pg.call("ov_model", "core.read_model", Ref("model_bytes")), ovp.compile_step("ov_model"),
            pg.call("outs", "compiled", feeds), *ovp.result_steps(dtype)]


def _onnx_program(case, dtype: str):
    spelled = onp.spelling(case)
    imports = (("numpy", "numpy"), ("onnx", "onnx"), ("ov", "openvino"),
               *((("ml_dtypes", "ml_dtypes"),) if dtype == "bfloat16" else ()))
    notes = [f"OpenVINO's ONNX frontend (Core.read_model), CPU plugin, INFERENCE_PRECISION_HINT {ovp.INFERENCE_PRECISION}"]
    return onp.model_program(case, dtype, spelled, _onnx_run_steps(case, dtype, spelled), imports, notes), spelled


def plan(case, dtype: str, path: str = "opset") -> Plan:
    if dtype == "float64":
        return unsupported_plan(path, FLOAT64)
    if path == "opset":
        program, spelled = ovp.program(case, dtype)
    else:
        program, spelled = _onnx_program(case, dtype)
        crop = spelled.input_crop or ()
        if any(i < lo + hi for i, (lo, hi) in zip(case.input_size, crop)):
            return unsupported_plan(path, f"padding {case.padding} crops more than the input's {case.input_size} (into "
                                    "the zeros on the other side): a slice of x before the ONNX node cannot")
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


# Measured (2026.4.1): the ONNX frontend turns a Conv / ConvTranspose's B into an Add after the
# convolution, which a bfloat16 model rounds to bfloat16 on the way (y twice: ~9-11 effective bits
# without declaring it, within the contract with it).
ONNX_SEPARATE_BIAS = "OpenVINO's ONNX frontend adds the node's B with a separate Add (or after appended zeros)"


def precision(case, dtype: str, path: str, device: str):
    """The default contract, with y rounded twice where the bias is a separate op: the opset model's
    Add node, the ONNX frontend's Add for B (measured in bfloat16)."""
    if path == "onnx_frontend":
        return prec.declared(case, dtype, ONNX_SEPARATE_BIAS)
    return ovp.precision(case, dtype, path, device)


def _same_totals(case) -> list[int]:
    """T = F - o per axis of a ConvTranspose spelled SAME_UPPER / SAME_LOWER (empty otherwise)."""
    if not case.is_transpose or case.padding_word not in ("same", "same_lower"):
        return []
    return [f - o for f, o in zip(ovp.full_lengths(case), case.output_size)]


def _shifted_axes(case, totals: list[int]) -> list[int]:
    """The totals T of the axes the ONNX frontend crops wrongly for SAME_* with output_shape (measured):
    with group 1 it keeps OpenVINO's same_upper, which crops the larger half at the start (wrong for
    SAME_UPPER when T is odd); with group > 1 it crops (0, T) whatever auto_pad says (wrong where the
    ONNX split puts anything at the start: SAME_UPPER with T >= 2, SAME_LOWER with T >= 1)."""
    upper = case.padding_word == "same"
    if case.groups == 1:
        return [t for t in totals if upper and t > 0 and t % 2]
    return [t for t in totals if t >= (2 if upper else 1)]


def known_issue(case, dtype: str, path: str) -> str | None:
    """OpenVINO ONNX-frontend bugs over whole classes of cases, predicted exactly (strict xfails):

    - ConvTranspose SAME_* with output_shape and a positive total padding T = F - o: the crop's split
      is not ONNX's (`_shifted_axes`): a one-pixel (or T//2-pixel) shift (cf. openvinotoolkit/openvino#33397);
    - ConvTranspose SAME_* without output_shape and a negative T (stride > dilated kernel): the spec's
      length is i*stride (zeros appended), the frontend returns F (shape_mismatch; its explicit pads from
      openvinotoolkit/openvino#32608 cannot be negative).
    (A conv case reaches them through its identity rows: `harness.runner.expected_failure` asks about
    the dual op too.) The opset path spells these cases right (its same_lower / same_upper + output_shape).
    """
    totals = _same_totals(case)
    if path != "onnx_frontend" or dtype == "float64" or not totals:
        return None
    word = "SAME_UPPER" if case.padding_word == "same" else "SAME_LOWER"
    if case.output_shape is not None and _shifted_axes(case, totals):
        how = ("crops the larger half at the start (OpenVINO's own same_upper)" if case.groups == 1 else
               "crops all of it at the end (group > 1: GroupConvolutionBackpropData, auto_pad ignored)")
        return (f"openvino {version()} ONNX frontend: ConvTranspose auto_pad={word} with output_shape, group "
                f"{case.groups}, total padding T = {totals}: it {how}, not ONNX's split: the output is shifted "
                "(cf. openvinotoolkit/openvino#33397)")
    if case.output_shape is None and any(t < 0 for t in totals):
        return (f"openvino {version()} ONNX frontend: ConvTranspose auto_pad={word} without output_shape, stride > "
                f"dilated kernel (T = {totals} < 0): ONNX's output length is i*stride, OpenVINO returns "
                "F = (i-1)*s + d*(k-1) + 1 (shape_mismatch)")
    return None


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Execute the plan's program: casts, the model, compile_model, the call, y as float64."""
    with refusals("openvino", extra=OV_REFUSALS):
        return pg.run(plan.program, _modules(plan.path, dtype), inputs.as_dict())
