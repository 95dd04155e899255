"""Fuzz the case loader with seeded hostile mutations of the library's own files (in-process, fast).

    .venv/bin/python scripts/fuzz_loader.py                 # 10,000 mutations, seed 0
    .venv/bin/python scripts/fuzz_loader.py -n 500 --seed 7

Each mutation (control characters, junk, truncation, deep nesting, aliases, huge numbers, duplicate
lines, swapped keys and values, product bombs; a quarter also mangled as bytes and read through
`load_file`) must come back as (cases, errors): nothing may escape `load_text` / `load_file`, no
error may be the last-resort "internal loader error", every error must name a line (except for a
file that is unreadable or over the size limit), and no file may take longer than the time limit.
Exit status 1 if any of these counts is not 0.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.case import CaseError  # noqa: E402
from harness.loader import load_file, load_text  # noqa: E402
from tests.strategies import LIBRARY_FILES, LIBRARY_TEXTS, mutate_bytes, mutate_times  # noqa: E402

LINELESS_ALLOWED = ("cannot read", "limited to")  # unreadable or oversize: no line to name


class FileTimeout(BaseException):
    """Raised by the alarm when one file takes too long (a BaseException, so no guard swallows it)."""


def _alarm(signum, frame):
    raise FileTimeout


def make_mutation(index: int, seed: int) -> tuple[str, str | bytes]:
    """Mutation `index`: a library file edited by its own seeded generator; text, or bytes for a file."""
    rng = random.Random(f"{seed}:{index}")
    source = rng.randrange(len(LIBRARY_TEXTS))
    text = mutate_times(LIBRARY_TEXTS[source], rng, rng.randrange(1, 4))
    what = f"mutation {index} (seed {seed}) of {LIBRARY_FILES[source].relative_to(LIBRARY_FILES[0].parents[1])}"
    if rng.random() < 0.25:
        return what + " as bytes", mutate_bytes(text.encode("utf-8", "surrogatepass"), rng)
    return what, text


def load_mutation(content: str | bytes, folder: Path) -> tuple[list, list]:
    """Through `load_file` (bytes, written to a file) or `load_text` (text)."""
    if isinstance(content, bytes):
        path = folder / "f.yaml"
        path.write_bytes(content)
        return load_file(path)
    return load_text(content, "f.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="number of mutated files (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds allowed per file (default 5)")
    args = parser.parse_args(argv)

    escapes: list[str] = []
    internal: list[str] = []
    lineless: list[str] = []
    timeouts: list[str] = []
    loaded = refused = 0
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.n):
            what, content = make_mutation(index, args.seed)
            signal.setitimer(signal.ITIMER_REAL, args.time_limit)
            try:
                cases, errors = load_mutation(content, Path(tmp))
            except FileTimeout:
                timeouts.append(what)
                continue
            except BaseException:  # noqa: BLE001 - counting what escapes is the point
                escapes.append(f"{what}\n{traceback.format_exc()}")
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            loaded += len(cases)
            refused += len(errors)
            for e in errors:
                if not isinstance(e, CaseError):
                    escapes.append(f"{what}: not a CaseError: {e!r}")
                elif "internal loader error" in e.message:
                    internal.append(f"{what}: {e}")
                elif e.line is None and not any(s in e.message for s in LINELESS_ALLOWED):
                    lineless.append(f"{what}: {e}")
    seconds = time.perf_counter() - start

    print(f"files tried:            {args.n:,} (seed {args.seed}; {loaded:,} cases loaded, {refused:,} errors)")
    print(f"escapes:                {len(escapes)}")
    for text in escapes[:3]:
        print("  " + text.replace("\n", "\n  "))
    for label, found in (("internal loader errors:", internal), ("line-less errors:", lineless),
                         (f"over {args.time_limit:g} s:", timeouts)):
        print(f"{label:<24}{len(found)}")
        for text in found[:5]:
            print(f"  {text[:300]}")
    print(f"seconds:                {seconds:.1f} ({1000 * seconds / max(args.n, 1):.1f} ms per file)")
    return 1 if escapes or internal or lineless or timeouts else 0


if __name__ == "__main__":
    sys.exit(main())
