"""Pure translation of canonical cases into OpenVINO's convolution opset (imports no openvino).

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) of the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

OpenVINO's vocabulary (openvino.opset16, whose convolution ops are the v1 ops; measured with
openvino 2026.4.1 on the CPU plugin against the NumPy oracle, one-node models, float32):

- `convolution` / `group_convolution(data, filters, strides, pads_begin, pads_end, dilations,
  auto_pad)`: pads_begin / pads_end pad the input (asymmetric is fine); auto_pad 'same_upper' puts
  the odd pixel at the end (canonical `same`), 'same_lower' at the start, 'valid' pads nothing
  (dilation included). Negative pads are not OpenVINO: compile_model fails ("could not construct a
  memory descriptor using a format tag", "object is not initialized"), so an input crop is emulated
  with Pad nodes before the convolution.
- `convolution_backprop_data` / `group_convolution_backprop_data(data, filters, strides,
  output_shape, pads_begin, pads_end, dilations, auto_pad, output_padding)`: pads_begin / pads_end
  crop the full output, output_padding gives elements back at the end (any amount: >= stride
  measured right), out = F - begin - end + output_padding. A negative pads_begin fails in
  compile_model ("could not create a primitive descriptor for the deconvolution"), so a negative
  start crop is emulated: the node computes the full output and Pad nodes prepend the zeros and
  crop (a crop may reach past the node's output into the prepended zeros).
  auto_pad 'same_upper' / 'same_lower' without output_shape pad nothing (length F, as the spec's
  formula says). With the `output_shape` input, T = F - o is split as OpenVINO's spec says (and
  measured): 'same_upper' crops the LARGER half at the start (T - T//2, T//2), any other auto_pad
  the smaller one (T//2, T - T//2), 'explicit' and 'valid' crop (0, T); a negative T (o > F)
  appends -T zeros at the end whatever the auto_pad. So canonical `same` (TensorFlow's split, the
  adjoint of a SAME conv) is OpenVINO's 'same_lower' with output_shape, canonical `same_lower`
  (ONNX SAME_LOWER) is OpenVINO's 'same_upper': the opposite of ONNX's SAME_UPPER.
- Weights: `convolution` takes PyTorch's (C_out, C_in, *k), `convolution_backprop_data`
  (C_in, C_out, *k); the group ops take them split by group: (G, C_out/G, C_in/G, *k) forward and
  (G, C_in/G, C_out/G, *k) backprop (both measured), a reshape of PyTorch's layout.
- `pad(arg, pads_begin, pads_end, 'constant')` (Pad-12): negative amounts crop. A Pad that both pads
  and crops more than the data on one axis ((3, -5) on 3 elements) aborts the process ("double free or
  corruption"), so the emulations pad first and crop with a second Pad node, never both at once.
- The bias is an `add` node after the convolution (and after an emulation's Pad nodes, so that
  appended zeros carry it too): the whole computation is the OpenVINO model.

`program(case, dtype)` is the whole computation as `harness.adapters.program` steps, the one
description that both runs and prints: NumPy casts, the model built with the opset API (its
Parameters, the convolution, Pad and Add nodes, `openvino.Model`), `Core().compile_model` on the CPU
with an explicit INFERENCE_PRECISION_HINT, the call, y back to float64. There is no layer object:
the model is the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import program as pg
from harness.adapters.program import Ref

OPSET = "openvino.opset16"  # the newest opset module of openvino 2026.4 (its convolution ops are v1)
AUTO_PAD_CONV = {"same": "same_upper", "same_lower": "same_lower", "valid": "valid"}
# output_shape splits T with the larger half at the start for 'same_upper' (OpenVINO's spec, measured)
AUTO_PAD_TRANSPOSE = {"same": "same_lower", "same_lower": "same_upper"}
ELEMENT_TYPES = {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}
# what compile_model is told: every dtype computes in f32 here (see `inference_precision`)
INFERENCE_PRECISION = "f32"
Pairs = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Spelling:
    """The node's attributes, and what is done around it in the model (emulation)."""

    attrs: dict  # keyword arguments of the convolution call besides strides / dilations
    before: Pairs | None = None  # conv: canonical input padding done by Pad nodes (the node pads nothing)
    after: Pairs | None = None  # conv_transpose: (lo, hi) padding (negative: crop) of the full output by Pad nodes
    reason: str = ""

    @property
    def native(self) -> bool:
        return self.before is None and self.after is None

    @property
    def label(self) -> str:
        """The formulation: the node alone, Pad nodes before it, or Pad nodes after it."""
        if self.before is not None:
            return "pad_before"
        return "native" if self.after is None else "pad_after"


def conv_spelling(word: str | None, pads: Sequence[tuple[int, int]]) -> Spelling:
    """Convolution attributes for canonical input padding `pads` (the word's padding if a word)."""
    if word in AUTO_PAD_CONV:
        return Spelling({"pads_begin": [0] * len(pads), "pads_end": [0] * len(pads), "auto_pad": AUTO_PAD_CONV[word]})
    if all(lo >= 0 and hi >= 0 for lo, hi in pads):
        return Spelling({"pads_begin": [int(lo) for lo, _ in pads], "pads_end": [int(hi) for _, hi in pads],
                         "auto_pad": "explicit"})
    zeros = [0] * len(pads)
    return Spelling({"pads_begin": zeros, "pads_end": zeros, "auto_pad": "explicit"},
                    before=tuple((int(lo), int(hi)) for lo, hi in pads),
                    reason=f"negative padding {tuple(pads)} (an input crop): OpenVINO's pads must be >= 0 (compile_model "
                           "fails), so Pad nodes pad / crop the input and the convolution pads nothing")


def transpose_spelling(
    word: str | None, pads: Sequence[tuple[int, int]], output_size: Sequence[int],
    output_padding: Sequence[int] | None = None,
) -> Spelling:
    """Backprop-data attributes for canonical crops `pads` (output length `output_size`).

    same / same_lower: auto_pad + the output_shape input (OpenVINO's split, `AUTO_PAD_TRANSPOSE`);
    valid: auto_pad 'valid' + output_shape; explicit: pads_begin, pads_end and output_padding (the
    case's own when it has one, else what a negative end crop needs); a negative start crop is
    emulated (Pad nodes after the node)."""
    nd = len(pads)
    if word in AUTO_PAD_TRANSPOSE or word == "valid":
        auto = AUTO_PAD_TRANSPOSE.get(word, "valid")
        return Spelling({"output_shape": [int(o) for o in output_size], "pads_begin": [0] * nd, "pads_end": [0] * nd,
                         "auto_pad": auto})
    if any(lo < 0 for lo, _ in pads):
        zeros = [0] * nd
        return Spelling({"pads_begin": zeros, "pads_end": zeros, "auto_pad": "explicit"},
                        after=tuple((-int(lo), -int(hi)) for lo, hi in pads),
                        reason=f"crops {tuple(pads)}: a negative start crop (pads_begin < 0 fails in compile_model); the "
                               "node computes the full output, Pad nodes prepend the zeros and crop, then the bias is added")
    begins, ends, ops = [], [], []
    for ax, (lo, hi) in enumerate(pads):
        op = max(-hi, 0)
        if output_padding is not None and hi + output_padding[ax] >= 0:
            op = output_padding[ax]
        begins.append(int(lo))
        ends.append(int(hi + op))
        ops.append(int(op))
    attrs = {"pads_begin": begins, "pads_end": ends, "auto_pad": "explicit"}
    if any(ops):
        attrs["output_padding"] = ops
    return Spelling(attrs)


def spelling(case) -> Spelling:
    if case.is_transpose:
        return transpose_spelling(case.padding_word, case.padding, case.output_size, case.output_padding)
    return conv_spelling(case.padding_word, case.padding)


def spec_transpose_crop(auto_pad: str, full: int, o: int | None, pads: tuple[int, int] = (0, 0),
                        output_padding: int = 0) -> tuple[int, int]:
    """The (start, end) crop of one axis of a ConvolutionBackpropData as OpenVINO's spec defines it
    (full length F = (i-1)*s + d*(k-1) + 1, output_shape o or None).

    Without output_shape: pads_begin, pads_end - output_padding under 'explicit', else nothing.
    With it: T = F + output_padding - o; 'same_upper' crops (T - T//2, T//2), the others (T//2, T - T//2);
    measured: 'explicit' and 'valid' crop (0, T), and a negative T appends zeros at the end."""
    if o is None:
        return (pads[0], pads[1] - output_padding) if auto_pad == "explicit" else (0, -output_padding)
    total = full + output_padding - o
    if total < 0 or auto_pad in ("explicit", "valid"):
        return (0, full - o)
    start = total - total // 2 if auto_pad == "same_upper" else total // 2
    return (start, full - o - start)


# --------------------------------------------------------------------------- weights


def native_weight_shape(case) -> tuple[int, ...]:
    """The filters' shape as the op takes them: PyTorch's, split by group for the group ops."""
    if case.groups == 1:
        return tuple(case.w_shape)
    first, second, *k = case.w_shape  # (C_out, C_in/G) forward, (C_in, C_out/G) backprop
    return (case.groups, first // case.groups, second, *k)


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """PyTorch's layout → OpenVINO's: the same for groups == 1, else the leading axis split by group
    ((G, C_out/G, C_in/G, *k) forward, (G, C_in/G, C_out/G, *k) backprop; measured)."""
    return (pg.call("w_openvino", "numpy.reshape", Ref("w_torch"), native_weight_shape(case)),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return (pg.call("w_torch", "numpy.reshape", Ref("w_openvino"), tuple(case.w_shape)),)


# --------------------------------------------------------------------------- the program


def op_name(case) -> str:
    kind = "convolution_backprop_data" if case.is_transpose else "convolution"
    return f"ops.{'group_' if case.groups > 1 else ''}{kind}"


def numpy_dtype(dtype: str) -> Ref:
    """The NumPy scalar type of the arrays fed to OpenVINO; bfloat16 is ml_dtypes.bfloat16."""
    return Ref("ml_dtypes.bfloat16") if dtype == "bfloat16" else Ref(f"numpy.{dtype}")


def _arrays(case, dtype: str) -> list[pg.Step]:
    """The canonical float64 arrays in the dtype and OpenVINO's shapes (grouped filters, b as (1, C, 1...))."""
    npdt = numpy_dtype(dtype)
    steps = [pg.call("x", "numpy.asarray", Ref("x"), dtype=npdt),
             pg.call("w", "numpy.asarray", Ref("w"), dtype=npdt)]
    if case.groups > 1:
        steps.append(pg.call("w", "numpy.reshape", Ref("w"), native_weight_shape(case)))
    if case.bias:
        steps += [pg.call("b", "numpy.asarray", Ref("b"), dtype=npdt),
                  pg.call("b", "numpy.reshape", Ref("b"), (1, case.out_channels, *([1] * case.ndim)))]
    return steps


def _parameters(case, dtype: str) -> list[pg.Step]:
    elem = Ref(f"ov.Type.{ELEMENT_TYPES[dtype]}")
    shapes = {"x": list(case.x_shape), "w": list(native_weight_shape(case)),
              "b": [1, case.out_channels, *([1] * case.ndim)]}
    return [pg.call(f"{n}_node", "ops.parameter", shapes[n], elem, name=n) for n in ("x", "w", "b")[:2 + case.bias]]


def _pad_nodes(out: str, src: str, pads: Pairs) -> list[pg.Step]:
    """Canonical (lo, hi) pairs on the spatial axes of node `src` as Pad nodes: one padding with zeros
    where positive, then one cropping (negative pads) where negative; never both in one Pad node."""
    steps, lead = [], [0, 0]
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    crop = [(min(lo, 0), min(hi, 0)) for lo, hi in pads]
    for part in (grow, crop):
        if any(a or b for a, b in part):
            steps.append(pg.call(out, "ops.pad", Ref(src), lead + [a for a, _ in part], lead + [b for _, b in part],
                                 "constant"))
            src = out
    return steps


def _conv_node(case, spelled: Spelling, data: str) -> pg.Step:
    kwargs = dict(strides=list(case.stride))
    attrs = dict(spelled.attrs)
    if "output_shape" in attrs:
        kwargs["output_shape"] = attrs.pop("output_shape")
    kwargs.update(pads_begin=attrs.pop("pads_begin"), pads_end=attrs.pop("pads_end"), dilations=list(case.dilation))
    kwargs.update(attrs)  # auto_pad, output_padding
    return pg.call("node", op_name(case), Ref(data), Ref("w_node"), **kwargs)


def model_steps(case, dtype: str, spelled: Spelling) -> list[pg.Step]:
    """Parameters, [Pad nodes,] the convolution, [a Pad node,] [the bias Add], `model`."""
    steps = _parameters(case, dtype)
    data = "x_node"
    if spelled.before is not None:
        steps += _pad_nodes("x_padded", "x_node", spelled.before)
        data = "x_padded"
    steps.append(_conv_node(case, spelled, data))
    if spelled.after is not None:
        steps += _pad_nodes("node", "node", spelled.after)
    if case.bias:
        steps.append(pg.call("node", "ops.add", Ref("node"), Ref("b_node")))
    params = [Ref(f"{n}_node") for n in ("x", "w", "b")[:2 + case.bias]]
    return steps + [pg.call("model", "ov.Model", [Ref("node")], params, case.id)]


def compile_step(model: str = "model") -> pg.Step:
    """`compiled = core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})`: the hint is
    explicit, so the printed program runs as the adapter did whatever the machine's default is."""
    return pg.call("compiled", "core.compile_model", Ref(model), "CPU",
                   {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISION})


def result_steps(dtype: str) -> list[pg.Step]:
    """outs[0] as y; a bfloat16 result comes back as a numpy float16 array holding bfloat16 bits (numpy has
    no bfloat16; measured), viewed back as ml_dtypes.bfloat16."""
    steps = [pg.index("y", "outs", 0)]
    if dtype == "bfloat16":
        steps.append(pg.call("y", "y.view", Ref("ml_dtypes.bfloat16")))
    return steps


def imports(dtype: str, opset: bool = True) -> tuple[tuple[str, str], ...]:
    extra = (("ml_dtypes", "ml_dtypes"),) if dtype == "bfloat16" else ()
    return (("numpy", "numpy"), ("ov", "openvino"), *((("ops", OPSET),) if opset else ()), *extra)


def notes(case, dtype: str, spelled: Spelling) -> list[str]:
    lines = [f"one-node OpenVINO model ({OPSET}), element type {ELEMENT_TYPES[dtype]}, CPU plugin, "
             f"INFERENCE_PRECISION_HINT {INFERENCE_PRECISION}"]
    if case.layout == "channels_last":
        lines.append("OpenVINO's convolutions are NCHW only: layout channels_last runs NCHW")
    if spelled.reason:
        lines.append(f"emulated: {spelled.reason}")
    return lines


def program(case, dtype: str) -> tuple[pg.Program, Spelling]:
    """The opset program for a case, and the spelling it uses. Forward only (autodiff NONE)."""
    spelled = spelling(case)
    inputs = ("x", "w", "b")[:2 + case.bias]
    setup = (*_arrays(case, dtype), *model_steps(case, dtype, spelled), pg.call("core", "ov.Core"),
             compile_step())
    body = (pg.call("outs", "compiled", [Ref(n) for n in inputs]), *result_steps(dtype))
    prog = pg.Program(
        imports=imports(dtype), setup=setup, body=body, leaves=inputs, autodiff=pg.NONE,
        outputs=(("y", (pg.call("y", "numpy.asarray", Ref("y"), dtype=Ref("numpy.float64")),)),),
        notes=tuple(notes(case, dtype, spelled)))
    return prog, spelled


# --------------------------------------------------------------------------- precision

SEPARATE_BIAS = "the bias is an Add node after the convolution (after Pad nodes when emulated)"


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): the default (measured on this CPU without AVX512_BF16:
    float16 models run through Converts around an f32 convolution, bfloat16 ones accumulate in f32 and
    round once), with y rounded twice where the bias is a separate Add node."""
    return prec.declared(case, dtype, SEPARATE_BIAS)


def full_lengths(case) -> tuple[int, ...]:
    return tuple(translate.transpose_full_length(i, k, s, d)
                 for i, k, s, d in zip(case.input_size, case.kernel, case.stride, case.dilation))
