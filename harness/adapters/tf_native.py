"""TensorFlow's own calls → canonical case fields (`from_native`; `tf_padding.native_texts` writes them
back). Pure: Python's `ast` reads the call (harness.adapters.native_call); TF is never imported.

Read: tf.nn.conv1d / conv2d / conv3d / convolution, tf.nn.conv1d_transpose / conv2d_transpose /
conv3d_transpose and tf.compat.v1.nn.conv2d_transpose, bare (no bias), inside tf.nn.bias_add(CALL, b)
or as CALL + b (a bias); the filter's shape (`weight_shape`) is given beside the call, in TF's layout:
conv (*k, C_in/groups, C_out), transposed (*k, C_out/groups, C_in).

What TensorFlow takes, measured with tensorflow-cpu 2.21.0 (eager, float32 on oneDNN and float64 on
Eigen; tests/test_native_tf.py runs TF on the texts):

- parameters, in order (inspect.signature): conv1d(input, filters, stride, padding, data_format,
  dilations, name); conv2d / conv3d(input, filters, strides, padding, data_format, dilations, name);
  convolution(input, filters, strides=None, padding='VALID', ...); conv{n}d_transpose(input, filters,
  output_shape, strides, padding='SAME', data_format, dilations, name); v1 conv2d_transpose(value,
  filter, output_shape, strides=None, padding='SAME', data_format, name, input, filters, dilations),
  value/input and filter/filters aliases (both given: "Cannot specify both").
- strides / dilations: an int or 1, N or N+2 values (N+2: data_format order), None = 1; tf.nn.conv3d
  alone wants exactly 5 values (strides required, an int refused). Values must be >= 1.
- padding: 'SAME' or 'VALID', upper case. A list of N+2 [lo, hi] pairs (data_format order) only in
  tf.nn.conv2d, conv2d_transpose (v1 and v2), and tf.nn.convolution in 2D with a dilation > 1;
  elsewhere "Expected string for argument 'padding'". Amounts >= 0.
- data_format: 1D NWC / NCW (conv1d and convolution also take the deprecated NHWC / NCHW; not
  conv1d_transpose), 2D NHWC / NCHW, 3D NDHWC / NCDHW; None is channels-last. tf.nn.bias_add takes
  'N...C' / 'NC...' (any string starting NC, or N and ending C) and adds along the last axis by
  default.
- what TF's CPU kernels refuse is an execution limit, not a spelling error, and is read: NCHW for
  most dtypes, groups in 3D, dilated and grouped transposed convs in float64 (Eigen; oneDNN's
  float32 kernels compute them, except with a padding list, which only Eigen's kernel takes).
- output_shape: N+2 ints in data_format order; batch → the case's batch; its channels are a multiple
  of the filter's C_out/groups (groups = channels / filters[-2]); the filter's C_in must be the
  input's channels. Lengths: the forward conv of o gives i: SAME ceil(o/s) = i, VALID
  ceil((o - e + 1)/s) = i, explicit (lo, hi): floor((o + lo + hi - e)/s) + 1 = i (stride, not
  max(stride, dilation), bounds the extra length); crops SAME (max(T, 0)//2, rest), VALID (0, T),
  explicit (lo, F - o - lo) with T = F - o.
- tf.nn.convolution refuses strides > 1 together with dilations > 1; the other functions take both.
- groups: a conv's from the input's channels over the filter's C_in/groups (the case gives
  in_channels; without it groups = 1); C_out must divide by them.

Stricter than TF, each with the reason in its message: TF accepts strides / dilations / explicit
padding whose batch or channel entries are not 1 / 0 where it drops them (tf.nn.conv1d moves the
batch stride to its unit axis, the dilated tf.nn.convolution slices them off, oneDNN ignores them),
'EXPLICIT' without amounts (oneDNN's float32 kernels run it as 'VALID', Eigen refuses it), floats,
bools and bytes for ints and strings, and a VALID conv longer than its input (an empty output;
oneDNN float32 even returns the input's shape). oneDNN's float32 Conv2DBackpropInput also takes VALID
output lengths e - s < o < e for an input of length 1 (its (o - e)/s + 1 truncates toward zero);
Eigen's kernels (TF's shared ConvBackpropComputeDimensions check) refuse them, and so does the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import translate
from harness.adapters import native_call as nc
from harness.adapters.native_call import Arg, NativeCall, NativeError

FRAMEWORK = "tensorflow"


@dataclass(frozen=True)
class Function:
    """One TF function's parameters, in its own order, and what it takes."""

    op: str  # conv | conv_transpose
    nd: int | None  # None: from the filter (tf.nn.convolution)
    params: tuple[str, ...]
    required: int
    stride_name: str = "strides"
    full_only: bool = False  # tf.nn.conv3d: strides and dilations as exactly N+2 values
    explicit: str = ""  # "always" | "dilated" (2D with a dilation > 1) | "": where a padding list is taken
    padding_default: str | None = None  # None: padding is required
    strides_default: bool = True  # strides=None means 1


_CONV = ("input", "filters", "strides", "padding", "data_format", "dilations", "name")
_TRANSPOSE = ("input", "filters", "output_shape", "strides", "padding", "data_format", "dilations", "name")
FUNCTIONS = {
    "conv1d": Function("conv", 1, ("input", "filters", "stride", *_CONV[3:]), 4, stride_name="stride"),
    "conv2d": Function("conv", 2, _CONV, 4, explicit="always"),
    "conv3d": Function("conv", 3, _CONV, 4, full_only=True, strides_default=False),
    "convolution": Function("conv", None, _CONV, 2, explicit="dilated", padding_default="VALID"),
    "conv1d_transpose": Function("conv_transpose", 1, _TRANSPOSE, 4, padding_default="SAME"),
    "conv2d_transpose": Function("conv_transpose", 2, _TRANSPOSE, 4, explicit="always", padding_default="SAME"),
    "conv3d_transpose": Function("conv_transpose", 3, _TRANSPOSE, 4, padding_default="SAME"),
}
V1_FUNCTIONS = {"conv2d_transpose": Function(
    "conv_transpose", 2, ("value", "filter", "output_shape", "strides", "padding", "data_format", "name", "input",
                          "filters", "dilations"), 0, explicit="always", padding_default="SAME")}
V1_ALIASES = (("input", "value"), ("filters", "filter"))
BIAS_ADD = ("value", "bias", "data_format", "name")
DATA_FORMATS = {1: {"NWC": "channels_last", "NCW": "channels_first"},
                2: {"NHWC": "channels_last", "NCHW": "channels_first"},
                3: {"NDHWC": "channels_last", "NCDHW": "channels_first"}}
CONV1D_ALIASES = {"NHWC": "channels_last", "NCHW": "channels_first"}  # conv1d / convolution: deprecated, taken
ONEDNN_VALID = (" (oneDNN's float32 kernel takes it, its (o - e)/s + 1 truncating toward zero; Eigen's kernel "
                "and TF's shape check refuse it)")
WEIGHT_LAYOUT = {"conv": "TF's filter layout (*kernel, C_in/groups, C_out)",
                 "conv_transpose": "TF's filter layout (*kernel, C_out/groups, C_in)"}


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of a tf.nn convolution call as written, with its filter's shape
    beside it (and the input's channels for a grouped conv): the inverse of `tf_padding.native_texts`.
    What TensorFlow refuses is refused with its column."""
    call = nc.parse_call(text)
    start = len(text) - len(text.lstrip()) + 1
    if call.name == "bias_add":
        inner, bias_layout = _bias_add(call)
        fields = _conv_fields(inner.value, inner.column, input_size, weight_shape, in_channels)
        if bias_layout != fields.get("layout", "channels_last"):
            arg = _bias_format_arg(call)
            raise NativeError(f"tf.nn.bias_add adds along the {_axis_words(bias_layout)} but the convolution's "
                              f"output is {fields.get('layout', 'channels_last')}: give data_format="
                              f"{'NC...' if fields.get('layout') == 'channels_first' else 'N...C'!r}",
                              arg.column if arg else start)
        return {**fields, "bias": True}
    fields = _conv_fields(call, start, input_size, weight_shape, in_channels)
    if call.plus is not None:
        _plain_bias(call.plus, fields.get("layout", "channels_last"))
    return {**fields, "bias": call.plus is not None}


def _bias_add(call: NativeCall) -> tuple[Arg, str]:
    """tf.nn.bias_add(CALL, b, data_format=...): the inner call's Arg and the layout the bias is added in."""
    bound = nc.bind(call, BIAS_ADD, 2, FRAMEWORK, tensors=("value", "bias", "name"))
    if call.plus is not None:
        raise NativeError("a second bias after tf.nn.bias_add: the case has one bias", call.plus.column)
    value = bound["value"]
    if not isinstance(value.value, NativeCall):
        raise NativeError("tf.nn.bias_add's value must be the convolution call itself "
                          "(tf.nn.bias_add(tf.nn.conv2d(x, w, ...), b))", value.column)
    if value.value.name == "bias_add":
        raise NativeError("a second bias inside tf.nn.bias_add: the case has one bias", value.column)
    nc.check_tensors(bound, ("bias",))
    arg = bound.get("data_format")
    fmt = None if arg is None else arg.value
    if fmt is None:
        return value, "channels_last"
    if not isinstance(fmt, str) or not fmt.startswith("N") or not (fmt.startswith("NC") or fmt.endswith("C")):
        raise NativeError(f"data_format {fmt!r}: tf.nn.bias_add takes 'N...C' or 'NC...'", arg.column)
    return value, "channels_first" if fmt.startswith("NC") else "channels_last"


def _bias_format_arg(call: NativeCall) -> Arg | None:
    return call.kwargs.get("data_format") or (call.args[2] if len(call.args) > 2 else None)


def _axis_words(layout: str) -> str:
    return "channel axis 1 (data_format 'NC...')" if layout == "channels_first" else "last axis"


def _plain_bias(plus: Arg, layout: str) -> None:
    """CALL + b: a bias tensor added to channels-last output (broadcast along its last axis)."""
    if not isinstance(plus.value, nc.Expr):
        raise NativeError("what is added after the call must be the bias tensor (a name such as b)", plus.column)
    if layout == "channels_first":
        raise NativeError("CALL + b broadcasts b along the last axis, not the channels of channels-first output: "
                          "write tf.nn.bias_add(CALL, b, data_format='NC...')", plus.column)


def _function(call: NativeCall, column: int) -> Function:
    parts = call.func.split(".")
    table = V1_FUNCTIONS if "compat" in parts and "v1" in parts else FUNCTIONS
    if call.name not in table:
        known = ", ".join([f"tf.nn.{n}" for n in FUNCTIONS] + ["tf.compat.v1.nn.conv2d_transpose", "tf.nn.bias_add"])
        raise NativeError(f"tensorflow {call.func!r} is not one of {known}", column)
    return table[call.name]


def _bind(call: NativeCall, fn: Function, column: int) -> dict[str, Arg]:
    """The call's arguments by TF's parameter names (v1's value / filter aliases resolved)."""
    bound = nc.bind(call, fn.params, fn.required, FRAMEWORK, tensors=("input", "filters", "value", "filter", "name"))
    if fn in V1_FUNCTIONS.values():
        for new, old in V1_ALIASES:
            if new in bound and old in bound:
                raise NativeError(f"Cannot specify both {old!r} and {new!r} (tensorflow)",
                                  bound[new].name_column or bound[new].column)
            if old in bound:
                bound[new] = bound.pop(old)
        missing = [p for p in ("input", "filters", "output_shape") if p not in bound or bound[p].value is None]
        if missing:
            raise NativeError(f"tensorflow {call.name} needs {', '.join(missing)}", column)
    nc.check_tensors(bound, ("input", "filters"))
    return bound


def _conv_fields(call: NativeCall, column: int, input_size, weight_shape, in_channels) -> dict:
    fn = _function(call, column)
    bound = _bind(call, fn, column)
    nd = fn.nd or _filter_rank(weight_shape)
    shape = nc.functional_weight(call, weight_shape, nd, WEIGHT_LAYOUT[fn.op])
    layout = _layout(bound, fn, nd)  # None: TF's default NHWC reads the shapes; the case's layout runs it
    first = layout == "channels_first"
    stride = _sequence(bound, fn.stride_name, fn, nd, first, none_ok=fn.strides_default)
    dilation = _sequence(bound, "dilations", fn, nd, first)
    if call.name == "convolution" and max(stride) > 1 and max(dilation) > 1:
        raise NativeError("tf.nn.convolution refuses strides > 1 together with dilations > 1 (tf.nn.conv1d / "
                          "conv2d / conv3d take both)", bound[fn.stride_name].column)
    padding = _padding(bound, fn, call.name, nd, first, max(dilation) > 1)
    fields = {"op": f"{fn.op}{nd}d", "kernel": list(shape[:nd]), "stride": stride, "dilation": dilation,
              **({"layout": layout} if layout else {})}
    if fn.op == "conv":
        return {**fields, **_conv_channels(shape, in_channels), "padding": padding}
    return {**fields, **_transpose_fields(bound, fields, shape, padding, first, input_size, in_channels)}


def _filter_rank(weight_shape) -> int:
    """tf.nn.convolution's N, from its filter's rank (N + 2)."""
    rank = len(weight_shape) if isinstance(weight_shape, (list, tuple)) else 0
    if rank not in (3, 4, 5):
        raise NativeError(f"weight_shape {weight_shape!r}: tf.nn.convolution's filter has 3, 4 or 5 axes "
                          "(*kernel, C_in/groups, C_out)", field="weight_shape")
    return rank - 2


def _layout(bound: dict, fn: Function, nd: int) -> str | None:
    """The layout a data_format gives; None where the call leaves TF's default (N, *spatial, C): the
    shapes are read channels-last, and the case's own `layout` (default channels_first) says how the
    harness runs it, which changes no number (a case's layout is how it runs, not what it computes)."""
    arg = bound.get("data_format")
    fmt = None if arg is None else arg.value
    if fmt is None:
        return None
    formats = dict(DATA_FORMATS[nd])
    if nd == 1 and fn.op == "conv":
        formats |= CONV1D_ALIASES
    if fmt not in formats:
        raise NativeError(f"data_format {fmt!r}: tensorflow takes {' or '.join(map(repr, formats))} here", arg.column)
    return formats[fmt]


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _sequence(bound: dict, name: str, fn: Function, nd: int, first: bool, none_ok: bool = True) -> list[int]:
    """strides / dilations per spatial axis: an int or 1, N or N+2 values (tf.nn.conv3d: N+2 only)."""
    arg = bound.get(name)
    value = None if arg is None else arg.value
    column = arg.column if arg else None
    lengths = (nd + 2,) if fn.full_only else tuple(sorted({1, nd, nd + 2}))
    allowed = f"{' or '.join(map(str, lengths))} ints" if fn.full_only else \
        f"an int or {', '.join(map(str, lengths[:-1]))} or {lengths[-1]} ints"
    if value is None:
        if none_ok:
            return [1] * nd
        raise NativeError(f"{name} None: tf.nn.conv3d needs {allowed}", column)
    values = [value] if _int(value) and not fn.full_only else value
    if isinstance(value, (float, bool)) or isinstance(value, (list, tuple)) and any(
            isinstance(v, (float, bool)) for v in value):
        raise NativeError(f"{name} must be ints, not {value!r} (TF casts floats and bools; written as ints here)",
                          column)
    if not isinstance(values, (list, tuple)) or not all(_int(v) for v in values) or len(values) not in lengths:
        raise NativeError(f"{name} must be {allowed} (data_format order), not {value!r}", column)
    values = list(values)
    if len(values) == nd + 2:
        outer = values[:2] if first else [values[0], values[-1]]
        values = values[2:] if first else values[1:-1]
        if outer != [1, 1]:
            raise NativeError(f"{name} {value!r}: the batch and channel entries must be 1 (TF's kernels refuse "
                              "them, or some paths drop them silently)", column)
    values = values * nd if len(values) == 1 else values
    if any(v < 1 for v in values):
        raise NativeError(f"{name} must be >= 1, not {value!r}", column)
    return values


def _padding(bound: dict, fn: Function, name: str, nd: int, first: bool, dilated: bool):
    """'same' / 'valid', or [lo, hi] per spatial axis from TF's list of N+2 pairs."""
    arg = bound.get("padding")
    value = fn.padding_default if arg is None else arg.value
    column = arg.column if arg else None
    takes_list = fn.explicit == "always" or (fn.explicit == "dilated" and nd == 2 and dilated)
    words = "'SAME' or 'VALID'" + (f" or a list of {nd + 2} [lo, hi] pairs" if takes_list else "")
    if isinstance(value, str) and value in ("SAME", "VALID"):
        return value.lower()
    if value == "EXPLICIT":
        raise NativeError("padding 'EXPLICIT' without amounts: give the list [[0, 0], [lo, hi], ..., [0, 0]] "
                          "(oneDNN's float32 kernels run it as 'VALID', Eigen's and tf.nn.conv2d refuse it)", column)
    if not isinstance(value, (list, tuple)):
        raise NativeError(f"padding {value!r}: tensorflow takes {words} (upper case)", column)
    if not takes_list:
        where = "a padding list only with dilations > 1 in 2D" if fn.explicit else \
            "padding 'SAME' or 'VALID' only, not a list"
        raise NativeError(f"tf.nn.{name} takes {where} (TF: Expected string for argument 'padding')", column)
    pairs = list(value)
    if len(pairs) != nd + 2 or not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(_int(v) for v in p)
                                        for p in pairs):
        raise NativeError(f"padding must be {nd + 2} [lo, hi] pairs of ints (data_format order), not {value!r}",
                          column)
    outer = pairs[:2] if first else [pairs[0], pairs[-1]]
    spatial = pairs[2:] if first else pairs[1:-1]
    if any(list(p) != [0, 0] for p in outer):
        raise NativeError(f"padding {value!r}: the batch and channel entries must be [0, 0] (TF: Nonzero explicit "
                          "padding in the batch or depth dimensions is not supported)", column)
    if any(v < 0 for p in spatial for v in p):
        raise NativeError(f"padding {value!r}: every amount must be >= 0 (TF: All elements of explicit_paddings "
                          "must be nonnegative)", column)
    return [list(p) for p in spatial]


def _conv_channels(shape: tuple[int, ...], in_channels) -> dict:
    """A conv filter (*k, C_in/g, C_out): the groups from the input's channels when the case gives them."""
    cin_g, cout = shape[-2], shape[-1]
    if in_channels is None:
        return {"in_channels": cin_g, "out_channels": cout, "groups": 1}
    if not _int(in_channels) or in_channels < 1 or in_channels % cin_g:
        raise NativeError(f"weight_shape {list(shape)}: the input's {in_channels!r} channels must divide by the "
                          f"filter's C_in/groups = {cin_g} (TF: input depth must be evenly divisible by filter depth)",
                          field="weight_shape")
    groups = in_channels // cin_g
    if cout % groups:
        raise NativeError(f"weight_shape {list(shape)}: C_out {cout} must divide by the {groups} groups "
                          "(TF: output depth must be evenly divisible by number of groups)", field="weight_shape")
    return {"out_channels": cout, "groups": groups}


def _transpose_fields(bound: dict, fields: dict, shape: tuple[int, ...], padding, first: bool, input_size,
                      in_channels) -> dict:
    """output_shape (batch, lengths, channels in data_format order) against the filter (*k, C_out/g, C_in)
    and the input: the groups, the batch, and lengths TF accepts."""
    nd, arg = len(fields["kernel"]), bound["output_shape"]
    value = arg.value
    if not isinstance(value, (list, tuple)) or len(value) != nd + 2 or not all(_int(v) and v >= 1 for v in value):
        raise NativeError(f"output_shape must be {nd + 2} positive ints in data_format order (batch, "
                          f"{'channels, lengths' if first else 'lengths, channels'}), not {value!r}", arg.column)
    channels, lengths = (value[1], value[2:]) if first else (value[-1], value[1:-1])
    cout_g, cin = shape[-2], shape[-1]
    if channels % cout_g:
        raise NativeError(f"output_shape's {channels} channels must be a multiple of the filter's C_out/groups = "
                          f"{cout_g} (TF: input depth must be evenly divisible by filter depth)", arg.column)
    groups = channels // cout_g
    if cin % groups:
        raise NativeError(f"weight_shape {list(shape)}: C_in {cin} must divide by the {groups} groups that "
                          "output_shape's channels make (TF: output depth must be evenly divisible by number of "
                          "groups)", field="weight_shape")
    if in_channels is not None and in_channels != cin:
        raise NativeError(f"weight_shape {list(shape)}: the filter's C_in {cin} must be the input's {in_channels!r} "
                          "channels (TF: filter and out_backprop must have the same out_depth)", field="weight_shape")
    sizes = _input_size(input_size, nd)
    for ax, (o, i, k, s, d) in enumerate(zip(lengths, sizes, fields["kernel"], fields["stride"], fields["dilation"])):
        low, high = transpose_length_range(padding if isinstance(padding, str) else padding[ax], i, k, s, d)
        if not low <= o <= high:
            how = f"padding {padding.upper()!r}" if isinstance(padding, str) else f"padding {padding[ax]}"
            e = translate.effective_kernel(k, d)
            onednn = padding == "valid" and i == 1 and e - s < o < e
            raise NativeError(f"axis {ax}: output_shape length {o} is not one TF takes for input length {i} ({how}, "
                              f"kernel {k}, stride {s}, dilation {d}): the forward conv of it must give {i}; allowed "
                              f"{max(low, 1)}..{high}" + (ONEDNN_VALID if onednn else ""), arg.column)
    out = {"out_channels": channels, "groups": groups, "batch": value[0], "padding": padding,
           "output_shape": list(lengths)}
    return out if in_channels is not None else {**out, "in_channels": cin}


def transpose_length_range(padding, i: int, k: int, s: int, d: int) -> tuple[int, int]:
    """The output lengths o TF's transposed conv takes: those whose forward conv (the same padding) has
    length i. With explicit (lo, hi) the extra length is below the stride (PyTorch allows max(stride,
    dilation), `translate.transpose_length_range`), measured."""
    if isinstance(padding, str):
        return translate.transpose_length_range(padding, i, k, s, d)
    base = translate.transpose_full_length(i, k, s, d) - padding[0] - padding[1]
    return base, base + s - 1


def _input_size(input_size, nd: int) -> list[int]:
    if input_size is None:
        raise NativeError("a transposed conv's output_shape is checked against its input: give input_size (the "
                          "spatial size, one per axis)", field="input_size")
    if not isinstance(input_size, (list, tuple)) or len(input_size) != nd or not all(
            _int(v) and v >= 1 for v in input_size):
        raise NativeError(f"input_size must be {nd} positive ints, got {input_size!r}", field="input_size")
    return list(input_size)
