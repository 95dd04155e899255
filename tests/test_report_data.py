"""harness.report.data: the page's JSON blob, compact and safe inside its <script> element.

The decoders here mirror those of the page's script (harness/templates/report.js); the browser
test checks the script itself against Python's numbers.
"""

from __future__ import annotations

import json
import random

import pytest

from harness.formatting import fmt, page_number
from harness.report import data


def decode(column, codes: str = data.CODES) -> list:
    """A column as the page's script reads it."""
    if isinstance(column, list):
        return column
    if "r" in column:
        return [v for v, n in zip(column["r"][::2], column["r"][1::2]) for _ in range(n)]
    if "n" in column:
        return [_number(column, codes.index(a) * len(codes) ** 2 + codes.index(b) * len(codes) + codes.index(c))
                for a, b, c in zip(column["n"][::3], column["n"][1::3], column["n"][2::3])]
    return [column["d"][codes.index(c)] for c in column["c"]]


def _number(column, code: int):
    if code == 0:
        return None
    if code < data.NUMBER_FLOATS:
        return code - 1
    if code < data.NUMBER_EXCEPTIONS:
        k = code - data.NUMBER_FLOATS
        neg, k = k % 2, k // 2
        m, e = k % 900 + 100, k // 900 + data.NUMBER_EXP_MIN
        v = m / 10 ** -e if e < 0 else float(m * 10 ** e)
        return -v if neg else v
    return column["x"][code - data.NUMBER_EXCEPTIONS]


@pytest.mark.parametrize("values", [
    [], ["a"], [3, 3, 3, 3, 3, 1, 1, 2], list(range(200)), [0, 1, 2, 3, 4, 5] * 40, [None, None, 5, None],
    ["x", "", "x", "y"] * 30,
])
def test_every_column_encoding_decodes_to_the_values(values):
    encoded = data.encode_column(values)
    assert decode(json.loads(json.dumps(encoded))) == values
    assert len(data._json(encoded)) <= len(data._json(values))


def test_numbers_decode_to_what_fmt_shows():
    rng = random.Random(7)
    raw = [None, 0, 0.0, 1.0, 7, 123456, 10**7, 2**40, float("inf"), float("-inf"), 1234.5, -0.5, 1.26e-44, 5e-324,
           *(rng.choice([-1, 1]) * 10 ** rng.uniform(-60, 15) for _ in range(3000)),
           *(float(rng.randint(0, 10**6)) for _ in range(300))]
    sent = [page_number(v) for v in raw]
    encoded = data.number_codes(sent)
    assert encoded is not None and len(encoded["n"]) == 3 * len(sent)
    back = decode(json.loads(json.dumps(encoded)))
    assert [fmt(v) for v in back] == [fmt(v) for v in raw]
    usual = [page_number(10 ** rng.uniform(-40, 2.9)) for _ in range(1000)] + list(range(1000))
    assert data.number_codes(usual)["x"] == []  # ratios, errors and counts need no exceptions


def test_script_json_cannot_close_its_script_element():
    nasty = {"id": "</script><script>alert(1)</script>", "desc": "a\u2028b\u2029c <!-- & -->",
             "ok": ["é", "∞", 1.5]}
    text = str(data.script_json(nasty))
    for char in "<>&\u2028\u2029":
        assert char not in text
    assert "</script" not in text.lower() and "<!--" not in text
    assert json.loads(text) == nasty
    with pytest.raises(ValueError):
        data.script_json({"x": float("nan")})  # never JSON that JSON.parse would refuse


def test_strings_are_interned_once():
    strings = data.Strings()
    assert [strings(s) for s in ("", "call", "other", "call")] == [0, 1, 2, 1]
    assert strings.strings == ["", "call", "other"]
