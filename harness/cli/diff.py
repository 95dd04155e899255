"""`harness diff OLD NEW`: what changed between two runs; exit 1 on a regression (the CI gate)."""

from __future__ import annotations

import argparse
import os

from harness.diff import MIN_RATIO

NAME, HELP = "diff", "what changed between two results files (exit 1 on regression)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="the earlier results file (Parquet)")
    p.add_argument("new", help="the later results file (Parquet)")
    p.add_argument("--factor", type=float, default=2.0,
                   help="bound-ratio growth that counts as a regression (default 2.0)")
    p.add_argument("--min-ratio", type=float, default=MIN_RATIO,
                   help=f"ignore growth unless the new bound ratio is above this (default {MIN_RATIO:g})")
    p.add_argument("--html", help="also write the diff as an HTML page")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.diff import diff_files, print_diff
    from harness.diff_page import write_diff_html

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)  # CI logs: wide enough that tables do not fold every cell
    try:
        changes = diff_files(args.old, args.new, factor=args.factor, min_ratio=args.min_ratio)
    except (OSError, ValueError) as exc:
        console.print(f"cannot read results: {exc}", markup=False, highlight=False)
        return 2
    print_diff(changes, console)
    if args.html:
        out = write_diff_html(changes, args.html)
        console.print(f"diff written to {out}", markup=False, highlight=False)
    return 1 if changes.regressed else 0
