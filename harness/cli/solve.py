"""`harness solve`: the convolutions and transposed convolutions that map one length to another,
and how each framework spells them."""

from __future__ import annotations

import argparse

from harness.session import Option

NAME, HELP = "solve", "find the conv / conv_transpose parameters that map an input length to an output length"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--op", choices=("conv", "conv_transpose"), default="conv_transpose")
    p.add_argument("--input", type=int, nargs="+", required=True, help="input length per axis (e.g. 14 14)")
    p.add_argument("--output", type=int, nargs="+", required=True, help="output length per axis (e.g. 28 28)")
    p.add_argument("--kernel", type=int, help="only this kernel size")
    p.add_argument("--stride", type=int, help="only this stride")
    p.add_argument("--dilation", type=int, help="only this dilation (default: 1; see --max-dilation)")
    p.add_argument("--max-kernel", type=int, default=8)
    p.add_argument("--max-stride", type=int, default=4)
    p.add_argument("--max-dilation", type=int, default=1)
    Option("--framework", "framework", "only this framework (repeatable)", short="-f").add_to(p.add_argument,
                                                                                               short=True)
    p.add_argument("--limit", type=int, default=12, help="solutions shown per axis (default 12)")
    p.add_argument("--calls", type=int, default=2, metavar="N", help="print each framework's call for the N best")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.solve import solve

    console = Console()
    if len(args.input) != len(args.output) or not 1 <= len(args.input) <= 3:
        console.print("--input and --output need the same number of axes (1 to 3)")
        return 2
    found_all = True
    for axes, (i, o) in _axes(args.input, args.output).items():
        try:
            found = solve(args.op, i, o, args.kernel, args.stride, args.dilation, args.framework, args.max_kernel,
                          args.max_stride, args.max_dilation)
        except (ValueError, KeyError) as exc:
            console.print(str(exc), highlight=False, markup=False)
            return 2
        console.rule(f"axis {', '.join(map(str, axes))}: {args.op} {i} → {o}: {len(found)} solution(s)")
        found_all &= bool(found)
        _table(console, found[:args.limit], args.op)
        for n, solution in enumerate(found[:args.calls], 1):
            console.print(f"#{n} k={solution.kernel} s={solution.stride} d={solution.dilation} "
                          f"padding={solution.padding}:", highlight=False, markup=False)
            for spelled in solution.spellings:
                what = spelled.call or spelled.reason
                console.print(f"  {spelled.framework:<20} {spelled.expression:<11} {what}", highlight=False,
                              markup=False, soft_wrap=True)
    return 0 if found_all else 1


def _axes(inputs: list[int], outputs: list[int]) -> dict[tuple[int, ...], tuple[int, int]]:
    """Axes with the same (input, output) share one solution list."""
    grouped: dict[tuple[int, int], list[int]] = {}
    for axis, pair in enumerate(zip(inputs, outputs)):
        grouped.setdefault(pair, []).append(axis)
    return {tuple(axes): pair for pair, axes in grouped.items()}


def _table(console, solutions, op: str) -> None:
    from rich.table import Table

    what = "crop" if op == "conv_transpose" else "pad"
    table = Table("#", "k", "s", "d", what, "taps", "native in", "emulated in",
                  caption=f"k kernel, s stride, d dilation, {what} (lo, hi) canonical; taps per output pixel")
    for n, s in enumerate(solutions, 1):
        low, high = s.taps
        taps = f"{low}" if low == high else f"{low}-{high} uneven"
        emulated = [x.framework for x in s.spellings if x.expression == "emulated"]
        table.add_row(str(n), str(s.kernel), str(s.stride), str(s.dilation), str(s.padding), taps,
                      ", ".join(s.native_in) or "-", ", ".join(emulated) or "-")
    console.print(table)
    if any(not s.even_overlap for s in solutions):
        console.print("uneven: some outputs sum more kernel taps than others (kernel not a multiple of the "
                      "stride): the cause of checkerboard artifacts (Odena et al., Distill 2016)", highlight=False)
