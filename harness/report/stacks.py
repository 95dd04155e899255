"""The report's stacks section: for every stack case, how the error grows through its layers in each
framework (a plot of every layer's end-to-end ratio, its error over the bound propagated through
the stack, and its local ratio, the layer alone on the framework's own input), the layer to blame
where there is one, and the frameworks that could not run it with the layer named.

Built from the merged results (rows with `op == "stack"`, quantities `y[i]`, `dx`, `dw[i]`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from markupsafe import Markup

from harness.formatting import FRAMEWORK_COLORS, dtype_rank, fmt, framework_rank
from harness.report import plots
from harness.report.rows import anchor
from harness.status import Status

FLOOR = 1e-6  # ratios below this (exact layers: 0) are drawn at the floor
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # frameworks that compute the same values still show


@dataclass
class Blame:
    framework: str
    dtype: str
    layer: int
    layer_name: str
    local_ratio: str
    xfail: str  # the case's reason when the blame is expected


@dataclass
class StackPanel:
    case_id: str
    file: str
    line: int | None
    anchor: str
    description: str
    dtype: str  # the dtype the plot shows
    plot: Markup
    blames: list[Blame] = field(default_factory=list)
    not_run: list[tuple[str, str, str, str]] = field(default_factory=list)  # framework, dtype, status, message
    gradients: list[tuple[str, str, str, str]] = field(default_factory=list)  # framework, dtype, worst, status


def _key(df: pd.DataFrame, multi_run: bool) -> pd.Series:
    return df["framework"] + (" (" + df["run"] + ")" if multi_run else "")


def _plot_dtype(rows: pd.DataFrame) -> str:
    """The dtype of the first blame, else float32, else the first dtype the stack ran in."""
    blamed = rows[[_true(v) for v in rows["blame"]]]
    if len(blamed):
        return sorted(blamed["dtype"].unique(), key=dtype_rank)[0]
    dtypes = sorted(rows["dtype"].unique(), key=dtype_rank)
    return "float32" if "float32" in dtypes else dtypes[0]


def _true(v) -> bool:
    return v is not None and not pd.isna(v) and bool(v)


def _value(v) -> float:
    return max(float(v), FLOOR) if v is not None and not pd.isna(v) else math.nan


def growth_plot(layers: pd.DataFrame, case_id: str, multi_run: bool, colors: dict[str, str]) -> Markup:
    """Every layer's end-to-end ratio (solid) and local ratio (dotted) per framework, log scale, the
    bound at 1; a blamed layer gets a red cross."""
    if layers.empty:
        return plots._empty("no framework computed this stack's layers")
    fig = plots._figure(8.4, 2.6)
    ax = fig.add_subplot(1, 1, 1)
    keys = sorted(_key(layers, multi_run).unique(), key=framework_rank)
    names = layers.sort_values("layer").drop_duplicates("layer")[["layer", "layer_name"]]
    for n, key in enumerate(keys):
        rows = layers[_key(layers, multi_run) == key].sort_values("layer")
        color = colors[key]
        x = rows["layer"].astype(int).tolist()
        ax.plot(x, [_value(v) for v in rows["bound_ratio"]], color=color, lw=1.4, marker=MARKERS[n % len(MARKERS)],
                ms=3.5, mfc="none", label=key)
        ax.plot(x, [_value(v) for v in rows["local_ratio"]], color=color, lw=0.8, ls=":")
        blamed = rows[[_true(v) for v in rows["blame"]]]
        ax.plot(blamed["layer"].astype(int), [_value(v) for v in blamed["bound_ratio"]], "x", color=plots.FAIL_COLOR,
                ms=9, mew=2)
    ax.axhline(1.0, color=plots.FAIL_COLOR, lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(names["layer"].astype(int).tolist())
    ax.set_xticklabels([f"{int(i)} {n}" for i, n in zip(names["layer"], names["layer_name"])], rotation=60,
                       ha="right", fontsize=7)
    ax.set_ylabel("error ÷ bound")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.08, right=0.83, top=0.97, bottom=0.42)
    return plots.svg_markup(fig, f"stack-{anchor('', case_id)}", f"error growth through the layers of {case_id}")


def _panel(rows: pd.DataFrame, multi_run: bool, colors: dict[str, str]) -> StackPanel:
    first = rows.iloc[0]
    dtype = _plot_dtype(rows)
    layers = rows[rows["quantity"].str.startswith("y[") & rows["layer"].notna()]
    blames = [Blame(k, r["dtype"], int(r["layer"]), str(r["layer_name"]), fmt(r["local_ratio"], 3), str(r["xfail"] or ""))
              for k, (_, r) in zip(_key(layers, multi_run), layers.iterrows()) if _true(r["blame"])]
    whole = rows[rows["quantity"] == "stack"]
    not_run = [(k, r["dtype"], str(r["status"]), str(r["message"] or "")) for k, (_, r) in
               zip(_key(whole, multi_run), whole.iterrows())]
    grads = rows[~rows["quantity"].str.startswith("y[") & (rows["quantity"] != "stack")]
    gradients = []
    for (k, d), g in grads.groupby([_key(grads, multi_run), grads["dtype"]]):
        worst = max((Status(s) for s in g["status"]), key=lambda s: s.severity)
        gradients.append((k, d, fmt(g["bound_ratio"].max(), 3), worst.value))
    return StackPanel(case_id=first["case_id"], file=first["file"], line=None if pd.isna(first["line"]) else int(first["line"]),
                      anchor=anchor(first["file"], first["case_id"]), description=str(first["description"] or ""),
                      dtype=dtype, plot=growth_plot(layers[layers["dtype"] == dtype], first["case_id"], multi_run, colors),
                      blames=blames, not_run=not_run, gradients=sorted(gradients, key=lambda g: framework_rank(g[0])))


def stacks_view(merged: pd.DataFrame, multi_run: bool) -> list[StackPanel]:
    """One panel per stack case, in file order; [] where the results hold no stack (no section)."""
    if merged.empty or "op" not in merged:
        return []
    stack_rows = merged[merged["op"] == "stack"]
    keys = sorted(_key(stack_rows, multi_run).unique(), key=framework_rank)
    colors = {k: FRAMEWORK_COLORS[i % len(FRAMEWORK_COLORS)] for i, k in enumerate(keys)}  # one colour per page
    return [_panel(rows, multi_run, colors) for _, rows in stack_rows.groupby(["file", "case_id"], sort=True)]
