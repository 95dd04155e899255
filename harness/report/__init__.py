"""`harness report`: results files → one self-contained HTML page (and a CSV of every row).

The page needs nothing at view time: CSS, JavaScript, the plots (matplotlib SVG) and the data
are inline. Top to bottom: a verdict and counts by framework × status, a matrix of cases ×
(framework, dtype) coloured by the worst bound ratio, the failing rows (worst first), plots of the
error ratios, the precision profile of float16 and bfloat16 (the accumulation precision each
framework's errors show, against its contract; see `harness.profile`), every case's details
(parameters, native calls, each quantity's errors and worst element, drawn when the case is
opened), every row (sortable, filterable, a page at a time) and
the environment of each run (versions, flags). Several results files merge into one page; each
keeps a `run` label. Strings from case files are escaped by the template (autoescape on), by the
JSON escaping of the page data, and set as text by the page's script.

Modules: `rows` (the typed row), `runs` (loading and merging results files), `views` (what each
part shows), `profiles` (the precision profile's part), `plots`, `data` (the page's JSON) and
`page` (the report's view, `build_report`).

Library calls: `build_report(load_runs(specs), output, changes=...)`, or `report_files(specs,
output, ...)`, which does both and says what it wrote. The diff page is `harness.diff_page`; both
render through `harness.render` and format through `harness.formatting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.page import Report, build_report, report_view
from harness.report.rows import ResultRow, rows_from_frame
from harness.report.runs import Run, load_runs, merge_runs, parse_spec, run_labels, write_csv

__all__ = ["Report", "ReportWritten", "ResultRow", "Run", "build_report", "load_runs", "merge_runs", "parse_spec",
           "report_files", "report_view", "rows_from_frame", "run_labels", "write_csv"]


@dataclass(frozen=True)
class ReportWritten:
    html: Path
    csv: Path | None  # None with write_csv_file=False
    size: int  # bytes of the HTML page


def report_files(specs: list[str], output: str | Path, csv_path: str | Path | None = None,
                 write_csv_file: bool = True, title: str | None = None, changes=None) -> ReportWritten:
    """Read results files (PATH or LABEL=PATH each), write the page (and the CSV) → what was written.

    `changes`: a `harness.diff.Changes` to show as "changes since baseline". Raises OSError or
    ValueError when a results file cannot be read.
    """
    out = build_report(load_runs(specs), output, csv_path=csv_path, write_csv_file=write_csv_file, title=title,
                       changes=changes)
    csv = Path(csv_path or out.with_suffix(".csv")) if write_csv_file else None
    return ReportWritten(html=out, csv=csv, size=out.stat().st_size)
