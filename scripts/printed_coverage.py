"""Execute the printed script of every library item and count, per adapter and formulation, how many
items it was executed on and how many gave run()'s numbers bit for bit.

    .venv/bin/python scripts/printed_coverage.py [-f FRAMEWORK ...] [--markdown]

(What tests/test_printed_code.py does for one case per formulation, over the whole library.)
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import adapters, loader, printed  # noqa: E402


def coverage(names: list[str]) -> dict:
    cases, _ = loader.load_paths(["cases"])
    counts: dict = collections.defaultdict(lambda: collections.Counter())
    for name in names:
        adapter = adapters.get(name)
        if not adapter.available():
            continue
        for case in cases:
            if not adapter.applies_to(case) or (case.frameworks and not any(
                    adapters.named(name, f) for f in case.frameworks)):
                continue
            for dtype in case.dtypes:
                outcome = printed.check(adapter, case, dtype)
                key = (name, outcome.formulation)
                counts[key]["items"] += 1
                counts[key]["executed"] += not outcome.skipped
                counts[key]["identical"] += outcome.same
                if outcome.differences:
                    print(f"{name} {case.id} {dtype}: {'; '.join(outcome.differences)}", file=sys.stderr)
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-f", "--framework", action="append", help="adapter name (repeatable; default: all)")
    args = p.parse_args()
    start = time.perf_counter()
    counts = coverage(args.framework or list(adapters.REGISTRY))
    print("| adapter | formulation | items | executed | bit-identical |")
    print("|---|---|---:|---:|---:|")
    for (name, label), c in sorted(counts.items()):
        print(f"| {name} | {label} | {c['items']} | {c['executed']} | {c['identical']} |")
    print(f"\n{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return int(any(c["executed"] != c["identical"] for c in counts.values()))


if __name__ == "__main__":
    raise SystemExit(main())
