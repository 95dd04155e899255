"""`harness repro CASE -f FRAMEWORK [-d DTYPE] [-o FILE]`: a standalone reproducer script for one item
(for a stack case: its blamed conv layer, alone; harness.stack.repro)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import adapters, loader
from harness.translations import find_cases

NAME, HELP = "repro", "write a standalone script that reproduces one item (for an upstream bug report)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", help="case id, or FILE::ID")
    p.add_argument("paths", nargs="*", default=["cases"], help="case files or folders (default: cases)")
    p.add_argument("--framework", "-f", required=True, help="the adapter, e.g. torch, jax-dilated, onnxruntime")
    p.add_argument("--dtype", "-d", help="dtype (default: the case's first)")
    p.add_argument("--output", "-o", help="write the script here (default: print it); large arrays go to FILE.npz")


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from harness import repro
    from harness.stack import repro as stack_repro

    cases, _ = loader.load_paths(args.paths)
    chosen, hint = find_cases(cases, args.case)
    if len(chosen) != 1:
        print(f"no case {args.case!r}{hint}" if not chosen else f"{args.case!r} names {len(chosen)} cases: "
              "give FILE::ID", file=sys.stderr)
        return 2
    case = chosen[0]
    try:
        adapter = adapters.get(args.framework)
        out = Path(args.output) if args.output else None
        build = stack_repro.build if case.op == "stack" else repro.build
        script = build(case, args.dtype or case.dtypes[0], adapter, out.with_suffix(".npz").name if out else None)
    except (KeyError, repro.ReproError) as exc:
        print(f"harness repro: {exc}", file=sys.stderr)
        return 2
    if out is None:
        sys.stdout.write(script.text)
        return 0
    out.write_text(script.text, encoding="utf-8")
    if script.arrays:
        np.savez(out.with_suffix(".npz"), **script.arrays)
    print(f"wrote {out}" + (f" and {out.with_suffix('.npz')}" if script.arrays else ""), file=sys.stderr)
    return 0
