"""Property-based tests: malformed case files always give precise errors, never tracebacks,
never execute anything, and never stop the valid cases beside them from loading."""

from __future__ import annotations

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import oracle
from harness.case import CaseError
from harness.loader import CaseSpec, load_file, load_text, to_case
from tests.strategies import (
    case_file_text,
    hostile_text,
    mutated_library_bytes,
    mutated_library_text,
    valid_transpose_spec,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
UNLOCATABLE = ("cannot read", "limited to")  # an unreadable or oversize file has no line to name


def _check_errors(errors) -> None:
    for e in errors:
        assert isinstance(e, CaseError)
        assert e.file == "f.yaml" and e.message
        assert e.line is None or e.line >= 1
        assert str(e).startswith("f.yaml")


@FUZZ
@given(case_file_text())
def test_mutated_cases_give_located_errors_and_the_good_case_survives(text):
    cases, errors = load_text(text, "f.yaml")
    _check_errors(errors)
    ids = [c.id for c in cases]
    doc = yaml.safe_load(text)
    if "defaults" not in doc:  # defaults may legitimately break the good case too
        assert "good" in ids or any(e.case_id == "good" for e in errors if "duplicate" in e.message)
    for e in errors:
        if e.case_id is not None:
            assert e.line is not None, str(e)


@FUZZ
@given(hostile_text)
def test_hostile_text_never_raises(text):
    cases, errors = load_text(text, "f.yaml")
    _check_errors(errors)


def _check_located(result, name: str) -> None:
    """load_text / load_file returned (cases, errors); every error is a located CaseError."""
    cases, errors = result
    assert isinstance(cases, list) and isinstance(errors, list)
    for e in errors:
        assert isinstance(e, CaseError) and e.file == name and e.message
        assert "internal loader error" not in e.message, str(e)
        assert e.line is not None or any(s in e.message for s in UNLOCATABLE), str(e)
        assert e.line is None or e.line >= 1


@HOSTILE
@given(mutated_library_text)
def test_hostile_mutations_of_library_files_give_located_errors(text):
    """Control characters, junk, truncation, deep nesting, aliases, huge numbers, duplicated and
    swapped keys and values, product bombs: never an exception, always a line."""
    _check_located(load_text(text, "f.yaml"), "f.yaml")


@settings(HOSTILE, max_examples=100)
@given(mutated_library_bytes)
def test_hostile_bytes_of_library_files_through_load_file(tmp_path_factory, data):
    """The same, plus invalid UTF-8, byte-order marks, NULs and cuts through a character."""
    path = tmp_path_factory.mktemp("hostile") / "f.yaml"
    path.write_bytes(data)
    _check_located(load_file(path), str(path))


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "f.yaml"
    path.write_bytes(data)
    cases, errors = load_file(path)
    for e in errors:
        assert isinstance(e, CaseError) and e.message


@settings(max_examples=200, deadline=None)
@given(valid_transpose_spec())
def test_output_shape_in_documented_range_is_accepted_and_honoured(spec):
    """Every length in transpose_length_range loads, and the oracle produces exactly that length."""
    try:
        case = to_case(CaseSpec.model_validate(spec), "f.yaml", 1)
    except ValueError as exc:
        # only an empty output may be refused
        assert "empty" in str(exc) or "larger" in str(exc), str(exc)
        return
    if "output_shape" in spec:
        assert case.output_size == (spec["output_shape"],)
    x = np.ones(case.x_shape)
    w = np.ones(case.w_shape)
    y = oracle.conv_transpose(x, w, None, case.stride, case.dilation, case.padding, 1)
    assert y.shape == case.y_shape
    # and the forward conv with the same padding maps it back to the input length
    back = oracle.conv(y, w, None, case.stride, case.dilation, case.padding, 1)
    assert back.shape[2:] == case.input_size
