"""All Hypothesis strategies of the test suite, in one place."""

from __future__ import annotations

import yaml
from hypothesis import strategies as st

GOOD = {
    "id": "good",
    "op": "conv2d",
    "in_channels": 2,
    "out_channels": 4,
    "input_size": [6, 6],
    "kernel": 3,
}

FIELDS = ["op", "ndim", "batch", "in_channels", "out_channels", "input_size", "kernel", "stride",
          "dilation", "groups", "bias", "padding", "cover_all", "output_padding", "output_shape",
          "dtype", "frameworks", "layout", "tolerance", "inputs", "seed", "description", "refs",
          "xfail", "marks", "golden", "product"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 12), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["same", "valid", "same_lower", "full", "conv_transpose2d", "float32", "bfloat16"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)


@st.composite
def mutated_case(draw) -> dict:
    """A case that starts valid and gets a few fields replaced, dropped or added."""
    case = dict(GOOD, id=draw(st.from_regex(r"[a-z]{1,6}", fullmatch=True)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["set", "drop", "unknown"]))
        if action == "set":
            case[draw(st.sampled_from(FIELDS))] = draw(values)
        elif action == "drop":
            case.pop(draw(st.sampled_from(sorted(case))), None)
        else:
            case[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return case


@st.composite
def case_file_text(draw) -> str:
    """YAML text of a file holding one valid case and several mutated ones."""
    cases = [dict(GOOD)] + draw(st.lists(mutated_case(), min_size=1, max_size=4))
    doc: dict = {"cases": cases}
    if draw(st.booleans()):
        doc["defaults"] = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=2))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


hostile_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from([
        "cases: !!python/object/apply:os.system ['echo pwned']",
        "!!python/name:os.system",
        "cases:\n  - &a [*a]",
        "cases: [{id: x, op: !!binary aGVsbG8=}]",
        "cases:\n  - id: x\n    kernel: 3\n  kernel: 4",
        "defaults: 3\ncases: []",
        "cases: {id: x}",
        "---\ncases: []\n---\ncases: []",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: [100000, 100000], kernel: 3}",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: [9, 9], kernel: 3, product: {stride: 3}}",
        "cases:\n  - {id: '{stride.x}', op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, product: {stride: [1]}}",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, frameworks: [caffe]}",
        "cases:\n  - {id: '{nope}', op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, product: {stride: [1]}}",
    ]),
)


@st.composite
def valid_transpose_spec(draw) -> dict:
    """A conv_transpose spec with an output_shape drawn from its documented valid range."""
    from harness import translate

    word = draw(st.sampled_from(["same", "valid", "same_lower", "full", None]))
    i, k, s, d = (draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    pad = draw(st.integers(0, 2)) if word is None else word
    lo = hi = pad if word is None else 0
    low, high = translate.transpose_length_range(word, i, k, s, d, lo, hi)
    if high < 1:
        low = high = None
    o = draw(st.integers(max(low, 1), high)) if low is not None and high >= max(low, 1) else None
    spec = {"id": "t", "op": "conv_transpose1d", "in_channels": 1, "out_channels": 1, "input_size": i,
            "kernel": k, "stride": s, "dilation": d, "padding": pad}
    if o is not None:
        spec["output_shape"] = o
    return spec
