"""`harness report`: results files → one self-contained HTML page (+ a CSV of the rows)."""

from __future__ import annotations

import argparse

NAME, HELP = "report", "results files → one self-contained HTML report (+ CSV)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="*", help="results files (Parquet), PATH or LABEL=PATH; missing ones are "
                                              "named and left out")
    p.add_argument("-o", "--output", default="reports/index.html", help="HTML file (default reports/index.html)")
    p.add_argument("--csv", help="CSV of every row (default: next to the HTML, same stem, .csv)")
    p.add_argument("--no-csv", action="store_true", help="write no CSV")
    p.add_argument("--title", help="page title")
    p.add_argument("--baseline", help="also show what changed since this earlier results file")
    p.add_argument("--factor", type=float, default=2.0, help="with --baseline: bound-ratio growth that counts "
                                                             "as a regression (default 2.0)")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness import report
    from harness.diff import diff_files

    console = Console(stderr=True)
    specs = existing_specs(args.results, console)
    if not specs:
        console.print("no results file to report: run `make` (or `harness run`) first", markup=False)
        return 2
    if args.baseline and len(specs) != 1:
        console.print("--baseline needs exactly one results file", markup=False)
        return 2
    try:
        changes = diff_files(args.baseline, report.parse_spec(specs[0])[0], factor=args.factor) if args.baseline else None
        written = report.report_files(specs, args.output, csv_path=args.csv or None, write_csv_file=not args.no_csv,
                                      title=args.title, changes=changes)
    except (OSError, ValueError) as exc:
        console.print(f"cannot read the results or write the report: {exc}", markup=False, highlight=False)
        return 2
    csv_note = f"; rows as CSV in {written.csv}" if written.csv else ""
    console.print(f"report written to {written.html} ({written.size / 1024:.0f} KiB){csv_note}", markup=False,
                  highlight=False)
    return 0


def existing_specs(specs: list[str], console) -> list[str]:
    """The PATH / LABEL=PATH specs whose file exists; each missing one is named on the console."""
    from harness.report import parse_spec

    kept = []
    for spec in specs:
        if parse_spec(spec)[0].exists():
            kept.append(spec)
        else:
            console.print(f"no results file {spec}: left out of the report", markup=False, highlight=False,
                          soft_wrap=True)
    return kept
