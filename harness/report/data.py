"""The page's data: every row and case as one compact JSON blob for the page's JavaScript.

The blob is columnar: one array per field. Every string goes through one table (`strings`) and
is sent as its index, so a call, a message or a description repeated over hundreds of rows is
sent once; a column whose values come in runs (the case, the framework, the dtype of sorted
rows) is run-length encoded as {"r": [value, count, value, count, ...]}. Numbers are sent as
exactly what the tables show (`formatting.page_number`: three significant digits).

The JSON sits in a <script type="application/json"> element: `script_json` escapes `<`, `>`,
`&`, U+2028 and U+2029 so that no string from a case file can close that element.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup

from harness.formatting import page_number, status_style
from harness.report.rows import EMULATED, ResultRow
from harness.report.views import CaseView, Cell
from harness.status import STATUSES

NUMBER_FIELDS = ("bound_ratio", "error_ratio", "max_abs_error", "max_rel_error", "max_ulps", "worst_actual",
                 "worst_expected", "worst_bound", "reduction_length", "tolerance", "seconds")
# one character per code: printable ASCII that JSON and the escaping below leave as one byte
CODES = "".join(c for c in map(chr, range(35, 127)) if c not in "\\<>&")
# the number codes (see number_codes): integers 0..NUMBER_INTS-1, then ±m·10^e, then exceptions
NUMBER_INTS = 200_000
NUMBER_EXP_MIN, NUMBER_EXP_MAX = -50, 10
NUMBER_FLOATS = 1 + NUMBER_INTS
NUMBER_EXCEPTIONS = NUMBER_FLOATS + (NUMBER_EXP_MAX - NUMBER_EXP_MIN + 1) * 900 * 2
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class Strings:
    """Interned strings: each distinct string gets an index into one list ('' is 0)."""

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self._index: dict[str, int] = {"": 0}

    def __call__(self, s: str) -> int:
        i = self._index.get(s)
        if i is None:
            i = self._index[s] = len(self.strings)
            self.strings.append(s)
        return i


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _runs(values: Sequence) -> dict:
    runs: list = []
    for v in values:
        if runs and runs[-2] == v:
            runs[-1] += 1
        else:
            runs += [v, 1]
    return {"r": runs}


def _coded(values: Sequence) -> dict | None:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > len(CODES):
        return None
    code = {v: CODES[i] for i, v in enumerate(distinct)}
    return {"d": distinct, "c": "".join(code[v] for v in values)}


def _number_code(v, exceptions: list) -> int:
    """A page number (formatting.page_number) as one integer code; see `number_codes`."""
    if v is None:
        return 0
    if isinstance(v, int) and 0 <= v < NUMBER_INTS:
        return 1 + v
    if isinstance(v, float):
        digits = Decimal(repr(v)).normalize().as_tuple()
        if len(digits.digits) <= 3:
            m = int("".join(map(str, digits.digits)).ljust(3, "0"))
            e = digits.exponent - (3 - len(digits.digits))
            if 100 <= m <= 999 and NUMBER_EXP_MIN <= e <= NUMBER_EXP_MAX:
                return NUMBER_FLOATS + ((e - NUMBER_EXP_MIN) * 900 + m - 100) * 2 + digits.sign
    exceptions.append(v)
    return NUMBER_EXCEPTIONS + len(exceptions) - 1


def number_codes(values: Sequence) -> dict | None:
    """Page numbers as three characters each, {"n": "codes", "x": [exceptions]}: code c is None
    (0), the integer c - 1 (below NUMBER_FLOATS), sign, mantissa m (100..999) and exponent e of
    ±m·10^e (below NUMBER_EXCEPTIONS), else x[c - NUMBER_EXCEPTIONS]; c in base len(CODES)."""
    exceptions: list = []
    base = len(CODES)
    chars = []
    for v in values:
        if isinstance(v, bool) or not (v is None or isinstance(v, (int, float, str))):
            return None
        c = _number_code(v, exceptions)
        chars.append(CODES[c // (base * base)] + CODES[c // base % base] + CODES[c % base])
    if NUMBER_EXCEPTIONS + len(exceptions) >= base ** 3:
        return None
    return {"n": "".join(chars), "x": exceptions}


def encode_column(values: Sequence, numbers: bool = False) -> list | dict:
    """The shortest of: the values as a list; run-length encoded, {"r": [v, n, v, n, ...]}; or, with
    few distinct values, one character per value, {"d": [distinct values], "c": "codes"}, where
    value i is d[CODES.index(c[i])]; and for `numbers`, `number_codes`."""
    candidates = [list(values), _runs(values), _coded(values), number_codes(values) if numbers else None]
    return min((c for c in candidates if c is not None), key=lambda c: len(_json(c)))


def _row_style(r: ResultRow) -> str:
    """The CSS colours of a row's bound-ratio cell (only rows that ran are coloured)."""
    if not r.status.ran:
        return ""
    bg, fg = status_style(r.status, r.norm)
    return f"background:{bg};color:{fg}"


def rows_data(rows: Sequence[ResultRow], case_of_row: Sequence[int], strings: Strings) -> dict:
    """The rows as columns (in page order); `case` is the index of the row's case."""
    status_index = {s: i for i, s in enumerate(STATUSES)}
    text = {
        "run": [r.run for r in rows], "framework": [r.framework for r in rows], "version": [r.version for r in rows],
        "dtype": [r.dtype for r in rows], "quantity": [r.quantity for r in rows],
        "expression": [r.expression for r in rows], "reason": [r.reason for r in rows],
        "xfail": [r.xfail for r in rows],
        "style": [_row_style(r) for r in rows], "message": [r.message for r in rows],
        "worst_index": [r.worst_index_text for r in rows], "shape": [r.shape_text for r in rows],
        "traceback": [r.traceback for r in rows],
    }
    columns: dict[str, list | dict] = {name: encode_column([strings(v) for v in values])
                                       for name, values in text.items()}
    columns["case"] = encode_column(list(case_of_row))
    columns["status"] = encode_column([status_index[r.status] for r in rows])
    for name in NUMBER_FIELDS:
        columns[name] = encode_column([page_number(getattr(r, name)) for r in rows], numbers=True)
    return columns


def _badge_data(label: str, cell: Cell, row_index: dict[int, int], strings: Strings) -> list:
    """[label, text, style, xfail, status, worst row]: the page builds the tooltip from the rows."""
    return [strings(label), strings(cell.text), strings(f"background:{cell.bg};color:{cell.fg}"), int(cell.xfail),
            STATUSES.index(cell.status), row_index[id(cell.worst)]]


def cases_data(cases: Sequence[CaseView], starts: Sequence[int], row_index: dict[int, int], strings: Strings) -> dict:
    """The cases as columns; a case's rows are rows[start[i]:start[i + 1]]."""
    return {
        "id": [strings(c.case_id) for c in cases], "file": [strings(c.file) for c in cases],
        "line": [c.line for c in cases], "op": [strings(c.op) for c in cases],
        "anchor": [strings(c.anchor) for c in cases], "description": [strings(c.description) for c in cases],
        "failing": [int(c.failing) for c in cases],
        "refs": [[[strings(ref), int(link)] for ref, link in c.refs] for c in cases],
        "params": [[[strings(k), strings(v)] for k, v in c.params] for c in cases],
        "how": [[[strings(h.run), strings(h.framework), strings(h.version), strings(h.path), strings(h.device),
                  strings(h.dtypes), strings(h.expression), strings(h.call), strings(h.reason), strings(h.xfail)]
                 for h in c.how] for c in cases],
        "badges": [[_badge_data(label, cell, row_index, strings) for label, cell in c.badges] for c in cases],
        "start": list(starts),
    }


def statuses_data() -> list[dict]:
    """What the page's script knows of each status (it holds no status words of its own)."""
    return [{"name": s.value, "failing": s.failing, "ran": s.ran, "severity": s.severity} for s in STATUSES]


def page_rows(cases: Sequence[CaseView]) -> list[ResultRow]:
    """The rows in page order: those of case i follow those of case i - 1."""
    return [r for case in cases for r in case.rows]


def page_data(cases: Sequence[CaseView], multi_run: bool) -> dict:
    """The blob: statuses, strings, cases and rows (in `page_rows` order)."""
    strings = Strings()
    rows = page_rows(cases)
    row_index = {id(r): i for i, r in enumerate(rows)}
    case_of_row = [i for i, case in enumerate(cases) for _ in case.rows]
    starts = [0]
    for case in cases:
        starts.append(starts[-1] + len(case.rows))
    data = {"multiRun": multi_run, "statuses": statuses_data(), "codes": CODES, "emulated": EMULATED,
            "numbers": {"floats": NUMBER_FLOATS, "exceptions": NUMBER_EXCEPTIONS, "expMin": NUMBER_EXP_MIN}}
    data["cases"] = cases_data(cases, starts, row_index, strings)
    data["rows"] = rows_data(rows, case_of_row, strings)
    data["strings"] = strings.strings
    return data


def script_json(data: object) -> Markup:
    """JSON that is safe inside <script type="application/json">: no '<', '>', '&', U+2028/9 left."""
    text = _json(data)
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)
