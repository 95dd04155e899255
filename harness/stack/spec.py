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

from harness.loader.native import FRAMEWORKS, WEIGHT_SHAPE
from harness.loader.schema import OP_PATTERN
from harness.stack import model as m

SIMPLE = ("relu", "tanh", "sigmoid")


def _kind_and_params(index: int, entry) -> tuple[str, object, str | None]:
    if isinstance(entry, str):
        if entry not in SIMPLE:
            raise m.StackError(index, entry, f"a layer named by a word is one of {', '.join(SIMPLE)}")
        return entry, {}, None
    if not isinstance(entry, dict):
        raise m.StackError(index, type(entry).__name__, "each layer is a word (relu) or a one-key mapping")
    rest = {k: v for k, v in entry.items() if k not in ("name", WEIGHT_SHAPE)}
    native = [k for k in rest if k in FRAMEWORKS]
    if len(rest) != 1:
        raise m.StackError(index, ", ".join(map(str, rest)) or "?", "give one layer per entry (and name:)")
    kind = next(iter(rest))
    if native:
        return "native", {"framework": kind, "text": rest[kind], WEIGHT_SHAPE: entry.get(WEIGHT_SHAPE)}, entry.get("name")
    return str(kind), rest[kind], entry.get("name")


def _conv(index: int, kind: str, params, shape, batch: int):
    """A canonical conv entry (`conv2d: {...}`) at this point of the stack."""
    from harness import native
    from harness.adapters.native_call import NativeError

    if not isinstance(params, dict):
        raise m.StackError(index, kind, "a conv layer's fields are a mapping (out_channels, kernel, stride, ...)")
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


def _mapping(index: int, kind: str, params) -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise m.StackError(index, kind, f"{kind}'s fields are a mapping, not {params!r}")
    return params


def layer(index: int, entry, shape: tuple[int, ...], batch: int, earlier: list[m.Layer] = ()) -> m.Layer:
    """One entry of `layers:` on inputs of `shape` (per sample), after the `earlier` layers."""
    kind, params, name = _kind_and_params(index, entry)
    name = str(name or kind if kind != "native" else name or params["framework"])
    if kind in SIMPLE:
        return m.elementwise(index, kind, name, shape)
    if kind == "native" or OP_PATTERN.match(kind):
        case = _native(index, params, shape, batch) if kind == "native" else _conv(index, kind, params, shape, batch)
        return m.conv_like(index, case.op, name, shape, case)
    if kind == "reshape":
        return m.reshape(index, name, shape, params)
    p = _mapping(index, kind, params)
    if kind == "leaky_relu":
        return m.elementwise(index, kind, name, shape, slope=float(p.get("slope", 0.01)))
    if kind == "batch_norm":
        return m.elementwise(index, kind, name, shape, eps=float(p.get("eps", 1e-5)))
    if kind == "linear":
        return m.linear(index, name, shape, int(p["out_features"]), bool(p.get("bias", True)))
    if kind == "upsample":
        return m.upsample(index, name, shape, p.get("scale", 2))
    if kind == "concat":
        return m.concat(index, name, shape, p.get("from"), list(earlier))
    if kind == "condition":
        return m.condition(index, name, shape, p.get("features"))
    if kind == "unpool":
        cover_all = bool(p.get("cover_all", True))  # chainer.functions.unpooling_nd's default
        case = m.unpool_case(shape, p.get("ksize", 2), p.get("stride", p.get("ksize", 2)), p.get("pad", 0),
                             cover_all, batch)
        return m.conv_like(index, "unpool", name, shape, case, cover_all=cover_all)
    raise m.StackError(index, kind, "unknown layer; allowed: conv*/conv_transpose* fields, a native spelling ("
                       f"{', '.join(FRAMEWORKS)}), {', '.join(SIMPLE)}, leaky_relu, batch_norm, linear, reshape, "
                       "upsample, unpool, concat, condition")


def layers(input_shape, entries, batch: int) -> list[m.Layer]:
    """Every layer of a stack, each on the shape the one before gives."""
    if not isinstance(entries, list) or not entries:
        raise m.StackError(None, "layers", "layers: a non-empty list")
    out, shape = [], tuple(input_shape)
    for i, entry in enumerate(entries):
        out.append(layer(i, entry, shape, batch, out))
        shape = out[-1].out_shape
    return out
