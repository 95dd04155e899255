"""harness.report.rows: one typed row per result row, missing values normalised once."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from harness import results
from harness.report import ResultRow, rows_from_frame
from harness.report.runs import merge_runs
from harness.status import Status


def _frame() -> pd.DataFrame:
    rows = [
        {"case_id": "a", "file": "f.yaml", "line": 3, "dtype": "float32", "framework": "numpy", "quantity": "y",
         "status": Status.PASS, "bound_ratio": 0.5, "tolerance": 2.0, "error_ratio": 1.25, "reduction_length": 27,
         "worst_index": [0, 1, 2], "shape": [2, 3], "expected_shape": [2, 3], "message": "", "xfail": None},
        {"case_id": "a", "file": "f.yaml", "line": 3, "dtype": "float32", "framework": "numpy", "quantity": "dx",
         "status": Status.MISMATCH, "bound_ratio": float("inf"), "tolerance": float("nan"), "error_ratio": None,
         "reduction_length": None, "worst_index": None, "shape": [2, 3], "expected_shape": [2, 4],
         "message": "NaN where the oracle is finite", "xfail": "known bug"},
        {"case_id": "b", "file": "f.yaml", "line": None, "dtype": "-", "framework": "loader", "quantity": "-",
         "status": "error", "message": "bad file"},
    ]
    return merge_runs([(results.to_frame(rows), {}, "run1")])


def test_missing_values_become_none_and_empty_strings():
    frame = _frame()
    assert frame["tolerance"].isna().any() and frame["xfail"].isna().any()  # NaN and None in the frame
    rows = {(r.case_id, r.quantity): r for r in rows_from_frame(frame)}
    y, dx, bad = rows[("a", "y")], rows[("a", "dx")], rows[("b", "-")]
    assert y.run == "run1" and y.line == 3 and isinstance(y.line, int)
    assert y.reduction_length == 27 and isinstance(y.reduction_length, int)
    assert y.xfail == "" and y.message == "" and y.traceback == "" and y.call == ""
    assert dx.error_ratio is None and dx.reduction_length is None and dx.tolerance is None
    assert dx.bound_ratio == math.inf  # infinity is kept: non-finite values where the oracle is finite
    assert bad.line is None and bad.bound_ratio is None
    for row in rows.values():
        for field in dataclasses.fields(ResultRow):
            value = getattr(row, field.name)
            assert not (isinstance(value, float) and math.isnan(value)), (field.name, value)
            assert value is not pd.NA and not isinstance(value, np.generic), (field.name, value)
            if field.type == "str":
                assert isinstance(value, str), (field.name, value)


def test_status_norm_and_display_fields():
    rows = {(r.case_id, r.quantity): r for r in rows_from_frame(_frame())}
    y, dx, bad = rows[("a", "y")], rows[("a", "dx")], rows[("b", "-")]
    assert y.status is Status.PASS and bad.status is Status.ERROR  # words become the Status type
    assert y.norm == 0.25  # bound ratio ÷ tolerance
    assert dx.norm == math.inf  # a missing tolerance counts as 1
    assert dx.failing and dx.expected_failure and not dx.unexpected_failure
    assert y.worst_index_text == "(0, 1, 2)" and dx.worst_index_text == ""
    assert y.shape_text == "[2, 3]" and dx.shape_text == "[2, 3] (expected [2, 4])"
    assert y.anchor == dx.anchor != bad.anchor and y.anchor.startswith("case-")
    with pytest.raises(dataclasses.FrozenInstanceError):
        y.status = Status.MISMATCH


def test_an_unknown_status_word_counts_as_an_error_and_absent_columns_take_defaults():
    frame = pd.DataFrame({"case_id": ["x"], "status": ["exploded"], "bound_ratio": [np.float32(0.5)]})
    (row,) = rows_from_frame(frame)
    assert row.status is Status.ERROR and row.bound_ratio == 0.5 and type(row.bound_ratio) is float
    assert row.run == "" and row.tolerance is None and row.norm == 0.5
    assert rows_from_frame(frame.iloc[:0]) == []
