"""`harness translate CASE`: one configuration spelled natively in every framework."""

from __future__ import annotations

import argparse

from harness import loader
from harness.session import Option
from harness.translations import find_cases, translations

NAME, HELP = "translate", "show how each framework spells a case natively"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", help="case id, or FILE::ID")
    p.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    Option("--framework", "framework", "only this framework (repeatable)", short="-f").add_to(p.add_argument,
                                                                                               short=True)
    p.add_argument("--dtype", "-d", help="dtype (default: the case's first)")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    cases, errors = loader.load_paths(args.paths)
    for e in errors:
        console.print(f"invalid case {e}", highlight=False, markup=False)
    chosen, hint = find_cases(cases, args.case)
    if not chosen:
        console.print(f"no case {args.case!r}{hint}", highlight=False, markup=False)
        return 2
    for case in chosen:
        dtype = args.dtype or case.dtypes[0]
        console.rule(f"{case.file}:{case.line} {case.id} ({case.name}, {dtype})")
        console.print(f"canonical padding {case.padding} → output {case.output_size}", highlight=False)
        for row in translations(case, dtype, args.framework):
            console.print(f"\n[bold]{row['framework']}[/bold] ({row['expression']})")
            for label, key in (("  ", "call"), ("  why: ", "reason")):
                if row[key]:
                    console.print(label + row[key], highlight=False, markup=False, soft_wrap=True)
    return 0
