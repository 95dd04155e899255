"""The precision profile section: per framework × dtype, the accumulation precision that the float16
and bfloat16 rows' errors show (`harness.profile`), the contract they were judged by and the rows
outside it; the per op × quantity detail; and the error ratio against K per framework
(`plots.precision_plot`).

Only rows with a measured effective precision enter the tables: an older results file has no
`effective_bits` (the merged frame holds the column empty), and then the section says so in one
line and shows the plot alone, which needs only the error ratios and K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from markupsafe import Markup

from harness import profile as prof
from harness.formatting import dtype_rank, framework_rank, quantity_rank
from harness.precision import LOW_PRECISION
from harness.report import plots
from harness.report.rows import ResultRow

NO_MEASUREMENT = ("No float16 or bfloat16 row of these results carries a measured precision (effective_bits): "
                  "they were written before the precision profile, or none of them was compared.")


@dataclass(frozen=True)
class ProfileRow:
    """One framework × dtype (× run): its worst effective precision and its rows outside the contract."""

    run: str
    framework: str
    dtype: str
    bits: float  # the lowest effective bits over op × quantity (inf: no accumulation error seen)
    behaves_like: str
    worst_at: str  # the op and quantity of that lowest precision
    contract: str  # the accumulation judged against: 'float32', or 'float32; db: bfloat16'
    rows: int
    failures: int  # rows outside the contract
    expected: int  # of which known deviations or otherwise expected (xfail)
    unexpected: int
    failing: str  # which op × quantity fail, with their effective bits
    css: str  # '' | 'warn' (failures, all expected) | 'bad' (unexpected ones)


@dataclass(frozen=True)
class ProfileDetail:
    """One op × quantity of a framework × dtype (× run): a row of `harness.profile.profile`."""

    run: str
    framework: str
    dtype: str
    op: str
    quantity: str
    rows: int
    k_min: int
    k_max: int
    error_ratio_max: float
    slope: float  # of log(error ratio) on log K: ~0 for a 16-bit accumulator, ~-0.5 for float32
    bits: float
    behaves_like: str
    contract: str
    failures: int
    deviation_observed: int
    unexpected: int
    css: str


@dataclass
class PrecisionProfile:
    rows: list[ProfileRow]
    details: list[ProfileDetail]
    plots: list[tuple[str, Markup]]  # (dtype, the plot of its error ratio against K)
    note: str  # why the tables are empty ('' when they are not)


def _tables(df: pd.DataFrame, multi_run: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The profile (per op × quantity) and its fold (per framework × dtype), each with a `run` column."""
    parts = df.groupby("run", sort=False) if multi_run and "run" in df else [("", df)]
    details, folded = [], []
    for run, part in parts:
        table = prof.profile(part)
        if not table.empty:
            details.append(table.assign(run=run))
            folded.append(prof.by_framework(table).assign(run=run))
    if not details:
        return pd.DataFrame(columns=[*prof.COLUMNS, "run"]), pd.DataFrame()
    return pd.concat(details, ignore_index=True), pd.concat(folded, ignore_index=True)


def _css(failures: int, unexpected: int) -> str:
    return "bad" if unexpected else ("warn" if failures else "")


def contract_text(detail: pd.DataFrame) -> str:
    """The accumulation most op × quantity were judged by, then the quantities judged by another:
    'float32; db: bfloat16'."""
    contracts = detail["contract"].fillna("").replace("", "unknown")
    main = contracts.value_counts().index[0]
    others = {}
    for quantity, values in contracts[contracts != main].groupby(detail["quantity"]):
        others[quantity] = ", ".join(sorted(set(values)))
    return "; ".join([main, *(f"{q}: {c}" for q, c in sorted(others.items(), key=lambda kv: quantity_rank(kv[0])))])


def _profile_row(r, detail: pd.DataFrame) -> ProfileRow:
    """A row of `by_framework` with what its op × quantity detail adds (the worst place, the contract)."""
    worst = detail.loc[detail["effective_bits"].idxmin()]
    return ProfileRow(run=r.run, framework=r.framework, dtype=r.dtype, bits=float(r.effective_bits),
                      behaves_like=r.behaves_like, worst_at=f"{worst['op']} {worst['quantity']}",
                      contract=contract_text(detail), rows=int(detail["rows"].sum()),
                      failures=int(r.contract_failures), expected=int(r.contract_failures - r.unexpected),
                      unexpected=int(r.unexpected), failing=r.failing, css=_css(r.contract_failures, r.unexpected))


def _detail(r) -> ProfileDetail:
    return ProfileDetail(run=r.run, framework=r.framework, dtype=r.dtype, op=r.op, quantity=r.quantity,
                         rows=int(r.rows), k_min=int(r.k_min), k_max=int(r.k_max),
                         error_ratio_max=float(r.error_ratio_max), slope=float(r.slope),
                         bits=float(r.effective_bits), behaves_like=r.behaves_like, contract=r.contract,
                         failures=int(r.contract_failures), deviation_observed=int(r.deviation_observed),
                         unexpected=int(r.unexpected), css=_css(r.contract_failures, r.unexpected))


def profile_rows(details: pd.DataFrame, folded: pd.DataFrame) -> tuple[list[ProfileRow], list[ProfileDetail]]:
    """The section's two tables, frameworks in registry order, then run, dtype (op, quantity)."""
    groups = {key: g for key, g in details.groupby(["run", "framework", "dtype"], sort=False)}
    rows = [_profile_row(r, groups[(r.run, r.framework, r.dtype)]) for r in folded.itertuples()]
    rows.sort(key=lambda p: (framework_rank(p.framework), p.run, dtype_rank(p.dtype)))
    out = [_detail(r) for r in details.itertuples()]
    out.sort(key=lambda d: (framework_rank(d.framework), d.run, dtype_rank(d.dtype), d.op, quantity_rank(d.quantity)))
    return rows, out


def bits_text(bits: float) -> str:
    """Effective bits as a panel's subtitle says them ('∞': the final rounding explains every error)."""
    return "∞ bits" if math.isinf(bits) else f"~{bits:.1f} bits"


def _plots(case_rows: Sequence[ResultRow], rows: list[ProfileRow], multi_run: bool) -> list[tuple[str, Markup]]:
    """One plot per 16-bit dtype the rows hold, each framework's panel titled with its profile."""
    out = []
    for dtype in LOW_PRECISION:
        if any(r.dtype == dtype for r in case_rows):
            subtitles = {(p.run, p.framework): f"{bits_text(p.bits)}, like {p.behaves_like}"
                         for p in rows if p.dtype == dtype}
            out.append((dtype, plots.precision_plot(case_rows, dtype, subtitles, multi_run)))
    return out


def precision_view(merged: pd.DataFrame, case_rows: Sequence[ResultRow], multi_run: bool) -> PrecisionProfile | None:
    """The section, or None where no case row is float16 or bfloat16 (then the page leaves it out)."""
    if not any(r.dtype in LOW_PRECISION for r in case_rows):
        return None
    details, folded = _tables(merged, multi_run)
    rows, detail_rows = profile_rows(details, folded) if not folded.empty else ([], [])
    return PrecisionProfile(rows=rows, details=detail_rows, plots=_plots(case_rows, rows, multi_run),
                            note="" if rows else NO_MEASUREMENT)
