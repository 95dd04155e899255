"""LiteRT (TFLite)'s vocabulary for canonical cases, and the program that converts and runs them.
Pure: this module imports neither TensorFlow nor ai_edge_litert.

A case becomes a TF computation in TF's own words (`harness.adapters.tf_padding`: SAME / VALID /
explicit pads, conv*_transpose's output_shape), traced as a tf.function over a Keras Sequential of
Lambda layers (each layer one functools.partial of a TF op, weights and bias as tf.constant: they
are folded into the model, as deployments have them), converted by
tf.lite.TFLiteConverter.from_concrete_functions and run by the LiteRT interpreter (allocate_tensors,
set_tensor, invoke, get_tensor). Data are channels-last (TFLite's only layout); the program
transposes at the edge. Keras casts a layer's input to the layer's dtype: every Lambda names the
data's dtype, so a float64 graph stays float64 (and the converter refuses it, below).

What LiteRT takes (measured with tensorflow-cpu 2.21.0's converter and ai-edge-litert 2.3.0's
interpreter, float32, all three op resolvers: AUTO (the XNNPACK delegate), BUILTIN_WITHOUT_DEFAULT_
DELEGATES (the optimized builtin kernels), BUILTIN_REF (the reference kernels); /tmp measurement
scripts, repeated in tests/test_litert_adapter.py):

- conv: tf.nn.conv1d / conv2d / conv3d with SAME or VALID and any stride and dilation become
  CONV_2D (1D: RESHAPE around it) and CONV_3D; explicit 2D padding becomes PAD + CONV_2D; grouped
  1D / 2D convs (filter in-channels C_in/g) become one grouped CONV_2D. Grouped 3D: refused by the
  converter ("'tf.Conv3D' op is neither a custom op nor a flex op", ERROR_NEEDS_FLEX_OPS).
- conv_transpose: tf.nn.conv1d / conv2d_transpose with SAME or VALID and output_shape become
  TRANSPOSE_CONV (1D: RESHAPE around it), conv3d_transpose becomes CONV_3D_TRANSPOSE. Refused by the
  converter (tf.Conv2DBackpropInput needs TF Select): explicit padding and dilation > 1. Groups
  convert but the interpreter refuses them ("transpose_conv.cc: SizeOfDimension(output, 3) !=
  SizeOfDimension(weights, 0)").
- tf.nn.bias_add after the op is folded into CONV_2D / TRANSPOSE_CONV's bias input.
- dtypes: a float64, float16 or bfloat16 graph is refused by the converter (the conv op "is neither
  a custom op nor a flex op", ERROR_NEEDS_FLEX_OPS): TFLite's float kernels are float32. `float16`
  here is the converter's float16 quantization (optimizations DEFAULT, target_spec.supported_types
  [tf.float16]): the constants (weights, bias) are stored as float16 and DEQUANTIZE'd to float32;
  the data, the accumulation and y stay float32.

Emulations (each reason in the plan): a conv padding TF cannot spell is tf.pad / tf.slice before a
VALID conv (as tf_padding); a transposed conv's explicit crops are VALID with output_shape F, then
tf.pad / tf.slice, then the bias; dilation of a transposed conv is zeros inserted between the
kernel taps (tf_padding.dilate_kernel_steps, on the constant filter); groups that LiteRT refuses
are one dense op with a block-diagonal weight (zeros between the groups, built with NumPy before the
filter becomes a constant: the model computes the same sums plus exact zeros).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness import precision as prec
from harness.adapters import program as pg
from harness.adapters import tf_padding as tp
from harness.adapters.base import inverse_permutation
from harness.adapters.program import Ref

# path → the interpreter's op resolver (litert.OpResolverType.<name>)
RESOLVERS = {"interpreter": "AUTO", "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "reference": "BUILTIN_REF"}
NUM_THREADS = 1  # the printed program's interpreter threads (numbers must not depend on the machine)
GRAPH_DTYPE = {"float32": "float32", "float16": "float32", "float64": "float64"}  # the data's dtype in the model


@dataclass(frozen=True)
class Spelling:
    """How LiteRT computes one case: TF's formulation (op, padding, emulations around it), whether the
    groups run as one op over a block-diagonal weight, and why anything is emulated."""

    form: tp.Formulation
    block_groups: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def native(self) -> bool:
        return not self.reasons

    @property
    def label(self) -> str:
        """'native', or the emulations joined by '+' (tf_padding's labels, 'block_groups')."""
        parts = [p for p in self.form.label.split("+") if p not in ("native", "explicit")]
        parts += ["block_groups"] if self.block_groups else []
        return "+".join(parts) or "native"


FLEX = "the converter refuses it (ERROR_NEEDS_FLEX_OPS: {op} needs TF Select, which the LiteRT interpreter lacks)"


def spelling(case) -> Spelling:
    """The most native spelling LiteRT converts and runs (see the module docstring)."""
    form, reasons = tp.first_choice(case, "nn")
    reasons, block = list(reasons), False
    if not case.is_transpose:
        form = replace(form, api="conv_nd")  # tf.nn.conv{1,2,3}d: dilation goes into CONV_2D / CONV_3D
        if case.groups > 1 and case.ndim == 3:
            block = True
            reasons.append(f"{case.groups} groups in 3D: {FLEX.format(op='grouped tf.Conv3D')}; one CONV_3D "
                           "with a block-diagonal weight")
        return Spelling(form, block, tuple(reasons))
    if form.padding == "EXPLICIT":
        form = replace(form, padding="VALID", explicit=(), post=tuple(case.padding))
        reasons.append(f"explicit crops {tuple(case.padding)}: TRANSPOSE_CONV has SAME / VALID only and "
                       f"{FLEX.format(op='tf.Conv2DBackpropInput with EXPLICIT padding')}; 'VALID' with "
                       "output_shape F, then crop / append zeros, then add b")
    if any(d > 1 for d in case.dilation):
        form = replace(form, dilate_kernel=True)
        reasons.append(f"dilation {case.dilation}: TRANSPOSE_CONV has none and "
                       f"{FLEX.format(op='tf.Conv2DBackpropInput with dilations')}; zeros inserted between "
                       "the kernel taps, dilation 1")
    if case.groups > 1:
        block = True
        reasons.append(f"{case.groups} groups: the interpreter refuses a grouped TRANSPOSE_CONV "
                       "(transpose_conv.cc: SizeOfDimension(output, 3) != SizeOfDimension(weights, 0)); one "
                       "op with a block-diagonal weight")
    return Spelling(form, block, tuple(reasons))


# --------------------------------------------------------------------------- the program


def block_diagonal_steps(case) -> list[pg.Step]:
    """NumPy steps making the canonical grouped weight w dense: conv (C_out, C_in/g, *k) → (C_out, C_in,
    *k), conv_transpose (C_in, C_out/g, *k) → (C_in, C_out, *k), zeros outside each group's block."""
    g, nd = case.groups, case.ndim
    rows = (case.out_channels if not case.is_transpose else case.in_channels) // g
    cols = case.w_shape[1]
    steps, blocks = [], []
    for i in range(g):
        pads = [(0, 0), (i * cols, (g - 1 - i) * cols), *([(0, 0)] * nd)]
        steps += [pg.index(f"w{i}", "w", slice(i * rows, (i + 1) * rows)),
                  pg.call(f"w{i}", "numpy.pad", Ref(f"w{i}"), pads)]
        blocks.append(Ref(f"w{i}"))
    return steps + [pg.call("w", "numpy.concatenate", blocks, axis=0)]


def dense_case(case, spelled: Spelling):
    """The case as the model computes it: groups 1 when the weight is block-diagonal."""
    return replace(case, groups=1) if spelled.block_groups else case


def _prepare(case, dtype: str, spelled: Spelling) -> list[pg.Step]:
    """Canonical float64 NumPy → channels-last data and TF filters in the graph's dtype (float16: the
    float32 data and weights of a float32 model, its constants stored as float16 by the converter)."""
    npdt = Ref(f"numpy.{GRAPH_DTYPE[dtype]}")
    steps = block_diagonal_steps(case) if spelled.block_groups else []
    perms = {"x": tp.data_permutation(case.ndim), "w": tp.weight_permutation(case.ndim)}
    for name in ("x", "w", "b") if case.bias else ("x", "w"):
        if name in perms:
            steps.append(pg.call(name, "numpy.transpose", Ref(name), perms[name]))
        steps.append(pg.call(name, "numpy.ascontiguousarray", Ref(name), dtype=npdt))
    return steps


def _partial(out: str, step: pg.Step) -> pg.Step:
    """A TF op step `y = tf.nn.conv2d(x, w, **kw)` as `out = partial(tf.nn.conv2d, filters=w, **kw)`."""
    _, w = step.args
    return pg.call(out, "partial", Ref(step.func), filters=w, **dict(step.kwargs))


def _slice_partial(out: str, shape, crop) -> pg.Step:
    """tf.slice of a channels-last tensor of `shape` cropping (lo, hi) >= 0 per spatial axis."""
    begin = [0, *(lo for lo, _ in crop), 0]
    size = [shape[0], *(n - lo - hi for n, (lo, hi) in zip(shape[1:-1], crop)), shape[-1]]
    return pg.call(out, "partial", Ref("tf.slice"), begin=begin, size=size)


def _pad_crop(prefix: str, shape, pads) -> tuple[list[pg.Step], list[str], list[int]]:
    """Partials appending zeros (negative amounts) then cropping (positive) a channels-last tensor of
    `shape`: (steps, the partials' names, the shape after them)."""
    grow = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    steps, names, shape = [], [], list(shape)
    if any(a or b for a, b in grow):
        steps.append(pg.call(f"{prefix}_pad", "partial", Ref("tf.pad"), paddings=tp.explicit_padding(grow)))
        names.append(f"{prefix}_pad")
        shape = [shape[0], *(n + a + b for n, (a, b) in zip(shape[1:-1], grow)), shape[-1]]
    if any(a or b for a, b in crop):
        steps.append(_slice_partial(f"{prefix}_crop", shape, crop))
        names.append(f"{prefix}_crop")
        shape = [shape[0], *(n - a - b for n, (a, b) in zip(shape[1:-1], crop)), shape[-1]]
    return steps, names, shape


def _functions(case, spelled: Spelling) -> tuple[list[pg.Step], list[str]]:
    """The model's functions in order (functools.partial of TF ops): pre-pad / crop, the op, crop /
    zeros, bias; the steps building them (a dilated kernel's TF steps first, on the constant filter)."""
    form, dense = spelled.form, dense_case(case, spelled)
    steps, names = [pg.call("w", "tf.constant", Ref("w"))], []
    x_shape = [case.batch, *case.input_size, case.in_channels]
    if form.pre is not None:  # canonical input padding: positive pads, negative crops
        pre, pre_names, _ = _pad_crop("input", x_shape, tuple((-lo, -hi) for lo, hi in form.pre))
        steps, names = steps + pre, names + pre_names
    w = "w"
    if form.dilate_kernel:
        dilate = tp.dilate_kernel_steps("wd", "w", tp.filter_shape(dense), case.dilation)
        steps, w = steps + dilate, "wd"
    steps.append(_partial("conv", tp.op_steps(dense, form, "y", "x", w, case.out_channels)[0]))
    names.append("conv")
    if form.post is not None:
        full = [case.batch, *tp.full_lengths(case.input_size, case.kernel, case.stride, case.dilation),
                case.out_channels]
        post, post_names, _ = _pad_crop("output", full, form.post)
        steps, names = steps + post, names + post_names
    if case.bias:
        steps += [pg.call("b", "tf.constant", Ref("b")),
                  pg.call("bias", "partial", Ref("tf.nn.bias_add"), bias=Ref("b"))]
        names.append("bias")
    return steps, names


def _model_steps(case, dtype: str, spelled: Spelling, path: str) -> list[pg.Step]:
    """The Keras Sequential of Lambda layers, traced (tf.function), converted, and the interpreter
    with its tensors allocated and the input / output indices read."""
    steps, names = _functions(case, spelled)
    graph_dtype = Ref(f"tf.{GRAPH_DTYPE[dtype]}")
    steps += [pg.call(f"{n}_layer", "tf.keras.layers.Lambda", Ref(n), dtype=graph_dtype) for n in names]
    x_shape = (case.batch, *case.input_size, case.in_channels)
    steps += [pg.call("model", "tf.keras.Sequential", [Ref(f"{n}_layer") for n in names]),
              pg.call("function", "tf.function", Ref("model")),
              pg.call("spec", "tf.TensorSpec", x_shape, graph_dtype),
              pg.call("concrete", "function.get_concrete_function", Ref("spec")),
              pg.call("converter", "tf.lite.TFLiteConverter.from_concrete_functions", [Ref("concrete")], Ref("model"))]
    if case.ndim != 3:  # the graph straight to the converter, not through a SavedModel written first (TF 2.21's
        # default): ~2x faster an item, measured; the graph path mis-infers a padded Conv3D's shape (ConverterError
        # "'tf.Conv3D' op inferred type(s) ... are incompatible with return type(s)"), so 3D keeps the default
        steps.append(pg.assign("converter.experimental_lower_to_saved_model", False))
    if dtype == "float16":
        steps += [pg.assign("converter.optimizations", [Ref("tf.lite.Optimize.DEFAULT")]),
                  pg.assign("converter.target_spec.supported_types", [Ref("tf.float16")])]
    steps += [pg.call("flatbuffer", "converter.convert"),
              pg.call("interpreter", "litert.Interpreter", model_content=Ref("flatbuffer"), num_threads=NUM_THREADS,
                      experimental_op_resolver_type=Ref(f"litert.OpResolverType.{RESOLVERS[path]}")),
              pg.call(None, "interpreter.allocate_tensors"),
              pg.call("inputs", "interpreter.get_input_details"), pg.index("x_index", "inputs", 0),
              pg.index("x_index", "x_index", "index"),
              pg.call("outputs", "interpreter.get_output_details"), pg.index("y_index", "outputs", 0),
              pg.index("y_index", "y_index", "index")]
    return steps


def _run_steps() -> list[pg.Step]:
    return [pg.call(None, "interpreter.set_tensor", Ref("x_index"), Ref("x")),
            pg.call(None, "interpreter.invoke"),
            pg.call("y", "interpreter.get_tensor", Ref("y_index"))]


def program(case, dtype: str, path: str = "interpreter") -> tuple[pg.Program, Spelling]:
    """The LiteRT program for a case on one op resolver (`RESOLVERS`), and the spelling it uses.

    Forward only (autodiff NONE). Prepare (NumPy): block-diagonal weight, channels-last data and TF
    filters; setup: constants, partials, layers, model, conversion, interpreter; body: set_tensor,
    invoke, get_tensor; output: y back to channels-first float64."""
    spelled = spelling(case)
    notes = [f"LiteRT interpreter, op resolver {RESOLVERS[path]}; the tf.function is converted by "
             "tf.lite.TFLiteConverter (weights and bias are constants in the model)"]
    if dtype == "float16":
        notes.append("float16: the converter's float16 quantization (constants stored as float16, dequantized "
                     "to float32); data, accumulation and y are float32")
    if spelled.reasons:
        notes.append(f"emulated: {'; '.join(spelled.reasons)}")
    back = inverse_permutation(tp.data_permutation(case.ndim))
    prog = pg.Program(
        imports=(("numpy", "numpy"), ("partial", "functools.partial"), ("tf", "tensorflow"),
                 ("litert", "ai_edge_litert.interpreter")),
        prepare=tuple(_prepare(case, dtype, spelled)),
        setup=tuple(_model_steps(case, dtype, spelled, path)),
        body=tuple(_run_steps()),
        leaves=("x", "w", "b")[:2 + case.bias],
        autodiff=pg.NONE,
        outputs=(("y", (pg.call("y", "numpy.transpose", Ref("y"), back),
                        pg.call("y", "numpy.asarray", Ref("y"), dtype=Ref("numpy.float64")))),),
        notes=tuple(notes),
    )
    return prog, spelled


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """TF's filter layouts (tf_padding): conv (*k, C_in/g, C_out), conv_transpose (*k, C_out/g, C_in).
    What the converter folds into the model is this array (TFLite re-lays it out itself: OHWI)."""
    return tp.weight_to_native(case)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return tp.weight_from_native(case)


FLOAT16_SOURCE = ("LiteRT float16 is the converter's float16 quantization: weights and bias stored as float16 "
                  "and dequantized to float32; data, accumulation and output are float32 (TFLite's float "
                  "kernels; the TFLite post-training float16 quantization guide)")


def precision(case, dtype: str, path: str, device: str):
    """float16: the default contract's bound (float32 accumulation) with the source saying what runs —
    float32 arithmetic on float16-stored constants; y is never rounded to float16 (a tighter result)."""
    if dtype != "float16":
        return None
    return prec.Contract("float16", "float32", FLOAT16_SOURCE)
