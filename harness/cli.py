"""`harness` command line: a thin layer that parses, loads, calls the library and renders."""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import uuid
from pathlib import Path

from harness import adapters as registry
from harness import loader, results
from harness.case import Case, CaseError
from harness.status import Status


def _item_name(case: Case, dtype: str, framework: str) -> str:
    return f"{case.file}::{case.id}[{dtype}-{framework}]"


def _matches(name: str, patterns: list[str] | None) -> bool:
    """-k: every pattern must match (a substring, or a glob with * ? [)."""
    if not patterns:
        return True
    return all(fnmatch.fnmatch(name, p) if any(c in p for c in "*?[") else p in name for p in patterns)


def plan_items(cases: list[Case], frameworks: list[str] | None, dtypes: list[str] | None,
               patterns: list[str] | None, exclude_marks: list[str]) -> list[tuple]:
    """(case, dtype, adapter) triples selected by the options, in a stable order."""
    chosen = registry.select(frameworks)
    items = []
    for case in cases:
        if set(case.marks) & set(exclude_marks):
            continue
        for dtype in case.dtypes:
            if dtypes and dtype not in dtypes:
                continue
            for adapter in chosen:
                if case.frameworks and not any(adapter.name == f or adapter.name.startswith(f + "-")
                                               for f in case.frameworks):
                    continue
                if adapter.applies_to(case) and _matches(_item_name(case, dtype, adapter.name), patterns):
                    items.append((case, dtype, adapter))
    return items


def load_error_rows(errors: list[CaseError]) -> list[dict]:
    return [{"case_id": e.case_id or "(file)", "file": e.file, "line": e.line, "dtype": "-",
             "framework": "loader", "quantity": "-", "status": Status.ERROR, "message": str(e),
             "reason": e.field or ""} for e in errors]


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.isolation import run_isolated
    from harness.runner import golden_rows, run_item

    console = Console(stderr=True)
    cases, errors = loader.load_paths(args.paths)
    for e in errors:
        console.print(f"[red]invalid case[/red] {e}", markup=True, highlight=False)
    try:
        items = plan_items(cases, args.framework, args.dtype, args.k, args.exclude_mark)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    part_dir = Path(args.output).parent / ".parts" / uuid.uuid4().hex[:12]
    writer = results.PartWriter(part_dir / "run.jsonl")
    writer.write(load_error_rows(errors))
    env = results.base_environment()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task("running", total=len(items))
        for case in cases:
            if case.golden and any(q in case.golden for q in ("y", "dx", "dw", "db")):
                writer.write(golden_rows(case))

        def finished(item, rows) -> None:
            case, dtype, name = item
            writer.write(rows)
            progress.update(task, description=f"{case.id} {dtype} {name}"[:60])
            progress.advance(task)

        if args.in_process:
            for case, dtype, adapter in items:
                finished((case, dtype, adapter.name), run_item(case, dtype, adapter))
        else:
            run_isolated([(c, d, a.name) for c, d, a in items], args.jobs, finished)
    for adapter in {a for _, _, a in items}:
        if adapter.available():
            env.update({f"{adapter.name}.{k}": v for k, v in adapter.module.environment().items()})
    writer.close()
    df = results.to_frame(results.read_parts(part_dir))
    results.write_parquet(df, args.output, env)
    for f in part_dir.iterdir():
        f.unlink()
    part_dir.rmdir()
    _print_summary(console, df)
    console.print(f"{len(df)} rows from {len(items)} items written to {args.output}")
    bad = results.failing(df)
    if args.baseline:
        from harness.diff import diff_files, print_diff

        changes = diff_files(args.baseline, args.output)
        print_diff(changes, console)
        if changes.regressed:
            return 1
    return 1 if len(bad) else 0


def _print_summary(console, df) -> None:
    from rich.table import Table

    table = Table(title="rows by framework and status")
    counts = results.summary(df)
    if counts.empty:
        return
    table.add_column("framework", no_wrap=True)
    for status in counts.columns:
        table.add_column(str(status), justify="right", no_wrap=True)
    for fw, row in counts.iterrows():
        table.add_row(str(fw), *(str(int(v)) for v in row))
    console.print(table)
    from harness.status import FAILING

    n_failing, n_unexpected = int(df["status"].isin(FAILING).sum()), len(results.failing(df))
    if n_failing:
        console.print(f"{n_failing} failing rows: {n_failing - n_unexpected} expected (xfail: a known framework "
                      f"bug, with the reason in the row), {n_unexpected} unexpected")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run case files through every installed framework")
    run.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    run.add_argument("--framework", "-f", action="append", help="only this framework (repeatable)")
    run.add_argument("--dtype", "-d", action="append", help="only this dtype (repeatable)")
    run.add_argument("-k", action="append", help="only items whose id contains this (or matches a glob)")
    run.add_argument("--exclude-mark", action="append", default=[], help="skip cases with this mark (e.g. slow)")
    run.add_argument("-o", "--output", default="reports/results.parquet", help="results file (Parquet)")
    run.add_argument("-j", "--jobs", type=_jobs, default=1,
                     help="worker processes, or 'auto' for one per CPU core (default 1)")
    run.add_argument("--in-process", action="store_true",
                     help="run in this process (faster start, but a framework crash ends the run)")
    run.add_argument("--baseline", help="compare with an earlier results file; exit 1 on regressions")
    run.set_defaults(func=cmd_run)
    _add_more_commands(sub)
    return parser


def _add_more_commands(sub) -> None:
    """Commands implemented in their own modules register here (report, diff, translate, ...)."""
    import importlib
    import importlib.util

    for module_name in ("harness.report", "harness.diff", "harness.translate_cmd"):
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).add_command(sub)


def _jobs(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
