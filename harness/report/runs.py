"""Results files in, one merged frame out: each file is a run with a short, unique label."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness import results
from harness.status import Status

Run = tuple[pd.DataFrame, dict, str]  # (results frame, its environment, its label)


def run_labels(paths: list[str | Path]) -> list[str]:
    """A short, unique label per results file: its stem, else parent/stem, else stem#i."""
    paths = [Path(p) for p in paths]
    labels = [p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{label}#{i + 1}" for i, label in enumerate(labels)]
    return labels


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """PATH or LABEL=PATH (a path that itself holds '=' and exists is taken as a path)."""
    label, sep, path = spec.partition("=")
    if sep and not Path(spec).exists() and Path(path).exists():
        return Path(path), label
    return Path(spec), None


def load_runs(specs: list[str]) -> list[Run]:
    """Read results files (PATH or LABEL=PATH each) → [(frame, environment, label)].

    Raises OSError or ValueError when a file cannot be read. The environment gains a
    "results file" entry: the path it came from.
    """
    parsed = [parse_spec(spec) for spec in specs]
    auto = run_labels([path for path, _label in parsed])
    out = []
    for (path, label), default in zip(parsed, auto):
        df, env = results.read_results(path)
        out.append((df, {**env, "results file": str(path)}, label or default))
    return out


def merge_runs(runs: list[Run]) -> pd.DataFrame:
    """One frame, a `run` column first, then results.COLUMNS, then any extra columns.

    With several runs, a framework that is only `skipped` in one run (not installed there) but
    ran in another (Chainer in its own environment, say) is shown from the run that ran it.
    """
    parts = []
    for df, _env, label in runs:
        part = df.copy()
        for col in results.COLUMNS:
            if col not in part.columns:
                part[col] = None
        part.insert(0, "run", label)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["run", *results.COLUMNS])
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        skipped = merged["status"] == Status.SKIPPED
        ran = set(merged.loc[~skipped, "framework"])
        only_skipped = merged.groupby(["run", "framework"])["status"].transform(
            lambda st: (st == Status.SKIPPED).all())
        merged = merged[~(only_skipped & merged["framework"].isin(ran))].reset_index(drop=True)
    extra = [c for c in merged.columns if c not in results.COLUMNS and c != "run"]
    return merged[["run", *results.COLUMNS, *extra]]


def write_csv(merged: pd.DataFrame, path: str | Path) -> Path:
    """Every row of the merged frame as CSV (the `run` column first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(path, index=False)
    return path
