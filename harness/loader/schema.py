"""The schema of a case as written (pydantic), and its checks into the canonical `Case`."""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness import translate
from harness.case import DTYPES, Case
from harness.loader.common import FieldError, did_you_mean, short_repr

MAX_TENSOR_BYTES = 512 * 2**20  # float64 x, w, y and gradients of one case
MAX_INT = 2**31 - 1  # sizes, channels, strides, paddings
MAX_ID_LENGTH = 200
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.+\-]+$")
MARK_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
OP_PATTERN = re.compile(r"^(conv|conv_transpose|deconv|deconvolution)([123])d?$|^(conv|conv_transpose)$")
OP_NAMES = ("conv", "conv_transpose", "conv1d", "conv2d", "conv3d",
            "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
PADDING_ALIASES = {"same_upper": "same"}  # ONNX's name for the odd pixel at the end

IntOrList = Union[int, list[int]]
PaddingSpec = Union[int, str, list[Union[int, list[int]]]]


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    factor: float = Field(gt=0, allow_inf_nan=False)
    reason: str = Field(min_length=1)


class Accumulation(BaseModel):
    """A case's own accumulation for its float16/bfloat16 rows (see harness.precision), with why."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dtype: Literal["float64", "float32", "float16", "bfloat16"]
    reason: str = Field(min_length=1)


class CommonSpec(BaseModel):
    """The fields a single case and a stack case share: identity, dtypes, frameworks, expectations."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str
    batch: int = Field(default=1, ge=1, le=MAX_INT)
    dtype: Union[Literal["float64", "float32", "float16", "bfloat16"], list[str]] = Field(
        default_factory=lambda: ["float64", "float32"]
    )
    frameworks: list[str] | None = None
    tolerance: Tolerance | None = None
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    description: str = ""
    refs: list[str] = Field(default_factory=list)
    xfail: dict[str, str] = Field(default_factory=dict)
    marks: list[str] = Field(default_factory=list)
    found_by: str = ""  # how the case was found, e.g. by `harness fuzz` (its seed and draw)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError("ids use letters, digits and . _ - + only")
        if len(v) > MAX_ID_LENGTH:
            raise ValueError(f"ids are at most {MAX_ID_LENGTH} characters, this one has {len(v)}")
        return v

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v):
        values = [v] if isinstance(v, str) else v
        bad = [d for d in values if d not in DTYPES]
        if bad or not values:
            raise ValueError(f"dtype must be one or a list of {', '.join(DTYPES)}; got {bad or v}")
        return v

    @field_validator("marks")
    @classmethod
    def _marks(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if not MARK_PATTERN.match(m)]
        if bad:
            raise ValueError(f"marks are pytest mark names like 'slow' (a letter, then letters, digits, _); got {bad[0]!r}")
        return v


class CaseSpec(CommonSpec):
    """The schema of one case as written in a file (after defaults and product expansion)."""

    op: str
    ndim: int | None = Field(default=None, ge=1, le=3)
    in_channels: int = Field(ge=1, le=MAX_INT)
    out_channels: int = Field(ge=1, le=MAX_INT)
    input_size: IntOrList
    kernel: IntOrList
    stride: IntOrList = 1
    dilation: IntOrList = 1
    groups: int = Field(default=1, ge=1, le=MAX_INT)
    bias: bool = True
    padding: PaddingSpec = 0
    cover_all: bool = False
    output_padding: IntOrList | None = None
    output_shape: IntOrList | None = None
    layout: Literal["channels_first", "channels_last"] = "channels_first"
    accumulation: Accumulation | None = None
    inputs: Literal["normal", "integers", "large", "with_nan", "with_inf", "zeros"] = "normal"
    golden: dict[str, Any] | None = None


class StackSpec(CommonSpec):
    """The schema of a stack case: `input_shape` per sample and its `layers:` (harness.stack.spec)."""

    input_shape: list[int]
    layers: list[Any]

    @field_validator("input_shape")
    @classmethod
    def _input_shape(cls, v: list[int]) -> list[int]:
        if not v or len(v) > 4 or any(n < 1 or n > MAX_INT for n in v):
            raise ValueError(f"input_shape: (C, *spatial) or (features,) per sample, 1 to 4 positive sizes; got {v}")
        return v


# ---------------------------------------------------------------------------------------------
# validation into the canonical Case


def _op_and_ndim(op: str, ndim: int | None, input_size: IntOrList) -> tuple[str, int]:
    m = OP_PATTERN.match(op)
    if not m:
        raise FieldError(
            "op", f"unknown op {short_repr(op)};{did_you_mean(op, OP_NAMES)} allowed: conv, conv_transpose, "
            "conv1d..3d, conv_transpose1d..3d"
        )
    name = m.group(1) or m.group(3)
    canonical = "conv" if name == "conv" else "conv_transpose"
    from_name = int(m.group(2)) if m.group(2) else None
    from_size = len(input_size) if isinstance(input_size, list) else None
    found = {n for n in (from_name, ndim, from_size) if n is not None}
    if len(found) > 1:
        raise FieldError("ndim", f"op, ndim and input_size disagree on the number of spatial axes: {sorted(found)}")
    if not found:
        raise FieldError("ndim", "give ndim, an op like conv2d, or input_size as a list")
    n = found.pop()
    if n not in (1, 2, 3):
        raise FieldError("ndim", f"1, 2 or 3 spatial axes are supported, not {n}")
    return canonical, n


def check_framework_names(field: str, names: list[str]) -> None:
    from harness.adapters import REGISTRY

    known = sorted(set(REGISTRY) | {n.split("-")[0] for n in REGISTRY})
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FieldError(field, f"unknown framework {short_repr(unknown[0])};{did_you_mean(unknown[0], known)} "
                          f"known: {', '.join(known)}")


def check_xfail_keys(xfail: dict[str, str]) -> None:
    for key, reason in xfail.items():
        name, colon, dtype = key.partition(":")
        if colon and dtype not in DTYPES:
            raise FieldError("xfail", f"key {short_repr(key)}: dtype {short_repr(dtype)} is not one of {', '.join(DTYPES)}")
        if name != "*":
            check_framework_names("xfail", [name])
        if not str(reason).strip():
            raise FieldError("xfail", f"key {short_repr(key)} needs a reason (what goes wrong, and a link or reproduction)")


def _per_axis(name: str, value: IntOrList | None, ndim: int, minimum: int) -> tuple[int, ...]:
    values = [value] * ndim if isinstance(value, int) else list(value)
    if len(values) != ndim:
        raise FieldError(name, f"needs 1 or {ndim} values (one per spatial axis), got {len(values)}")
    if any(v < minimum for v in values):
        raise FieldError(name, f"every value must be >= {minimum}, got {values}")
    if any(v > MAX_INT for v in values):
        raise FieldError(name, f"every value must be <= {MAX_INT} (2^31 - 1), got {values}")
    return tuple(values)


def _explicit_pads(value: PaddingSpec, ndim: int) -> tuple[tuple[int, int], ...]:
    if isinstance(value, int):
        pads = ((value, value),) * ndim
    elif len(value) != ndim:
        raise FieldError("padding", f"needs an int, a word or {ndim} entries (int or [lo, hi]), got {len(value)}")
    else:
        pads = []
        for v in value:
            if isinstance(v, int):
                pads.append((v, v))
            elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
                pads.append((v[0], v[1]))
            else:
                raise FieldError("padding", f"each axis is an int or a [lo, hi] pair, got {short_repr(v)}")
    if any(abs(p) > MAX_INT for pair in pads for p in pair):
        raise FieldError("padding", f"every value must be between -{MAX_INT} and {MAX_INT}, got {short_repr(value)}")
    return tuple(pads)


def _padding_word(padding: PaddingSpec) -> str | None:
    if not isinstance(padding, str):
        return None
    word = canonical_padding(padding)
    if word not in translate.PADDING_WORDS:
        raise FieldError("padding", f"unknown word {short_repr(padding)};{did_you_mean(padding, translate.PADDING_WORDS)} "
                          f"allowed: an int, per-axis ints or [lo, hi] pairs, or {', '.join(translate.PADDING_WORDS)} "
                          "(in any case)")
    return word


def _conv_pads(spec: CaseSpec, word: str | None, ndim: int, size, kernel, stride, dilation):
    """Canonical input padding of a forward conv, checked against the kernel."""
    if spec.output_padding is not None or spec.output_shape is not None:
        field = "output_padding" if spec.output_padding is not None else "output_shape"
        raise FieldError(field, "only conv_transpose takes output_padding / output_shape")
    if word:
        pads = tuple(translate.conv_word_padding(word, *a) for a in zip(size, kernel, stride, dilation))
    else:
        pads = _explicit_pads(spec.padding, ndim)
    if spec.cover_all:
        if word or not translate.symmetric(pads):
            raise FieldError("cover_all", "cover_all goes with a symmetric integer padding")
        pads = tuple(translate.cover_all_padding(lo, s) for (lo, _), s in zip(pads, stride))
    for ax, (i, k, d, (lo, hi)) in enumerate(zip(size, kernel, dilation, pads)):
        if i + lo + hi < translate.effective_kernel(k, d):
            raise FieldError(
                "kernel",
                f"axis {ax}: the dilated kernel ({translate.effective_kernel(k, d)}) is larger than the padded input ({i + lo + hi})",
            )
    return pads


def to_case(spec: CaseSpec, file: str, line: int) -> Case:
    """Check a schema-valid spec for impossible configurations and build the canonical Case."""
    op, ndim = _op_and_ndim(spec.op, spec.ndim, spec.input_size)
    check_framework_names("frameworks", spec.frameworks or [])
    check_xfail_keys(spec.xfail)
    geometry = tuple(_per_axis(name, getattr(spec, name), ndim, 1) for name in ("input_size", "kernel", "stride", "dilation"))
    g = spec.groups
    if spec.in_channels % g or spec.out_channels % g:
        raise FieldError(
            "groups", f"in_channels ({spec.in_channels}) and out_channels ({spec.out_channels}) must both be divisible by groups ({g})"
        )
    word = _padding_word(spec.padding)
    if op == "conv":
        pads, output_padding, output_shape = _conv_pads(spec, word, ndim, *geometry), None, None
    else:
        if spec.cover_all:
            raise FieldError("cover_all", "cover_all applies to conv only")
        pads, output_padding, output_shape = _transpose_pads(spec, word, ndim, *geometry)
    size, kernel, stride, dilation = geometry
    case = Case(
        id=spec.id, file=file, line=line, op=op, ndim=ndim, batch=spec.batch,
        in_channels=spec.in_channels, out_channels=spec.out_channels, input_size=size,
        kernel=kernel, stride=stride, dilation=dilation, groups=g, bias=spec.bias, padding=pads,
        padding_word=word, cover_all=spec.cover_all, output_padding=output_padding,
        output_shape=output_shape,
        dtypes=tuple([spec.dtype] if isinstance(spec.dtype, str) else spec.dtype),
        frameworks=tuple(spec.frameworks) if spec.frameworks else None, layout=spec.layout,
        tolerance=spec.tolerance.factor if spec.tolerance else 1.0,
        tolerance_reason=spec.tolerance.reason if spec.tolerance else "",
        accumulation=spec.accumulation.dtype if spec.accumulation else None,
        accumulation_reason=spec.accumulation.reason if spec.accumulation else "",
        inputs=spec.inputs, seed=spec.seed, description=spec.description, refs=tuple(spec.refs),
        xfail=tuple(spec.xfail.items()), marks=tuple(spec.marks), golden=spec.golden,
    )
    _check_built_case(case)
    if case.accumulation and not set(case.dtypes) & {"float16", "bfloat16"}:
        raise FieldError("accumulation", "accumulation applies to float16 and bfloat16 rows; this case has "
                         f"{', '.join(case.dtypes)}")
    return case


def _check_built_case(case: Case) -> None:
    """Golden shapes, an empty output, and the memory budget of a built case."""
    if case.golden is not None:
        _check_golden(case, case.golden)
    if any(o < 1 for o in case.output_size):
        raise FieldError("padding", f"the output would be empty: output size {case.output_size}")
    if case.nbytes_float64 > MAX_TENSOR_BYTES:
        mib = (case.nbytes_float64 + 2**19) // 2**20  # integer arithmetic: the size may not fit a float
        raise FieldError(
            "input_size",
            f"tensors of this case need {mib} MiB in float64, over the budget of {MAX_TENSOR_BYTES // 2**20} MiB",
        )
    if math.prod(case.kernel) * case.in_channels > 10**7:
        raise FieldError("kernel", "kernel × channels is over 10^7: refused as unreasonably large")


def _check_golden(case: Case, golden: dict) -> None:
    """Literal arrays must have the case's shapes; x, w, g (and b with bias) come together."""
    import numpy as np

    shapes = {"x": case.x_shape, "w": case.w_shape, "b": (case.out_channels,), "g": case.y_shape,
              "y": case.y_shape, "dx": case.x_shape, "dw": case.w_shape, "db": (case.out_channels,)}
    unknown = sorted(set(golden) - set(shapes))
    if unknown:
        raise FieldError("golden", f"unknown entry {short_repr(unknown[0])};{did_you_mean(unknown[0], list(shapes))} "
                          f"allowed: {', '.join(shapes)}")
    needed = {"x", "w", "g"} | ({"b"} if case.bias else set())
    if not needed <= set(golden):
        raise FieldError("golden", f"literal inputs need all of {', '.join(sorted(needed))}")
    for name, value in golden.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise FieldError("golden", f"{name} must be a nested list of numbers") from None
        if arr.shape != tuple(shapes[name]):
            raise FieldError("golden", f"{name} has shape {arr.shape}; this case needs {tuple(shapes[name])}")


def _transpose_pads(spec, word, ndim, size, kernel, stride, dilation):
    if spec.output_padding is not None and spec.output_shape is not None:
        raise FieldError("output_shape", "give output_padding or output_shape, not both")
    base = None if word else _explicit_pads(spec.padding, ndim)
    output_padding = output_shape = None
    if spec.output_shape is not None:
        output_shape = _per_axis("output_shape", spec.output_shape, ndim, 1)
    if spec.output_padding is not None:
        if word:
            raise FieldError("output_padding", f"output_padding goes with explicit padding; with padding {word!r} give output_shape")
        output_padding = _per_axis("output_padding", spec.output_padding, ndim, 0)
        for ax, (op_, s, d) in enumerate(zip(output_padding, stride, dilation)):
            if op_ >= max(s, d):
                raise FieldError(
                    "output_padding",
                    f"axis {ax}: output_padding {op_} must be smaller than stride ({s}) or dilation ({d})",
                )
    pads = []
    for ax, (i, k, s, d) in enumerate(zip(size, kernel, stride, dilation)):
        lo, hi = base[ax] if base else (0, 0)
        if output_shape is not None:
            o = output_shape[ax]
            low, high = translate.transpose_length_range(word, i, k, s, d, lo, hi)
            if not low <= o <= high:
                raise FieldError(
                    "output_shape",
                    f"axis {ax}: no forward conv with these parameters maps length {o} to the input length {i}; allowed {low}..{high}",
                )
            pads.append(translate.transpose_word_crop(word, i, k, s, d, o) if word else (lo, translate.transpose_full_length(i, k, s, d) - o - lo))
        elif word:
            o = translate.transpose_default_length(word, i, k, s, d)
            pads.append(translate.transpose_word_crop(word, i, k, s, d, o))
        else:
            pads.append((lo, hi - (output_padding[ax] if output_padding else 0)))
    return tuple(pads), output_padding, output_shape


def canonical_padding(value: Any) -> Any:
    """A padding word as any framework spells it (`SAME`, `Same`, `SAME_UPPER`) → the canonical word."""
    if not isinstance(value, str):
        return value
    word = PADDING_ALIASES.get(value.lower(), value.lower())
    return word if word in translate.PADDING_WORDS else value
