"""JAX's lax convolutions as written → canonical case fields (`from_native`, re-exported by
`jax_padding`, whose `native_texts` writes cases back from its program's steps), and the lax rules
both use: the lhs-dilated padding relation, dimension numbers, padding words. Pure: never imports
jax; `flax_padding` reads flax's layers with the same rules.

Measured with jax 0.10.2 (CPU), signatures from jax/_src/lax/convolution.py:

- `lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
  dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
  preferred_element_type=None, out_sharding=None)`, and its wrappers `lax.conv(lhs, rhs, window_strides,
  padding, precision, preferred_element_type)` and `lax.conv_with_general_padding(lhs, rhs,
  window_strides, padding, lhs_dilation, rhs_dilation, ...)` (both NCHW / OIHW). window_strides and the
  dilations are sequences of positive ints (an int is a TypeError); padding is 'SAME', 'SAME_LOWER' or
  'VALID' in any case (padtype_to_pads upper-cases it) or n (lo, hi) pairs, lists too (an int is
  refused, a negative pair crops). dimension_numbers None is ('NCHW', 'OIHW', 'NCHW'); strings name N
  and C (lhs, out), O and I (rhs), and any spatial letters, and the window's parameters (strides,
  padding, dilations) follow the rhs's order of spatial letters: read here into the lhs's order.
  batch_group_count > 1 is refused (no canonical op).
- lhs_dilation > 1 makes conv_general_dilated a transposed conv: with window_strides 1 it maps to
  conv_transpose with stride = lhs_dilation and the crops `crops_from_transpose_padding` gives (lax
  refuses string padding then). Its rhs is the forward conv's kernel (O = C_out, I = C_in/groups): the
  canonical weight is rhs regrouped to (C_in, C_out/g, *k) with its taps flipped (the inverse of
  `jax_padding.kernel_as_conv_steps`). With window_strides > 1 as well it is no canonical op (refused).
- `lax.conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
  transpose_kernel=False, precision=None, preferred_element_type=None, use_consistent_padding=False)`:
  dimension_numbers None is TensorFlow's (NHC/HIO, NHWC/HWIO, NHWDC/HWDIO); no groups. It is a conv of
  the lhs-dilated input with rhs; transpose_kernel=False uses rhs as it is: its I axis is C_in, O is
  C_out, and the canonical weight (C_in, C_out, *k) is rhs's (I, O) with its taps flipped; with True
  lax flips rhs and swaps its I and O first: O is C_in, I is C_out, and the canonical weight is rhs as
  (O, I, *k), unflipped (jax-ml/jax#14337). The geometry is the same either way. padding 'SAME' and
  'VALID' (exactly these) are the canonical words; pairs pad the lhs-dilated input
  (`crops_from_transpose_padding`), or with use_consistent_padding=True are the canonical crops
  themselves (tuples only: a list pair is 'Invalid padding mode'). Any other string goes to
  conv_general_dilated unchanged: refused at a stride > 1; at stride 1 it pads as a forward conv, so
  lowercase 'same' crops like canonical same_lower, 'SAME_LOWER' like same and 'valid' like full.
- A bias is `CALL + b`, any tensor expression (`+ b.reshape((1, -1, 1, 1))` as `native_texts` writes
  it). precision is a lax string, lax.Precision.* / DotAlgorithmPreset.* or a pair of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness import translate
from harness.adapters import native_call as nc
from harness.adapters.native_call import Arg, NativeError, bind, parse_call

Pairs = tuple[tuple[int, int], ...]

_CONV = ("lhs", "rhs", "window_strides", "padding", "lhs_dilation", "rhs_dilation", "dimension_numbers",
         "feature_group_count", "batch_group_count", "precision", "preferred_element_type", "out_sharding")
FUNCTIONS = {  # name → (parameters in order, how many are required)
    "conv_general_dilated": (_CONV, 4),
    "conv_with_general_padding": (_CONV[:6] + _CONV[9:11], 6),
    "conv": (_CONV[:4] + _CONV[9:11], 4),
    "conv_transpose": (("lhs", "rhs", "strides", "padding", "rhs_dilation", "dimension_numbers", "transpose_kernel",
                        "precision", "preferred_element_type", "use_consistent_padding"), 4),
}
MODULES = ("lax", "jax.lax", "")
OBJECTS = ("lhs", "rhs", "precision", "preferred_element_type", "out_sharding")  # may be names, not literals
WORDS = ("SAME", "SAME_LOWER", "VALID")
PRECISIONS = ("highest", "float32", "high", "bfloat16_3x", "tensorfloat32", "default", "bfloat16", "fastest")
PRESETS = ("DEFAULT", "ANY_F8_ANY_F8_F32", "ANY_F8_ANY_F8_F32_FAST_ACCUM", "ANY_F8_ANY_F8_ANY",  # DotAlgorithmPreset
           "ANY_F8_ANY_F8_ANY_FAST_ACCUM", "F16_F16_F16", "F16_F16_F32", "BF16_BF16_BF16", "BF16_BF16_F32",
           "BF16_BF16_F32_X3", "BF16_BF16_F32_X6", "BF16_BF16_F32_X9", "TF32_TF32_F32", "TF32_TF32_F32_X3",
           "F32_F32_F32", "F64_F64_F64")
_PRECISION_NAME = re.compile(r"^((jax\.)?lax\.)?(Precision\.(DEFAULT|HIGH|HIGHEST)|DotAlgorithmPreset\.[A-Z0-9_]+)$")
SPATIAL = {1: "H", 2: "HW", 3: "HWD"}  # the spatial letters of lax.conv_transpose's default dimension numbers


def transpose_padding(
    pads: Sequence[tuple[int, int]], kernel: Sequence[int], dilation: Sequence[int]
) -> Pairs:
    """Explicit padding of the lhs-dilated input for canonical transposed-conv crops.

    (lo, hi) → (d*(k-1) - lo, d*(k-1) - hi). Used by lax.conv_transpose (explicit pairs,
    use_consistent_padding=False) and by conv_general_dilated with lhs_dilation=stride. A crop
    beyond d*(k-1) gives negative padding (lax crops); a negative crop gives extra zeros.
    """
    out = []
    for (lo, hi), k, d in zip(pads, kernel, dilation):
        e1 = translate.effective_kernel(k, d) - 1
        out.append((e1 - int(lo), e1 - int(hi)))
    return tuple(out)


def crops_from_transpose_padding(
    pairs: Sequence[tuple[int, int]], kernel: Sequence[int], dilation: Sequence[int]
) -> Pairs:
    """Inverse of `transpose_padding`: canonical crops of a lax.conv_transpose explicit padding."""
    return transpose_padding(pairs, kernel, dilation)  # the map is an involution


@dataclass(frozen=True)
class Dims:
    """dimension_numbers as lax reads them: the lhs (= out) spec and the rhs spec."""

    lhs: str
    rhs: str

    @property
    def layout(self) -> str:
        return "channels_first" if self.lhs[1] == "C" else "channels_last"

    @property
    def spatial(self) -> str:
        """The spatial letters in the data's order (the canonical axis order)."""
        return "".join(c for c in self.lhs if c not in "NC")

    def data_order(self, values) -> list:
        """Per-axis values given in the rhs's order of spatial letters (as lax binds them) → data order."""
        rhs = [c for c in self.rhs if c not in "OI"]
        return [values[rhs.index(c)] for c in self.spatial]

    def kernel(self, shape) -> list[int]:
        return [shape[self.rhs.index(c)] for c in self.spatial]

    def size(self, shape, letter: str) -> int:
        return shape[self.rhs.index(letter)]


def _column(arg: Arg | None) -> int | None:
    return arg.column if arg is not None else None


def read_dimension_numbers(arg: Arg | None, nd: int, transpose: bool) -> Dims:
    """lax's dimension_numbers (None: its default), with one data layout the case can hold: N, C,
    spatial or N, spatial, C, the output as the input."""
    sp = SPATIAL[nd]
    default = (f"N{sp}C", f"{sp}IO", f"N{sp}C") if transpose else (f"NC{sp}", f"OI{sp}", f"NC{sp}")
    value = default if arg is None or arg.value is None else arg.value
    if not (isinstance(value, (tuple, list)) and len(value) == 3
            and all(isinstance(s, str) and len(s) == nd + 2 for s in value)):
        raise NativeError(f"dimension_numbers must be None or 3 strings of {nd + 2} letters (lhs, rhs, out) such as "
                          f"{default!r}, not {value!r}", _column(arg))
    lhs, rhs, out = value
    for spec, pair in ((lhs, "NC"), (rhs, "OI"), (out, "NC")):
        if any(spec.count(c) != 1 for c in pair) or len(set(spec)) != len(spec):
            raise NativeError(f"dimension_numbers {spec!r} must hold {pair[0]} and {pair[1]} once each and no letter "
                              "twice (lax)", _column(arg))
    if not set(lhs) - set("NC") == set(rhs) - set("OI") == set(out) - set("NC"):
        raise NativeError(f"dimension_numbers {tuple(value)!r} must name the same spatial letters in lhs, rhs and "
                          "out (lax)", _column(arg))
    if lhs[0] != "N" or "C" not in (lhs[1], lhs[-1]) or out != lhs:
        raise NativeError(f"dimension_numbers {tuple(value)!r}: a case's data is N, C, spatial or N, spatial, C, "
                          "its output in the input's layout (lhs and out the same spec)", _column(arg))
    return Dims(lhs, rhs)


def ints(bound: dict, name: str, nd: int, required: bool = False) -> list[int]:
    """nd positive ints as lax takes window_strides and dilations (a sequence; None: all 1)."""
    arg = bound.get(name)
    value = None if arg is None else arg.value
    if value is None and not required:
        return [1] * nd
    if not isinstance(value, (tuple, list)) or len(value) != nd or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise NativeError(f"{name} must be a sequence of {nd} ints (lax takes no int), not {value!r}", _column(arg))
    if any(v < 1 for v in value):
        raise NativeError(f"{name} must be positive, not {value!r} (lax)", _column(arg))
    return list(value)


def count(bound: dict, name: str, default: int = 1) -> int:
    """A positive int argument (feature_group_count, features)."""
    arg = bound.get(name)
    value = default if arg is None else arg.value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NativeError(f"{name} must be a positive int, not {value!r}", _column(arg))
    return value


def flag(bound: dict, name: str, default: bool = False) -> bool:
    arg = bound.get(name)
    if arg is None:
        return default
    if not isinstance(arg.value, bool):
        raise NativeError(f"{name} must be True or False, not {arg.value!r}", arg.column)
    return arg.value


def pairs(arg: Arg, nd: int, tuples: bool = False) -> list[tuple[int, int]]:
    """nd (lo, hi) pairs of ints, as lax takes explicit padding (`tuples`: a list pair refused)."""
    kinds = tuple if tuples else (tuple, list)
    value = arg.value
    if not (isinstance(value, (tuple, list)) and len(value) == nd and all(
            isinstance(p, kinds) and len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
            for p in value)):
        kind = "(low, high) tuples" if tuples else "(low, high) pairs"
        raise NativeError(f"padding {value!r}: lax takes a string or {nd} {kind} of ints", arg.column)
    return [tuple(p) for p in value]


def check_precision(arg: Arg | None) -> None:
    """None, one of lax's strings (a DotAlgorithmPreset's name too), lax.Precision.* / DotAlgorithmPreset.*,
    or a pair of them."""
    if arg is None or arg.value is None:
        return
    value = arg.value
    if isinstance(value, nc.Expr) and value.text.startswith("(") and value.text.endswith(")"):
        value = tuple(p.strip() for p in value.text[1:-1].split(",") if p.strip())
    items = value if isinstance(value, tuple) and len(value) == 2 else (value,)

    def known(item) -> bool:
        text = item.text if isinstance(item, nc.Expr) else item
        return isinstance(text, str) and (text.strip("'\"") in PRECISIONS + PRESETS or bool(_PRECISION_NAME.match(text)))

    if not all(known(v) for v in items):
        raise NativeError(f"precision {arg.value if not isinstance(arg.value, nc.Expr) else arg.value.text!r}: lax "
                          f"takes None, one of {', '.join(PRECISIONS)}, lax.Precision.DEFAULT / HIGH / HIGHEST, a "
                          "DotAlgorithmPreset, or a pair of them", arg.column)


def conv_fields(arg: Arg | None, value, kernel, stride, lhs_dilation, dilation, strides_arg: Arg | None) -> dict:
    """op, stride, dilation and padding of conv_general_dilated's geometry (canonical axis order; `value`
    a string or pairs): a conv, or with lhs_dilation > 1 a transposed conv of stride lhs_dilation."""
    if all(v == 1 for v in lhs_dilation):
        if isinstance(value, str):
            if value.upper() not in WORDS:
                raise NativeError(f"padding {value!r}: lax takes 'SAME', 'SAME_LOWER', 'VALID' (in any case) or "
                                  "(low, high) pairs", _column(arg))
            return {"op": "conv", "stride": stride, "dilation": dilation, "padding": value.lower()}
        return {"op": "conv", "stride": stride, "dilation": dilation, "padding": [list(p) for p in value]}
    if isinstance(value, str):
        raise NativeError(f"padding {value!r} with an input (lhs) dilation > 1: lax refuses string padding for a "
                          "transposed convolution; give (low, high) pairs, or use lax.conv_transpose", _column(arg))
    if any(s > 1 for s in stride):
        raise NativeError(f"window_strides {tuple(stride)} with an input (lhs) dilation {tuple(lhs_dilation)}: a "
                          "strided conv of a dilated input is no transposed convolution (no canonical op)",
                          _column(strides_arg))
    crops = crops_from_transpose_padding(value, kernel, dilation)
    return {"op": "conv_transpose", "stride": lhs_dilation, "dilation": dilation, "padding": [list(c) for c in crops]}


def transpose_crops(arg: Arg | None, value, kernel, stride, dilation, consistent: bool = False):
    """The canonical padding of lax.conv_transpose's `value` (a string or pairs, canonical axis order)."""
    if isinstance(value, str):
        if value in ("SAME", "VALID"):
            return value.lower()
        if consistent or any(s > 1 for s in stride) or value.upper() not in WORDS:
            why = ("with use_consistent_padding=True" if consistent else
                   "at a stride > 1 (conv_general_dilated refuses string padding for it)"
                   if any(s > 1 for s in stride) else "(nor one of conv_general_dilated's words)")
            raise NativeError(f"padding {value!r}: lax.conv_transpose takes 'SAME' or 'VALID' (upper case) or "
                              f"(low, high) pairs; other strings are refused {why}", _column(arg))
        # at stride 1 lax hands the word to conv_general_dilated: a forward conv's padding of the input
        value = [translate.conv_word_padding(value.lower(), 1, k, 1, d) for k, d in zip(kernel, dilation)]
    if consistent:
        return [list(p) for p in value]
    return [list(c) for c in crops_from_transpose_padding(value, kernel, dilation)]


def check_rank(input_size, nd: int, hint: str = "", column: int | None = None) -> None:
    if isinstance(input_size, (list, tuple)) and len(input_size) != nd:
        raise NativeError(f"input_size {list(input_size)} has {len(input_size)} axes; the call has {nd}{hint}",
                          column, field="input_size")


# --------------------------------------------------------------------------- reading a lax call


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of `lax.conv_general_dilated` / `conv` / `conv_with_general_padding` /
    `conv_transpose(lhs, rhs, ...)` as written (`jax.lax.` or `lax.`), its channels and kernel from
    `weight_shape` in the rhs layout of its dimension_numbers, a bias if `+ b` follows the call."""
    call = parse_call(text)
    if call.name not in FUNCTIONS or call.func.rpartition(".")[0] not in MODULES:
        raise NativeError(f"jax {call.func!r} is not one of {', '.join('lax.' + n for n in FUNCTIONS)}", 1)
    params, required = FUNCTIONS[call.name]
    bound = bind(call, params, required, "jax", tensors=OBJECTS)
    nc.check_tensors(bound, ("lhs", "rhs"))
    check_precision(bound.get("precision"))
    if count(bound, "batch_group_count") > 1:
        raise NativeError("batch_group_count > 1 (a grouped weight gradient) has no canonical op; give 1",
                          bound["batch_group_count"].column)
    transpose = call.name == "conv_transpose"
    strides = bound["strides" if transpose else "window_strides"]
    if not isinstance(strides.value, (tuple, list)) or not 1 <= len(strides.value) <= 3:
        raise NativeError(f"{'strides' if transpose else 'window_strides'} must be a sequence of 1 to 3 ints, one "
                          f"per spatial axis (lax takes no int), not {strides.value!r}", strides.column)
    nd = len(strides.value)
    check_rank(input_size, nd)
    dims = read_dimension_numbers(bound.get("dimension_numbers"), nd, transpose)
    shape = nc.functional_weight(call, weight_shape, nd, f"the rhs layout {dims.rhs!r} of its dimension_numbers")
    fields = (_transpose_fields if transpose else _conv_fields)(bound, nd, dims, shape)
    return {**fields, "bias": _bias(call), "layout": dims.layout}


def _padding_value(arg: Arg, nd: int, dims: Dims, tuples: bool = False):
    """A padding string, or its pairs in the data's axis order."""
    return arg.value if isinstance(arg.value, str) else dims.data_order(pairs(arg, nd, tuples))


def _conv_fields(bound: dict, nd: int, dims: Dims, shape) -> dict:
    groups = count(bound, "feature_group_count")
    if dims.size(shape, "O") % groups:
        raise NativeError(f"weight_shape {list(shape)}: its O axis must be a multiple of feature_group_count={groups} "
                          "(lax)", field="weight_shape")
    kernel = dims.kernel(shape)
    stride, lhs_dilation, dilation = (dims.data_order(ints(bound, name, nd, name == "window_strides"))
                                      for name in ("window_strides", "lhs_dilation", "rhs_dilation"))
    value = _padding_value(bound["padding"], nd, dims)
    fields = conv_fields(bound["padding"], value, kernel, stride, lhs_dilation, dilation, bound["window_strides"])
    return {**fields, "op": f"{fields['op']}{nd}d", "in_channels": dims.size(shape, "I") * groups,
            "out_channels": dims.size(shape, "O"), "kernel": kernel, "groups": groups}


def _transpose_fields(bound: dict, nd: int, dims: Dims, shape) -> dict:
    """lax.conv_transpose: with transpose_kernel the rhs's O axis holds C_in, else its I axis."""
    consistent = flag(bound, "use_consistent_padding")
    kernel = dims.kernel(shape)
    stride, dilation = (dims.data_order(ints(bound, name, nd, name == "strides")) for name in ("strides", "rhs_dilation"))
    value = _padding_value(bound["padding"], nd, dims, tuples=consistent)
    cin, cout = ("O", "I") if flag(bound, "transpose_kernel") else ("I", "O")
    return {"op": f"conv_transpose{nd}d", "in_channels": dims.size(shape, cin), "out_channels": dims.size(shape, cout),
            "kernel": kernel, "stride": stride, "dilation": dilation, "groups": 1,
            "padding": transpose_crops(bound["padding"], value, kernel, stride, dilation, consistent)}


def _bias(call: nc.NativeCall) -> bool:
    """`CALL + b`: a bias (any tensor expression); a bare call has none."""
    if call.plus is None:
        return False
    if not nc.is_tensor(call.plus):
        raise NativeError(f"what is added after the call must be the bias tensor (a name such as b), not "
                          f"{call.plus.value!r}", call.plus.column)
    return True
