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

Forward only: neither runtime computes gradients, so `GRADIENTS = False` and the runner reports
dx/dw/db as unsupported. Data types are what each runtime registers: a dtype a runtime has no
kernel for (onnxruntime 1.31 CPU: float64 and bfloat16 Conv and ConvTranspose) raises
NOT_IMPLEMENTED, which becomes `unsupported` with the runtime's own message.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from harness.adapters import base
from harness.adapters import onnx_padding as op
from harness.adapters.base import EMULATED, NATIVE, Plan, Unsupported, unsupported_message

LIBRARY = "onnxruntime"
PATHS = ("onnxruntime", "reference")
GRADIENTS = False  # forward only: the runner marks dx, dw, db unsupported
OPSET = 22
IR_VERSION = 10  # what onnxruntime 1.2x/1.3x accept with opset 22
_TENSOR_TYPES = {"float64": "DOUBLE", "float32": "FLOAT", "float16": "FLOAT16", "bfloat16": "BFLOAT16"}


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

    onnxruntime.set_default_logger_severity(4)  # refusals and errors come back as exceptions: keep stderr quiet
    return onnxruntime


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


def _np_dtype(dtype: str):
    if dtype == "bfloat16":
        try:
            import ml_dtypes
        except ImportError as exc:  # pragma: no cover - ml_dtypes comes with onnx
            raise Unsupported("bfloat16 needs ml_dtypes, which is not installed") from exc
        return ml_dtypes.bfloat16
    return np.dtype(dtype).type


def _spelling(case) -> op.Spelling:
    if case.is_transpose:
        return op.transpose_spelling(case.padding_word, case.padding, case.stride, case.output_shape,
                                     case.output_padding)
    return op.conv_spelling(case.padding_word, case.padding)


def _node_call(case, spelling: op.Spelling) -> str:
    kind = "ConvTranspose" if case.is_transpose else "Conv"
    inputs = ["x", "w", "b"] if case.bias and spelling.output_extend is None else ["x", "w"]
    attrs = op.node_attributes(case.kernel, case.stride, case.dilation, case.groups, spelling)
    args = ", ".join(f"{k}={v!r}" for k, v in attrs.items())
    return f"onnx.helper.make_node({kind!r}, {inputs!r}, ['y'], {args})"


def plan(case, dtype: str, path: str = "onnxruntime") -> Plan:
    if path not in PATHS:
        raise ValueError(f"unknown onnx path {path!r}; known: {', '.join(PATHS)}")
    spelling = _spelling(case)
    runner = ("onnxruntime.InferenceSession(model, providers=['CPUExecutionProvider']).run(None, feeds)"
              if path == "onnxruntime" else "onnx.reference.ReferenceEvaluator(model).run(None, feeds)")
    note = f"  # one-node model, opset {OPSET}, tensor({dtype}); {runner}"
    if case.layout == "channels_last":
        note += "; ONNX Conv is NCHW only, so layout channels_last runs NCHW"
    call = _node_call(case, spelling)
    if spelling.native:
        return Plan(path if path == "onnxruntime" else "onnx-reference", path, NATIVE, call + note,
                    details=(spelling,))
    if spelling.input_crop is not None:
        sl = ", ".join(f"{lo}:{f'-{hi}' if hi else ''}" for lo, hi in spelling.input_crop)
        call = f"x = x[:, :, {sl}]; " + call
    else:
        bias = f" + b.reshape(1, -1{', 1' * case.ndim})" if case.bias else ""
        call += f"; y = harness.adapters.onnx_adapter.crop_or_extend(y, {spelling.output_extend}){bias}"
    return Plan(path if path == "onnxruntime" else "onnx-reference", path, EMULATED, call + note,
                spelling.reason, details=(spelling,))


_REFERENCE_GROUPS_BUG = (
    "onnx.reference ConvTranspose with group > 1 (onnx {version}): each group takes the weight rows "
    "W[g*M/group:(g+1)*M/group] (output, not input, channels), writes its M/group output channels into "
    "one channel slot, and adds B[0] to every group; only group == C == M without a bias is right. "
    "See onnx/onnx#8446 (reassembly part, merged 2026-09)."
)


def _negative_same_total(case) -> bool:
    """A SAME / SAME_LOWER ConvTranspose whose total padding T = F - o is negative on some axis.

    That happens when the stride exceeds the dilated kernel: o = i*s (or the given output_shape) is
    longer than the full output F = (i-1)*s + d*(k-1) + 1, so zeros must be appended.
    """
    if not case.is_transpose or case.padding_word not in ("same", "same_lower"):
        return False
    outs = case.output_shape or tuple(i * s for i, s in zip(case.input_size, case.stride))
    return any((i - 1) * s + d * (k - 1) + 1 - o < 0
               for i, k, s, d, o in zip(case.input_size, case.kernel, case.stride, case.dilation, outs))


def known_issue(case, dtype: str, path: str) -> str | None:
    """ONNX bugs over whole classes of cases, predicted exactly (the xfails are strict).

    - onnxruntime, SAME_* without output_shape and a negative total padding: output length F, not i*s;
    - onnx.reference, SAME_UPPER with a negative total padding: the zero goes before the data;
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
    if path != "reference" or case.groups == 1 or not case.is_transpose:
        return None
    with_bias = case.bias and _spelling(case).output_extend is None
    if case.in_channels == case.out_channels == case.groups and not with_bias:
        return None
    return _REFERENCE_GROUPS_BUG.format(version=_onnx().__version__)


def build_model(case, dtype: str, spelling: op.Spelling, with_bias: bool):
    """The one-node ModelProto for a case (public: `harness repro` can save it with onnx.save)."""
    onnx = _onnx()
    helper = onnx.helper
    elem = getattr(onnx.TensorProto, _TENSOR_TYPES[dtype])
    kind = "ConvTranspose" if case.is_transpose else "Conv"
    names = ["x", "w", "b"] if with_bias else ["x", "w"]
    attrs = op.node_attributes(case.kernel, case.stride, case.dilation, case.groups, spelling)
    node = helper.make_node(kind, names, ["y"], **attrs)
    x_shape = list(case.x_shape)
    if spelling.input_crop is not None:
        x_shape = x_shape[:2] + [i - lo - hi for i, (lo, hi) in zip(case.input_size, spelling.input_crop)]
    shapes = {"x": x_shape, "w": list(case.w_shape), "b": [case.out_channels]}
    graph = helper.make_graph(
        [node], f"{case.id}_{kind}",
        [helper.make_tensor_value_info(n, elem, shapes[n]) for n in names],
        [helper.make_tensor_value_info("y", elem, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="conv-harness")
    model.ir_version = IR_VERSION
    return model


def _run_onnxruntime(model, feeds: dict) -> np.ndarray:
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 4  # errors come back as exceptions (with the message): keep stderr quiet
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds)[0]
    except Exception as exc:  # noqa: BLE001 - sorted below: refusals are unsupported, the rest errors
        kind = type(exc).__name__
        text = str(exc).strip()
        refused = (kind == "NotImplemented" or "NOT_IMPLEMENTED" in text
                   or (kind == "InvalidGraph" and "Type" in text and "is invalid" in text)
                   or unsupported_message(exc))
        if refused:
            raise Unsupported(f"onnxruntime: {text.splitlines()[0]}") from exc
        raise


def _run_reference(model, feeds: dict) -> np.ndarray:
    evaluator = _onnx().reference.ReferenceEvaluator(model)
    try:
        return evaluator.run(None, feeds)[0]
    except (NotImplementedError, TypeError) as exc:
        if isinstance(exc, NotImplementedError) or unsupported_message(exc):
            raise Unsupported(f"onnx.reference: {str(exc).strip().splitlines()[0]}") from exc
        raise


def crop_or_extend(y: np.ndarray, pads) -> np.ndarray:
    """base.crop_or_extend with np.pad (the node's output is a NumPy array)."""
    return base.crop_or_extend(y, pads, lambda t, grow: np.pad(t, [(0, 0), (0, 0), *grow]))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    (spelling,) = plan.details
    npdt = _np_dtype(dtype)
    x = inputs.x
    if spelling.input_crop is not None:
        x = x[(slice(None), slice(None), *(slice(lo, i - hi) for i, (lo, hi) in zip(case.input_size,
                                                                                    spelling.input_crop)))]
    with_bias = case.bias and spelling.output_extend is None
    feeds = {"x": np.ascontiguousarray(x.astype(npdt)), "w": inputs.w.astype(npdt)}
    if with_bias:
        feeds["b"] = inputs.b.astype(npdt)
    model = build_model(case, dtype, spelling, with_bias)
    y = (_run_onnxruntime if plan.path == "onnxruntime" else _run_reference)(model, feeds)
    if spelling.output_extend is not None:
        y = crop_or_extend(y, spelling.output_extend)
    if case.bias and not with_bias:
        # the bias goes on after the appended zeros; one rounding in the dtype, as inside the node
        y = (y + inputs.b.astype(npdt).reshape(1, -1, *([1] * case.ndim))).astype(npdt)
    return {"y": np.asarray(y).astype(np.float64)}
