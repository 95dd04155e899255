"""Native spellings in case files: a case may give its op as one framework's own call (`torch:
"nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1)"`) instead of canonical fields,
with `weight_shape` beside a functional call (`F.conv_transpose2d(x, w, ...)`), in that framework's
weight layout. Each framework's pure module reads its vocabulary (`from_native(text, input_size,
weight_shape, in_channels) -> fields`, and `native_texts(case)` back: every way it writes the case);
this module finds it, merges the fields into the case and locates errors: the key's line and the
column inside the call."""

from __future__ import annotations

import importlib

from harness.loader.common import FieldError

# case-file key → pure module with from_native(text, input_size, weight_shape, in_channels) and native_texts(case)
FRAMEWORKS = {"torch": "harness.adapters.torch_padding", "tensorflow": "harness.adapters.tf_padding",
              "keras": "harness.adapters.keras_padding", "jax": "harness.adapters.jax_padding",
              "flax": "harness.adapters.flax_padding", "onnx": "harness.adapters.onnx_padding",
              "chainer": "harness.adapters.chainer_padding"}


def vocabulary(framework: str):
    """The pure module that reads and writes `framework`'s own spelling (from_native, layer_text)."""
    return importlib.import_module(FRAMEWORKS[framework])


WEIGHT_SHAPE = "weight_shape"  # beside a functional call: its weight tensor's shape


def native_fields(framework: str, text, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical fields of `text` in `framework`'s spelling; FieldError naming the key and the column."""
    from harness.adapters.native_call import NativeError

    if not isinstance(text, str):
        raise FieldError(framework, f"a {framework} call as text, e.g. \"nn.Conv2d(1, 32, 3, stride=2)\"")
    try:
        return vocabulary(framework).from_native(text, input_size, weight_shape=weight_shape, in_channels=in_channels)
    except NativeError as exc:
        where = f"column {exc.column} of the call: " if exc.column else ""
        raise FieldError(exc.field or framework, f"{where}{exc.message}") from None


def merge(fields: dict, own_keys) -> dict:
    """`fields` (defaults applied) with a native spelling replaced by its canonical fields. One native
    key at most; the case's own fields may not say what the call says (defaults give way), and give
    what it does not (Keras's in_channels)."""
    given = [k for k in FRAMEWORKS if k in fields]
    if not given:
        if WEIGHT_SHAPE in fields:
            raise FieldError(WEIGHT_SHAPE, "weight_shape goes beside a functional call (e.g. torch: "
                             "\"F.conv2d(x, w, stride=2)\"); canonical fields give in_channels, out_channels, kernel")
        return fields
    if len(given) > 1:
        raise FieldError(given[1], f"give one native spelling, not {' and '.join(given)}")
    framework = given[0]
    native = native_fields(framework, fields[framework], fields.get("input_size"), fields.get(WEIGHT_SHAPE),
                           fields.get("in_channels") if "in_channels" in own_keys else None)
    clash = [k for k in native if k in own_keys]  # what the call fixes; the rest (Keras's in_channels) the case gives
    if clash:
        raise FieldError(clash[0], f"the {framework} call already says the layer's {', '.join(clash)}: give "
                         "the layer once, as the call or as canonical fields")
    out = {k: v for k, v in fields.items() if k not in (framework, WEIGHT_SHAPE) and k not in native}  # defaults give way
    return {**out, **native}
