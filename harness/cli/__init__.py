"""`harness` command line: parses, then hands over to one command module each (run, report, diff,
translate, repro, solve, fuzz). The commands only load, call the library and render; the work lives in the library."""

from __future__ import annotations

import argparse
import sys

from harness.cli import diff, fuzz, report, repro, run, solve, translate
from harness.session import quiet_framework_logs

COMMANDS = (run, report, diff, translate, repro, solve, fuzz)  # each: NAME, HELP, add_arguments(parser), main(args) -> int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(p)
        p.set_defaults(func=command.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_framework_logs()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
