"""No file can break a run: hostile case files become precise, located errors, never exceptions,
and a bad file never hides the good ones beside it (loader, `harness run`, pytest, pytest -n 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import loader
from harness.case import CaseError
from harness.loader import MAX_FILE_BYTES, load_file, load_paths, load_text

ROOT = Path(__file__).resolve().parents[1]
CASE = "op: conv1d, in_channels: 1, out_channels: 1, input_size: 9, kernel: 3"
GOOD_FILE = "cases:\n  - id: good\n    op: conv1d\n    in_channels: 1\n    out_channels: 1\n    input_size: 5\n    kernel: 3\n"
NESTING_BOMB = "cases:\n  - id: bomb\n    kernel: " + "[" * 2000 + "\n"
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(8)) + "cases: []\n"
MANY_ALIASES = "cases:\n  - &a {id: a, " + CASE + "}\n" + "".join("  - *a\n" for _ in range(101))


def one_error(text: str) -> CaseError:
    cases, errors = load_text(text, "t.yaml")
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


@pytest.mark.parametrize("text,where,fragment", [
    (NESTING_BOMB, "t.yaml:3:42:", "nested deeper than 32 levels"),
    ("cases:\n  - {id: a, kernel: " + "[" * 40 + "1" + "]" * 40 + "}\n", "t.yaml:2:50:", "nested deeper than 32"),
    (LAUGHS, "t.yaml:", "more than 50,000 values (aliases counted as copies)"),
    (MANY_ALIASES, "t.yaml:103:5:", "more than 100 aliases"),
    ("cases: &a [*a]\n", "t.yaml:1:12:", "alias *a is used inside its own anchor &a"),
    ("x: &deep " + "[" * 20 + "1" + "]" * 20 + "\ncases: [" + "[" * 10 + "*deep" + "]" * 10 + "]\n",
     "t.yaml:2:", "alias *deep nests the document deeper than 32 levels"),
    ("cases:\n  - id: a\x07b\n", "t.yaml:2:10:", "control character U+0007 '\\x07' is not allowed"),
    ("cases:\r\n  - id: a\r\n\r\n    op: \x1b\r\n", "t.yaml:4:9:", "control character U+001B"),
    ("cases:\n  - id: a\n    id: b\n", "t.yaml:3:5:", "duplicate key 'id'"),
    ("cases:\n  - {id: a, " + CASE.replace("kernel: 3", "kernel: " + "9" * 5000) + "}\n", "t.yaml:2:",
     "field 'kernel': invalid YAML: the number 999999999999… (5000 characters) is too large"),
    ("cases:\n  - {id: a, seed: !!int abc}\n", "t.yaml:2:19:", "cannot read 'abc' as int"),
    ("cases:\n  - {id: a, description: 2024-13-45}\n", "t.yaml:2:26:", "cannot read '2024-13-45' as timestamp"),
    ("cases:\n  - {[a]: 1}\n", "t.yaml:2:", "mapping keys must be plain scalars"),
])
def test_hostile_yaml_names_line_column_and_problem(text, where, fragment):
    err = one_error(text)
    assert str(err).startswith(where), str(err)
    assert fragment in str(err), str(err)
    assert err.line is not None and err.column is not None


@pytest.mark.parametrize("fields,field,fragment", [
    ("kernel: 99999999999999999999999", "kernel", "every value must be <= 2147483647"),
    ("batch: 1.0e+400", "batch", "Input should be a valid integer (got inf)"),
    ("input_size: [1000000000]", "input_size", "over the budget of 512 MiB"),
    ("padding: 9999999999999999999999999999999999999", "padding", "between -2147483647 and 2147483647"),
    ("in_channels: .nan", "in_channels", "valid integer (got nan)"),
    ("kernel: .inf", "kernel", "valid integer (got inf)"),
    ("seed: 99999999999999999999999", "seed", "less than or equal to 9223372036854775807"),
    ("tolerance: {factor: .inf, reason: r}", "tolerance.factor", "finite number"),
    ("1: x", "1", "keys are field names (text), got 1"),
    ("marks: [_private]", "marks", "got '_private'"),
    ("product: {stride: [1,2,3,4,5,6,7,8,9,10], dilation: [1,2,3,4,5,6,7,8,9,10], batch: [1,2,3,4,5,6,7,8,9,10], "
     "seed: [1,2,3,4,5,6,7,8,9,10,11]}", "product", "(10 × 10 × 10 × 11 values) expands to more than 10,000 cases"),
])
def test_hostile_values_name_the_case_field_and_what_is_allowed(fields, field, fragment):
    err = one_error(f"cases:\n  - {{id: a, {_override(CASE, fields)}}}\n")
    assert err.line == 2 and err.field == field, str(err)
    assert fragment in str(err), str(err)


def _override(base: str, fields: str) -> str:
    key = fields.split(":")[0]
    kept = [p for p in base.split(", ") if p.split(":")[0] != key]
    return ", ".join([*kept, fields])


def test_id_template_that_would_format_to_something_huge_is_refused_fast():
    err = one_error(f"cases:\n  - {{id: '{{stride:>99999999}}', {CASE}, product: {{stride: [1]}}}}\n")
    assert err.field == "id" and "widths are at most 2 digits" in err.message, str(err)
    err = one_error(f"cases:\n  - {{id: 'a{{stride:{{kernel}}}}', {CASE}, product: {{stride: [1]}}}}\n")
    assert "no nested fields" in err.message, str(err)


def test_too_many_cases_in_one_file_stops_with_a_message(monkeypatch):
    monkeypatch.setattr(loader, "MAX_CASES_PER_FILE", 2_000)  # 50,000 in earnest; the same code path
    grid = "product: {stride: [1,2,3,4,5,6,7,8,9,10], seed: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}"
    entries = "".join(f"  - {{id: g{i}, {CASE}, {grid}}}\n" for i in range(20))
    cases, errors = load_text("cases:\n" + entries, "t.yaml")
    assert len(cases) + len(errors) == 11 * 200 + 1
    assert str(errors[-1]) == ("t.yaml:13: field 'cases[11]': the file expands to more than 2,000 cases; "
                               "this entry and the ones after it are not loaded")


def test_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    (err,) = load_file(path)[1]
    assert err.line is None and "case files are limited to 8 MiB" in str(err) and "8,388,609 bytes" in str(err)


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"cases:\n  - id: \xc3\xa9\xff\n")  # an \xe9 (column 9), then a stray byte
    (err,) = load_file(path)[1]
    assert str(err).startswith(f"{path}:2:10: not UTF-8 text (byte 17)"), str(err)


def test_utf16_file_is_told_to_be_saved_as_utf8(tmp_path):
    path = tmp_path / "u16.yaml"
    path.write_bytes(GOOD_FILE.encode("utf-16"))
    (err,) = load_file(path)[1]
    assert "UTF-16 byte-order mark; save it as UTF-8" in err.message and err.line == 1


def test_utf8_byte_order_mark_loads_the_same_cases(tmp_path):
    plain, marked = tmp_path / "plain.yaml", tmp_path / "marked.yaml"
    plain.write_text(GOOD_FILE)
    marked.write_bytes(b"\xef\xbb\xbf" + GOOD_FILE.encode())
    (a,), _ = load_file(plain)
    (b,), errors = load_file(marked)
    assert not errors and a.id == b.id == "good" and a.line == b.line == 2
    err = one_error("\ufeffcases:\n  - id: a\x07\n")
    assert str(err).startswith("t.yaml:2:10:")  # the mark does not shift the column


def test_a_pipe_is_not_opened(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    (err,) = load_file(fifo)[1]
    assert "not a regular file" in err.message


@pytest.mark.parametrize("exc", [RecursionError("deep"), MemoryError(), KeyError("odd")])
def test_unexpected_exceptions_become_one_located_error_and_the_other_cases_load(monkeypatch, exc):
    real = loader.to_case

    def flaky(spec, file, line):
        if spec.id == "bad":
            raise exc
        return real(spec, file, line)

    monkeypatch.setattr(loader, "to_case", flaky)
    cases, errors = load_text(f"cases:\n  - {{id: good, {CASE}}}\n  - {{id: bad, {CASE}}}\n", "t.yaml")
    assert [c.id for c in cases] == ["good"]
    assert str(errors[0]).startswith(f"t.yaml:3: internal loader error: {type(exc).__name__}")


def test_unexpected_exception_at_the_file_level_never_escapes(monkeypatch, tmp_path):
    def broken(text, file):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(loader, "parse_yaml", broken)
    (err,) = load_text("cases: []", "t.yaml")[1]
    assert str(err) == "t.yaml: internal loader error: RecursionError: maximum recursion depth exceeded"
    (tmp_path / "f.yaml").write_text("cases: []")
    assert "internal loader error" in str(load_file(tmp_path / "f.yaml")[1][0])


# ---------------------------------------------------------------------------------------------
# a bad file beside a good one, through every face


@pytest.fixture
def library(tmp_path) -> Path:
    """<tmp>/cases with a valid file and a nesting bomb."""
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "good.yaml").write_text(GOOD_FILE)
    (tmp_path / "cases" / "bomb.yaml").write_text(NESTING_BOMB)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # keep the project's own ini out of it
    return tmp_path


def test_load_paths_returns_the_good_cases_and_an_error_for_the_bad_file(library):
    cases, errors = load_paths([library / "cases"])
    assert [c.id for c in cases] == ["good"]
    assert [(Path(e.file).name, e.line, e.column) for e in errors] == [("bomb.yaml", 3, 42)]


def test_harness_run_writes_the_good_rows_and_an_error_row(library):
    out = library / "r.parquet"
    script = Path(sys.executable).with_name("harness")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]
    proc = subprocess.run([*command, "run", str(library / "cases"), "-f", "numpy", "--in-process", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert out.exists(), proc.stderr[-2000:]
    df = pd.read_parquet(out)
    good = df[df.case_id == "good"]
    assert len(good) and set(good.status) == {"pass"}, df[["case_id", "status"]]
    (error_row,) = df[df.framework == "loader"].itertuples()
    assert error_row.status == "error" and error_row.line == 3
    assert "bomb.yaml:3:42: invalid YAML: nested deeper than 32 levels" in error_row.message


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_pytest_runs_the_good_items_and_fails_one_item_for_the_bad_file(library, workers):
    proc = subprocess.run([sys.executable, "-m", "pytest", "cases", "--framework", "numpy", "-p", "no:cacheprovider",
                           "--rootdir", str(library), "-rA", "-q", *workers],
                          cwd=library, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "PASSED cases/good.yaml::good[float64-numpy]" in out and "PASSED cases/good.yaml::good[float32-numpy]" in out
    assert "FAILED cases/bomb.yaml::file[load-error]" in out
    assert "invalid case: cases/bomb.yaml:3:42: invalid YAML: nested deeper than 32 levels" in out
    assert "1 failed, 2 passed" in out, out[-3000:]
