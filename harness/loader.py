"""YAML case files → validated canonical `Case` objects, with errors that point at file and line.

A file is a mapping with an optional `defaults:` block and a `cases:` list. A case may carry a
`product:` mapping of field → list of values; it expands into one case per combination with ids
like `base-s2-k3-same` (or a format string id such as `"s{stride}-k{kernel}"`).
Loading never raises for one bad case: `load_file` returns the good cases and a `CaseError` for
each bad one, so that one mistake never stops the rest of the library from running.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness import translate
from harness.case import DTYPES, Case, CaseError

MAX_TENSOR_BYTES = 512 * 2**20  # float64 x, w, y and gradients of one case
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.+\-]+$")
OP_PATTERN = re.compile(r"^(conv|conv_transpose|deconv|deconvolution)([123])d?$|^(conv|conv_transpose)$")

IntOrList = Union[int, list[int]]
PaddingSpec = Union[int, str, list[Union[int, list[int]]]]


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    factor: float = Field(gt=0)
    reason: str = Field(min_length=1)


class CaseSpec(BaseModel):
    """The schema of one case as written in a file (after defaults and product expansion)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str
    op: str
    ndim: int | None = Field(default=None, ge=1, le=3)
    batch: int = Field(default=1, ge=1)
    in_channels: int = Field(ge=1)
    out_channels: int = Field(ge=1)
    input_size: IntOrList
    kernel: IntOrList
    stride: IntOrList = 1
    dilation: IntOrList = 1
    groups: int = Field(default=1, ge=1)
    bias: bool = True
    padding: PaddingSpec = 0
    cover_all: bool = False
    output_padding: IntOrList | None = None
    output_shape: IntOrList | None = None
    dtype: Union[Literal["float64", "float32", "float16", "bfloat16"], list[str]] = Field(
        default_factory=lambda: ["float64", "float32"]
    )
    frameworks: list[str] | None = None
    layout: Literal["channels_first", "channels_last"] = "channels_first"
    tolerance: Tolerance | None = None
    inputs: Literal["normal", "integers", "large", "with_nan", "with_inf", "zeros"] = "normal"
    seed: int = 0
    description: str = ""
    refs: list[str] = Field(default_factory=list)
    xfail: dict[str, str] = Field(default_factory=dict)
    marks: list[str] = Field(default_factory=list)
    golden: dict[str, Any] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError("ids use letters, digits and . _ - + only")
        return v

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v):
        values = [v] if isinstance(v, str) else v
        bad = [d for d in values if d not in DTYPES]
        if bad or not values:
            raise ValueError(f"dtype must be one or a list of {', '.join(DTYPES)}; got {bad or v}")
        return v


# ---------------------------------------------------------------------------------------------
# YAML with line numbers


class _LineDict(dict):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags, nothing executed) that records line numbers of mappings."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    result = _LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping keys must be plain scalars, got {key!r}", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML safely; any syntax error or unsafe tag becomes a CaseError with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise CaseError(file, line, None, None, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise CaseError(file, None, None, None, f"invalid YAML: {exc}") from None


# ---------------------------------------------------------------------------------------------
# expansion of defaults and products

_ABBREVIATIONS = {
    "stride": "s", "kernel": "k", "dilation": "d", "groups": "g", "padding": "p",
    "output_padding": "op", "output_shape": "os", "input_size": "i", "batch": "n",
    "in_channels": "ci", "out_channels": "co", "layout": "", "inputs": "", "bias": "bias",
}


def _fmt_value(v: Any) -> str:
    if isinstance(v, list):
        return "x".join(_fmt_value(x) for x in v)
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def _product_id(base: str, combo: dict[str, Any]) -> str:
    parts = []
    for key, value in combo.items():
        text = _fmt_value(value)
        if key == "padding" and isinstance(value, str):
            parts.append(text)
        elif key in ("op", "dtype"):
            parts.append(text)
        else:
            parts.append(_ABBREVIATIONS.get(key, key) + text)
    return "-".join([base, *parts]) if base else "-".join(parts)


def expand(raw: dict, defaults: dict) -> list[tuple[dict, dict]]:
    """One raw case (+ defaults) → list of (fields, key_lines) after product expansion."""
    fields = {**defaults, **{k: v for k, v in raw.items() if k != "product"}}
    product = raw.get("product")
    if product is None:
        return [(fields, getattr(raw, "key_lines", {}))]
    if not isinstance(product, dict) or not product:
        raise ValueError("'product' must be a mapping of field → list of values")
    for key, values in product.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"product field {key!r} must be a non-empty list of values")
    base = str(fields.get("id", ""))
    out = []
    for values in itertools.product(*product.values()):
        combo = dict(zip(product.keys(), values))
        case = {**fields, **combo}
        if "{" in base:
            try:
                case["id"] = base.format(**{k: _fmt_value(v) for k, v in case.items()})
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                raise ValueError(f"id template {base!r} cannot be filled in: {exc!r}") from None
        else:
            case["id"] = _product_id(base, combo)
        out.append((case, getattr(raw, "key_lines", {})))
    return out


# ---------------------------------------------------------------------------------------------
# validation into the canonical Case


def _op_and_ndim(op: str, ndim: int | None, input_size: IntOrList) -> tuple[str, int]:
    m = OP_PATTERN.match(op)
    if not m:
        raise _FieldError(
            "op", f"unknown op {op!r}; allowed: conv, conv_transpose, conv1d..3d, conv_transpose1d..3d"
        )
    name = m.group(1) or m.group(3)
    canonical = "conv" if name == "conv" else "conv_transpose"
    from_name = int(m.group(2)) if m.group(2) else None
    from_size = len(input_size) if isinstance(input_size, list) else None
    found = {n for n in (from_name, ndim, from_size) if n is not None}
    if len(found) > 1:
        raise _FieldError("ndim", f"op, ndim and input_size disagree on the number of spatial axes: {sorted(found)}")
    if not found:
        raise _FieldError("ndim", "give ndim, an op like conv2d, or input_size as a list")
    n = found.pop()
    if n not in (1, 2, 3):
        raise _FieldError("ndim", f"1, 2 or 3 spatial axes are supported, not {n}")
    return canonical, n


class _FieldError(ValueError):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(message)


def _check_framework_names(field: str, names: list[str]) -> None:
    from harness.adapters import REGISTRY

    known = set(REGISTRY) | {n.split("-")[0] for n in REGISTRY}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise _FieldError(field, f"unknown framework {unknown[0]!r}; known: {', '.join(sorted(known))}")


def _check_xfail_keys(xfail: dict[str, str]) -> None:
    for key, reason in xfail.items():
        name, colon, dtype = key.partition(":")
        if colon and dtype not in DTYPES:
            raise _FieldError("xfail", f"key {key!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if name != "*":
            _check_framework_names("xfail", [name])
        if not str(reason).strip():
            raise _FieldError("xfail", f"key {key!r} needs a reason (what goes wrong, and a link or reproduction)")


def _per_axis(name: str, value: IntOrList | None, ndim: int, minimum: int) -> tuple[int, ...]:
    values = [value] * ndim if isinstance(value, int) else list(value)
    if len(values) != ndim:
        raise _FieldError(name, f"needs 1 or {ndim} values (one per spatial axis), got {len(values)}")
    if any(v < minimum for v in values):
        raise _FieldError(name, f"every value must be >= {minimum}, got {values}")
    return tuple(values)


def _explicit_pads(value: PaddingSpec, ndim: int) -> tuple[tuple[int, int], ...]:
    if isinstance(value, int):
        return ((value, value),) * ndim
    if len(value) != ndim:
        raise _FieldError("padding", f"needs an int, a word or {ndim} entries (int or [lo, hi]), got {len(value)}")
    pads = []
    for v in value:
        if isinstance(v, int):
            pads.append((v, v))
        elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
            pads.append((v[0], v[1]))
        else:
            raise _FieldError("padding", f"each axis is an int or a [lo, hi] pair, got {v!r}")
    return tuple(pads)


def to_case(spec: CaseSpec, file: str, line: int) -> Case:
    """Check a schema-valid spec for impossible configurations and build the canonical Case."""
    op, ndim = _op_and_ndim(spec.op, spec.ndim, spec.input_size)
    _check_framework_names("frameworks", spec.frameworks or [])
    _check_xfail_keys(spec.xfail)
    size = _per_axis("input_size", spec.input_size, ndim, 1)
    kernel = _per_axis("kernel", spec.kernel, ndim, 1)
    stride = _per_axis("stride", spec.stride, ndim, 1)
    dilation = _per_axis("dilation", spec.dilation, ndim, 1)
    g = spec.groups
    if spec.in_channels % g or spec.out_channels % g:
        raise _FieldError(
            "groups", f"in_channels ({spec.in_channels}) and out_channels ({spec.out_channels}) must both be divisible by groups ({g})"
        )
    word = spec.padding if isinstance(spec.padding, str) else None
    if word is not None and word not in translate.PADDING_WORDS:
        raise _FieldError("padding", f"unknown word {word!r}; allowed: an int, per-axis ints or [lo, hi] pairs, or {', '.join(translate.PADDING_WORDS)}")
    if op == "conv":
        if spec.output_padding is not None or spec.output_shape is not None:
            field = "output_padding" if spec.output_padding is not None else "output_shape"
            raise _FieldError(field, "only conv_transpose takes output_padding / output_shape")
        if word:
            pads = tuple(translate.conv_word_padding(word, *a) for a in zip(size, kernel, stride, dilation))
        else:
            pads = _explicit_pads(spec.padding, ndim)
        if spec.cover_all:
            if word or not translate.symmetric(pads):
                raise _FieldError("cover_all", "cover_all goes with a symmetric integer padding")
            pads = tuple(translate.cover_all_padding(lo, s) for (lo, _), s in zip(pads, stride))
        for ax, (i, k, d, (lo, hi)) in enumerate(zip(size, kernel, dilation, pads)):
            if i + lo + hi < translate.effective_kernel(k, d):
                raise _FieldError(
                    "kernel",
                    f"axis {ax}: the dilated kernel ({translate.effective_kernel(k, d)}) is larger than the padded input ({i + lo + hi})",
                )
        output_padding = output_shape = None
    else:
        if spec.cover_all:
            raise _FieldError("cover_all", "cover_all applies to conv only")
        pads, output_padding, output_shape = _transpose_pads(spec, word, ndim, size, kernel, stride, dilation)
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
        inputs=spec.inputs, seed=spec.seed, description=spec.description, refs=tuple(spec.refs),
        xfail=tuple(spec.xfail.items()), marks=tuple(spec.marks), golden=spec.golden,
    )
    if spec.golden is not None:
        _check_golden(case, spec.golden)
    if any(o < 1 for o in case.output_size):
        raise _FieldError("padding", f"the output would be empty: output size {case.output_size}")
    if case.nbytes_float64 > MAX_TENSOR_BYTES:
        raise _FieldError(
            "input_size",
            f"tensors of this case need {case.nbytes_float64 / 2**20:.0f} MiB in float64, over the budget of {MAX_TENSOR_BYTES // 2**20} MiB",
        )
    if math.prod(case.kernel) * case.in_channels > 10**7:
        raise _FieldError("kernel", "kernel × channels is over 10^7: refused as unreasonably large")
    return case


def _check_golden(case: Case, golden: dict) -> None:
    """Literal arrays must have the case's shapes; x, w, g (and b with bias) come together."""
    import numpy as np

    shapes = {"x": case.x_shape, "w": case.w_shape, "b": (case.out_channels,), "g": case.y_shape,
              "y": case.y_shape, "dx": case.x_shape, "dw": case.w_shape, "db": (case.out_channels,)}
    unknown = sorted(set(golden) - set(shapes))
    if unknown:
        raise _FieldError("golden", f"unknown entry {unknown[0]!r}; allowed: {', '.join(shapes)}")
    needed = {"x", "w", "g"} | ({"b"} if case.bias else set())
    if not needed <= set(golden):
        raise _FieldError("golden", f"literal inputs need all of {', '.join(sorted(needed))}")
    for name, value in golden.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise _FieldError("golden", f"{name} must be a nested list of numbers") from None
        if arr.shape != tuple(shapes[name]):
            raise _FieldError("golden", f"{name} has shape {arr.shape}; this case needs {tuple(shapes[name])}")


def _transpose_pads(spec, word, ndim, size, kernel, stride, dilation):
    if spec.output_padding is not None and spec.output_shape is not None:
        raise _FieldError("output_shape", "give output_padding or output_shape, not both")
    base = None if word else _explicit_pads(spec.padding, ndim)
    output_padding = output_shape = None
    if spec.output_shape is not None:
        output_shape = _per_axis("output_shape", spec.output_shape, ndim, 1)
    if spec.output_padding is not None:
        if word:
            raise _FieldError("output_padding", f"output_padding goes with explicit padding; with padding {word!r} give output_shape")
        output_padding = _per_axis("output_padding", spec.output_padding, ndim, 0)
        for ax, (op_, s, d) in enumerate(zip(output_padding, stride, dilation)):
            if op_ >= max(s, d):
                raise _FieldError(
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
                raise _FieldError(
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


# ---------------------------------------------------------------------------------------------
# files


def _pydantic_error(exc: ValidationError, file: str, lines: dict, line: int, case_id: str | None) -> CaseError:
    # an unknown key (often a typo) explains the "missing" errors that come with it: show it first
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc) if loc else None
    top = loc[0] if loc else None
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(CaseSpec.model_fields))
        msg = f"unknown key; allowed keys: {allowed}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"] not in ("extra_forbidden",):
        msg = f"{msg} (got {err['input']!r})"
    n = len(exc.errors())
    if n > 1:
        msg += f" (and {n - 1} more problem{'s' if n > 2 else ''})"
    return CaseError(file, lines.get(top, line), case_id, field, msg)


def load_file(path: str | Path, root: Path | None = None) -> tuple[list[Case], list[CaseError]]:
    """Load one case file: the valid cases and one error per invalid case (or for the file)."""
    path = Path(path)
    try:
        name = str(path.relative_to(root)) if root else str(path)
    except ValueError:
        name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [CaseError(name, None, None, None, f"cannot read: {exc.strerror}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [CaseError(name, line, None, None, f"not UTF-8 text (byte {exc.start})")]
    return load_text(text, name)


def load_text(text: str, name: str) -> tuple[list[Case], list[CaseError]]:
    """Load case-file text; see `load_file`."""
    try:
        doc = parse_yaml(text, name)
    except CaseError as exc:
        return [], [exc]
    if doc is None:
        return [], []
    if not isinstance(doc, dict):
        return [], [CaseError(name, 1, None, None, "a case file is a mapping with 'cases:' (and optional 'defaults:')")]
    unknown = set(doc) - {"defaults", "cases"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        return [], [CaseError(name, doc.key_lines.get(key, 1), None, key, "unknown top-level key; allowed: defaults, cases")]
    defaults = doc.get("defaults") or {}
    raw_cases = doc.get("cases")
    if not isinstance(defaults, dict):
        return [], [CaseError(name, doc.key_lines.get("defaults", 1), None, "defaults", "must be a mapping of field → value")]
    if not isinstance(raw_cases, list):
        return [], [CaseError(name, doc.key_lines.get("cases", 1), None, "cases", "must be a list of cases")]
    cases: list[Case] = []
    errors: list[CaseError] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases):
        line = getattr(raw, "line", doc.key_lines.get("cases", 1))
        if not isinstance(raw, dict):
            errors.append(CaseError(name, line, None, f"cases[{index}]", "each case is a mapping of field → value"))
            continue
        raw_id = raw.get("id")
        raw_id = str(raw_id) if raw_id is not None else f"cases[{index}]"
        try:
            expanded = expand(raw, dict(defaults))
        except ValueError as exc:
            errors.append(CaseError(name, raw.key_lines.get("product", line), raw_id, "product", str(exc)))
            continue
        for fields, lines in expanded:
            case_id = str(fields.get("id", raw_id))
            try:
                spec = CaseSpec.model_validate(fields)
                case = to_case(spec, name, line)
            except ValidationError as exc:
                errors.append(_pydantic_error(exc, name, lines, line, case_id))
                continue
            except _FieldError as exc:
                errors.append(CaseError(name, lines.get(exc.field, line), case_id, exc.field, exc.message))
                continue
            if case.id in seen:
                errors.append(CaseError(name, line, case.id, "id", f"duplicate id (first defined at line {seen[case.id]})"))
                continue
            seen[case.id] = line
            cases.append(case)
    return cases, errors


def discover(paths: list[str | Path]) -> list[Path]:
    """Case files under the given files or folders (*.yaml / *.yml), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file())
        else:
            found.append(p)
    return found


def load_paths(paths: list[str | Path]) -> tuple[list[Case], list[CaseError]]:
    """Load every case file under the paths; errors never stop the other files."""
    cases: list[Case] = []
    errors: list[CaseError] = []
    for path in discover(paths):
        c, e = load_file(path)
        cases += c
        errors += e
    return cases, errors
