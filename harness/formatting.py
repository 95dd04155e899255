"""Formatting shared by the report and the diff: numbers, ratio colours, sort keys, status styles.

Neither `harness.report` nor `harness.diff` imports the other; both import this. Nothing here
imports pandas or a framework.
"""

from __future__ import annotations

import math
from functools import lru_cache

from harness.status import Status

QUANTITY_ORDER = ("y", "dx", "dw", "db", "adjoint", "transpose_is_grad", "-")
DTYPE_ORDER = ("float64", "float32", "float16", "bfloat16")
# pseudo-frameworks of the rows (the oracle's golden checks, invalid case files): after every real one
LATE_FRAMEWORKS = ("loader", "oracle")
INF_SORT = 1e300
MISSING = "–"

# background, text colour of a status that has no ratio to colour it by
STATUS_COLORS: dict[Status, tuple[str, str]] = {
    Status.ERROR: ("#6d28d9", "#ffffff"),
    Status.CRASH: ("#111827", "#ffffff"),
    Status.SHAPE_MISMATCH: ("#0369a1", "#ffffff"),
    Status.UNSUPPORTED: ("#e5e7eb", "#4b5563"),
    Status.SKIPPED: ("#ffffff", "#9ca3af"),
}
# the text colour of a count in the summary table, and whether it is bold
COUNT_COLORS: dict[Status, tuple[str, bool]] = {
    Status.PASS: ("#15803d", False), Status.MISMATCH: ("#b91c1c", True), Status.SHAPE_MISMATCH: ("#0369a1", True),
    Status.ERROR: ("#6d28d9", True), Status.CRASH: ("#111827", True), Status.UNSUPPORTED: ("#4b5563", False),
    Status.SKIPPED: ("#6b7280", False),
}
# the word in a matrix cell of a status without a ratio
STATUS_SHORT: dict[Status, str] = {Status.ERROR: "error", Status.CRASH: "crash", Status.SHAPE_MISMATCH: "shape",
                                   Status.UNSUPPORTED: "n/a", Status.SKIPPED: "skip"}
# a status chip: background, text colour, extra CSS
CHIP_STYLES: dict[Status, tuple[str, str, str]] = {
    Status.PASS: ("#dcfce7", "#166534", ""),
    Status.MISMATCH: ("#dc2626", "#fff", ""),
    Status.SHAPE_MISMATCH: (STATUS_COLORS[Status.SHAPE_MISMATCH][0], "#fff", ""),
    Status.ERROR: (STATUS_COLORS[Status.ERROR][0], "#fff", ""),
    Status.CRASH: (STATUS_COLORS[Status.CRASH][0], "#fff", ""),
    Status.UNSUPPORTED: ("#e5e7eb", "#374151", ""),
    Status.SKIPPED: ("#fff", "#6b7280", "border-color: #d1d5db; border-style: dashed;"),
}
# extra CSS of a matrix cell (and its legend swatch) by status
CELL_CSS: dict[Status, str] = {
    Status.UNSUPPORTED: "td.c.st-{s}, .legend i.st-{s} {{ background: repeating-linear-gradient(135deg, #e5e7eb, "
                        "#e5e7eb 4px, #d9dce1 4px, #d9dce1 8px) !important; }}",
    Status.SKIPPED: "td.c.st-{s} a {{ color: #9ca3af; font-weight: 500; }}",
}
FRAMEWORK_COLORS = ("#2563eb", "#ea580c", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#92400e", "#475569")


def is_num(v) -> bool:
    """A real, non-NaN number (infinity included; bools excluded)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def text(v) -> str:
    """A cell as text: '' for missing (None, NaN, pandas NA)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType"):
        return ""
    return str(v)


def fmt(v, digits: int = 3) -> str:
    """A number for a table cell: '–' for missing, '∞' for infinity, 3 significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ == "NAType":
        return MISSING
    if isinstance(v, str):
        return v
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e9):
        return f"{int(v)}"
    return f"{v:.{digits}g}"


def page_number(v) -> int | float | str | None:
    """A number as the page's JavaScript receives it: exactly what `fmt` shows, and no more.

    None for missing; an int or float that the page formats back into `fmt(v)`; or, where a plain
    number could not say it (infinity, or a non-integer shown in exponent notation such as
    '1.23e+03', which the page would otherwise show as the integer 1230), `fmt(v)` itself.
    """
    shown = fmt(v)
    if shown == MISSING:
        return None
    if "∞" in shown or "e+" in shown:
        return shown
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e9):
        return int(shown)
    return float(shown)


def sort_key(v) -> str:
    """data-sort value of a numeric cell ('' sorts last)."""
    if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
        return ""
    if math.isinf(v):
        return repr(INF_SORT if v > 0 else -INF_SORT)
    return repr(float(v))


def num_cell(v) -> tuple[str, str | None]:
    """(text, data-sort): data-sort only where the text itself does not sort (missing, infinite)."""
    shown = fmt(v)
    if is_num(v) and not math.isinf(v):
        return shown, None
    return shown, sort_key(v)


def ratio_color(r: float | None) -> tuple[str, str]:
    """Background and text colour for a bound ratio already divided by the tolerance.

    Within the bound (<= 1): pale green for tiny ratios shading to yellow-green at the bound, on a
    log scale over 1e-4..1. Beyond: orange just above shading to dark red at 1000x (log scale).
    """
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "#f3f4f6", "#6b7280"
    if r <= 1:
        f = (min(max(math.log10(r), -4.0), 0.0) + 4.0) / 4.0 if r > 0 else 0.0
        return f"hsl({140 - 68 * f:.0f}, {42 + 30 * f:.0f}%, {88 - 16 * f:.0f}%)", "#14351f"
    f = min(math.log10(r), 3.0) / 3.0 if math.isfinite(r) else 1.0
    return f"hsl({28 - 28 * f:.0f}, 88%, {50 - 14 * f:.0f}%)", "#ffffff"


def legend_gradient() -> str:
    """CSS linear-gradient for the legend bar: 1e-4 .. 1 (the bound, a hard edge) .. 1e3."""
    stops = [f"{ratio_color(10 ** (-4 + i / 4))[0]} {100 * (i / 4) / 7:.2f}%" for i in range(17)]
    for i in range(13):  # just above 1 .. 1e3 over the last 3/7
        r = 10 ** (i / 4) if i else 1.0001
        stops.append(f"{ratio_color(r)[0]} {100 * (4 + i / 4) / 7:.2f}%")
    return "linear-gradient(to right, " + ", ".join(stops) + ")"


def status_style(status: Status, norm: float | None = None) -> tuple[str, str]:
    """Background and text colour of a cell: by its ratio where it ran, else by its status."""
    status = Status.of(status)
    if status.ran:
        if status.failing and (norm is None or math.isnan(norm) or norm <= 1):
            norm = math.inf  # a mismatch for non-finite values: as bad as it gets
        return ratio_color(norm)
    return STATUS_COLORS.get(status, STATUS_COLORS[Status.ERROR])


def ratio_cell(bound_ratio: float | None, status: Status, norm: float | None) -> tuple[str, str | None, str, bool]:
    """A row's bound-ratio cell: (text, data-sort or None, background, white text?); coloured only
    where the row ran."""
    shown, sort = num_cell(bound_ratio)
    if not Status.of(status).ran:
        return shown, sort, "", False
    bg, fg = status_style(status, norm)
    return shown, sort, bg, fg == "#ffffff"


def status_css() -> str:
    """The CSS of each status: its chip (`.st-<status>`) and, for some, its matrix cell."""
    chips = [f".st-{s.value} {{ background: {bg}; color: {fg}; {extra}}}" for s, (bg, fg, extra) in CHIP_STYLES.items()]
    return "\n".join([*chips, *(css.format(s=s.value) for s, css in CELL_CSS.items())])


@lru_cache(maxsize=8)
def _registry_order(names: tuple[str, ...]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def framework_rank(name: str) -> tuple:
    """Adapter-registry order (`harness.adapters.REGISTRY`), then unknown names alphabetically,
    then the pseudo-frameworks `loader` and `oracle` (alphabetically)."""
    from harness.adapters import REGISTRY

    order = _registry_order(tuple(REGISTRY))
    if name in order:
        return (0, order[name], name)
    if name in LATE_FRAMEWORKS:
        return (2, 0, name)
    return (1, 0, name)


def dtype_rank(name: str) -> tuple:
    return (DTYPE_ORDER.index(name), name) if name in DTYPE_ORDER else (len(DTYPE_ORDER), name)


def quantity_rank(name: str) -> tuple:
    return (QUANTITY_ORDER.index(name), name) if name in QUANTITY_ORDER else (len(QUANTITY_ORDER), name)
