"""View models of the report: what each part of the page shows, computed from ResultRows.

The summary (cards, counts by framework × status), the case × framework matrix and its cells,
per-case details (parameters, how each framework expressed the case, badges), the failures and
the environment of each run. Templates and the page's data only lay these out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from harness.formatting import (
    COUNT_COLORS,
    INF_SORT,
    STATUS_SHORT,
    dtype_rank,
    fmt,
    framework_rank,
    quantity_rank,
    ratio_color,
    sort_key,
    status_style,
)
from harness.report.rows import ResultRow
from harness.status import STATUSES, Status

LOADER = "loader"
DUAL_CALL = "dual of "  # identity rows carry the call of the dual op, prefixed so


def group_by(rows: Iterable[ResultRow], key: Callable[[ResultRow], tuple]) -> dict[tuple, list[ResultRow]]:
    groups: dict[tuple, list[ResultRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return groups


def row_order(r: ResultRow) -> tuple:
    """Within a case: framework (registry order), run, dtype, quantity."""
    return (framework_rank(r.framework), r.run, dtype_rank(r.dtype), quantity_rank(r.quantity))


def cases_in_order(rows: Iterable[ResultRow]) -> list[list[ResultRow]]:
    """The rows of each case (loader rows excluded), cases by file, line and id, rows by `row_order`."""
    by_case = group_by((r for r in rows if r.framework != LOADER), lambda r: r.case_key)
    ordered = sorted(by_case.items(), key=lambda kv: (kv[0][0], kv[1][0].line or 0, kv[0][1]))
    return [sorted(rs, key=row_order) for _key, rs in ordered]


# ---------------------------------------------------------------------------------------------
# a cell: the worst row of a group (a case in one framework and dtype, or in one framework)


@dataclass(frozen=True)
class Cell:
    status: Status
    text: str
    bg: str
    fg: str
    sort: str  # data-sort: severity for statuses without a ratio, else the ratio ÷ tolerance
    xfail: bool
    emulated: bool
    failing: bool  # failing and not expected to
    worst: ResultRow | None  # the row that decides (the page's tooltip starts from it)


def _cell_status(rows: Sequence[ResultRow]) -> tuple[Status, ResultRow]:
    """The status a group shows and the row that decides it: the worst failing row (highest
    severity, then ratio), else the most telling other status (pass, unsupported, skipped)."""
    failing = [r for r in rows if r.failing]
    if failing:
        worst = max(failing, key=lambda r: (r.status.severity, r.norm if r.norm is not None else -1.0))
        return worst.status, worst
    status = max((r.status for r in rows), key=lambda s: s.severity)
    if status.ran:
        return status, max(rows, key=lambda r: r.norm if r.norm is not None else -1.0)
    return status, next(r for r in rows if r.status == status)


def _cell_sort(status: Status, norm: float | None) -> float:
    if status.ran:
        return norm if norm is not None else (INF_SORT if status.failing else 0.0)
    # no ratio: failing statuses sort above every ratio (by severity), the others below zero
    return 10.0 ** (299 + status.severity) if status.failing else status.severity - 2.0


def cell_of(rows: Sequence[ResultRow]) -> Cell:
    """The matrix cell (or case badge) of a group of rows: its worst row decides."""
    status, worst = _cell_status(rows)
    norms = [r.norm for r in rows if r.norm is not None]
    norm = max(norms) if norms else None
    ratios = [r.bound_ratio for r in rows if r.bound_ratio is not None]
    ratio = max(ratios) if ratios else None
    xfail = next((r.xfail for r in rows if r.xfail), "")
    bg, fg = status_style(status, norm)
    if status.ran:
        shown = fmt(ratio, 2) if ratio is not None else status.value
    else:
        shown = STATUS_SHORT.get(status, status.value)
    return Cell(status=status, text=shown, bg=bg, fg=fg, sort=sort_key(_cell_sort(status, norm)), xfail=bool(xfail),
                emulated=any(r.emulated for r in rows), failing=status.failing and not xfail, worst=worst)


# ---------------------------------------------------------------------------------------------
# the matrix


@dataclass(frozen=True)
class Column:
    key: tuple[str, str, str]  # (run, framework, dtype)
    run: str  # the run label where several runs are shown, else ''
    framework: str
    dtype: str
    version: str
    first: bool  # the first column of its (run, framework) group
    group: int  # alternating shade of the group


@dataclass
class MatrixRow:
    case_id: str
    file: str
    line: int | None
    op: str
    anchor: str
    cells: list[Cell | None]
    n_fail: int
    text: str  # what the filter box searches


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[MatrixRow]
    palette: dict[tuple[str, str], str]  # (background, text colour) of the cells → a CSS class

    def css(self) -> str:
        """The palette's CSS rules (a class per colour pair: shorter than a style on every cell)."""
        return "\n".join(f"table.matrix td.{name} {{ background: {bg}; color: {fg}; }}"
                         for (bg, fg), name in self.palette.items())


def matrix_columns(rows: Iterable[ResultRow], multi_run: bool) -> list[Column]:
    versions: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        versions[(r.run, r.framework, r.dtype)].update([r.version] if r.version else [])
    keys = sorted(versions, key=lambda k: (framework_rank(k[1]), k[0] if multi_run else "", dtype_rank(k[2])))
    cols, group, last = [], 0, None
    for run, fw, dt in keys:
        first = (run, fw) != last
        if first:
            group, last = group + 1, (run, fw)
        cols.append(Column(key=(run, fw, dt), run=run if multi_run else "", framework=fw, dtype=dt,
                           version=", ".join(sorted(versions[(run, fw, dt)])), first=first, group=group % 2))
    return cols


def _matrix_row(case: list[ResultRow], columns: list[Column]) -> MatrixRow:
    by_column = group_by(case, lambda r: (r.run, r.framework, r.dtype))
    cells, tokens = [], []
    for col in columns:
        found = by_column.get(col.key)
        cell = cell_of(found) if found else None
        cells.append(cell)
        if cell is None:
            continue
        tokens.append(f"{col.framework}:{cell.status}")
        tokens += ["failing"] if cell.failing else []
        tokens += ["xfail"] if cell.xfail else []
        tokens += [f"{col.framework}:emulated"] if cell.emulated else []
    first = case[0]
    return MatrixRow(case_id=first.case_id, file=first.file, line=first.line, op=first.op, anchor=first.anchor,
                     cells=cells, n_fail=sum(1 for c in cells if c is not None and c.failing),
                     text=" ".join([first.case_id, first.file, first.op, first.description, *tokens]))


def matrix_view(cases: list[list[ResultRow]], multi_run: bool) -> Matrix:
    """Cases × (run, framework, dtype): each cell the worst row of that case there."""
    columns = matrix_columns((r for case in cases for r in case), multi_run)
    rows = [_matrix_row(case, columns) for case in cases]
    colours = dict.fromkeys((c.bg, c.fg) for row in rows for c in row.cells if c is not None)
    return Matrix(columns=columns, rows=rows, palette={pair: f"k{i}" for i, pair in enumerate(colours)})


# ---------------------------------------------------------------------------------------------
# the summary


@dataclass
class CountsRow:
    run: str
    framework: str
    version: str
    counts: list[tuple[Status, int, str | None, bool]]  # status, rows, text colour (None: zero), bold
    rows: int
    cases: int
    fail_cases: int
    worst: Cell
    seconds: float


@dataclass
class Counts:
    statuses: list[Status]
    rows: list[CountsRow]


def _item_seconds(rows: Iterable[ResultRow]) -> float:
    """`seconds` is the time of the whole item, repeated on each of its rows: summed once per item."""
    per_item: dict[tuple, float] = {}
    for r in rows:
        if r.seconds is not None:
            key = (r.file, r.case_id, r.dtype)
            per_item[key] = max(per_item.get(key, 0.0), r.seconds)
    return sum(per_item.values())


def _counts_row(run: str, framework: str, rows: list[ResultRow], present: list[Status]) -> CountsRow:
    n = {s: 0 for s in present}
    for r in rows:
        n[r.status] += 1
    norms = [r.norm for r in rows if r.norm is not None]
    worst = max(norms) if norms else None
    bg, fg = ratio_color(worst)
    worst_cell = Cell(status=Status.PASS, text=fmt(worst, 2), bg=bg, fg=fg, sort=sort_key(worst), xfail=False,
                      emulated=False, failing=False, worst=None)
    counts = [(s, n[s], COUNT_COLORS[s][0] if n[s] else None, COUNT_COLORS[s][1]) for s in present]
    return CountsRow(run=run, framework=framework, version=", ".join(sorted({r.version for r in rows if r.version})),
                     counts=counts, rows=len(rows), cases=len({r.case_key for r in rows}),
                     fail_cases=len({r.case_key for r in rows if r.unexpected_failure}), worst=worst_cell,
                     seconds=_item_seconds(rows))


def counts_view(rows: list[ResultRow], multi_run: bool) -> Counts:
    """Rows by (run,) framework × status, with versions, failing cases, the worst ratio, seconds."""
    present = [s for s in STATUSES if any(r.status == s for r in rows)]
    groups = group_by(rows, lambda r: (r.run if multi_run else "", r.framework))
    ordered = sorted(groups.items(), key=lambda kv: (framework_rank(kv[0][1]), kv[0][0]))
    return Counts(statuses=present, rows=[_counts_row(run, fw, rs, present) for (run, fw), rs in ordered])


@dataclass
class Summary:
    cases: int
    rows: int
    passed: int
    failing: int  # unexpected failures
    xfail: int
    unsupported: int
    skipped: int
    invalid: int  # invalid case definitions (loader rows)
    frameworks: int
    disagree: list[tuple[str, int]]  # framework, cases with an unexpected failure


def summary_view(case_rows: list[ResultRow], loader_rows: list[ResultRow]) -> Summary:
    totals = {s: 0 for s in STATUSES}
    for r in case_rows:
        totals[r.status] += 1
    failing = [r for r in case_rows if r.failing]
    unexpected = [r for r in failing if not r.xfail]
    by_framework = group_by(unexpected, lambda r: (r.framework,))
    fail_cases = {fw: len({r.case_key for r in rs}) for (fw,), rs in by_framework.items()}
    return Summary(cases=len({r.case_key for r in case_rows}), rows=len(case_rows), passed=totals[Status.PASS],
                   failing=len(unexpected), xfail=len(failing) - len(unexpected),
                   unsupported=totals[Status.UNSUPPORTED], skipped=totals[Status.SKIPPED], invalid=len(loader_rows),
                   frameworks=len({r.framework for r in case_rows}),
                   disagree=[(fw, fail_cases[fw]) for fw in sorted(fail_cases, key=framework_rank)])


def failures_view(case_rows: list[ResultRow]) -> list[ResultRow]:
    """Failing rows, worst first (severity, then ratio ÷ tolerance); expected failures last."""
    return sorted((r for r in case_rows if r.failing),
                  key=lambda r: (bool(r.xfail), -r.status.severity, -(r.norm if r.norm is not None else 0.0)))


# ---------------------------------------------------------------------------------------------
# a case's details


@dataclass(frozen=True)
class How:
    """How one framework expressed a case (per run, call, expression and version)."""

    run: str
    framework: str
    version: str
    path: str
    device: str
    dtypes: str
    expression: str
    call: str
    reason: str
    xfail: str


@dataclass
class CaseView:
    case_id: str
    file: str
    line: int | None
    op: str
    anchor: str
    description: str
    refs: list[tuple[str, bool]]  # each reference, and whether it may be a link
    params: list[tuple[str, str]]
    how: list[How]
    badges: list[tuple[str, Cell]]  # per (run,) framework: its label and its cell over every dtype
    failing: bool
    text: str  # what the filter box searches
    rows: list[ResultRow] = field(repr=False, default_factory=list)


def params_view(stored: str) -> list[tuple[str, str]]:
    """The case's parameters (stored as a JSON object) as (name, value) pairs; None values left out."""
    try:
        params = json.loads(stored) if stored else {}
    except ValueError:
        return [("params", stored)]
    if not isinstance(params, dict):
        return [("params", stored)]
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in params.items() if v is not None]


def refs_view(refs: str) -> list[tuple[str, bool]]:
    """Each reference, and whether it may be a link (only http(s) URLs; never javascript: etc.)."""
    return [(ref, ref.lower().startswith(("https://", "http://"))) for ref in refs.split()]


def _how_of(r: ResultRow, rows: list[ResultRow]) -> How:
    dtypes = sorted({x.dtype for x in rows if x.run == r.run and x.framework == r.framework and x.call == r.call},
                    key=dtype_rank)
    not_run = not r.status.ran and not r.status.failing  # unsupported or skipped: the message says why
    return How(run=r.run, framework=r.framework, version=r.version, path=r.path, device=r.device,
               dtypes=", ".join(dtypes),
               expression=r.expression or (r.status.value if r.status == Status.UNSUPPORTED else ""),
               call=r.call, reason=r.reason or (r.message if not_run else ""), xfail=r.xfail)


def how_view(rows: list[ResultRow]) -> list[How]:
    """One entry per distinct way a framework ran the case; the dual calls of the identity rows
    only where they fail."""
    how, seen = [], set()
    for r in rows:
        key = (r.run, r.framework, r.call, r.expression, r.reason, r.version, r.device)
        if key in seen or (r.call.startswith(DUAL_CALL) and not r.failing):
            continue
        seen.add(key)
        how.append(_how_of(r, rows))
    return how


def case_view(rows: list[ResultRow], multi_run: bool) -> CaseView:
    """A case's details from its rows (already in `row_order`)."""
    first = rows[0]
    badges = [(fw + (f" [{run}]" if multi_run else ""), cell_of(grp))
              for (run, fw), grp in group_by(rows, lambda r: (r.run, r.framework)).items()]
    failing = any(r.unexpected_failure for r in rows)
    text = " ".join([first.case_id, first.file, first.op, first.description,
                     *(f"{label}:{cell.status}" for label, cell in badges), "failing" if failing else ""])
    return CaseView(case_id=first.case_id, file=first.file, line=first.line, op=first.op, anchor=first.anchor,
                    description=first.description, refs=refs_view(first.refs), params=params_view(first.params),
                    how=how_view(rows), badges=badges, failing=failing, text=text, rows=rows)


# ---------------------------------------------------------------------------------------------
# the environment


@dataclass
class EnvSection:
    title: str
    rows: list[tuple[str, list[str], bool]]  # key, value per run, whether the runs differ


@dataclass
class Environment:
    labels: list[str]
    sections: list[EnvSection]


PLATFORM_KEYS = ("results file", "python", "platform", "machine", "harness")
VERSION_PREFIX = "version."


def environment_view(envs: list[dict], labels: list[str]) -> Environment:
    """Keys as rows, runs as columns; sections: platform, versions, flags; differing values marked."""
    envs = [{k: "" if v is None else str(v) for k, v in env.items()} for env in envs]
    keys = sorted({k for env in envs for k in env})
    platform_keys = [k for k in PLATFORM_KEYS if k in keys]
    version_keys = [k for k in keys if k.startswith(VERSION_PREFIX)]
    flag_keys = [k for k in keys if k not in platform_keys and k not in version_keys]
    sections = []
    for title, ks, strip in (("Platform", platform_keys, ""), ("Library versions", version_keys, VERSION_PREFIX),
                             ("Framework settings and flags", flag_keys, "")):
        rows = []
        for k in ks:
            values = [env.get(k, "") for env in envs]
            rows.append((k[len(strip):] if strip else k, values, len(envs) > 1 and len(set(values)) > 1))
        if rows:
            sections.append(EnvSection(title=title, rows=rows))
    return Environment(labels=labels, sections=sections)
