"""`harness solve`: the convolutions and transposed convolutions that map one length to another,
and how each framework spells them."""

from __future__ import annotations

import argparse

from harness.session import Option

NAME, HELP = "solve", "find the conv / conv_transpose parameters that map an input length to an output length"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--op", choices=("conv", "conv_transpose"), default="conv_transpose")
    p.add_argument("--input", type=int, nargs="+", help="input length per axis (e.g. 14 14)")
    p.add_argument("--output", type=int, nargs="+", help="output length per axis (e.g. 28 28)")
    p.add_argument("--mirror", metavar="CALL", help="an encoder layer as its framework spells it, e.g. "
                   "\"nn.Conv2d(1, 32, 3, stride=2, padding=1)\": the transposed convolutions that restore its "
                   "input shape, its adjoint first (with --input-size)")
    p.add_argument("--from", dest="source", default="torch", help="the framework --mirror is spelled in (default torch)")
    p.add_argument("--input-size", type=int, nargs="+", help="the encoder's input size per axis (with --mirror)")
    p.add_argument("--weight-shape", type=int, nargs="+", help="with --mirror and a functional call (F.conv2d(x, w, "
                   "...), tf.nn.conv2d(...)): the weight's shape in that framework's layout")
    p.add_argument("--in-channels", type=int, help="with --mirror and a layer that takes its input channels from the "
                   "input (keras, flax)")
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

    from harness.adapters.native_call import NativeError

    console = Console()
    try:
        if args.mirror:
            return _mirror(console, args)
        return _solve(console, args)
    except (ValueError, KeyError, NativeError) as exc:
        console.print(str(exc.args[0] if isinstance(exc, KeyError) else exc), highlight=False, markup=False)
        return 2


def _limits(args) -> dict:
    return dict(max_kernel=args.max_kernel, max_stride=args.max_stride, max_dilation=args.max_dilation)


def _solve(console, args) -> int:
    from harness.solve import solve

    if not args.input or not args.output or len(args.input) != len(args.output) or not 1 <= len(args.input) <= 3:
        console.print("--input and --output need the same number of axes (1 to 3), or use --mirror")
        return 2
    found_all = True
    for axes, (i, o) in _axes(args.input, args.output).items():
        found = solve(args.op, i, o, args.kernel, args.stride, args.dilation, args.framework, **_limits(args))
        console.rule(f"axis {', '.join(map(str, axes))}: {args.op} {i} → {o}: {len(found)} solution(s)")
        found_all &= bool(found)
        _show(console, found, args)
    return 0 if found_all else 1


def _mirror(console, args) -> int:
    from harness.solve import mirror

    if not args.input_size:
        console.print("--mirror needs --input-size (the encoder's input, per axis)")
        return 2
    m = mirror(args.source, args.mirror, args.input_size, args.framework, weight_shape=args.weight_shape,
               in_channels=args.in_channels, **_limits(args))
    console.print(f"encoder {args.mirror.strip()} on {tuple(m.encoder.input_size)} → {tuple(m.encoder.output_size)}; "
                  f"its adjoint restores {tuple(m.adjoint.output_size)}:", highlight=False, markup=False,
                  soft_wrap=True)
    console.print(f"  {m.adjoint_text or '(not spelled natively in ' + args.source + ')'}", highlight=False,
                  markup=False, soft_wrap=True)
    if m.adjoint_weight_shape:
        console.print(f"  with weight_shape {list(m.adjoint_weight_shape)} (the encoder's weight is its adjoint's)",
                      highlight=False, markup=False)
    for axes, found in m.axes.items():
        first = found[0]
        console.rule(f"axis {', '.join(map(str, axes))}: conv_transpose {first.input} → {first.output}: "
                     f"{len(found)} solution(s), #1 the adjoint")
        _show(console, found, args)
    return 0


def _show(console, found, args) -> None:
    _table(console, found[:args.limit], found[0].op if found else args.op)
    for n, solution in enumerate(found[:args.calls], 1):
        console.print(f"#{n} k={solution.kernel} s={solution.stride} d={solution.dilation} "
                      f"padding={solution.padding}:", highlight=False, markup=False)
        for spelled in solution.spellings:
            what = spelled.call or spelled.reason
            console.print(f"  {spelled.framework:<20} {spelled.expression:<11} {what}", highlight=False,
                          markup=False, soft_wrap=True)


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
