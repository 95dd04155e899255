"""`harness translate`: one configuration spelled natively in every framework."""

from __future__ import annotations

import argparse

from harness import adapters as registry
from harness import loader


def translations(case, dtype: str, names: list[str] | None = None) -> list[dict]:
    """For each adapter: how it expresses the case (native / emulated / unsupported) and the call."""
    out = []
    for adapter in registry.select(names):
        row = {"framework": adapter.name, "expression": "", "call": "", "reason": ""}
        if not adapter.available():
            row.update(expression="skipped", reason=f"{adapter.library} is not installed here")
        elif not adapter.applies_to(case):
            continue
        else:
            plan = adapter.module.plan(case, dtype, adapter.path)
            row.update(expression=plan.expression, call=plan.call, reason=plan.reason)
        out.append(row)
    return out


def cmd_translate(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    cases, errors = loader.load_paths(args.paths)
    for e in errors:
        console.print(f"invalid case {e}", highlight=False, markup=False)
    chosen = [c for c in cases if c.id == args.case or f"{c.file}::{c.id}" == args.case]
    if not chosen:
        near = [c.id for c in cases if args.case in c.id][:10]
        in_file = [c.id for c in cases if c.file == args.case or c.file.endswith("/" + args.case)][:10]
        hint = (f"; that is a file: give a case id or FILE::ID, e.g. {', '.join(in_file)}" if in_file
                else f"; did you mean: {', '.join(near)}" if near else "")
        console.print(f"no case {args.case!r}{hint}", highlight=False, markup=False)
        return 2
    for case in chosen:
        dtype = args.dtype or case.dtypes[0]
        console.rule(f"{case.file}:{case.line} {case.id} ({case.name}, {dtype})")
        console.print(f"canonical padding {case.padding} → output {case.output_size}", highlight=False)
        for row in translations(case, dtype, args.framework):
            console.print(f"\n[bold]{row['framework']}[/bold] ({row['expression']})")
            if row["call"]:
                console.print("  " + row["call"], highlight=False, markup=False, soft_wrap=True)
            if row["reason"]:
                console.print("  why: " + row["reason"], highlight=False, markup=False, soft_wrap=True)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("translate", help="show how each framework spells a case natively")
    p.add_argument("case", help="case id, or FILE::ID")
    p.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    p.add_argument("--framework", "-f", action="append", help="only this framework (repeatable)")
    p.add_argument("--dtype", "-d", help="dtype (default: the case's first)")
    p.set_defaults(func=cmd_translate)
