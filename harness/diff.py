"""`harness diff OLD NEW`: what changed between two results files; exit 1 on a regression.

Rows are matched on (case_id, file, dtype, framework, quantity). Categories:

- **new failures**: the status moved from pass / unsupported / skipped to a failing status
  (mismatch, shape_mismatch, error, crash), or the bound ratio crossed the tolerance
  (old <= tolerance < new). A new failure of a row the case marks xfail is listed but is not a
  regression.
- **ratio growth**: the bound ratio grew by more than `factor` (default 2) *and* the new bound
  ratio is above `min_ratio` (default 0.01, i.e. 1% of the error bound). Growth of tiny ratios
  (say 1e-5 → 1e-4, or 0 → 0.001: a different but still near-exact summation order) is ignored,
  because it says nothing about correctness. Neither is the growth of a row that fails in both
  runs and is an expected failure (xfail) in the new one: a known bug's error size is not a trend.
  A row whose bound itself changed (its precision `contract` differs, or a float16/bfloat16 row
  written before the contract existed) is listed as **bound changed** instead: its ratios are not
  comparable.
- **fixed**: a failing status became `pass`.
- **added** / **removed**: rows present in only one file (new cases, dropped frameworks, ...).
- **status changes**: every row whose status changed (a superset of new failures and fixed).
- **version changes**: differing environment entries (library versions, flags such as TF32)
  and differing framework versions in the results' `version` column.

`Changes.regressed` is true when there is a new failure (not xfail) or a ratio growth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import results
from harness.formatting import fmt, text
from harness.status import FAILING, NOT_FAILING, Status

KEY = list(results.KEY)  # case_id, file, dtype, framework, quantity
MIN_RATIO = 0.01
DETAIL = ["status", "bound_ratio", "error_ratio", "tolerance", "message", "xfail", "version", "line", "contract"]


@dataclass
class Changes:
    """What changed from an old results file to a new one; each category a DataFrame.

    Row frames have the key columns and `old_*` / `new_*` columns (status, bound_ratio, ...);
    `added` / `removed` have the columns of the rows themselves; `versions` has
    `source`, `name`, `old`, `new`.
    """

    new_failures: pd.DataFrame
    grown: pd.DataFrame
    fixed: pd.DataFrame
    added: pd.DataFrame
    removed: pd.DataFrame
    status_changes: pd.DataFrame
    versions: pd.DataFrame
    rebounded: pd.DataFrame = field(default_factory=pd.DataFrame)  # the bound changed: ratios not comparable
    factor: float = 2.0
    min_ratio: float = MIN_RATIO
    old_label: str = "old"
    new_label: str = "new"
    matched: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def expected_failures(self) -> pd.DataFrame:
        """New failures of rows marked xfail (reported, not a regression)."""
        return self.new_failures[self.new_failures["new_xfail"].fillna("") != ""]

    @property
    def regressions(self) -> pd.DataFrame:
        return self.new_failures[self.new_failures["new_xfail"].fillna("") == ""]

    @property
    def regressed(self) -> bool:
        return len(self.regressions) > 0 or len(self.grown) > 0

    @property
    def empty(self) -> bool:
        return not any(len(getattr(self, n)) for n in ("new_failures", "grown", "fixed", "added", "removed",
                                                        "status_changes", "versions"))

    def counts(self) -> dict[str, int]:
        return {"new failures": len(self.regressions), "expected new failures (xfail)": len(self.expected_failures),
                "ratio growth": len(self.grown), "bound changed": len(self.rebounded), "fixed": len(self.fixed),
                "added": len(self.added),
                "removed": len(self.removed), "status changes": len(self.status_changes),
                "version changes": len(self.versions)}


def _with_occurrence(df: pd.DataFrame) -> pd.DataFrame:
    """Make the key unique (e.g. several loader errors of one file share a key)."""
    df = df.copy()
    for col in KEY:
        if col not in df.columns:
            df[col] = None
        df[col] = df[col].astype("object").where(df[col].notna(), "")
    for col in DETAIL:
        if col not in df.columns:
            df[col] = None
    df["_n"] = df.groupby(KEY, sort=False).cumcount()
    return df


def _tol(series: pd.Series) -> pd.Series:
    t = pd.to_numeric(series, errors="coerce")
    return t.where(t > 0, 1.0).fillna(1.0)


def _version_changes(old_df, old_env, new_df, new_env) -> pd.DataFrame:
    rows = []
    for key in sorted(set(old_env) | set(new_env)):
        if key == "results file":
            continue
        a, b = old_env.get(key), new_env.get(key)
        if a != b:
            name = key[len("version."):] if key.startswith("version.") else key
            rows.append({"source": "environment", "name": name,
                         "old": "" if a is None else str(a), "new": "" if b is None else str(b)})

    def versions(df):
        if df.empty or "version" not in df.columns:
            return {}
        d = df[df["version"].fillna("") != ""]
        return {fw: ", ".join(sorted(set(g["version"].astype(str)))) for fw, g in d.groupby("framework")}

    va, vb = versions(old_df), versions(new_df)
    for fw in sorted(set(va) | set(vb)):
        if va.get(fw, "") != vb.get(fw, ""):
            rows.append({"source": "results", "name": fw, "old": va.get(fw, ""), "new": vb.get(fw, "")})
    return pd.DataFrame(rows, columns=["source", "name", "old", "new"])


def _bound_changed(both: pd.DataFrame) -> pd.Series:
    """Rows judged by another bound in the two runs: another precision contract, or a 16-bit row from
    before the contract (its bound was the worst case, now it is the float32-accumulation contract)."""
    from harness.precision import LOW_PRECISION

    old_c, new_c = (both[f"{s}_contract"].fillna("").astype(str) for s in ("old", "new"))
    before = (old_c == "") & (new_c != "") & both["dtype"].isin(LOW_PRECISION)
    return before | ((old_c != "") & (new_c != "") & (old_c != new_c))


def diff_frames(old_df: pd.DataFrame, old_env: dict, new_df: pd.DataFrame, new_env: dict,
                factor: float = 2.0, min_ratio: float = MIN_RATIO) -> Changes:
    """Compare two results frames (see the module docstring for the categories)."""
    a, b = _with_occurrence(old_df), _with_occurrence(new_df)
    on = [*KEY, "_n"]
    keep = [*on, *DETAIL]
    joined = a[keep].merge(b[keep], on=on, how="outer", suffixes=("_old", "_new"), indicator=True)
    joined = joined.rename(columns={f"{c}_old": f"old_{c}" for c in DETAIL} | {f"{c}_new": f"new_{c}" for c in DETAIL})
    both = joined[joined["_merge"] == "both"].copy()
    for side in ("old", "new"):
        both[f"{side}_status"] = both[f"{side}_status"].fillna("").astype(str)
        both[f"{side}_bound_ratio"] = pd.to_numeric(both[f"{side}_bound_ratio"], errors="coerce").astype("float64")
        both[f"{side}_xfail"] = both[f"{side}_xfail"].fillna("").astype(str)
    old_s, new_s = both["old_status"], both["new_status"]
    old_r, new_r = both["old_bound_ratio"], both["new_bound_ratio"]
    old_fail, new_fail = old_s.isin(FAILING), new_s.isin(FAILING)
    crossed = (old_r <= _tol(both["old_tolerance"])) & (new_r > _tol(both["new_tolerance"]))
    new_failure = (old_s.isin(NOT_FAILING) & new_fail) | (crossed & ~old_fail)
    both["growth"] = new_r / old_r  # inf when old is 0; NaN when either is missing
    expected = old_fail & new_fail & (both["new_xfail"] != "")  # an xfail row's size says nothing
    rebounded = _bound_changed(both)
    grown = (both["growth"] > factor) & (new_r > min_ratio) & ~new_failure & ~expected & ~rebounded
    fixed = old_fail & (new_s == Status.PASS)
    changed = old_s != new_s

    def pick(mask) -> pd.DataFrame:
        cols = [*KEY, *(f"{s}_{c}" for c in DETAIL for s in ("old", "new")), "growth"]
        out = both.loc[mask, cols].reset_index(drop=True)
        return out

    def side(which: str, frame: pd.DataFrame) -> pd.DataFrame:
        keys = joined.loc[joined["_merge"] == which, on]
        return frame.merge(keys, on=on, how="inner").drop(columns="_n").reset_index(drop=True)

    grown_df = pick(grown).sort_values("growth", ascending=False, kind="stable").reset_index(drop=True)
    return Changes(
        new_failures=pick(new_failure), grown=grown_df, fixed=pick(fixed),
        added=side("right_only", b), removed=side("left_only", a), status_changes=pick(changed),
        versions=_version_changes(old_df, old_env, new_df, new_env), rebounded=pick(rebounded & ~new_failure),
        factor=factor, min_ratio=min_ratio,
        matched=int(len(both)),
    )


def diff_files(old_path: str | Path, new_path: str | Path, factor: float = 2.0, min_ratio: float = MIN_RATIO) -> Changes:
    old_df, old_env = results.read_results(old_path)
    new_df, new_env = results.read_results(new_path)
    changes = diff_frames(old_df, old_env, new_df, new_env, factor=factor, min_ratio=min_ratio)
    changes.old_label, changes.new_label = str(old_path), str(new_path)
    return changes


# ---------------------------------------------------------------------------------------------
# console output (rich); the HTML page is harness.diff_page

MAX_CONSOLE_ROWS = 40


def _f(v) -> str:
    """A number as the tables show it; other values as text ('–' when missing)."""
    return fmt(v) if isinstance(v, (int, float)) else (text(v) or fmt(None))


def print_diff(changes: Changes, console) -> None:
    """Rich tables, one per non-empty category, and a one-line verdict."""
    from rich.table import Table
    from rich.text import Text

    def table(title: str, frame: pd.DataFrame, columns: list[tuple[str, callable]], style: str) -> None:
        if frame.empty:
            return
        t = Table(title=Text(f"{title} ({len(frame)})", style=style), title_justify="left")
        for name, _ in columns:
            t.add_column(name, overflow="fold")
        for _, row in frame.head(MAX_CONSOLE_ROWS).iterrows():
            t.add_row(*(Text(get(row)) for _, get in columns))
        console.print(t)
        if len(frame) > MAX_CONSOLE_ROWS:
            console.print(Text(f"… and {len(frame) - MAX_CONSOLE_ROWS} more"))

    where = [("case", lambda r: f"{text(r['file'])}::{text(r['case_id'])}"), ("framework", lambda r: text(r["framework"])),
             ("dtype", lambda r: text(r["dtype"])), ("quantity", lambda r: text(r["quantity"]))]
    transition = [("status", lambda r: f"{text(r['old_status'])} → {text(r['new_status'])}"),
                  ("bound ratio", lambda r: f"{_f(r['old_bound_ratio'])} → {_f(r['new_bound_ratio'])}")]
    table("New failures", changes.new_failures,
          [*where, *transition, ("message", lambda r: text(r["new_message"])[:120]),
           ("xfail", lambda r: text(r["new_xfail"]))], "bold red")
    table(f"Bound ratio grew more than {changes.factor:g}x (now > {changes.min_ratio:g})", changes.grown,
          [*where, *transition, ("growth", lambda r: f"{_f(r['growth'])}x")], "bold red")
    table("Bound changed (another precision contract: ratios not compared)", changes.rebounded,
          [*where, *transition, ("contract", lambda r: text(r["new_contract"]))], "bold yellow")
    table("Fixed", changes.fixed, [*where, *transition], "bold green")
    other = changes.status_changes.merge(pd.concat([changes.new_failures[KEY], changes.fixed[KEY]]).drop_duplicates(),
                                         on=KEY, how="left", indicator=True)
    other = other[other["_merge"] == "left_only"]
    table("Other status changes", other, [*where, *transition], "bold yellow")
    row_cols = [*where, ("status", lambda r: text(r["status"])), ("bound ratio", lambda r: _f(r["bound_ratio"]))]
    table("Added rows", changes.added, row_cols, "bold cyan")
    table("Removed rows", changes.removed, row_cols, "bold magenta")
    if not changes.versions.empty:
        t = Table(title=Text(f"Version and environment changes ({len(changes.versions)})", style="bold"),
                  title_justify="left")
        for name in ("source", "name", "old", "new"):
            t.add_column(name, overflow="fold")
        for _, row in changes.versions.iterrows():
            t.add_row(*(Text(text(row[c])) for c in ("source", "name", "old", "new")))
        console.print(t)
    counts = ", ".join(f"{n} {k}" for k, n in changes.counts().items() if n)
    verdict = "REGRESSED" if changes.regressed else ("no changes" if changes.empty else "no regression")
    style = "bold red" if changes.regressed else "bold green"
    console.print(Text.assemble((f"{verdict}", style),
                                f": {changes.old_label} → {changes.new_label} ({changes.matched} rows matched"
                                + (f"; {counts}" if counts else "") + ")"))
