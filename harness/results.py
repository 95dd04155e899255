"""Result rows → pandas DataFrame → Parquet, written so that nothing computed is ever lost.

Rows are first appended as JSON lines to a per-process part file (flushed and fsynced after each
item), so a worker that dies keeps everything it finished; the parts are merged once into one
Parquet file, written atomically (temporary file + rename) with the run's environment stored in
the file's metadata.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ENV_KEY = b"harness.environment"
KEY = ["case_id", "file", "dtype", "framework", "quantity"]
COLUMNS = [
    "case_id", "file", "line", "op", "dtype", "framework", "library", "version", "path", "device",
    "quantity", "layer", "layer_name", "layer_kind", "local_ratio", "blame", "status", "expression", "error_ratio", "bound_ratio", "worst_case_ratio", "effective_bits",
    "accumulation", "contract", "deviation", "deviation_seen", "max_abs_error",
    "max_rel_error", "max_ulps", "worst_index", "worst_actual", "worst_expected", "worst_bound",
    "reduction_length", "tolerance", "shape", "expected_shape", "message", "reason", "call",
    "xfail", "seconds", "oracle_seconds", "compare_seconds", "params", "description", "refs", "traceback",
]
LIBRARIES = ("numpy", "torch", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "chainer",
             "onnxruntime", "onnx", "keras", "pandas")


def installed_versions() -> dict[str, str]:
    """Versions of the frameworks present, read from package metadata (imports nothing)."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def base_environment() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "harness": _own_version(),
        **{f"version.{k}": v for k, v in installed_versions().items()},
    }


def _own_version() -> str:
    try:
        return metadata.version("conv-harness")
    except metadata.PackageNotFoundError:
        return "dev"


class PartWriter:
    """Append rows of finished items to one JSONL part file (one per process)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def write(self, rows: Iterable[dict]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        for row in rows:
            self._fh.write(json.dumps(row, default=_jsonable, allow_nan=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def read_parts(directory: Path) -> list[dict]:
    """All rows of every part file; a torn last line (a process killed mid-write) is dropped."""
    rows = []
    for part in sorted(Path(directory).glob("*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def to_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + extra]
    for col in ("local_ratio", "error_ratio", "bound_ratio", "worst_case_ratio", "effective_bits", "max_abs_error", "max_rel_error", "max_ulps",
                "worst_actual", "worst_expected", "worst_bound", "tolerance", "seconds",
                "oracle_seconds", "compare_seconds"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in ("line", "layer", "reduction_length"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["blame"] = df["blame"].astype("boolean")
    for col in ("worst_index", "shape", "expected_shape"):
        df[col] = df[col].map(lambda v: json.dumps(v) if isinstance(v, (list, tuple)) else None)
    text = [c for c in df.columns if df[c].dtype == object]
    for col in text:
        df[col] = df[col].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)


def write_parquet(df: pd.DataFrame, path: str | Path, environment: dict) -> Path:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[ENV_KEY] = json.dumps(environment, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_results(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A results file and the environment it was written with."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    env = json.loads(meta[ENV_KEY]) if ENV_KEY in meta else {}
    return table.to_pandas(), env


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of rows by framework × status."""
    if df.empty:
        return pd.DataFrame()
    return df.pivot_table(index="framework", columns="status", values="case_id", aggfunc="count", fill_value=0)


def failing(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that fail and are not expected to (no xfail reason on the case)."""
    from harness.status import FAILING

    if df.empty:
        return df
    return df[df["status"].isin(FAILING) & (df["xfail"].fillna("") == "")]
