"""Case files: expansion, canonical padding, and precise errors for bad input."""

from __future__ import annotations

import textwrap

import pytest

from harness.loader import load_file, load_text


def load_one(body: str, **defaults):
    cases, errors = load_text(textwrap.dedent(body), "t.yaml")
    assert not errors, [str(e) for e in errors]
    return cases


def errors_of(body: str):
    cases, errors = load_text(textwrap.dedent(body), "t.yaml")
    assert errors, "expected an error"
    return cases, errors


BASE = """
cases:
  - id: a
    op: {op}
    in_channels: 2
    out_channels: 4
    input_size: {size}
    kernel: {k}
    {extra}
"""


def one(op="conv2d", size="[6, 6]", k=3, extra=""):
    return BASE.format(op=op, size=size, k=k, extra=extra)


def test_product_expands_with_readable_ids():
    cases = load_one("""
        defaults: {in_channels: 2, out_channels: 2, dtype: float32}
        cases:
          - id: grid
            op: conv2d
            input_size: [8, 8]
            product: {stride: [1, 2], kernel: [1, 3], padding: [valid, same]}
    """)
    ids = [c.id for c in cases]
    assert len(ids) == 8 and "grid-s2-k3-same" in ids
    assert all(c.dtypes == ("float32",) for c in cases)


def test_id_template():
    cases = load_one("""
        cases:
          - id: "s{stride}-k{kernel}"
            op: conv1d
            in_channels: 1
            out_channels: 1
            input_size: 9
            product: {stride: [1, 2], kernel: [3]}
    """)
    assert [c.id for c in cases] == ["s1-k3", "s2-k3"]


@pytest.mark.parametrize("extra,pads", [
    ("padding: same\n    stride: 2", ((0, 1), (0, 1))),  # size 6, k3 s2: total 1 → end
    ("padding: same_lower\n    stride: 2", ((1, 0), (1, 0))),
    ("padding: full", ((2, 2), (2, 2))),
    ("padding: [1, [0, 2]]", ((1, 1), (0, 2))),
    ("padding: 1\n    cover_all: true\n    stride: 2", ((1, 2), (1, 2))),
])
def test_conv_padding_forms(extra, pads):
    assert load_one(one(extra=extra))[0].padding == pads


@pytest.mark.parametrize("extra,pads,out", [
    ("stride: 2\n    padding: 1\n    output_padding: 1", ((1, 0), (1, 0)), (12, 12)),
    ("stride: 2\n    padding: same", ((0, 1), (0, 1)), (12, 12)),
    ("stride: 2\n    padding: same\n    output_shape: 11", ((1, 1), (1, 1)), (11, 11)),
    ("stride: 4\n    padding: same", ((0, -1), (0, -1)), (24, 24)),  # s > k: zeros appended
    ("stride: 4\n    padding: valid", ((0, -1), (0, -1)), (24, 24)),
    ("stride: 2\n    padding: same_lower\n    output_shape: 11", ((1, 1), (1, 1)), (11, 11)),
])
def test_transpose_padding_forms(extra, pads, out):
    case = load_one(one(op="conv_transpose2d", extra=extra))[0]
    assert case.padding == pads
    assert case.output_size == out


@pytest.mark.parametrize("body,field,needle", [
    (one(extra="colour: red"), "colour", "unknown key"),
    (one(k="three"), "kernel", "valid integer"),
    (one(extra="groups: 3"), "groups", "divisible by groups"),
    (one(op="conv_transpose2d", extra="stride: 2\n    output_padding: 2"), "output_padding", "smaller than stride"),
    (one(op="conv_transpose2d", extra="stride: 2\n    padding: same\n    output_shape: 20"), "output_shape", "allowed 11..12"),
    (one(extra="padding: sideways"), "padding", "allowed"),
    (one(extra="stride: 0"), "stride", ">= 1"),
    (one(k=9), "kernel", "larger than the padded input"),
    (one(extra="dtype: float8"), "dtype", "float64"),
    (one(op="conv4d"), "op", "unknown op"),
    (one(size="[100000, 100000]"), "input_size", "budget"),
    (one(extra="xfail: {tensorflw: broken}"), "xfail", "unknown framework 'tensorflw'"),
    (one(extra="xfail: {'jax:float8': broken}"), "xfail", "dtype 'float8' is not one of"),
    (one(extra="xfail: {jax: ''}"), "xfail", "needs a reason"),
])
def test_bad_case_names_field_line_and_allowed(body, field, needle):
    _, errors = errors_of(body)
    err = errors[0]
    assert err.file == "t.yaml" and err.case_id == "a" and err.line is not None
    assert err.field.split(".")[0] == field, str(err)
    assert needle in str(err), str(err)


def test_xfail_keys_by_framework_library_and_dtype():
    (case,) = load_one(one(extra="dtype: [float64, float32]\n    xfail: {'jax:float32': f32 only, tensorflow: all}"))
    assert case.xfail_reason("jax", "float32") == "f32 only"
    assert case.xfail_reason("jax-dilated", "float32") == "f32 only"  # a library name covers its paths
    assert case.xfail_reason("jax", "float64") is None
    assert case.xfail_reason("tensorflow-backprop", "float64") == "all"
    assert case.xfail_reason("torch", "float32") is None


def test_error_line_points_at_the_field():
    _, errors = errors_of(one(extra="colour: red"))
    assert errors[0].line == 9  # the line of "colour:"


def test_bad_case_does_not_stop_the_others():
    cases, errors = load_text(textwrap.dedent("""
        defaults: {op: conv1d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 2}
        cases:
          - id: good1
          - id: bad
            kernel: -1
          - id: good2
          - id: good1
    """), "t.yaml")
    assert [c.id for c in cases] == ["good1", "good2"]
    assert [e.case_id for e in errors] == ["bad", "good1"]
    assert "duplicate id" in str(errors[1])


def test_unsafe_yaml_tags_are_refused_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("cases: !!python/object/apply:os.system ['touch pwned']\n")
    cases, errors = load_file(path)
    assert not cases and "invalid YAML" in str(errors[0]) and errors[0].line == 1
    assert not (tmp_path / "pwned").exists()


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"cases:\n  - id: \xff\xfe\n")
    _, errors = load_file(path)
    assert "not UTF-8" in str(errors[0]) and errors[0].line == 2


def test_syntax_error_has_line():
    _, errors = errors_of("cases:\n  - id: a\n    op: [conv\n")
    assert errors[0].line is not None and "invalid YAML" in str(errors[0])


def test_golden_shapes_are_checked():
    body = one(op="conv1d", size="3", k=2, extra="bias: false\n    golden: {x: [[1, 2, 3]], w: [[1, 1]], g: [[1, 1]]}")
    _, errors = errors_of(body.replace("in_channels: 2", "in_channels: 1").replace("out_channels: 4", "out_channels: 1"))
    assert errors[0].field == "golden" and "shape" in errors[0].message


@pytest.mark.parametrize("spelling,word", [
    ("SAME", "same"), ("Same", "same"), ("VALID", "valid"), ("same_LOWER", "same_lower"), ("SAME_LOWER", "same_lower"),
    ("Full", "full"), ("SAME_UPPER", "same"),  # ONNX's name for the odd pixel at the end
])
def test_padding_words_as_frameworks_spell_them(spelling, word):
    body = one(op="conv_transpose2d", extra="stride: 2\n    padding: {}")
    assert load_one(body.format(spelling)) == load_one(body.format(word))
    (case,) = load_one(body.format(spelling))
    assert case.padding_word == word


def test_padding_words_in_a_product_give_the_same_ids_and_cases():
    body = """
        cases:
          - id: grid
            op: conv1d
            in_channels: 1
            out_channels: 1
            input_size: 8
            kernel: 3
            product: {{padding: [{}, {}]}}
    """
    assert load_one(body.format("SAME", "Valid")) == load_one(body.format("same", "valid"))
    assert [c.id for c in load_one(body.format("SAME", "Valid"))] == ["grid-same", "grid-valid"]


@pytest.mark.parametrize("body,field,message", [
    (one(extra="kernal: 3").replace("    kernel: 3\n", ""), "kernal",
     "unknown key 'kernal'; did you mean 'kernel'? allowed keys: accumulation, batch, bias,"),
    (one(extra="strides: 2"), "strides", "unknown key 'strides'; did you mean 'stride'?"),
    (one(extra="colour: red"), "colour", "unknown key 'colour'; allowed keys: accumulation, batch,"),
    (one(extra="tolerance: {factr: 2, reason: r}"), "tolerance.factr",
     "unknown key 'factr'; did you mean 'factor'? allowed keys: factor, reason"),
    (one(op="ConvTranspose2d"), "op", "unknown op 'ConvTranspose2d'; did you mean 'conv_transpose2d'? allowed: conv,"),
    (one(extra="padding: sme"), "padding", "unknown word 'sme'; did you mean 'same'? allowed: an int,"),
    (one(extra="frameworks: [pytorch]"), "frameworks", "unknown framework 'pytorch'; did you mean 'torch'? known:"),
    (one(extra="xfail: {tensorflw: broken}"), "xfail", "unknown framework 'tensorflw'; did you mean 'tensorflow'?"),
    (one(extra="golden: {xx: 1}"), "golden", "unknown entry 'xx'; did you mean 'x'? allowed: x, w, b, g,"),
])
def test_unknown_names_suggest_the_nearest_allowed_one(body, field, message):
    _, errors = errors_of(body)
    assert errors[0].field == field and message in errors[0].message, str(errors[0])


def test_unknown_top_level_key_suggests_the_nearest():
    _, errors = errors_of("defaults: {}\ncase: []\n")
    assert str(errors[0]) == ("t.yaml:2: field 'case': unknown top-level key 'case'; did you mean 'cases'? "
                              "allowed: defaults, cases")


def test_case_error_prints_the_column_when_known():
    from harness.case import CaseError

    assert str(CaseError("f.yaml", 3, None, None, "bad", column=7)) == "f.yaml:3:7: bad"
    assert str(CaseError("f.yaml", 3, "a", "kernel", "bad")) == "f.yaml:3: case 'a' field 'kernel': bad"
    assert str(CaseError("f.yaml", None, None, None, "bad", column=7)) == "f.yaml: bad"
