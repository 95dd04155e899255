"""A stack's `layers:` as written → `model.Layer`s, shapes inferred from `input_shape` (C, *spatial or
(features,)) one layer after another.

Each entry is an activation's name (`relu`, `tanh`, `sigmoid`), or a one-key mapping: `{leaky_relu:
{slope: 0.2}}`, `{batch_norm: {eps: 1e-5}}`, `{linear: {out_features: 8192, bias: true}}`, `{reshape:
[512, 4, 4]}`, `{upsample: {scale: 2}}`, `{unpool: {ksize: 2, stride: 2, pad: 0, cover_all: true}}`, `{concat: {from:
3}}` (layer 3's output appended along the channels), `{condition: {features: 10}}` (a broadcast label),
a conv in canonical fields (`{conv_transpose2d: {out_channels: 256, kernel: 5, stride: 2, padding:
same, output_shape: [8, 8]}}`: in_channels and input_size come from the layer before), or a native
spelling (`{torch: "nn.ConvTranspose2d(512, 256, 4, 2, 1)"}`, `{tensorflow: "...", weight_shape:
[...]}`), read by the same vocabularies as single cases. A layer may carry `name:`. Errors are
`StackError`s naming the layer's index and kind.
"""

from __future__ import annotations

import math

from harness.loader.common import did_you_mean
from harness.loader.native import FRAMEWORKS, WEIGHT_SHAPE
from harness.loader.schema import OP_PATTERN
from harness.stack import model as m

SIMPLE = ("relu", "tanh", "sigmoid")
CONV_FIELDS = ("out_channels", "kernel", "stride", "dilation", "groups", "bias", "padding", "cover_all",
               "output_padding", "output_shape")


def _words() -> tuple[str, ...]:
    """The layers a bare word names: the activations, and every layer whose fields all have defaults."""
    return SIMPLE + tuple(k for k, fields in FIELDS.items() if all(d is not REQUIRED for _, d in fields.values()))


def _kind_and_params(index: int, entry) -> tuple[str, object, str | None]:
    if isinstance(entry, str):
        if entry not in WORDS:
            raise m.StackError(index, entry, f"a layer named by a word is one of {', '.join(WORDS)}")
        return entry, {}, None
    if not isinstance(entry, dict):
        raise m.StackError(index, type(entry).__name__, "each layer is a word (relu) or a one-key mapping")
    rest = {k: v for k, v in entry.items() if k not in ("name", WEIGHT_SHAPE)}
    native = [k for k in rest if k in FRAMEWORKS]
    if len(rest) != 1:
        raise m.StackError(index, ", ".join(map(str, rest)) or "?", "give one layer per entry (and name:)")
    kind = next(iter(rest))
    if WEIGHT_SHAPE in entry and not native:
        raise m.StackError(index, str(kind), f"{WEIGHT_SHAPE} goes with a native functional call, not with {kind}")
    if native:
        if not isinstance(rest[kind], str):
            raise m.StackError(index, kind, f"a native spelling is the call as text, not {rest[kind]!r}")
        return "native", {"framework": kind, "text": rest[kind], WEIGHT_SHAPE: entry.get(WEIGHT_SHAPE)}, entry.get("name")
    return str(kind), rest[kind], entry.get("name")


def _conv(index: int, kind: str, params, shape, batch: int):
    """A canonical conv entry (`conv2d: {...}`) at this point of the stack."""
    from harness import native
    from harness.adapters.native_call import NativeError

    if not isinstance(params, dict):
        raise m.StackError(index, kind, "a conv layer's fields are a mapping (out_channels, kernel, stride, ...)")
    other = [k for k in params if k not in CONV_FIELDS]
    if other:
        raise m.StackError(index, kind, f"{other[0]!r} is not a conv layer's field;{did_you_mean(other[0], CONV_FIELDS)} "
                           f"a layer takes {', '.join(CONV_FIELDS)} (the stack gives in_channels, input_size, batch "
                           "and dtype)")
    fields = {"id": f"layer{index}", "op": kind, "batch": batch, "in_channels": shape[0],
              "input_size": list(shape[1:]), "dtype": "float64", **params}
    try:
        return native.checked(fields, "<stack>")
    except NativeError as exc:
        raise m.StackError(index, kind, exc.message) from None


def _native(index: int, params: dict, shape, batch: int):
    from harness import native
    from harness.adapters.native_call import NativeError

    try:
        return native.case(params["framework"], params["text"], list(shape[1:]), batch=batch,
                           in_channels=shape[0], weight_shape=params[WEIGHT_SHAPE], case_id=f"layer{index}")
    except NativeError as exc:
        raise m.StackError(index, params["framework"], str(exc)) from None


REQUIRED = object()
# the fields of each layer that is not a conv: name → (what it must be, its default or REQUIRED)
FIELDS = {
    "leaky_relu": {"slope": ("number", 0.01)},
    "batch_norm": {"eps": ("number", 1e-5)},
    "linear": {"out_features": ("int", REQUIRED), "bias": ("bool", True)},
    "upsample": {"scale": ("int or list", 2)},
    "unpool": {"ksize": ("int or list", 2), "stride": ("int or list", None), "pad": ("int or list", 0),
               "cover_all": ("bool", True)},  # chainer.functions.unpooling_nd's defaults (stride: ksize)
    "concat": {"from": ("int", REQUIRED)},
    "condition": {"features": ("int", REQUIRED)},
}
_TYPES = {"number": (int, float), "int": int, "bool": bool, "int or list": (int, list)}
WORDS = _words()


def _fields(index: int, kind: str, params) -> dict:
    """A layer's fields checked against FIELDS: known names, the right types, required ones given."""
    allowed = FIELDS[kind]
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise m.StackError(index, kind, f"{kind}'s fields are a mapping of {', '.join(allowed)}, not {params!r}")
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise m.StackError(index, kind, f"unknown field {unknown[0]!r}; {kind} takes {', '.join(allowed)}")
    out = {}
    for key, (what, default) in allowed.items():
        value = params.get(key, default)
        if value is REQUIRED:
            raise m.StackError(index, kind, f"{key} is required ({what})")
        bad_bool = isinstance(value, bool) and what != "bool"
        if value is not None and (bad_bool or not isinstance(value, _TYPES[what])):
            raise m.StackError(index, kind, f"{key}: {what}, not {value!r}")
        out[key] = value
    return out


def layer(index: int, entry, shape: tuple[int, ...], batch: int, earlier: list[m.Layer] = ()) -> m.Layer:
    """One entry of `layers:` on inputs of `shape` (per sample), after the `earlier` layers."""
    kind, params, name = _kind_and_params(index, entry)
    name = str(name or kind if kind != "native" else name or params["framework"])
    if kind in SIMPLE:
        if params not in ({}, None):
            raise m.StackError(index, kind, f"{kind} takes no fields, not {params!r}")
        return m.elementwise(index, kind, name, shape)
    if kind == "native" or OP_PATTERN.match(kind):
        case = _native(index, params, shape, batch) if kind == "native" else _conv(index, kind, params, shape, batch)
        return m.conv_like(index, case.op, name, shape, case)
    if kind == "reshape":
        return m.reshape(index, name, shape, params)
    if kind not in FIELDS:
        raise m.StackError(index, kind, "unknown layer; allowed: conv*/conv_transpose* fields, a native spelling ("
                           f"{', '.join(FRAMEWORKS)}), {', '.join(SIMPLE)}, reshape, {', '.join(FIELDS)}")
    return _with_fields(index, kind, name, _fields(index, kind, params), shape, batch, earlier)


def _with_fields(index: int, kind: str, name: str, p: dict, shape, batch: int, earlier) -> m.Layer:
    if kind == "leaky_relu":
        if not math.isfinite(p["slope"]):
            raise m.StackError(index, kind, f"slope: a finite number, not {p['slope']!r}")
        return m.elementwise(index, kind, name, shape, slope=float(p["slope"]))
    if kind == "batch_norm":
        if not (math.isfinite(p["eps"]) and p["eps"] > 0):
            raise m.StackError(index, kind, f"eps: a positive finite number, not {p['eps']!r}")
        return m.elementwise(index, kind, name, shape, eps=float(p["eps"]))
    if kind == "linear":
        return m.linear(index, name, shape, p["out_features"], p["bias"])
    if kind == "upsample":
        return m.upsample(index, name, shape, p["scale"])
    if kind == "concat":
        return m.concat(index, name, shape, p["from"], list(earlier))
    if kind == "condition":
        return m.condition(index, name, shape, p["features"])
    stride = p["stride"] if p["stride"] is not None else p["ksize"]
    nd = len(shape) - 1
    for key, v, low in (("ksize", p["ksize"], 1), ("stride", stride, 1), ("pad", p["pad"], 0)):
        values = v if isinstance(v, list) else [v]
        if nd < 1 or (isinstance(v, list) and len(v) != nd) or any(not isinstance(n, int) or n < low for n in values):
            raise m.StackError(index, kind, f"{key}: one int or {nd} ints >= {low} for input {tuple(shape)}, not {v!r}")
    case = m.unpool_case(shape, p["ksize"], stride, p["pad"], p["cover_all"], batch)
    return m.conv_like(index, "unpool", name, shape, case, cover_all=p["cover_all"])


def layers(input_shape, entries, batch: int) -> list[m.Layer]:
    """Every layer of a stack, each on the shape the one before gives."""
    if not isinstance(entries, list) or not entries:
        raise m.StackError(None, "layers", "layers: a non-empty list")
    out, shape = [], tuple(input_shape)
    for i, entry in enumerate(entries):
        out.append(layer(i, entry, shape, batch, out))
        shape = out[-1].out_shape
    return out
