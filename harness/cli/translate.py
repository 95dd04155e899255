"""`harness translate CASE`: one configuration spelled natively in every framework."""

from __future__ import annotations

import argparse
import textwrap

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
    p.add_argument("--weights-from", default="torch", metavar="FRAMEWORK",
                   help="print each framework's weight conversion from this framework's layout (default: torch)")


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
        try:
            found = translations(case, dtype, args.framework, args.weights_from)
        except KeyError as exc:  # an unknown -f or --weights-from name
            console.print(f"harness translate: {exc.args[0]}", highlight=False, markup=False)
            return 2
        for t in found:
            console.print(f"\n[bold]{t.framework}[/bold] ({t.expression})", highlight=False)
            if t.reason:
                console.print(f"  why: {t.reason}", highlight=False, markup=False, soft_wrap=True)
            for title, code in (("call", t.call), ("layer", t.layer),
                                (f"weights from {args.weights_from}'s layout", t.weights)):
                if code:
                    console.print(f"  # {title}", style="dim", highlight=False)
                    console.print(textwrap.indent(code, "  "), highlight=False, markup=False, soft_wrap=True)
    return 0
