"""A raw case entry plus `defaults:` → one field mapping per `product:` combination, with readable ids."""

from __future__ import annotations

import itertools
import re
import string
from typing import Any

from harness.loader.common import FieldError, did_you_mean, short_repr
from harness.loader.schema import canonical_padding

MAX_PRODUCT_CASES = 10_000  # cases one `product:` entry may expand to

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


def _product_size(product: dict) -> int:
    count = 1
    for values in product.values():
        count *= len(values)
        if count > MAX_PRODUCT_CASES:
            sizes = " × ".join(str(len(v)) for v in product.values()) if len(product) <= 8 else f"{len(product)} lists"
            raise ValueError(f"'product' ({sizes} values) expands to more than {MAX_PRODUCT_CASES:,} cases; "
                             f"one entry may expand to at most {MAX_PRODUCT_CASES:,}: split it")
    return count


def _fill_id_template(template: str, case: dict) -> str:
    """`"s{stride}-k{kernel}"` filled in from the case's fields; only plain field names, short widths."""
    def refuse(why: str) -> FieldError:
        return FieldError("id", f"id template {short_repr(template)} {why}")

    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise refuse(f"cannot be filled in: {exc}") from None
    for name, spec in fields:
        if not name.isidentifier():
            raise refuse(f"has {{{short_repr(name)[1:-1]}}}; fields are plain names like {{stride}}")
        if name not in case:
            raise refuse(f"names {name!r}, which this case does not have;{did_you_mean(name, list(map(str, case)))}")
        if "{" in spec or any(len(n) > 2 for n in re.findall(r"\d+", spec)):
            raise refuse(f"has the format {spec!r}: widths are at most 2 digits, with no nested fields")
    try:
        return template.format(**{name: _fmt_value(case[name]) for name, _ in fields})
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise refuse(f"cannot be filled in: {exc!r}") from None


def expand(raw: dict, defaults: dict) -> list[tuple[dict, dict]]:
    """One raw case (+ defaults) → list of (fields, key_lines) after product expansion."""
    fields = {**defaults, **{k: v for k, v in raw.items() if k != "product"}}
    if "padding" in fields:
        fields["padding"] = canonical_padding(fields["padding"])
    product = raw.get("product")
    if product is None:
        return [(fields, getattr(raw, "key_lines", {}))]
    if not isinstance(product, dict) or not product:
        raise ValueError("'product' must be a mapping of field → list of values")
    for key, values in product.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"product field {short_repr(key)} must be a non-empty list of values")
    _product_size(product)
    base = str(fields.get("id", ""))
    out = []
    for values in itertools.product(*product.values()):
        combo = {k: canonical_padding(v) if k == "padding" else v for k, v in zip(product.keys(), values)}
        case = {**fields, **combo}
        case["id"] = _fill_id_template(base, case) if "{" in base else _product_id(base, combo)
        out.append((case, getattr(raw, "key_lines", {})))
    return out


