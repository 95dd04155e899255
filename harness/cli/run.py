"""`harness run`: cases through every installed framework, with a progress bar, into a results file."""

from __future__ import annotations

import argparse
import os

from harness import loader, results
from harness.session import Item, ResultSink, add_options, apply_options, golden_cases, load_error_rows, select_items

NAME, HELP = "run", "run case files through every installed framework"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    add_options(p.add_argument, short=True)
    p.add_argument("-k", action="append", help="only items whose id contains this (or matches a glob)")
    p.add_argument("--exclude-mark", action="append", default=[], help="skip cases with this mark (e.g. slow)")
    p.add_argument("-o", "--output", default="reports/results.parquet", help="results file (Parquet)")
    p.add_argument("-j", "--jobs", type=jobs, default=1,
                   help="worker processes, or 'auto' for one per CPU core (default 1)")
    p.add_argument("--in-process", action="store_true",
                   help="run in this process (faster start, but a framework crash ends the run)")
    p.add_argument("--baseline", help="compare with an earlier results file; exit 1 on regressions")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    apply_options(args.allow_tf32)
    cases, errors = loader.load_paths(args.paths)
    for e in errors:
        console.print(f"[red]invalid case[/red] {escape(str(e))}", markup=True, highlight=False)
    try:
        items = select_items(cases, args.framework, args.dtype, args.k, args.exclude_mark)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    sink = ResultSink.start(args.output)
    sink.write(load_error_rows(errors))
    _run_with_progress(items, golden_cases(cases), sink, console, in_process=args.in_process, jobs=args.jobs)
    df = sink.finish(args.output)
    print_summary(console, df)
    console.print(f"{len(df)} rows from {len(items)} items written to {args.output}")
    regressed = _print_baseline_diff(args.baseline, args.output, console) if args.baseline else False
    return 1 if regressed or len(results.failing(df)) else 0


def _run_with_progress(items: list[Item], golden, sink: ResultSink, console, *, in_process: bool,
                       jobs: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.isolation import run_isolated
    from harness.runner import golden_rows

    for case in golden:
        sink.write(golden_rows(case))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task("running", total=len(items))

        def finished(item: Item, rows: list[dict]) -> None:
            sink.write(rows)
            progress.update(task, description=f"{item.case.id} {item.dtype} {item.framework}"[:60])
            progress.advance(task)

        if in_process:
            for item in items:
                finished(item, item.run())
        else:
            run_isolated(items, jobs, finished)
    for adapter in {item.adapter for item in items}:
        sink.record_environment(adapter)


def print_summary(console, df) -> None:
    """Rows by framework × status, then how many failing rows were expected."""
    from rich.table import Table

    from harness.status import FAILING

    counts = results.summary(df)
    if counts.empty:
        return
    table = Table(title="rows by framework and status")
    table.add_column("framework", no_wrap=True)
    for status in counts.columns:
        table.add_column(str(status), justify="right", no_wrap=True)
    for fw, row in counts.iterrows():
        table.add_row(str(fw), *(str(int(v)) for v in row))
    console.print(table)
    n_failing, n_unexpected = int(df["status"].isin(FAILING).sum()), len(results.failing(df))
    if n_failing:
        console.print(f"{n_failing} failing rows: {n_failing - n_unexpected} expected (xfail: a known framework "
                      f"bug, with the reason in the row), {n_unexpected} unexpected")
    from harness.profile import summary_lines

    lines = summary_lines(df)
    if lines:
        console.print("precision contract (float16/bfloat16 accumulate in float32 and round once) not met:",
                      highlight=False)
        for line in lines:
            console.print(f"  {line}", highlight=False, markup=False)


def _print_baseline_diff(baseline: str, output: str, console) -> bool:
    from harness.diff import diff_files, print_diff

    changes = diff_files(baseline, output)
    print_diff(changes, console)
    return bool(changes.regressed)


def jobs(text: str) -> int:
    """-j: a positive number, or 'auto' for one worker per CPU core."""
    return (os.cpu_count() or 1) if text == "auto" else positive(text, "a number or 'auto'")


def positive(text: str, expected: str = "a positive number") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value
