"""Pure translation of canonical cases into ONNX Conv / ConvTranspose attributes (imports no onnx).

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) of the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

ONNX vocabulary (opset 22):

- Conv: `pads` = [x1_begin, x2_begin, ..., x1_end, x2_end, ...] (asymmetric is fine, must be >= 0),
  or `auto_pad` SAME_UPPER (odd pixel at the end), SAME_LOWER (at the start), VALID. A case written
  with `same` / `same_lower` / `valid` is spelled with that auto_pad; anything else with explicit
  pads. Negative padding (an input crop) is not ONNX: the input is sliced before the node (emulated).
- ConvTranspose: `pads` are crops of the full output (must be >= 0), `output_padding` gives back
  elements at the end (out = F + op - begin - end); `output_shape` fixes the length and the
  auto_pad rule splits T = F - o: SAME_UPPER crops T//2 at the start, SAME_LOWER T - T//2 (spec).
  A negative end crop is spelled as output_padding; onnxruntime and onnx.reference both refuse
  output_padding >= stride (measured; the spec's wording allows < stride/dilation), so larger ones
  and negative start crops are emulated: the node (no pads) computes the full output of length F,
  which is cropped / extended with zeros after it (the bias is added after the zeros, as the
  canonical definition wants). Cropping before the node would leave it an empty output, which
  onnxruntime refuses ("Computed output dimension is <= 0").

`spec_transpose_crop` states what the ONNX specification says a ConvTranspose computes, so that a
test can hold onnxruntime to the spec: where ORT differs, the case's rows show it as a mismatch.

`program(case, dtype, runtime)` is the whole computation as `harness.adapters.program` steps, the one
description that both runs (the adapter executes it) and prints: cast the canonical arrays with
NumPy, build the one-node model with onnx.helper, run it with onnxruntime or onnx.reference, and the
emulations around the node as NumPy steps.

Native spelling in and out: `from_native` (harness.adapters.onnx_native, re-exported here for
harness.loader.native) reads `onnx.helper.make_node("Conv" | "ConvTranspose", ...)` with the weight's
shape beside it; `native_texts` prints the make_node step of `program`'s model (`node_step`), so the
printed node is the one that ran.

There is no `layer_program` (the registry's default, None): ONNX has no layer object apart from the
Conv / ConvTranspose node, whose weights are its inputs, and `program` already is that node. The hook
is asked without a runtime, so it could only repeat one path's program under both adapter names:
onnx-reference's layer would run on onnxruntime (which refuses float64 and bfloat16 and has its own
SAME_* length bug), and `harness translate` would print the same code twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.onnx_native import from_native  # noqa: F401 - the reader (harness.loader.native's hook)
from harness.adapters.program import Ref

AUTO_PAD = {"same": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}
Pairs = tuple[tuple[int, int], ...]
OPSET = 22
IR_VERSION = 10  # what onnxruntime 1.2x/1.3x accept with opset 22
TENSOR_TYPES = {"float64": "DOUBLE", "float32": "FLOAT", "float16": "FLOAT16", "bfloat16": "BFLOAT16"}
RUNTIMES = ("onnxruntime", "reference")


@dataclass(frozen=True)
class Spelling:
    """ONNX attributes for one node plus what the adapter does around it (emulation)."""

    attrs: dict  # attributes of the Conv / ConvTranspose node, besides strides/dilations/group
    input_crop: Pairs | None = None  # conv: (start, end) elements sliced off x before the node
    output_extend: Pairs | None = None  # conv_transpose: canonical crops applied after a node without pads
    reason: str = ""  # why emulated; empty when native

    @property
    def native(self) -> bool:
        return self.input_crop is None and self.output_extend is None

    @property
    def label(self) -> str:
        """The formulation: the node alone, the input sliced before it, or its output cropped / extended."""
        if self.input_crop is not None:
            return "input_crop"
        return "native" if self.output_extend is None else "crop_extend"


def flat_pads(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """ONNX pads order: all begins, then all ends."""
    return [int(lo) for lo, _ in pairs] + [int(hi) for _, hi in pairs]


def conv_spelling(word: str | None, pads: Sequence[tuple[int, int]]) -> Spelling:
    """Conv attributes for canonical input padding `pads` (already the word's padding if a word)."""
    if word in AUTO_PAD:
        return Spelling({"auto_pad": AUTO_PAD[word]})
    keep = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    attrs = {"pads": flat_pads(keep)} if any(lo or hi for lo, hi in keep) else {}
    if all(lo >= 0 and hi >= 0 for lo, hi in pads):
        return Spelling(attrs)
    crop = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    return Spelling(attrs, input_crop=crop,
                    reason=f"negative padding {tuple(pads)} (an input crop) is not ONNX: x is sliced before the node")


def transpose_spelling(
    word: str | None,
    pads: Sequence[tuple[int, int]],
    stride: Sequence[int],
    output_shape: Sequence[int] | None = None,
    output_padding: Sequence[int] | None = None,
) -> Spelling:
    """ConvTranspose attributes for canonical crops `pads`, in the case's own vocabulary if ONNX has it.

    - same / same_lower: auto_pad SAME_UPPER / SAME_LOWER (+ output_shape when the case gives one);
    - valid: auto_pad VALID + output_shape when given, else output_padding for the appended zeros;
    - explicit: pads (begin, end) + output_padding, using the case's own output_padding when it has one.
    """
    if word in ("same", "same_lower"):
        attrs = {"auto_pad": AUTO_PAD[word]}
        if output_shape is not None:
            attrs["output_shape"] = [int(o) for o in output_shape]
        return Spelling(attrs)
    if word == "valid" and all(lo == 0 and -hi < s for (lo, hi), s in zip(pads, stride)):
        attrs = {"auto_pad": "VALID"}
        if output_shape is not None:
            attrs["output_shape"] = [int(o) for o in output_shape]
        elif any(hi < 0 for _, hi in pads):
            attrs["output_padding"] = [max(-hi, 0) for _, hi in pads]
        return Spelling(attrs)
    # explicit pads; the case's own output_padding if it fits, else the smallest one
    ops = []
    ends = []
    for ax, ((_lo, hi), s) in enumerate(zip(pads, stride)):
        op = max(-hi, 0)
        if output_padding is not None and hi + output_padding[ax] >= 0 and output_padding[ax] < s:
            op = output_padding[ax]
        ops.append(op)
        ends.append(hi + op)
    ok = all(lo >= 0 and op < s for (lo, _), op, s in zip(pads, ops, stride))
    if ok:
        attrs = {}
        begin_end = tuple((lo, e) for (lo, _), e in zip(pads, ends))
        if any(lo or e for lo, e in begin_end):
            attrs["pads"] = flat_pads(begin_end)
        if any(ops):
            attrs["output_padding"] = ops
        return Spelling(attrs)
    why = []
    if any(lo < 0 for lo, _ in pads):
        why.append("a negative start crop (ONNX pads must be >= 0)")
    if any(-hi >= s for (_, hi), s in zip(pads, stride)):
        why.append("zeros appended at the end >= stride (onnxruntime and onnx.reference refuse output_padding >= stride)")
    return Spelling({}, output_extend=tuple((int(lo), int(hi)) for lo, hi in pads),
                    reason=f"crops {tuple(pads)}: {' and '.join(why)}; the node computes the full output, which is "
                           "cropped / extended with zeros after it, then the bias is added")


def spec_transpose_crop(
    auto_pad: str, i: int, k: int, s: int, d: int,
    pads: tuple[int, int] = (0, 0), output_padding: int = 0, output_shape: int | None = None,
) -> tuple[int, int]:
    """The (start, end) crop of one axis of a ConvTranspose as the ONNX spec defines it.

    With output_shape: total_padding = s*(i-1) + output_padding + e - output_shape, and SAME_UPPER
    puts total//2 at the start, otherwise (SAME_LOWER) total - total//2. Without output_shape,
    SAME_* give output_shape = i*s; NOTSET uses pads and output_padding; VALID crops nothing.
    A negative total (stride larger than the dilated kernel) is split with floor division here
    (what onnx.reference does); the spec's integer division is not defined for it.
    """
    full = translate.transpose_full_length(i, k, s, d)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") or output_shape is not None:
        o = output_shape if output_shape is not None else i * s
        if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            auto_pad = "SAME_LOWER"  # the spec's "else" branch
        total = full + output_padding - o
        start = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return (start, full - o - start)
    if auto_pad == "VALID":
        return (0, -output_padding)
    return (pads[0], pads[1] - output_padding)


def node_attributes(kernel, stride, dilation, groups: int, spelling: Spelling) -> dict:
    """All attributes of the node, in the order onnx.helper.make_node(...) is written."""
    attrs = {"kernel_shape": list(kernel), "strides": list(stride), "dilations": list(dilation), "group": groups}
    attrs.update(spelling.attrs)
    return attrs


# --------------------------------------------------------------------------- the program


def spelling(case) -> Spelling:
    """The case's ONNX spelling (conv or conv_transpose)."""
    if case.is_transpose:
        return transpose_spelling(case.padding_word, case.padding, case.stride, case.output_shape,
                                  case.output_padding)
    return conv_spelling(case.padding_word, case.padding)


def numpy_dtype(dtype: str) -> Ref:
    """The NumPy scalar type onnx and onnxruntime take for a dtype; bfloat16 is ml_dtypes.bfloat16."""
    return Ref("ml_dtypes.bfloat16") if dtype == "bfloat16" else Ref(f"numpy.{dtype}")


def node_inputs(case, spelled: Spelling) -> tuple[str, ...]:
    """x, w, and b when the node adds the bias (not when zeros are appended after it: they carry it too)."""
    return ("x", "w", "b") if case.bias and spelled.output_extend is None else ("x", "w")


def cast_steps(case, dtype: str, spelled: Spelling) -> list[pg.Step]:
    """Canonical float64 arrays → arrays of the dtype; an input crop slices x first (then copies it:
    the slice is a view, ascontiguousarray makes it a C-ordered array of the dtype)."""
    npdt = numpy_dtype(dtype)
    steps = []
    if spelled.input_crop is not None:
        crop = [slice(lo or None, -hi if hi else None) for lo, hi in spelled.input_crop]
        steps += [pg.index("x", "x", slice(None), slice(None), *crop),
                  pg.call("x", "numpy.ascontiguousarray", Ref("x"), dtype=npdt)]
    else:
        steps.append(pg.call("x", "numpy.asarray", Ref("x"), dtype=npdt))
    steps += [pg.call(n, "numpy.asarray", Ref(n), dtype=npdt) for n in ("w", "b")[:1 + case.bias]]
    return steps


def node_step(case, spelled: Spelling, out: str | None = "node") -> pg.Step:
    """`node = onnx.helper.make_node('Conv' | 'ConvTranspose', inputs, ['y'], **attributes)`."""
    kind = "ConvTranspose" if case.is_transpose else "Conv"
    attrs = node_attributes(case.kernel, case.stride, case.dilation, case.groups, spelled)
    return pg.call(out, "onnx.helper.make_node", kind, list(node_inputs(case, spelled)), ["y"], **attrs)


def model_steps(case, dtype: str, spelled: Spelling) -> list[pg.Step]:
    """The one-node ModelProto, built with onnx.helper: `model`."""
    kind = "ConvTranspose" if case.is_transpose else "Conv"
    names = node_inputs(case, spelled)
    elem = Ref(f"onnx.TensorProto.{TENSOR_TYPES[dtype]}")
    x_shape = list(case.x_shape)
    if spelled.input_crop is not None:
        x_shape[2:] = [i - lo - hi for i, (lo, hi) in zip(case.input_size, spelled.input_crop)]
    shapes = {"x": x_shape, "w": list(case.w_shape), "b": [case.out_channels]}
    steps = [node_step(case, spelled)]
    steps += [pg.call(f"{n}_info", "onnx.helper.make_tensor_value_info", n, elem, shapes[n]) for n in names]
    steps += [pg.call("y_info", "onnx.helper.make_tensor_value_info", "y", elem, None),
              pg.call("graph", "onnx.helper.make_graph", [Ref("node")], f"{case.id}_{kind}",
                      [Ref(f"{n}_info") for n in names], [Ref("y_info")]),
              pg.call("opset", "onnx.helper.make_opsetid", "", OPSET),
              pg.call("model", "onnx.helper.make_model", Ref("graph"), opset_imports=[Ref("opset")],
                      producer_name="conv-harness", ir_version=IR_VERSION)]
    return steps


def _run_steps(case, spelled: Spelling, runtime: str) -> list[pg.Step]:
    """Run the model on the arrays: onnxruntime's CPU session, or the spec's reference evaluator."""
    if runtime == "onnxruntime":
        steps = [pg.call("model_bytes", "model.SerializeToString"),
                 pg.call("session", "onnxruntime.InferenceSession", Ref("model_bytes"),
                         providers=["CPUExecutionProvider"])]
    else:
        steps = [pg.call("session", "onnx.reference.ReferenceEvaluator", Ref("model"))]
    feeds = {n: Ref(n) for n in node_inputs(case, spelled)}
    return steps + [pg.call("outs", "session.run", None, feeds), pg.index("y", "outs", 0)]


def after_steps(case, spelled: Spelling, bias: str = "bias") -> list[pg.Step]:
    """A ConvTranspose emulation: crop / zero-extend the node's full output (numpy.pad, then slicing),
    then add the bias (in the dtype: one rounding, as inside the node), reshaped into the variable `bias`
    (a runtime whose program already has a `bias` names another: TVM's Relax)."""
    if spelled.output_extend is None:
        return []
    nd = case.ndim
    steps = pg.crop_or_extend("y", "y", spelled.output_extend, 2, nd + 2,
                              lambda out, src, grow: pg.call(out, "numpy.pad", Ref(src), [(0, 0), (0, 0), *grow]))
    if case.bias:
        steps += [pg.call(bias, "b.reshape", 1, -1, *([1] * nd)), pg.add("y", Ref("y"), Ref(bias))]
    return steps


def _imports(dtype: str, runtime: str) -> tuple[tuple[str, str], ...]:
    run = ("onnxruntime", "onnxruntime") if runtime == "onnxruntime" else ("onnx.reference", "onnx.reference")
    extra = (("ml_dtypes", "ml_dtypes"),) if dtype == "bfloat16" else ()
    return (("numpy", "numpy"), ("onnx", "onnx"), run, *extra)


def program(case, dtype: str, runtime: str = "onnxruntime") -> tuple[pg.Program, Spelling]:
    """The ONNX program for a case on one runtime (onnxruntime | reference), and the spelling it uses.

    Forward only (autodiff NONE). Setup: the arrays in the dtype, the one-node model; body: the run,
    and after it a ConvTranspose emulation's crop / zeros and bias; output: y back to float64."""
    spelled = spelling(case)
    return model_program(case, dtype, spelled, _run_steps(case, spelled, runtime), _imports(dtype, runtime)), spelled


def model_program(case, dtype: str, spelled: Spelling, run_steps, imports, notes=()) -> pg.Program:
    """The one-node model's program around another runtime's `run_steps` (steps from `model` and the
    cast arrays to `y`, in NCHW): what OpenVINO's ONNX frontend and TVM's Relax importer reuse, so that
    every runtime of the ONNX model runs the same model. `imports` are the program's, `notes` extra lines."""
    notes = [f"one-node model, opset {OPSET}, ir_version {IR_VERSION}, tensor({dtype})", *notes]
    if dtype == "bfloat16":
        notes.append("bfloat16 arrays are ml_dtypes.bfloat16 (what onnx and onnxruntime take)")
    if case.layout == "channels_last":
        notes.append("ONNX Conv is NCHW only: layout channels_last runs NCHW")
    if spelled.reason:
        notes.append(f"emulated: {spelled.reason}")
    return pg.Program(
        imports=tuple(imports),
        setup=tuple(cast_steps(case, dtype, spelled) + model_steps(case, dtype, spelled)),
        body=tuple(list(run_steps) + after_steps(case, spelled)),
        leaves=("x", "w", "b")[:2 + case.bias],
        autodiff=pg.NONE,
        outputs=(("y", (pg.call("y", "numpy.asarray", Ref("y"), dtype=Ref("numpy.float64")),)),),
        notes=tuple(notes),
    )


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """ONNX's weight layout is PyTorch's: Conv W (M, C/group, *k), ConvTranspose W (C, M/group, *k).
    Nothing to convert: an identity step (the program's setup only casts w to the dtype)."""
    return (pg.call("w_onnx", "numpy.asarray", Ref("w_torch")),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return (pg.call("w_torch", "numpy.asarray", Ref("w_onnx")),)


# Measured with onnx's reference evaluator (onnx 1.x, pure NumPy): its Conv / ConvTranspose run NumPy
# in float16 and err like a float16 accumulator (~11-13 effective bits); not strict (long sums at
# K >= 1729 met the contract: another NumPy code path).
REFERENCE_F16 = prec.Deviation("float16", "onnx.reference computes Conv / ConvTranspose with NumPy in float16, which "
                               "errs like float16 accumulation (measured: ~11-13 bits)")


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): y rounded twice where the bias is added after appended
    zeros; onnx.reference's measured float16 deviation."""
    separate = "the bias is added after the zeros appended to the node's output" if (
        case.bias and "b" not in node_inputs(case, spelling(case))) else ""
    deviations = (("y", REFERENCE_F16),) if path == "reference" and dtype == "float16" else ()
    return prec.declared(case, dtype, separate, deviations=deviations)


# --------------------------------------------------------------------------- native spelling in and out
# `from_native` (imported above) reads onnx.helper.make_node(...) with the weight's shape beside it
# (harness.adapters.onnx_native); `native_texts` writes the node `program` builds.


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """The make_node call of `program`'s model, with the weight's shape (ONNX's layout is the canonical
    one), for a case ONNX spells natively; () for an emulated one (an input crop, or a transposed
    conv's crop / zeros around the node). channels_last cases run NCHW: the same node."""
    spelled = spelling(case)
    if not spelled.native:
        return ()
    return (nc.Spelled(pg.render(node_step(case, spelled, out=None)), case.w_shape),)
