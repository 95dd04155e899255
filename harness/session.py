"""The session layer shared by `harness run` and the pytest plugin: options, items, results.

Both faces select the same items from the same options, run each with `runner.run_item`, and
hand the rows to a `ResultSink`, which owns the per-process part files, the environment record
and the final atomic Parquet write. The faces only parse, show progress and print.
"""

from __future__ import annotations

import fnmatch
import json
import os
import resource
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from harness import adapters as registry
from harness import precision, results
from harness.adapters import Adapter
from harness.case import QUANTITIES, Case, CaseError
from harness.stack.model import StackCase
from harness.status import Status


@dataclass(frozen=True)
class Option:
    """One option of both faces: `harness run --framework X` and `pytest --framework X`."""

    flag: str  # the long flag, the same in both faces
    dest: str
    help: str
    short: str | None = None  # CLI only: pytest reserves lower-case short options for itself
    action: str = "append"

    def add_to(self, add, *, short: bool) -> None:
        """Register with an argparse-like `add(*flags, **kwargs)` (ArgumentParser or pytest's group)."""
        flags = [self.short, self.flag] if short and self.short else [self.flag]
        add(*flags, dest=self.dest, action=self.action, default=None, help=self.help)


OPTIONS = (
    Option("--framework", "framework", "only this framework or library (repeatable; 'tensorflow' selects "
           "every TF path); a framework not installed here gives skipped rows", short="-f"),
    Option("--dtype", "dtype", "only this dtype (repeatable): float64, float32, float16, bfloat16", short="-d"),
    Option("--allow-tf32", "allow_tf32", "let float32 on GPUs use TF32 (off by default); the precision contract "
           "then names TF32 accumulation for those rows", action="store_true"),
)


def apply_options(allow_tf32: bool | None) -> None:
    """Options that change how frameworks compute, for this process and the workers it starts."""
    if allow_tf32:
        os.environ[precision.TF32_ENV] = "1"


def add_options(add, *, short: bool) -> None:
    for option in OPTIONS:
        option.add_to(add, short=short)


@dataclass(frozen=True)
class Item:
    """One (case, dtype, framework) to run: the unit of work, of results and of pytest items."""

    case: Case
    dtype: str
    adapter: Adapter

    @property
    def framework(self) -> str:
        return self.adapter.name

    @property
    def name(self) -> str:
        """`case_id[dtype-framework]`, the pytest item name."""
        return f"{self.case.id}[{self.dtype}-{self.framework}]"

    @property
    def nodeid(self) -> str:
        return f"{self.case.file}::{self.name}"

    @cached_property
    def expected_failure(self) -> str | None:
        from harness.runner import expected_failure

        return expected_failure(self.case, self.dtype, self.adapter)

    def run(self) -> list[dict]:
        from harness.runner import run_item

        return run_item(self.case, self.dtype, self.adapter)


@dataclass(frozen=True)
class StackItem(Item):
    """One (stack case, dtype, framework): rows per layer and gradient (harness.stack.item)."""

    @cached_property
    def expected_failure(self) -> str | None:
        return self.case.xfail_reason(self.adapter.name, self.dtype)

    def run(self) -> list[dict]:
        from harness.stack.item import run_stack_item

        return run_stack_item(self.case, self.dtype, self.adapter)


def make_item(case: Case | StackCase, dtype: str, adapter: Adapter) -> Item:
    """The item of a single case or of a stack case."""
    return (StackItem if isinstance(case, StackCase) else Item)(case, dtype, adapter)


def _matches(name: str, patterns: list[str] | None) -> bool:
    """-k: every pattern must match (a substring, or a glob with * ? [)."""
    if not patterns:
        return True
    return all(fnmatch.fnmatch(name, p) if any(c in p for c in "*?[") else p in name for p in patterns)


def _runs_in(case: Case | StackCase, adapter: Adapter) -> bool:
    """The case's own `frameworks:` list (if any) names the adapter, and the adapter has a path for
    it (for a stack: a stack runner)."""
    from harness.stack.runners import has_runner

    if case.frameworks and not any(registry.named(adapter.name, f) for f in case.frameworks):
        return False
    return has_runner(adapter) if isinstance(case, StackCase) else adapter.applies_to(case)


def chosen_adapters(frameworks: list[str] | None, installed_only: bool = False) -> list[Adapter]:
    """Adapters by name or library prefix (None: all). `installed_only` drops frameworks that are
    not installed unless they were asked for by name. Raises KeyError for an unknown name."""
    chosen = registry.select(frameworks)
    if installed_only and not frameworks:
        chosen = [a for a in chosen if a.available()]
    return chosen


def missing_frameworks() -> list[Adapter]:
    """Registered adapters whose framework is not installed here."""
    return [a for a in registry.all_adapters() if not a.available()]


def select_items(cases: list[Case], frameworks: list[str] | None = None, dtypes: list[str] | None = None,
                 patterns: list[str] | None = None, exclude_marks: list[str] | tuple = (),
                 installed_only: bool = False) -> list[Item]:
    """The items the options select, in a stable order (case, then dtype, then registry order)."""
    chosen = chosen_adapters(frameworks, installed_only)
    items = []
    for case in cases:
        if set(case.marks) & set(exclude_marks):
            continue
        runs_in = [adapter for adapter in chosen if _runs_in(case, adapter)]
        for dtype in case.dtypes:
            if not dtypes or dtype in dtypes:
                items += [make_item(case, dtype, adapter) for adapter in runs_in]
    return [item for item in items if _matches(item.nodeid, patterns)]


def golden_cases(cases: list[Case]) -> list[Case]:
    """Cases with literal expected values: the oracle itself is checked against them."""
    return [c for c in cases if getattr(c, "golden", None) and any(q in c.golden for q in QUANTITIES)]


def load_error_rows(errors: list[CaseError]) -> list[dict]:
    """One `error` row per case or file that could not be loaded, so the results show it."""
    return [{"case_id": e.case_id or "(file)", "file": e.file, "line": e.line, "dtype": "-",
             "framework": "loader", "quantity": "-", "status": Status.ERROR, "message": str(e),
             "reason": e.field or ""} for e in errors]


class ResultSink:
    """Where a run's rows go: part files (one per process, fsynced per item), then one Parquet file.

    `ResultSink.start(output)` makes a fresh part folder beside the output; processes that share
    it (pytest-xdist workers) open their own sink on the same folder with `ResultSink(folder, name)`.
    `finish()` (once, in the controlling process) merges every part and environment record into
    `output`, atomically, and removes the folder.
    """

    def __init__(self, part_dir: Path, name: str = "main"):
        self.part_dir, self.name = Path(part_dir), name
        self._writer = results.PartWriter(self.part_dir / f"{name}.jsonl")
        self.environment: dict[str, dict[str, str]] = {}

    @staticmethod
    def new_part_dir(output: str | Path) -> Path:
        """A fresh folder name for a run's parts, beside its output (created on first write)."""
        return Path(output).parent / ".parts" / uuid.uuid4().hex[:12]

    @classmethod
    def start(cls, output: str | Path, name: str = "main") -> ResultSink:
        return cls(cls.new_part_dir(output), name)

    def write(self, rows: list[dict]) -> None:
        self._writer.write(rows)

    def record_environment(self, adapter: Adapter) -> None:
        """The flags that change an installed framework's numbers (TF32, oneDNN, x64...), once each."""
        if adapter.name not in self.environment and adapter.available():
            self.environment[adapter.name] = adapter.module.environment()

    def close(self, peak_memory: bool = False) -> None:
        """Close this process's part; its environment record goes beside it."""
        self._writer.close()
        env = dict(self.environment)
        if peak_memory:
            env["worker"] = {f"{self.name}.max_rss_mib": f"{_max_rss_mib():.0f}"}
        if self.part_dir.is_dir():
            (self.part_dir / f"env-{self.name}.json").write_text(json.dumps(env))

    def finish(self, output: str | Path | None, keep_empty: bool = True) -> pd.DataFrame:
        """Merge every process's rows into `output` (None: discard them); the rows as a DataFrame.

        Without rows, `output` is written only with `keep_empty` (a run that selected nothing)."""
        self.close()
        rows = results.read_parts(self.part_dir) if self.part_dir.is_dir() else []
        df = results.to_frame(rows)
        if output is not None and (rows or keep_empty):
            results.write_parquet(df, output, self._merged_environment())
        self._remove_parts()
        return df

    def _merged_environment(self) -> dict[str, str]:
        env = results.base_environment()
        for env_file in sorted(self.part_dir.glob("env-*.json")):
            for framework, flags in json.loads(env_file.read_text()).items():
                env.update({f"{framework}.{k}": v for k, v in flags.items()})
        return env

    def _remove_parts(self) -> None:
        if self.part_dir.is_dir():
            for f in self.part_dir.iterdir():
                f.unlink()
            self.part_dir.rmdir()


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def quiet_framework_logs() -> None:
    """Silence TensorFlow's and absl's start-up lines in this process and the ones it starts (the
    environment record keeps the oneDNN flag they announce)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
