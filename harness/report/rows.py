"""One typed, immutable row per result row, with missing values normalised once.

A results DataFrame mixes None, NaN, pandas NA and numpy scalars; `rows_from_frame` turns every
row into a `ResultRow` whose text fields are `str` ('' when missing), whose numbers are `float`
or `int` (None when missing, infinity kept: it means non-finite values where the oracle is
finite) and whose status is a `Status`. Nothing after this module checks for NaN again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from harness.status import Status

EMULATED = "emulated"


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A result row of one (run, case, dtype, framework, quantity); see harness.results.COLUMNS."""

    run: str = ""
    case_id: str = ""
    file: str = ""
    line: int | None = None
    op: str = ""
    dtype: str = ""
    framework: str = ""
    library: str = ""
    version: str = ""
    path: str = ""
    device: str = ""
    quantity: str = ""
    status: Status = Status.ERROR
    expression: str = ""
    error_ratio: float | None = None
    bound_ratio: float | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    max_ulps: float | None = None
    worst_index: str = ""
    worst_actual: float | None = None
    worst_expected: float | None = None
    worst_bound: float | None = None
    reduction_length: int | None = None
    tolerance: float | None = None
    shape: str = ""
    expected_shape: str = ""
    message: str = ""
    reason: str = ""
    call: str = ""
    xfail: str = ""
    seconds: float | None = None
    oracle_seconds: float | None = None
    compare_seconds: float | None = None
    params: str = ""
    description: str = ""
    refs: str = ""
    traceback: str = ""

    @property
    def failing(self) -> bool:
        return self.status.failing

    @property
    def unexpected_failure(self) -> bool:
        """Failing, and the case does not expect it (no xfail reason)."""
        return self.status.failing and not self.xfail

    @property
    def expected_failure(self) -> bool:
        return self.status.failing and bool(self.xfail)

    @property
    def emulated(self) -> bool:
        return self.expression == EMULATED

    @property
    def norm(self) -> float | None:
        """bound_ratio / tolerance (a tolerance missing or <= 0 counts as 1): > 1 fails."""
        if self.bound_ratio is None:
            return None
        tol = self.tolerance if self.tolerance is not None and self.tolerance > 0 else 1.0
        return self.bound_ratio / tol

    @property
    def case_key(self) -> tuple[str, str]:
        return (self.file, self.case_id)

    @property
    def anchor(self) -> str:
        return anchor(self.file, self.case_id)

    @property
    def worst_index_text(self) -> str:
        """'(0, 3, 4)' from the stored JSON list '[0, 3, 4]'."""
        return index_text(self.worst_index)

    @property
    def shape_text(self) -> str:
        if self.shape == self.expected_shape or not self.expected_shape:
            return self.shape
        return f"{self.shape} (expected {self.expected_shape})"


FIELDS = tuple(f.name for f in dataclasses.fields(ResultRow))
FLOAT_FIELDS = tuple(f.name for f in dataclasses.fields(ResultRow) if f.type == "float | None")
INT_FIELDS = tuple(f.name for f in dataclasses.fields(ResultRow) if f.type == "int | None")
TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(ResultRow) if f.type == "str")


@lru_cache(maxsize=65536)
def anchor(file: str, case_id: str) -> str:
    """The page id of a case: stable, and safe in an id or a URL fragment whatever the case id holds."""
    return "case-" + hashlib.sha1(f"{file}::{case_id}".encode()).hexdigest()[:12]


@lru_cache(maxsize=65536)
def index_text(stored: str) -> str:
    if not stored:
        return ""
    try:
        return "(" + ", ".join(str(i) for i in json.loads(stored)) + ")"
    except (TypeError, ValueError):
        return stored


def status_of(value: object) -> Status:
    """A row's status; a word no Status has (an old or foreign file) counts as an error."""
    try:
        return Status.of(value)
    except ValueError:
        return Status.ERROR


def _text_column(series: pd.Series) -> list[str]:
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in series.tolist()]


def _float_column(series: pd.Series) -> list[float | None]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return [None if math.isnan(v) else v for v in values.tolist()]


def _int_column(series: pd.Series) -> list[int | None]:
    return [None if v is None or math.isnan(v) else int(v) for v in _float_column(series)]


def rows_from_frame(df: pd.DataFrame) -> list[ResultRow]:
    """Every row of a results (or merged) frame as a ResultRow; absent columns take the defaults."""
    n = len(df)
    columns: dict[str, list] = {}
    for name in FIELDS:
        if name not in df.columns:
            continue
        if name in FLOAT_FIELDS:
            columns[name] = _float_column(df[name])
        elif name in INT_FIELDS:
            columns[name] = _int_column(df[name])
        elif name == "status":
            columns[name] = [status_of(v) for v in _text_column(df[name])]
        else:
            columns[name] = _text_column(df[name])
    names = list(columns)
    return [ResultRow(**dict(zip(names, values))) for values in zip(*columns.values())] if names else \
        [ResultRow() for _ in range(n)]
