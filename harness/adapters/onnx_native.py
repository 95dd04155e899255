"""ONNX's own spelling in: `onnx.helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], ...)` → the
canonical case fields (`from_native`; `onnx_padding.native_texts` writes the node back). Pure: Python's
`ast` reads the call (harness.adapters.native_call); onnx is never imported.

Read: `onnx.helper.make_node`, `helper.make_node` or `make_node`, with make_node's own signature
(op_type, inputs, outputs, name, doc_string, domain, overload; attributes as keywords, an attribute
given None is left out, as make_node does). op_type Conv or ConvTranspose (opset 22); the bias is there
iff `inputs` has a third, non-empty name; the weight's shape is given beside the call (`weight_shape`) in
ONNX's layout, PyTorch's: Conv W (M, C/group, *k), ConvTranspose W (C, M/group, *k).

What ONNX takes, measured with onnxruntime 1.31.1 (CPU), onnx.reference and onnx.checker (onnx 1.23.2,
check_model(full_check=True)); tests/test_native_onnx.py runs both runtimes on the texts:

- attributes: only the op's own (auto_pad, dilations, group, kernel_shape, pads, strides; ConvTranspose
  also output_padding, output_shape): ORT and the checker refuse others ("Unrecognized attribute").
  Types: lists of ints (INTS), group an int (INT), auto_pad a string: ORT refuses others ("Mismatched
  attribute type"). Lengths: one per spatial axis, pads two (ORT and the checker: "has incorrect size").
- auto_pad: NOTSET, SAME_UPPER, SAME_LOWER or VALID, upper case (ORT: "Unknown AutoPadType String";
  onnx.reference and the checker accept anything). pads only with NOTSET (ORT; the checker for
  ConvTranspose). strides, dilations >= 1, pads and output_padding >= 0 (ORT, checker).
- kernel_shape must be the weight's (ORT: "kernel_shape is not compatible with W shape"); group must
  divide Conv's M / ConvTranspose's C (ORT: "not divisible by group").
- inputs: 2 or 3, X and W named (ORT: "input size ... not in range [min=2, max=3]"); one output;
  domain '' or 'ai.onnx' (the default operator set; ORT has no com.microsoft Conv).
- Conv: the spec's auto_pad rules are the loader's words: SAME_UPPER `same`, SAME_LOWER `same_lower`,
  VALID `valid`; both runtimes compute them so (ORT refuses SAME_* with dilation > 1: "Dilation not
  supported", which the spec allows and onnx.reference computes: accepted here).
- ConvTranspose: `transpose_crop`; output_padding < stride (ORT refuses more, also below a larger
  dilation; so does onnx.reference, but for some NOTSET / VALID nodes with output_shape);
  output_shape 1 .. F + s - 1 with F = (i-1)*s + d*(k-1) + 1 (ORT: "Explicit output_shape is
  inconsistent": the forward conv of a longer output gives more than i; onnx.reference does not check
  SAME_*). The fields keep the node's own vocabulary where the loader has it: the auto_pad's word (and
  output_shape) when the word's rule gives the same crops, NOTSET's pads with its output_padding;
  other nodes (SAME_* with output_padding, output_shape without SAME_*, VALID past the kernel) read
  as explicit crops, which `onnx_padding.native_texts` writes back as pads and output_padding.

Over small 1D nodes (the brute force in tests/test_native_onnx.py) what is refused here is what
onnxruntime refuses, and ORT refuses nothing read here but SAME_* Conv with dilation > 1. Stricter
than ORT: more than 3 spatial axes (the harness runs 1, 2 or 3); make_node itself refuses a name,
doc_string or overload that is not a string.
"""

from __future__ import annotations

from harness import translate
from harness.adapters import native_call as nc
from harness.adapters.native_call import Arg, Expr, NativeCall, NativeError

FRAMEWORK = "onnx"
FUNCTIONS = ("onnx.helper.make_node", "helper.make_node", "make_node")
MAKE_NODE = ("op_type", "inputs", "outputs", "name", "doc_string", "domain", "overload")
ATTRIBUTES = {"Conv": ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"),
              "ConvTranspose": ("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape",
                                "pads", "strides")}
OPS = {"Conv": "conv", "ConvTranspose": "conv_transpose"}
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
WORDS = {"SAME_UPPER": "same", "SAME_LOWER": "same_lower", "VALID": "valid"}  # the loader's words
LAYOUT = {"Conv": "ONNX's layout (M, C/group, *kernel)", "ConvTranspose": "ONNX's layout (C, M/group, *kernel)"}


def transpose_crop(auto_pad: str, i: int, k: int, s: int, d: int, pads: tuple[int, int] = (0, 0),
                   output_padding: int = 0, output_shape: int | None = None) -> tuple[int, int]:
    """The canonical (start, end) crop of one axis of a ConvTranspose as read here.

    The spec (opset 22): NOTSET crops pads and gives output_padding back at the end; VALID crops
    nothing; SAME_* aim at output_shape = i*s; with output_shape (pads ignored), total =
    s*(i-1) + output_padding + d*(k-1) + 1 - output_shape and SAME_UPPER crops total//2 at the start,
    every other auto_pad total - total//2. That is `onnx_padding.spec_transpose_crop` for total >= 0.
    A negative total (the output longer than F) has no defined split in the spec ("total/2"); read as
    onnxruntime 1.31.1 computes it, on every auto_pad: max(total, 0) is split, the rest of the length is
    zeros at the end (the canonical same / same_lower / valid rule, TF's too). onnx.reference agrees for
    NOTSET and VALID, but floor-splits a negative total for SAME_* (zeros at the start as well).
    """
    full = translate.transpose_full_length(i, k, s, d)
    if output_shape is None and auto_pad in ("NOTSET", "VALID"):
        lo, hi = pads if auto_pad == "NOTSET" else (0, 0)
        return (lo, hi - output_padding)
    o = i * s if output_shape is None else output_shape
    total = max(full + output_padding - o, 0)
    start = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
    return (start, full - o - start)


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of `onnx.helper.make_node("Conv" | "ConvTranspose", ...)` as written, with
    the weight's shape (ONNX's layout) beside it and, where the crops depend on it, the input size.
    `in_channels` is not needed: the weight gives them."""
    call = nc.parse_call(text)
    kind, bound = _bind(call)
    shape, nd = _weight(call, kind, weight_shape, input_size)
    attrs = {name: arg for name, arg in bound.items() if name in ATTRIBUTES[kind] and arg.value is not None}
    geometry = _geometry(attrs, nd, shape)
    groups = _group(attrs, kind, shape)
    fields = {"op": f"{OPS[kind]}{nd}d", **nc.torch_layout_channels(OPS[kind], shape, groups, FRAMEWORK),
              "stride": list(geometry["strides"]), "dilation": list(geometry["dilations"]), "groups": groups,
              "bias": _inputs_bias(bound["inputs"])}
    _outputs(bound["outputs"])
    _metadata(bound)
    auto_pad = _auto_pad(attrs)
    if kind == "Conv":
        return fields | {"padding": _conv_padding(attrs, auto_pad, nd)}
    return fields | _transpose_padding(attrs, auto_pad, nd, fields, input_size)


def _bind(call: NativeCall) -> tuple[str, dict[str, Arg]]:
    """make_node's arguments by name; the op_type read first, for its attributes."""
    if call.func not in FUNCTIONS:
        raise NativeError(f"onnx {call.func!r}: the node is read from {' / '.join(FUNCTIONS)}(...)", 1)
    if call.plus is not None:
        raise NativeError("make_node builds a node: nothing is added to it (its bias is the third input)",
                          call.plus.column)
    if len(call.args) > len(MAKE_NODE):
        raise NativeError(f"make_node takes at most {len(MAKE_NODE)} positional arguments ({', '.join(MAKE_NODE)}); "
                          "attributes are keywords", call.args[len(MAKE_NODE)].column)
    arg = call.args[0] if call.args else call.kwargs.get("op_type")
    if arg is None:
        raise NativeError("make_node needs op_type: 'Conv' or 'ConvTranspose'")
    if isinstance(arg.value, (Expr, NativeCall)):
        raise nc.not_literal(arg)
    if arg.value not in ATTRIBUTES:
        raise NativeError(f"op_type {arg.value!r}: read here are 'Conv' and 'ConvTranspose' (case-sensitive: "
                          "onnxruntime has no op registered for another spelling)", arg.column)
    kind = arg.value
    for name, kw in call.kwargs.items():
        if name not in MAKE_NODE and name not in ATTRIBUTES[kind]:
            raise NativeError(f"{kind} has no attribute {name!r} (onnxruntime and onnx.checker: Unrecognized "
                              f"attribute); its attributes: {', '.join(ATTRIBUTES[kind])}", kw.name_column)
    return kind, nc.bind(call, MAKE_NODE + ATTRIBUTES[kind], 3, "onnx.helper")


def _weight(call: NativeCall, kind: str, weight_shape, input_size) -> tuple[tuple[int, ...], int]:
    """The weight's shape (checked) and the number of spatial axes it gives (1, 2 or 3)."""
    if isinstance(weight_shape, (list, tuple)) and len(weight_shape) > 2:
        nd = len(weight_shape) - 2  # the tensors give the rank (ONNX: X's and W's)
    else:
        nd = len(input_size) if isinstance(input_size, (list, tuple)) and input_size else 2
    shape = nc.functional_weight(call, weight_shape, nd, LAYOUT[kind])
    if nd > 3:
        raise NativeError(f"weight_shape {list(shape)}: {nd} spatial axes; the harness runs 1, 2 or 3",
                          field="weight_shape")
    if input_size is not None and (not isinstance(input_size, (list, tuple)) or len(input_size) != nd):
        raise NativeError(f"input_size {input_size!r} must have {nd} entries, one per spatial axis of the weight "
                          f"{list(shape)}", field="input_size")
    return shape, nd


def _ints(attrs: dict[str, Arg], name: str, length: int, default: int, least: int) -> tuple[int, ...]:
    """An INTS attribute: a list (or tuple) of `length` ints >= least; absent: `default` on every entry."""
    arg = attrs.get(name)
    if arg is None:
        return (default,) * length
    value = arg.value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                       for v in value):
        raise NativeError(f"{name} must be a list of ints (an INTS attribute; onnxruntime refuses {value!r}: "
                          "Mismatched attribute type)", arg.column)
    if len(value) != length:
        raise NativeError(f"{name} has {len(value)} values; this node takes {length} (onnxruntime and "
                          f"onnx.checker: Attribute {name} has incorrect size)", arg.column)
    if any(v < least for v in value):
        words = "positive" if least else "non-negative"
        raise NativeError(f"{name} {list(value)}: ONNX takes {words} values (onnxruntime, onnx.checker)", arg.column)
    return tuple(value)


def _geometry(attrs: dict[str, Arg], nd: int, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """strides and dilations (>= 1, default 1); kernel_shape, when given, must be the weight's."""
    kernel = _ints(attrs, "kernel_shape", nd, 1, 1) if "kernel_shape" in attrs else shape[2:]
    if tuple(kernel) != tuple(shape[2:]):
        raise NativeError(f"kernel_shape {list(kernel)} is not the weight's kernel {list(shape[2:])} (weight_shape "
                          f"{list(shape)}; onnxruntime: kernel_shape is not compatible with W shape)",
                          attrs["kernel_shape"].column)
    return {name: _ints(attrs, name, nd, 1, 1) for name in ("strides", "dilations")}


def _group(attrs: dict[str, Arg], kind: str, shape: tuple[int, ...]) -> int:
    arg = attrs.get("group")
    if arg is None:
        return 1
    if not isinstance(arg.value, int) or isinstance(arg.value, bool) or arg.value < 1:
        raise NativeError(f"group must be a positive int (an INT attribute), not {arg.value!r}", arg.column)
    axis = "M (output channels)" if kind == "Conv" else "C (input channels)"
    if shape[0] % arg.value:
        raise NativeError(f"group {arg.value} does not divide the weight's first axis, {kind}'s {axis} = {shape[0]} "
                          "(onnxruntime: not divisible by group)", arg.column)
    return arg.value


def _inputs_bias(arg: Arg) -> bool:
    """inputs [X, W] or [X, W, B]: the bias is there iff the third name is not empty."""
    names = arg.value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise NativeError(f"inputs must be a list of tensor names, not {names!r}", arg.column)
    if not 2 <= len(names) <= 3 or not names[0] or not names[1]:
        raise NativeError(f"inputs {list(names)}: Conv and ConvTranspose take X, W and an optional B (2 or 3 "
                          "names, X and W not empty; onnxruntime: input size not in range [min=2, max=3])",
                          arg.column)
    return len(names) == 3 and bool(names[2])


def _outputs(arg: Arg) -> None:
    names = arg.value
    if not isinstance(names, (list, tuple)) or len(names) != 1 or not isinstance(names[0], str) or not names[0]:
        raise NativeError(f"outputs {names!r}: the node has one output, Y (a list of one name)", arg.column)


def _metadata(bound: dict[str, Arg]) -> None:
    """name, doc_string and overload are strings (or None); the domain is the default operator set's."""
    for name in ("name", "doc_string", "overload"):
        arg = bound.get(name)
        if arg is not None and arg.value is not None and not isinstance(arg.value, str):
            raise NativeError(f"{name} must be a string, not {arg.value!r}", arg.column)
    arg = bound.get("domain")
    if arg is not None and arg.value not in (None, "", "ai.onnx"):
        raise NativeError(f"domain {arg.value!r}: Conv and ConvTranspose are in the default operator set ('' or "
                          "'ai.onnx')", arg.column)


def _auto_pad(attrs: dict[str, Arg]) -> str:
    """NOTSET, SAME_UPPER, SAME_LOWER or VALID (upper case); pads only with NOTSET."""
    arg = attrs.get("auto_pad")
    value = "NOTSET" if arg is None else arg.value
    value = value.decode(errors="replace") if isinstance(value, bytes) else value  # make_node takes bytes too
    if value not in AUTO_PADS:
        raise NativeError(f"auto_pad {value!r}: ONNX takes {', '.join(AUTO_PADS)} (upper case; onnxruntime: Unknown "
                          "AutoPadType String)", arg.column)
    if value != "NOTSET" and "pads" in attrs:
        raise NativeError(f"pads with auto_pad {value!r}: the pads attribute cannot be used simultaneously with "
                          "auto_pad (ONNX spec, onnxruntime)", attrs["pads"].column)
    return value


def _pads(attrs: dict[str, Arg], nd: int) -> list[tuple[int, int]]:
    """pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] → (begin, end) per axis."""
    flat = _ints(attrs, "pads", 2 * nd, 0, 0)
    return [(flat[ax], flat[nd + ax]) for ax in range(nd)]


def _conv_padding(attrs: dict[str, Arg], auto_pad: str, nd: int):
    """Conv: the auto_pad's word, or the explicit (begin, end) input padding per axis."""
    if auto_pad in WORDS:
        return WORDS[auto_pad]
    return [list(p) for p in _pads(attrs, nd)]


def _output_padding(attrs: dict[str, Arg], nd: int, stride) -> tuple[int, ...]:
    """output_padding >= 0 and below the stride on every axis (what both runtimes run)."""
    ops = _ints(attrs, "output_padding", nd, 0, 0)
    for ax, (op, s) in enumerate(zip(ops, stride)):
        if op >= s:
            raise NativeError(f"output_padding {list(ops)}: axis {ax}: {op} is not below the stride {s} (the spec says "
                              "below stride/dilation; onnxruntime refuses output_padding >= max(stride, dilation) and, "
                              "below a larger dilation, 'output_padding may be too large for stride'; so does "
                              "onnx.reference, but for some NOTSET / VALID nodes with output_shape)", attrs["output_padding"].column)
    return ops


def _sizes(input_size, auto_pad: str) -> tuple[int, ...]:
    if input_size is None:
        raise NativeError(f"a ConvTranspose with auto_pad {auto_pad!r} or output_shape crops by the input's size: give "
                          "input_size (one per spatial axis)", field="input_size")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in input_size):
        raise NativeError(f"input_size {list(input_size)} must be positive ints", field="input_size")
    return tuple(input_size)


def _transpose_padding(attrs: dict[str, Arg], auto_pad: str, nd: int, fields: dict, input_size) -> dict:
    """ConvTranspose's canonical crops (`transpose_crop`): the loader's word (with output_shape) where it
    computes the same crops, else explicit (start, end) crops; NOTSET's pads with its output_padding."""
    ops = _output_padding(attrs, nd, fields["stride"])
    outs = _ints(attrs, "output_shape", nd, 1, 1) if "output_shape" in attrs else None
    if auto_pad == "NOTSET" and outs is None:
        return _explicit_transpose(attrs, nd, ops, fields, input_size)
    if auto_pad == "VALID" and outs is None and input_size is None:  # crops (0, -output_padding): no size needed
        return {"padding": [[0, -op] for op in ops]}
    sizes = _sizes(input_size, auto_pad)
    axes = list(zip(sizes, fields["kernel"], fields["stride"], fields["dilation"]))
    if outs is not None:
        for ax, ((i, k, s, d), o) in enumerate(zip(axes, outs)):
            longest = translate.transpose_full_length(i, k, s, d) + s - 1
            if o > longest:
                raise NativeError(f"output_shape {list(outs)}: axis {ax}: {o} is longer than {longest} = F + stride - 1 "
                                  f"(onnxruntime: Explicit output_shape is inconsistent with input spatial dimensions: "
                                  f"the forward conv of that length gives more than the input's {i})",
                                  attrs["output_shape"].column)
    crops = [transpose_crop(auto_pad, *a, output_padding=op, output_shape=None if outs is None else outs[ax])
             for ax, (a, op) in enumerate(zip(axes, ops))]
    word = _same_word(auto_pad, ops, outs, axes, crops)
    if word:
        return {"padding": word, **({"output_shape": list(outs)} if outs is not None else {})}
    return {"padding": [list(c) for c in crops]}


def _explicit_transpose(attrs: dict[str, Arg], nd: int, ops, fields: dict, input_size) -> dict:
    """NOTSET: pads (begin, end) and output_padding as written; the output must not be empty."""
    pads = _pads(attrs, nd)
    if input_size is not None:
        axes = zip(_sizes(input_size, "NOTSET"), fields["kernel"], fields["stride"], fields["dilation"])
        for ax, ((i, k, s, d), (lo, hi), op) in enumerate(zip(axes, pads, ops)):
            if translate.transpose_output_length(i, k, s, d, lo, hi - op) < 1:
                raise NativeError(f"pads {list(attrs['pads'].value)} crop all of axis {ax} (its full output has "
                                  f"{translate.transpose_full_length(i, k, s, d) + op}; onnxruntime: Computed output "
                                  "dimension is <= 0)", attrs["pads"].column)
    out = {"padding": [list(p) for p in pads]}
    return out | ({"output_padding": list(ops)} if "output_padding" in attrs else {})


def _same_word(auto_pad: str, ops, outs, axes, crops) -> str | None:
    """The loader's word for the auto_pad when it gives the same crops on every axis (and takes the
    output_shape): no output_padding (the loader's words take none), the length in the word's range."""
    word = WORDS.get(auto_pad)
    if word is None or any(ops):
        return None
    for ax, (i, k, s, d) in enumerate(axes):
        if outs is None:
            o = translate.transpose_default_length(word, i, k, s, d)
        else:
            o = outs[ax]
            low, high = translate.transpose_length_range(word, i, k, s, d)
            if not low <= o <= high:
                return None
        if translate.transpose_word_crop(word, i, k, s, d, o) != crops[ax]:
            return None
    return word
