"""The report's page: what it shows (`Report`, `report_view`) and `build_report`, which writes it.

The page is self-contained: CSS, JavaScript, the plots (inline SVG) and the rows and cases (one
JSON blob, see `harness.report.data`) are all inside it. The summary, the matrix, the failures,
the precision profile and the environment are HTML from the template; the case details and the
table of every row are drawn by the page's script from the blob when they are opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from harness.diff_page import diff_context
from harness.formatting import STATUS_COLORS, framework_rank, ratio_color
from harness.render import DEFAULT_TITLE, render_page
from harness.report import plots
from harness.report.data import page_data, page_rows, script_json
from harness.report.profiles import PrecisionProfile, precision_view
from harness.report.rows import ResultRow, rows_from_frame
from harness.report.runs import Run, merge_runs, write_csv
from harness.report.stacks import StackPanel, stacks_view
from harness.report.views import (
    LOADER,
    Counts,
    Environment,
    Matrix,
    Summary,
    case_view,
    cases_in_order,
    counts_view,
    environment_view,
    failures_view,
    matrix_view,
    summary_view,
)
from harness.status import Status


@dataclass
class Report:
    """What the report part of the page shows."""

    multi_run: bool
    runs: list[dict]  # label, file, rows
    summary: Summary
    counts: Counts
    failures: list[ResultRow]
    loader: list[ResultRow]
    matrix: Matrix
    plots: dict[str, Markup]
    precision: PrecisionProfile | None  # the 16-bit precision profile; None without float16/bfloat16 rows
    stacks: list[StackPanel]  # one per stack case (harness.report.stacks); [] without stacks
    environment: Environment
    data: Markup  # the JSON blob of cases and rows
    row_number: dict[int, int]  # id(row) → its index in the blob (the matrix cells name their worst row)
    legend: list[tuple[str, str, str]]  # the matrix legend's swatches


def legend_swatches() -> list[tuple[str, str, str]]:
    """The matrix legend beside the colour bar: (CSS class, style, label) per swatch."""
    within = ratio_color(0.01)[0]
    return [
        (f"st-{Status.MISMATCH}", f"background:{ratio_color(30.0)[0]}", Status.MISMATCH.value),
        ("", f"background:{STATUS_COLORS[Status.SHAPE_MISMATCH][0]}", "shape mismatch"),
        ("", f"background:{STATUS_COLORS[Status.ERROR][0]}", "error (raised)"),
        ("", f"background:{STATUS_COLORS[Status.CRASH][0]}", Status.CRASH.value),
        (f"st-{Status.UNSUPPORTED}", "", Status.UNSUPPORTED.value),
        ("", "background:#fff;border-style:dashed", Status.SKIPPED.value),
        ("xf", f"background:{within};box-shadow: inset 0 0 0 2px #f59e0b", "expected to fail"),
        ("em", f"background:{within}", "emulated"),
    ]


def report_view(runs: list[Run], merged: pd.DataFrame | None = None) -> Report:
    """Everything the report shows, from the runs (and their merged frame, if already made)."""
    merged = merge_runs(runs) if merged is None else merged
    rows = rows_from_frame(merged)
    multi_run = len(runs) > 1
    loader_rows = [r for r in rows if r.framework == LOADER]
    case_rows = [r for r in rows if r.framework != LOADER]
    cases = cases_in_order(case_rows)
    case_views = [case_view(case, multi_run) for case in cases]
    frameworks = sorted({r.framework for r in case_rows}, key=framework_rank)
    return Report(
        multi_run=multi_run,
        runs=[{"label": label, "file": env.get("results file", ""), "rows": len(df)} for df, env, label in runs],
        summary=summary_view(case_rows, loader_rows), counts=counts_view(case_rows, multi_run),
        failures=failures_view(case_rows), loader=loader_rows, matrix=matrix_view(cases, multi_run),
        plots={"strip_error": plots.distribution_plot(case_rows, "error", multi_run),
               "strip_bound": plots.distribution_plot(case_rows, "bound", multi_run),
               "scatter": plots.k_scatter(case_rows, frameworks)},
        precision=precision_view(merged, case_rows, multi_run), stacks=stacks_view(merged, multi_run),
        environment=environment_view([env for _df, env, _label in runs], [label for _df, _env, label in runs]),
        data=script_json(page_data(case_views, multi_run)),
        row_number={id(r): i for i, r in enumerate(page_rows(case_views))}, legend=legend_swatches(),
    )


def build_report(runs: list[Run], out_path: str | Path, csv_path: str | Path | None = None,
                 write_csv_file: bool = True, title: str | None = None, changes=None) -> Path:
    """Write the HTML report (and the CSV of all rows: `csv_path`, default next to it) → HTML path.

    `runs`: (results DataFrame, its environment dict, run label) per results file, as
    `load_runs` returns them. `changes`: an optional `harness.diff.Changes`, shown as a
    "changes since baseline" section.
    """
    out_path = Path(out_path)
    merged = merge_runs(runs)
    html = render_page(report=report_view(runs, merged), diff=diff_context(changes) if changes is not None else None,
                       title=title or DEFAULT_TITLE)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    if write_csv_file:
        write_csv(merged, csv_path or out_path.with_suffix(".csv"))
    return out_path

