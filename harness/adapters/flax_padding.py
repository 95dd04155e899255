"""flax's vocabulary for canonical cases: flax.linen's and flax.nnx's Conv / ConvTranspose as written →
canonical case fields, and back (`native_texts`). Pure: never imports flax or jax. No flax adapter
runs cases: the JAX adapter's `layer_program` builds the same linen layer (`jax_padding.flax_layer_step`).

Measured with flax 0.12.8 on jax 0.10.2 (flax/linen/linear.py, flax/nnx/nn/linear.py):

- Channels-last data (N, *spatial, C). linen takes the input channels from the input (the case gives
  in_channels); nnx from in_features, its first four arguments positional (in_features, out_features,
  kernel_size, strides), the rest keyword-only, rngs required.
- kernel_size: an int k is (k,), a 1D conv whatever the input's rank (flax folds the leading axes into
  the batch), so a 2D layer needs kernel_size=(k, k); 0 fails at init. strides, input_dilation and
  kernel_dilation: an int, n ints, or None (1).
- padding (canonicalize_padding): a string goes to lax as it is; an int p pads (p, p) on every axis; a
  sequence of n entries, each an int p (p, p) or a (lo, hi) tuple (nnx refuses a [lo, hi] list; linen
  freezes its attributes' lists into tuples and takes it); anything else is refused.
- Conv wraps lax.conv_general_dilated (`jax_native`'s rules): 'SAME', 'SAME_LOWER', 'VALID' in any
  case, pairs as lax's; 'CAUSAL' (exactly; 1D only) pads (d*(k-1), 0); 'CIRCULAR' and 'REFLECT' pad
  with data, not zeros (refused). input_dilation > 1 is lax's lhs_dilation: a transposed conv of
  stride input_dilation (with strides 1; string padding, CAUSAL's too, is refused by lax then).
  feature_group_count must divide in_channels (an assertion) and features (lax).
- ConvTranspose wraps lax.conv_transpose with its default dimension numbers (NHWC, HWIO) and no
  groups: 'SAME' / 'VALID' are the canonical words; pairs pad the lhs-dilated input (NOT PyTorch's
  crops: `jax_padding.crops_from_transpose_padding`); 'CIRCULAR' wraps the output around (refused);
  other strings as lax.conv_transpose takes them (nnx's docstring offers 'CAUSAL': lax refuses it).
- Kernels: Conv's is (*k, C_in/g, C_out), the canonical weight transposed; ConvTranspose's (*k, C_in,
  C_out) is used as it is (transpose_kernel=False: the canonical weight is its (I, O) with the taps
  flipped) or, with transpose_kernel=True, (*k, C_out, C_in), flipped and swapped by lax (the
  canonical weight is it transposed, unflipped). use_bias (default True) adds the bias on C.
- A mask (the case is the unmasked conv) and a custom convolution function are refused.
"""

from __future__ import annotations

from harness.adapters import jax_native as jn
from harness.adapters import jax_padding as jp
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.native_call import Arg, NativeError, bind, parse_call, per_axis
from harness.adapters.program import Ref

_OPTIONS = ("dtype", "param_dtype", "precision", "kernel_init", "bias_init")
PARAMS = {
    ("linen", "Conv"): ("features", "kernel_size", "strides", "padding", "input_dilation", "kernel_dilation",
                        "feature_group_count", "use_bias", "mask", *_OPTIONS, "promote_dtype", "conv_general_dilated",
                        "conv_general_dilated_cls", "parent", "name"),
    ("linen", "ConvTranspose"): ("features", "kernel_size", "strides", "padding", "kernel_dilation", "use_bias", "mask",
                                 *_OPTIONS, "transpose_kernel", "promote_dtype", "preferred_element_type", "parent",
                                 "name"),
    ("nnx", "Conv"): ("in_features", "out_features", "kernel_size", "strides", "padding", "input_dilation",
                      "kernel_dilation", "feature_group_count", "use_bias", "mask", *_OPTIONS, "conv_general_dilated",
                      "promote_dtype", "preferred_element_type", "rngs", "kernel_metadata", "bias_metadata"),
    ("nnx", "ConvTranspose"): ("in_features", "out_features", "kernel_size", "strides", "padding", "kernel_dilation",
                               "use_bias", "mask", *_OPTIONS, "transpose_kernel", "promote_dtype",
                               "preferred_element_type", "rngs", "kernel_metadata", "bias_metadata"),
}
MODULES = {"nn": "linen", "linen": "linen", "flax.linen": "linen", "": "linen", "nnx": "nnx", "flax.nnx": "nnx"}
OBJECTS = ("mask", "dtype", "param_dtype", "precision", "kernel_init", "bias_init", "promote_dtype",
           "conv_general_dilated", "conv_general_dilated_cls", "parent", "preferred_element_type", "rngs",
           "kernel_metadata", "bias_metadata")  # may be names, not literals
LAX_CONV = ("lax.conv_general_dilated", "jax.lax.conv_general_dilated")


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of `nn.Conv` / `nn.ConvTranspose` (flax.linen) or `nnx.Conv` /
    `nnx.ConvTranspose` as written: channels-last; linen's input channels come from the case, nnx's
    in_features fix them."""
    call = parse_call(text)
    kind = MODULES.get(call.func.rpartition(".")[0])
    if (kind, call.name) not in PARAMS:
        raise NativeError(f"flax {call.func!r} is not one of nn.Conv, nn.ConvTranspose, nnx.Conv, nnx.ConvTranspose "
                          "(flax.linen / flax.nnx)", 1)
    nc.layer_weight(call, weight_shape)
    if call.plus is not None:
        raise NativeError(f"flax {call.name} is a layer: it adds its own bias (use_bias; nothing to add after it)",
                          call.plus.column)
    params = PARAMS[kind, call.name]
    nnx = kind == "nnx"
    bound = bind(call, params, 3 if nnx else 2, "flax", tensors=OBJECTS,
                 keyword_only=params[params.index("strides") + 1:] if nnx else ())
    _check_objects(call, bound, nnx)
    nd, kernel = _kernel(bound, input_size)
    fields = {"out_channels": jn.count(bound, "out_features" if nnx else "features"), "kernel": kernel,
              "bias": jn.flag(bound, "use_bias", True), "layout": "channels_last"}
    if nnx:
        fields["in_channels"] = _in_features(bound, in_channels)
    stride = list(per_axis(bound, "strides", nd, 1, 1))
    dilation = list(per_axis(bound, "kernel_dilation", nd, 1, 1))
    arg = bound.get("padding")
    value = _padding(arg, nd, nnx)
    if call.name == "ConvTranspose":
        if value == "CIRCULAR":
            raise NativeError("padding 'CIRCULAR' wraps the output around: not a zero padding (no canonical op)",
                              arg.column)
        return {**fields, "op": f"conv_transpose{nd}d", "stride": stride, "dilation": dilation, "groups": 1,
                "padding": jn.transpose_crops(arg, value, kernel, stride, dilation)}
    return {**fields, **_conv(bound, arg, value, kernel, stride, dilation, fields["out_channels"])}


def _conv(bound: dict, arg: Arg | None, value, kernel, stride, dilation, out_channels: int) -> dict:
    """Conv's geometry: lax.conv_general_dilated's, after flax's own CAUSAL padding."""
    nd = len(kernel)
    groups = jn.count(bound, "feature_group_count")
    if out_channels % groups:
        raise NativeError(f"features {out_channels} must be a multiple of feature_group_count={groups} (lax)",
                          bound["feature_group_count"].column)
    input_dilation = list(per_axis(bound, "input_dilation", nd, 1, 1))
    if value in ("CIRCULAR", "REFLECT"):
        raise NativeError(f"padding {value!r} pads with the data, not zeros (no canonical op); give 'SAME', 'VALID', "
                          "ints or (low, high) pairs", arg.column)
    if value == "CAUSAL":
        if nd != 1:
            raise NativeError("padding 'CAUSAL' is only implemented for 1D convolutions (flax)", arg.column)
        if max(input_dilation) > 1:
            raise NativeError("padding 'CAUSAL' with input_dilation > 1: flax then runs lax with 'VALID', which lax "
                              "refuses for an input (lhs) dilation", arg.column)
        value = [(dilation[0] * (kernel[0] - 1), 0)]
    fields = jn.conv_fields(arg, value, kernel, stride, input_dilation, dilation, bound.get("strides"))
    return {**fields, "op": f"{fields['op']}{nd}d", "groups": groups}


def _check_objects(call: nc.NativeCall, bound: dict, nnx: bool) -> None:
    """What changes the computation beyond a zero-padded convolution is refused; nnx needs rngs."""
    mask = bound.get("mask")
    if mask is not None and mask.value is not None:
        raise NativeError("mask: the case is the unmasked convolution (give mask=None)", mask.column)
    for name in ("conv_general_dilated", "conv_general_dilated_cls"):
        arg = bound.get(name)
        if arg is None or (arg.value is None and not nnx):  # linen's default None: lax's
            continue
        if not (name == "conv_general_dilated" and isinstance(arg.value, nc.Expr) and arg.value.text in LAX_CONV):
            raise NativeError(f"{name}: a custom convolution function; the case is lax.conv_general_dilated's",
                              arg.column)
    if nnx and "rngs" not in bound:
        raise NativeError(f"flax nnx.{call.name} needs rngs (keyword-only, e.g. rngs=nnx.Rngs(0))")
    jn.check_precision(bound.get("precision"))


def _kernel(bound: dict, input_size) -> tuple[int, list[int]]:
    """(number of spatial axes, kernel): an int k is flax's (k,)."""
    arg = bound["kernel_size"]
    value = arg.value
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or not 1 <= len(values) <= 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise NativeError(f"kernel_size must be a positive int (1D) or a sequence of 1 to 3 positive ints, not "
                          f"{value!r}", arg.column)
    hint = (f"; kernel_size={value} is flax's ({value},): a 1D conv (flax folds the leading axes into the batch), "
            f"a {len(input_size)}D layer needs {len(input_size)} ints" if isinstance(value, int) and input_size else "")
    jn.check_rank(input_size, len(values), hint, arg.column)
    return len(values), list(values)


def _in_features(bound: dict, in_channels) -> int:
    value = jn.count(bound, "in_features")
    if in_channels is not None and in_channels != value:
        raise NativeError(f"in_features={value}, but the input has {in_channels} channels (flax refuses it)",
                          bound["in_features"].column)
    return value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _padding(arg: Arg | None, nd: int, nnx: bool):
    """flax's canonicalize_padding: a string as it is, or n (lo, hi) pairs."""
    value = "SAME" if arg is None else arg.value
    if isinstance(value, str):
        return value
    if _is_int(value):
        return [(value, value)] * nd
    kinds = tuple if nnx else (tuple, list)
    if isinstance(value, (tuple, list)) and len(value) == nd:
        out = [(p, p) if _is_int(p) else tuple(p) for p in value
               if _is_int(p) or (isinstance(p, kinds) and len(p) == 2 and all(_is_int(v) for v in p))]
        if len(out) == nd:
            return out
    pair = "(low, high) tuple (nnx refuses a list)" if nnx else "(low, high) pair"
    raise NativeError(f"padding {value!r}: flax takes a string, an int, or {nd} entries each an int or a {pair}",
                      arg.column)


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """Every way flax writes the case: the linen layer of the JAX adapter's `layer_program` (without its
    dtypes), and nnx's (in_features first, rngs a name to bind). None for a grouped transposed conv:
    ConvTranspose has no feature_group_count."""
    if case.is_transpose and case.groups > 1:
        return ()
    linen = jp.flax_layer_step(case, out=None)
    nnx = jp.flax_layer_step(case, out=None, module="nnx")
    kwargs = (("in_features", case.in_channels), ("out_features", case.out_channels),
              *(kv for kv in nnx.kwargs if kv[0] != "features"), ("rngs", Ref("rngs")))
    return (nc.Spelled(pg.render(linen)), nc.Spelled(pg.render(pg.Step(None, nnx.func, nnx.args, kwargs))))
