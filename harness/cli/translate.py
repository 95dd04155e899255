"""`harness translate CASE`: one configuration spelled natively in every framework."""

from __future__ import annotations

import argparse
import textwrap

from harness import adapters as registry
from harness import loader
from harness.session import Option
from harness.translations import find_cases, translations, verdict

NAME, HELP = "translate", "show how each framework spells a case natively"
# the adapter whose weight layout a --from spelling uses (flax's kernels are no adapter's: none printed)
WEIGHTS_OF = {"onnx": "onnxruntime", "flax": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", help="case id, or FILE::ID; with --from, the layer as that framework spells it")
    p.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    Option("--framework", "framework", "only this framework (repeatable)", short="-f").add_to(p.add_argument,
                                                                                               short=True)
    p.add_argument("--dtype", "-d", help="dtype (default: the case's first)")
    p.add_argument("--from", dest="source", metavar="FRAMEWORK",
                   help="CASE is a layer or call in this framework's own spelling (torch, tensorflow, keras, jax, flax, "
                        "onnx, chainer), e.g. \"nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1)\": "
                        "the same layer in every framework, and each one's verdict against the oracle (with --input-size)")
    p.add_argument("--input-size", type=int, nargs="+", help="with --from: the input size per spatial axis")
    p.add_argument("--batch", type=int, default=1, help="with --from: the batch (default 1)")
    p.add_argument("--in-channels", type=int, help="with --from keras / flax: the input channels (their layers "
                   "take them from the input)")
    p.add_argument("--weight-shape", type=int, nargs="+", help="with --from and a functional call (F.conv2d(x, w, "
                   "...), tf.nn.conv2d_transpose(...), lax.conv_transpose(...), an ONNX node): the weight's shape in "
                   "that framework's layout")
    p.add_argument("--weights-from", metavar="FRAMEWORK",
                   help="print each framework's weight conversion from this framework's layout (default: the --from "
                        "framework's, else torch)")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    chosen = _chosen(console, args)
    if not chosen:
        return 2
    if args.weights_from is None:
        args.weights_from = WEIGHTS_OF[args.source] if args.source in WEIGHTS_OF else args.source or "torch"
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
            if args.source:
                console.print(f"  verdict: {verdict(case, dtype, registry.get(t.framework))}", highlight=False,
                              markup=False, soft_wrap=True)
            if t.reason:
                console.print(f"  why: {t.reason}", highlight=False, markup=False, soft_wrap=True)
            for title, code in (("call", t.call), ("layer", t.layer),
                                (f"weights from {args.weights_from}'s layout", t.weights)):
                if code:
                    console.print(f"  # {title}", style="dim", highlight=False)
                    console.print(textwrap.indent(code, "  "), highlight=False, markup=False, soft_wrap=True)
    return 0


def _chosen(console, args) -> list:
    """The cases to translate: from the library by id, or the one layer given with --from."""
    if args.source:
        from harness import native
        from harness.adapters.native_call import NativeError

        if not args.input_size:
            console.print("--from needs --input-size (the layer's input, per spatial axis)")
            return []
        try:
            return [native.case(args.source, args.case, args.input_size, batch=args.batch,
                                dtype=args.dtype or "float32", case_id=f"from_{args.source}",
                                in_channels=args.in_channels, weight_shape=args.weight_shape)]
        except NativeError as exc:
            console.print(f"harness translate --from {args.source}: {exc}", highlight=False, markup=False,
                          soft_wrap=True)
            return []
    cases, errors = loader.load_paths(args.paths)
    for e in errors:
        console.print(f"invalid case {e}", highlight=False, markup=False)
    chosen, hint = find_cases(cases, args.case)
    if not chosen:
        console.print(f"no case {args.case!r}{hint}", highlight=False, markup=False)
    return [one for case in chosen for one in _conv_layers(case, args.dtype)]


def _conv_layers(case, dtype: str | None) -> list:
    """A single case as it is; a stack case as its conv layers, each a single case at its own line."""
    if case.op != "stack":
        return [case]
    from harness.stack.model import layer_case

    return [layer_case(case, lay, dtype or case.dtypes[0]) for lay in case.layers if lay.kind in ("conv", "conv_transpose")]
