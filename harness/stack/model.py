"""The layers of a stack case and their shapes (pure: no framework, no NumPy arrays).

A stack runs on a batch of samples of `input_shape` (C, *spatial, or (features,) before a linear
layer); each layer's output shape is inferred from the one before, and a layer that does not fit
is a `StackError` naming its index and kind. Convolutions are canonical `Case`s (harness.case),
so every vocabulary of single cases (canonical fields, native spellings) describes a stack's conv
layers too; unpooling is the depthwise transposed convolution with a ones kernel that Chainer's
unpooling_nd computes (col2im of tiled copies), so its output length is Chainer's
s*(i-1) + k - 2p, or s*(i-1) + k - s + 1 - 2p with cover_all (100 → 199 for k = s = 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.case import Case, xfail_reason

ACTIVATIONS = {"relu": 1.0, "tanh": 1.0, "sigmoid": 0.25}  # the largest |f'|: how far an error grows
MAX_SIZE = 2**31 - 1  # a size or count in a layer (memory is checked before a stack runs)


class StackUnsupported(Exception):
    """A framework cannot express one layer of a stack (the whole stack is then `unsupported`)."""

    def __init__(self, index: int, kind: str, reason: str):
        self.index, self.kind, self.reason = index, kind, reason
        super().__init__(f"layer {index} ({kind}): {reason}")


class StackError(ValueError):
    def __init__(self, index: int | None, kind: str, message: str):
        self.index, self.kind, self.message = index, kind, message
        super().__init__(f"layer {index} ({kind}): {message}" if index is not None else message)


@dataclass(frozen=True)
class Layer:
    """One layer: `kind`, its input and output shape per sample, and what it needs.

    kinds: conv / conv_transpose (`case`: the canonical case at this layer's shapes, batch included),
    relu / tanh / sigmoid / leaky_relu (`slope`), batch_norm (`eps`; inference, seeded statistics),
    linear (`features`, `bias`), reshape, upsample (`scale`, nearest), unpool (`case`: its depthwise
    transposed conv, `cover_all`), concat (the output of the earlier layer `source` appended along the
    channels: a U-Net's skip), condition (`features` seeded condition values per sample, broadcast over
    the spatial axes and appended along the channels: a conditional GAN's label).
    """

    index: int
    kind: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    case: Case | None = None
    slope: float = 0.0
    eps: float = 1e-5
    features: int = 0
    bias: bool = True
    scale: tuple[int, ...] = ()
    cover_all: bool = False
    source: int | None = None

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the layer's parameters (seeded, shared by every framework)."""
        if self.kind in ("conv", "conv_transpose"):
            return ("w", "b") if self.case.bias else ("w",)
        if self.kind == "linear":
            return ("w", "b") if self.bias else ("w",)
        if self.kind == "batch_norm":
            return ("gamma", "beta")  # mean and var are seeded statistics, not trained here
        return ()

    @property
    def max_slope(self) -> float:
        """The largest |f'| of an elementwise layer (how much an error in its input can grow)."""
        if self.kind == "leaky_relu":
            return max(1.0, abs(self.slope))
        return ACTIVATIONS.get(self.kind, 1.0)


def unpool_case(shape: tuple[int, ...], kernel, stride, pad, cover_all: bool, batch: int) -> Case:
    """Chainer's unpooling_nd as a canonical transposed conv: depthwise (groups = C), no bias, crops
    (p, p) or, with cover_all, (p, p + s - 1)."""
    c, spatial = shape[0], shape[1:]
    nd = len(spatial)
    k, s, p = (tuple(v) if isinstance(v, (list, tuple)) else (v,) * nd for v in (kernel, stride, pad))
    pads = tuple((pi, pi + (si - 1 if cover_all else 0)) for pi, si in zip(p, s))
    return Case(id="unpool", file="<stack>", line=0, op="conv_transpose", ndim=nd, batch=batch, in_channels=c, out_channels=c,
                input_size=tuple(spatial), kernel=k, stride=s, dilation=(1,) * nd, groups=c, bias=False,
                padding=pads)


def elementwise(index: int, kind: str, name: str, shape, **extra) -> Layer:
    return Layer(index, kind, name, tuple(shape), tuple(shape), **extra)


def linear(index: int, name: str, shape, features: int, bias: bool) -> Layer:
    if not 1 <= features <= MAX_SIZE:
        raise StackError(index, "linear", f"out_features: 1 to {MAX_SIZE}, not {features}")
    if len(shape) != 1:
        raise StackError(index, "linear", f"takes (features,) per sample; reshape {tuple(shape)} first")
    return Layer(index, "linear", name, tuple(shape), (features,), features=features, bias=bias)


def reshape(index: int, name: str, shape, target) -> Layer:
    if not isinstance(target, (list, tuple)) or not target or any(
            not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= MAX_SIZE for t in target):
        raise StackError(index, "reshape", f"a list of sizes per sample (positive ints), not {target!r}")
    target = tuple(target)
    if math.prod(target) != math.prod(shape) or any(t < 1 for t in target):
        raise StackError(index, "reshape", f"{tuple(shape)} has {math.prod(shape)} values per sample, "
                         f"{target} needs {math.prod(target) if all(t > 0 for t in target) else 'positive sizes'}")
    return Layer(index, "reshape", name, tuple(shape), target)


def upsample(index: int, name: str, shape, scale) -> Layer:
    nd = len(shape) - 1
    if nd < 1:
        raise StackError(index, "upsample", f"takes (C, *spatial) per sample, not {tuple(shape)}")
    factors = tuple(scale) if isinstance(scale, (list, tuple)) else (scale,) * nd
    if len(factors) != nd or any(not isinstance(f, int) or isinstance(f, bool) or not 1 <= f <= MAX_SIZE for f in factors):
        raise StackError(index, "upsample", f"scale: one positive int or {nd}, not {scale!r}")
    out = (shape[0], *(i * f for i, f in zip(shape[1:], factors)))
    return Layer(index, "upsample", name, tuple(shape), out, scale=factors)


def conv_like(index: int, kind: str, name: str, shape, case: Case, cover_all: bool = False) -> Layer:
    """A conv / conv_transpose layer (or an unpool's depthwise transposed conv) checked against `shape`."""
    want = (case.in_channels, *case.input_size)
    if tuple(shape) != want:
        raise StackError(index, kind, f"takes input (C, *spatial) = {want}, but the layer before gives {tuple(shape)}")
    out = (case.out_channels, *case.output_size)
    if min(out[1:]) < 1:
        raise StackError(index, kind, f"gives an empty output {out}")
    return Layer(index, kind, name, want, out, case=case, cover_all=cover_all)


def concat(index: int, name: str, shape, source: int, earlier: list[Layer]) -> Layer:
    """The output of the earlier layer `source` appended to this input along the channels."""
    if index == 0:
        raise StackError(index, "concat", "the first layer has no earlier layer to concatenate")
    if not isinstance(source, int) or isinstance(source, bool) or not 0 <= source < index:
        raise StackError(index, "concat", f"from: the index of an earlier layer (0 to {index - 1}), not {source!r}")
    other = earlier[source].out_shape
    if len(other) != len(shape) or other[1:] != tuple(shape[1:]):
        raise StackError(index, "concat", f"layer {source} ({earlier[source].name}) gives {other}, which does not "
                         f"fit {tuple(shape)} along the spatial axes")
    return Layer(index, "concat", name, tuple(shape), (shape[0] + other[0], *shape[1:]), source=source)


def condition(index: int, name: str, shape, features: int) -> Layer:
    """`features` condition channels per sample, broadcast over the spatial axes, appended to the input."""
    if not isinstance(features, int) or isinstance(features, bool) or not 1 <= features <= MAX_SIZE:
        raise StackError(index, "condition", f"features: a positive int, not {features!r}")
    return Layer(index, "condition", name, tuple(shape), (shape[0] + features, *shape[1:]), features=features)


@dataclass(frozen=True)
class StackCase:
    """A case with `layers:`: a batch of `input_shape` samples through `layers`, in each dtype and
    framework; `layer_lines` are the file lines of the layers (for messages and reports)."""

    id: str
    file: str
    line: int
    input_shape: tuple[int, ...]
    batch: int
    layers: tuple[Layer, ...]
    layer_lines: tuple[int, ...] = ()
    dtypes: tuple[str, ...] = ("float64", "float32")
    frameworks: tuple[str, ...] | None = None
    tolerance: float = 1.0
    tolerance_reason: str = ""
    seed: int = 0
    description: str = ""
    refs: tuple[str, ...] = ()
    xfail: tuple[tuple[str, str], ...] = ()
    marks: tuple[str, ...] = ()

    op = "stack"
    name = "stack"

    def params(self) -> dict:
        """Flat, JSON-friendly parameters for result rows and reports."""
        return {"op": "stack", "input_shape": list(self.input_shape), "batch": self.batch,
                "layers": [f"{lay.name} ({lay.kind}) → {list(lay.out_shape)}" for lay in self.layers]}

    @property
    def values(self) -> int:
        """Values per sample of every layer's output and the input (what a run holds, roughly, per array)."""
        return math.prod(self.input_shape) + sum(math.prod(lay.out_shape) for lay in self.layers)

    def xfail_reason(self, framework: str, dtype: str | None = None) -> str | None:
        return xfail_reason(self.xfail, framework, dtype)


def layer_case(stack: StackCase, layer: Layer, dtype: str, note: str = "") -> Case:
    """A conv layer of the stack as a single case (id `STACK.layerN`), at its own line of the stack's file."""
    line = stack.layer_lines[layer.index] if layer.index < len(stack.layer_lines) else stack.line
    return replace(layer.case, id=f"{stack.id}.layer{layer.index}", file=stack.file, line=line, dtypes=(dtype,),
                   xfail=stack.xfail, description=f"Layer {layer.index} ({layer.name}) of the stack {stack.id}{note}.")
