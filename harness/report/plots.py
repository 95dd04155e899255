"""The report's plots, drawn by matplotlib offline and inlined as SVG (text stays text).

- `distribution_plot`: a histogram of the error ratios (or bound ratio ÷ tolerance) per
  framework and dtype on a shared log axis, failing rows red, expected failures amber.
- `k_scatter`: the error ratio against the reduction length K per framework, with the bound
  (error ratio ≈ K + 1 at tolerance 1).
- `precision_plot`: for one 16-bit dtype, the error ratio against K in a panel per framework, with
  the line at one unit roundoff of |x| ⋆ |w| (a 16-bit accumulator stays near it, a float32 one
  falls below it as K grows).

Exact zeros and infinite ratios (non-finite values where the oracle is finite) get their own
slots at the ends of the log axes. With many bars or points the data layer is rasterized (one
embedded PNG) and the axes and text stay vector, which keeps a whole-library page small. Every
id in an SVG gets the plot's own prefix, so several plots share one page.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence

from markupsafe import Markup, escape

from harness.formatting import FRAMEWORK_COLORS, dtype_rank, framework_rank
from harness.report.rows import ResultRow

BINS_PER_DECADE = 4
PASS_COLOR, XFAIL_COLOR, FAIL_COLOR = "#3b82f6", "#f59e0b", "#dc2626"
DTYPE_MARKERS = {"float64": "o", "float32": "s", "float16": "^", "bfloat16": "D"}
COMPARED = ("y", "dx", "dw", "db")  # quantities with a reduction length (not the identities)
MAX_VECTOR_MARKS = 500  # above this many points, the scatter's points become one embedded image
RASTER_DPI = 150  # of that image (sharp enough on a high-density screen)
RC = {"svg.fonttype": "none", "svg.hashsalt": "conv-harness", "text.parse_math": False, "font.size": 9,
      "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "axes.edgecolor": "#9ca3af",
      "axes.labelcolor": "#111827", "xtick.color": "#374151", "ytick.color": "#374151"}


def _pow10(e: int) -> str:
    return {0: "1", 1: "10", 2: "100", -1: "0.1", -2: "0.01"}.get(e, f"1e{e}")


def _decades(values: Sequence[float], lo_min: int, hi_min: int) -> tuple[int, int]:
    """The whole decades that hold every positive finite value, at least lo_min..hi_min."""
    pos = [v for v in values if v > 0 and math.isfinite(v)]
    lo = math.floor(math.log10(min(pos))) if pos else lo_min
    hi = math.ceil(math.log10(max(pos))) if pos else hi_min
    return max(min(lo, lo_min), -30), min(max(hi, hi_min), 30)


def _jitter(i: int) -> float:
    return ((i * 0.6180339887) % 1.0) - 0.5


def _log_ticks(lo: int, hi: int) -> list[int]:
    step = max(1, math.ceil((hi - lo) / 8))
    return list(range(lo, hi + 1, step))


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100)


def _prefix_ids(svg: str, prefix: str) -> str:
    """Give every id of one SVG (and each reference to it) the plot's prefix."""
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: m.group(1) + (f"{prefix}-" if m.group(2) in ids else "")
                  + m.group(2), svg)


def svg_markup(fig, prefix: str, label: str) -> Markup:
    """The figure as inline SVG: no XML prologue, no metadata, ids prefixed, an accessible label."""
    import matplotlib

    for artist in fig.findobj():  # no clip paths: everything is drawn inside the limits anyway
        artist.set_clip_on(False)
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", dpi=RASTER_DPI,
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"font-family:[^;\"]*;?\s*", "", svg)  # the page's CSS gives svg.plot its font, once
    svg = re.sub(r">\s+<", "><", svg)  # indentation between elements (no text has mixed content)
    svg = re.sub(r'\bd="([^"]*)"', lambda m: 'd="' + " ".join(m.group(1).split()) + '"', svg)
    svg = svg.replace("<svg ", f'<svg class="plot" role="img" aria-label="{escape(label)}" ', 1)
    return Markup(_prefix_ids(svg, prefix))


def _empty(text: str) -> Markup:
    return Markup(f'<p class="muted">{escape(text)}</p>')


class _LogSlots:
    """A log axis in decade units (x = log10 v) from 10^lo to 10^hi, with a slot for exact zeros
    left of it and one for infinity right of it."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self.nbins = (hi - lo) * BINS_PER_DECADE
        gap = max(0.75, (hi - lo) * 0.05)
        self.zero, self.inf = lo - gap, hi + gap  # slot centres
        self.edge = gap * 0.5  # the dotted separators, this far outside the log range

    def x(self, v: float) -> float:
        if v <= 0:
            return self.zero
        return self.inf if math.isinf(v) else math.log10(v)

    def bin(self, v: float) -> int:
        """-1: zero, nbins: infinity, else the quarter decade that holds v."""
        if v <= 0:
            return -1
        if math.isinf(v):
            return self.nbins
        return min(max(int((math.log10(v) - self.lo) * BINS_PER_DECADE), 0), self.nbins - 1)

    def bin_span(self, j: int) -> tuple[float, float]:
        """(left, width) of bin j."""
        half = self.edge * 0.5
        if j == -1:
            return self.zero - half, 2 * half
        if j == self.nbins:
            return self.inf - half, 2 * half
        return self.lo + j / BINS_PER_DECADE + 0.01, 1 / BINS_PER_DECADE - 0.02

    def decorate(self, ax, label: str) -> None:
        ticks = _log_ticks(self.lo, self.hi)
        ax.set_xticks([self.zero, *ticks, self.inf], ["0", *(_pow10(e) for e in ticks), "∞"])
        ax.set_xlim(self.zero - self.edge, self.inf + self.edge)
        for x in (self.lo - self.edge, self.hi + self.edge):
            ax.axvline(x, color="#d1d5db", linestyle=(0, (2, 3)), linewidth=0.8, zorder=0.2)
        ax.grid(axis="x", color="#e5e7eb", linewidth=0.8, zorder=0.1)
        ax.set_axisbelow(True)
        ax.set_xlabel(label)


def _ratio_points(rows: Sequence[ResultRow], bound: bool) -> list[tuple[float, ResultRow]]:
    pts = []
    for r in rows:
        v = r.norm if bound else r.error_ratio
        if v is not None and r.framework != "loader":
            pts.append((v, r))
    return pts


def _band_bars(items: list[tuple[float, ResultRow]], axis: _LogSlots, base: float) -> dict[str, list[tuple]]:
    """(left, width, bottom, height) of the stacked bars of one band, per colour; tallest bin 0.8 high."""
    bins: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # pass, xfail, fail
    for v, r in items:
        bins[axis.bin(v)][2 if r.unexpected_failure else (1 if r.failing else 0)] += 1
    top = max(sum(c) for c in bins.values())
    bars: dict[str, list[tuple]] = {PASS_COLOR: [], XFAIL_COLOR: [], FAIL_COLOR: []}
    for j, counts in bins.items():
        left, width = axis.bin_span(j)
        bottom = base + 0.06
        for n, color in zip(counts, (PASS_COLOR, XFAIL_COLOR, FAIL_COLOR)):
            if n:
                height = max(0.8 * n / top, 0.04)
                bars[color].append((left, width, bottom, height))
                bottom += height
    return bars


def _draw_rects(ax, rects: list[tuple], color: str) -> None:
    """Rectangles (left, width, bottom, height) as one compound path: one SVG element, not one each."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    if not rects:
        return
    paths = [Path([(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)], closed=True) for x, w, y, h in rects]
    ax.add_patch(PathPatch(Path.make_compound_path(*paths), facecolor=color, edgecolor="none", linewidth=0,
                           zorder=0.5))


def _draw_bands(ax, bands: dict[tuple, list], axis: _LogSlots) -> None:
    """Each band's shading, bars, median tick and count."""
    names = []
    for i, (key, items) in enumerate(bands.items()):
        base = len(bands) - 1 - i
        names.append(f"{key[0]} · {key[1]}" + (f" [{key[2]}]" if key[2] else ""))
        if i % 2 == 0:
            ax.axhspan(base, base + 1, color="#f8fafc", zorder=0.05, linewidth=0)
        for color, bars in _band_bars(items, axis, base).items():
            _draw_rects(ax, bars, color)
        values = sorted(v for v, _r in items)
        ax.vlines(axis.x(values[len(values) // 2]), base + 0.04, base + 0.94, color="#111827", linewidth=1.6,
                  zorder=2)
        ax.text(axis.inf + axis.edge * 1.2, base + 0.5, f"n={len(items)}", va="center", fontsize=8, color="#6b7280",
                clip_on=False)
    ax.set_yticks([len(bands) - 1 - i + 0.5 for i in range(len(bands))], names)
    ax.set_ylim(0, len(bands))


def distribution_plot(rows: Sequence[ResultRow], metric: str, multi_run: bool) -> Markup:
    """A histogram per (framework, dtype[, run]) on a shared log axis: how large the errors are.

    `metric` "error" (error ratio) or "bound" (bound ratio ÷ tolerance). Bars are 1/4 decade
    wide and scaled per band (the tallest bin fills the band); the black tick is the median.
    """
    import matplotlib

    bound = metric == "bound"
    pts = _ratio_points(rows, bound)
    if not pts:
        return _empty("No finite ratios to plot.")
    by_band: dict[tuple, list] = defaultdict(list)
    for v, r in pts:
        by_band[(r.framework, r.dtype, r.run if multi_run else "")].append((v, r))
    bands = dict(sorted(by_band.items(), key=lambda kv: (framework_rank(kv[0][0]), dtype_rank(kv[0][1]), kv[0][2])))
    axis = _LogSlots(*_decades([v for v, _ in pts], -3 if bound else -1, 1 if bound else 2))
    height = 0.26 * len(bands) + 0.75
    with matplotlib.rc_context(RC):
        fig = _figure(9.0, height)
        fig.subplots_adjust(left=0.24, right=0.93, bottom=0.55 / height, top=1 - 0.2 / height)
        ax = fig.add_subplot()
        _draw_bands(ax, bands, axis)
        axis.decorate(ax, "bound ratio ÷ tolerance  (> 1 fails)" if bound else
                      "error ratio = max |error| / (u · (|x| ⋆ |w|)), in units of the dtype's roundoff u")
        if bound:
            ax.axvline(0.0, color=FAIL_COLOR, linestyle=(0, (5, 3)), linewidth=1.3, zorder=3)
            ax.text(0.05, len(bands), "bound", color=FAIL_COLOR, fontsize=8, va="bottom", clip_on=False)
        ax.tick_params(axis="y", length=0)
        what = "bound ratio ÷ tolerance" if bound else "error ratio"
        return svg_markup(fig, f"dist-{metric}", f"distribution of the {what} per framework and dtype")


def _k_points(rows: Sequence[ResultRow]) -> list[tuple[ResultRow, int, float]]:
    return [(r, r.reduction_length, r.error_ratio) for r in rows
            if r.framework != "loader" and r.quantity in COMPARED and r.reduction_length is not None
            and r.reduction_length > 0 and r.error_ratio is not None]


def _scatter_groups(pts, y_of) -> dict[tuple, set[tuple[float, float]]]:
    """Points per (framework, dtype, failing), x jittered a little, duplicates (to the pixel) merged."""
    groups: dict[tuple, set] = defaultdict(set)
    for i, (r, k, er) in enumerate(pts):
        x = math.log10(k) + 0.008 * _jitter(i)
        groups[(r.framework, r.dtype, r.failing)].add((round(x, 3), round(y_of(er), 2)))
    return groups


def _k_legend(ax, colors: dict[str, str], dtypes: list[str]) -> None:
    from matplotlib.lines import Line2D

    def mark(label, marker="o", color="#9ca3af", edge="none"):
        return Line2D([], [], linestyle="none", marker=marker, markersize=6, markerfacecolor=color,
                      markeredgecolor=edge, label=label)

    heading = [Line2D([], [], linestyle="none", marker="", label=t) for t in ("framework", "dtype")]
    handles = [heading[0], *(mark(fw, color=c) for fw, c in colors.items()), heading[1],
               *(mark(dt, DTYPE_MARKERS.get(dt, "o"), "#6b7280") for dt in dtypes),
               mark("failing row", edge=FAIL_COLOR)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8,
              handletextpad=0.4, borderaxespad=0)


def k_scatter(rows: Sequence[ResultRow], frameworks: Sequence[str]) -> Markup:
    """error_ratio against the reduction length K, log-log, with the bound line (K+1)·tolerance."""
    import matplotlib

    pts = _k_points(rows)
    if not pts:
        return _empty("No rows with a reduction length and an error ratio to plot.")
    colors = {fw: FRAMEWORK_COLORS[i % len(FRAMEWORK_COLORS)] for i, fw in enumerate(frameworks)}
    kx_lo, kx_hi = _decades([float(k) for _r, k, _e in pts], 0, 2)
    ey_lo, ey_hi = _decades([e for _r, _k, e in pts], -1, 2)
    zero_y, inf_y = ey_lo - 0.7, ey_hi + 0.5

    def y_of(v: float) -> float:
        return zero_y if v <= 0 else (inf_y if math.isinf(v) else math.log10(v))

    groups = _scatter_groups(pts, y_of)
    with matplotlib.rc_context(RC):
        fig = _figure(9.0, 4.2)
        fig.subplots_adjust(left=0.08, right=0.79, top=0.97, bottom=0.14)
        ax = fig.add_subplot()
        for (fw, dt, fail), xy in sorted(groups.items(), key=lambda kv: kv[0][2]):  # failing on top
            xs, ys = zip(*sorted(xy))
            ax.scatter(xs, ys, s=30 if fail else 16, marker=DTYPE_MARKERS.get(dt, "o"), c=colors.get(fw, "#475569"),
                       alpha=0.95 if fail else 0.5, edgecolors=FAIL_COLOR if fail else "none",
                       linewidths=1.2 if fail else 0, zorder=0.6 if fail else 0.5)
        if sum(len(xy) for xy in groups.values()) > MAX_VECTOR_MARKS:
            ax.set_rasterization_zorder(1)
        _k_bound(ax, kx_lo, kx_hi, ey_hi)
        _k_axes(ax, (kx_lo, kx_hi), (ey_lo, ey_hi), zero_y, inf_y if any(math.isinf(e) for *_, e in pts) else None)
        present = {r.framework for r, _k, _e in pts}
        _k_legend(ax, {fw: c for fw, c in colors.items() if fw in present},
                  sorted({r.dtype for r, _k, _e in pts}, key=dtype_rank))
        return svg_markup(fig, "kscatter", "error ratio against reduction length")


def _k_bound(ax, kx_lo: int, kx_hi: int, ey_hi: int) -> None:
    """The bound at tolerance 1: error ratio ≈ K + 1 (γ_{K+1}/u ≈ K+1)."""
    lks = [kx_lo + (kx_hi - kx_lo) * i / 40 for i in range(41)]
    line = [(lk, math.log10(10 ** lk + 1)) for lk in lks if math.log10(10 ** lk + 1) <= ey_hi]
    if len(line) > 1:
        xs, ys = zip(*line)
        ax.plot(xs, ys, color=FAIL_COLOR, linestyle=(0, (6, 4)), linewidth=1.4, zorder=3)
        ax.text(xs[-1] - 0.05, ys[-1] + 0.15, "bound ≈ K+1", color=FAIL_COLOR, fontsize=8, ha="right")


def _k_axes(ax, kx: tuple[int, int], ey: tuple[int, int], zero_y: float, inf_y: float | None) -> None:
    xt, yt = _log_ticks(*kx), _log_ticks(*ey)
    ax.set_xticks(xt, [_pow10(e) for e in xt])
    ax.set_yticks([zero_y, *yt, *([inf_y] if inf_y is not None else [])],
                  ["0", *(_pow10(e) for e in yt), *(["∞"] if inf_y is not None else [])])
    ax.set_xlim(kx[0] - 0.1, kx[1] + 0.1)
    ax.set_ylim(zero_y - 0.4, (inf_y if inf_y is not None else ey[1]) + 0.4)
    ax.axhline(zero_y + 0.35, color="#d1d5db", linestyle=(0, (2, 3)), linewidth=0.8)
    ax.grid(color="#e5e7eb", linewidth=0.6, zorder=1.1)  # vector, above a rasterized layer of points
    ax.set_xlabel("reduction length K (products summed into one element)")
    ax.set_ylabel("error ratio (units of u)")


# ---------------------------------------------------------------------------------------------
# the precision profile: error ratio against K, a panel per framework, for one 16-bit dtype

QUANTITY_COLORS = {"y": "#2563eb", "dx": "#0d9488", "dw": "#ea580c", "db": "#7c3aed"}
PANEL_COLUMNS = 4


def _profile_points(rows: Sequence[ResultRow], dtype: str, multi_run: bool) -> dict[tuple[str, str], list[ResultRow]]:
    """The compared rows of `dtype` with a positive, finite error ratio, per (run, framework) panel."""
    panels: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    for r in rows:
        if (r.dtype == dtype and r.quantity in COMPARED and r.status.ran and r.framework != "loader"
                and r.reduction_length and r.error_ratio is not None and 0 < r.error_ratio < math.inf):
            panels[(r.run if multi_run else "", r.framework)].append(r)
    return dict(sorted(panels.items(), key=lambda kv: (framework_rank(kv[0][1]), kv[0][0])))


def _profile_panel(ax, rows: list[ResultRow], title: str) -> None:
    """One framework's points, by quantity (failing rows edged red, expected ones amber), and the
    reference line at one unit roundoff of |x| ⋆ |w|."""
    groups: dict[tuple[str, str], set] = defaultdict(set)
    for r in rows:
        edge = FAIL_COLOR if r.unexpected_failure else (XFAIL_COLOR if r.failing else "none")
        groups[(r.quantity, edge)].add((round(math.log10(r.reduction_length), 3), round(math.log10(r.error_ratio), 2)))
    for (quantity, edge), xy in sorted(groups.items(), key=lambda kv: (kv[0][1] != "none", kv[0][0])):
        xs, ys = zip(*sorted(xy))
        plain = edge == "none"
        ax.scatter(xs, ys, s=12 if plain else 20, c=QUANTITY_COLORS.get(quantity, "#475569"),
                   alpha=0.55 if plain else 0.95, edgecolors=edge, linewidths=0 if plain else 1.1,
                   zorder=0.5 if plain else 0.6)
    if len(rows) > MAX_VECTOR_MARKS:
        ax.set_rasterization_zorder(1)
    ax.axhline(0.0, color="#111827", linestyle=(0, (5, 3)), linewidth=1.0, zorder=2)
    ax.set_title(title, fontsize=8, loc="left")


def _profile_axes(ax, kx: tuple[int, int], ey: tuple[int, int], first_col: bool) -> None:
    xt, yt = _log_ticks(*kx), _log_ticks(*ey)
    ax.set_xticks(xt, [_pow10(e) for e in xt])
    ax.set_yticks(yt, [_pow10(e) for e in yt] if first_col else [])
    ax.set_xlim(kx[0] - 0.1, kx[1] + 0.1)
    ax.set_ylim(ey[0] - 0.2, ey[1] + 0.2)
    ax.grid(color="#e5e7eb", linewidth=0.6, zorder=1.1)
    ax.tick_params(labelsize=7.5)


def _profile_legend(fig) -> None:
    from matplotlib.lines import Line2D

    def mark(label, color="#9ca3af", edge="none"):
        return Line2D([], [], linestyle="none", marker="o", markersize=5, markerfacecolor=color,
                      markeredgecolor=edge, label=label)

    handles = [*(mark(q, c) for q, c in QUANTITY_COLORS.items()), mark("outside the contract", edge=FAIL_COLOR),
               mark("expected (xfail)", edge=XFAIL_COLOR),
               Line2D([], [], color="#111827", linestyle=(0, (5, 3)), linewidth=1.0, label="1 = u · (|x| ⋆ |w|)")]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), frameon=False, fontsize=8,
               handletextpad=0.3, columnspacing=1.2, bbox_to_anchor=(0.5, 1.0))


def _panel_title(key: tuple[str, str], subtitles: dict[tuple[str, str], str]) -> str:
    run, framework = key
    subtitle = subtitles.get(key, "")
    return framework + (f" [{run}]" if run else "") + (f"\n{subtitle}" if subtitle else "")


def precision_plot(rows: Sequence[ResultRow], dtype: str, subtitles: dict[tuple[str, str], str],
                   multi_run: bool) -> Markup:
    """error_ratio against K, log-log, a panel per (run,) framework on shared axes, for one dtype.

    `subtitles`: a line under each panel's name, keyed (run or '', framework): its measured profile.
    """
    import matplotlib

    panels = _profile_points(rows, dtype, multi_run)
    if not panels:
        return _empty(f"No compared {dtype} rows with an error ratio above zero to plot.")
    points = [r for rs in panels.values() for r in rs]
    kx = _decades([float(r.reduction_length) for r in points], 0, 2)
    ey = _decades([r.error_ratio for r in points], -2, 1)
    ncols = min(PANEL_COLUMNS, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = 1.75 * nrows + 1.0
    with matplotlib.rc_context(RC):
        fig = _figure(9.0, height)
        fig.subplots_adjust(left=0.08, right=0.985, top=1 - 0.62 / height, bottom=0.42 / height, hspace=0.62,
                            wspace=0.08)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for i, (key, rs) in enumerate(panels.items()):
            _profile_panel(axes[i], rs, _panel_title(key, subtitles))
            _profile_axes(axes[i], kx, ey, i % ncols == 0)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        _profile_legend(fig)
        fig.supxlabel("reduction length K", fontsize=8.5, y=0.0)
        fig.supylabel("error ratio (units of u)", fontsize=8.5, x=0.0)
        return svg_markup(fig, f"precision-{dtype}", f"error ratio against reduction length per framework, {dtype}")
