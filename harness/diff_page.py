"""The diff as a page (or a section of the report): verdict, cards and one table per category.

Reads a `harness.diff.Changes` (its frames and counts): the diff knows nothing of pages, and the
page nothing of how rows are matched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.formatting import fmt, is_num, ratio_color, sort_key, text
from harness.render import render_page

if TYPE_CHECKING:  # only its type: the page never needs how rows are matched
    from harness.diff import Changes

MAX_HTML_ROWS = 2000
WHERE = [{"key": "case", "label": "case"}, {"key": "file", "label": "file"},
         {"key": "framework", "label": "framework"}, {"key": "dtype", "label": "dtype"},
         {"key": "quantity", "label": "quantity"}]
TRANSITION = [{"key": "status", "label": "status", "kind": "change"},
              {"key": "old_ratio", "label": "old bound ratio", "kind": "ratio"},
              {"key": "new_ratio", "label": "new bound ratio", "kind": "ratio"}]
ROW = [{"key": "status", "label": "status", "kind": "status"},
       {"key": "ratio", "label": "bound ratio", "kind": "ratio"}]
MESSAGE = {"key": "message", "label": "message", "kind": "msg"}
VERSION = {"key": "version", "label": "version"}


def _number(v) -> str:
    return fmt(v) if is_num(v) or isinstance(v, float) else text(v) or fmt(None)


def ratio_cell(v, tol=None) -> tuple[str, str, str, str]:
    """(text, data-sort, background, text colour) of a bound ratio, coloured by ratio ÷ tolerance."""
    if not is_num(v):
        return (fmt(None), "", "", "")
    t = tol if is_num(tol) and tol > 0 else 1.0
    bg, fg = ratio_color(v / t)
    return (fmt(v), sort_key(v), bg, fg)


def _where(r) -> dict:
    return {"case": text(r["case_id"]), "file": text(r["file"]), "framework": text(r["framework"]),
            "dtype": text(r["dtype"]), "quantity": text(r["quantity"])}


def transition_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows of a frame with old_* and new_* columns (new failures, growth, fixed, status changes)."""
    out = []
    for _, r in frame.head(MAX_HTML_ROWS).iterrows():
        old_v, new_v = text(r["old_version"]), text(r["new_version"])
        out.append({**_where(r), "status": (text(r["old_status"]), text(r["new_status"])),
                    "old_ratio": ratio_cell(r["old_bound_ratio"], r["old_tolerance"]),
                    "new_ratio": ratio_cell(r["new_bound_ratio"], r["new_tolerance"]),
                    "growth": (_number(r.get("growth")), sort_key(r.get("growth"))),
                    "message": text(r["new_message"]), "xfail": text(r["new_xfail"]),
                    "version": f"{old_v} → {new_v}" if old_v != new_v else new_v})
    return out


def plain_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows of one results file (added, removed)."""
    return [{**_where(r), "status": text(r["status"]), "ratio": ratio_cell(r.get("bound_ratio"), r.get("tolerance")),
             "version": text(r.get("version")), "message": text(r.get("message"))}
            for _, r in frame.head(MAX_HTML_ROWS).iterrows()]


def _section(id_: str, title: str, frame: pd.DataFrame, columns: list[dict], rows: list[dict],
             explain: str = "") -> dict:
    return {"id": id_, "title": title, "explain": explain, "total": len(frame), "columns": columns, "rows": rows}


def diff_sections(changes: Changes) -> list[dict]:
    """One table per category, in the order the page shows them."""
    c = changes
    versions = [{k: text(v) for k, v in r.items()} for r in c.versions.to_dict("records")]
    return [
        _section("new-failures", "New failures", c.new_failures,
                 [*WHERE, *TRANSITION, VERSION, MESSAGE, {"key": "xfail", "label": "xfail"}],
                 transition_rows(c.new_failures)),
        _section("grown", f"Bound ratio grew more than {c.factor:g}×", c.grown,
                 [*WHERE, *TRANSITION, {"key": "growth", "label": "growth ×", "kind": "num"}, VERSION],
                 transition_rows(c.grown), f"Only rows whose new bound ratio is above {c.min_ratio:g}."),
        _section("rebounded", "Bound changed (another precision contract)", c.rebounded,
                 [*WHERE, *TRANSITION, VERSION], transition_rows(c.rebounded),
                 "Judged by another bound in the two runs (or float16/bfloat16 rows from before the precision "
                 "contract): their bound ratios are not compared."),
        _section("fixed", "Fixed", c.fixed, [*WHERE, *TRANSITION, VERSION], transition_rows(c.fixed)),
        _section("status", "All status changes", c.status_changes, [*WHERE, *TRANSITION, VERSION, MESSAGE],
                 transition_rows(c.status_changes)),
        _section("added", "Added rows", c.added, [*WHERE, *ROW, VERSION, MESSAGE], plain_rows(c.added),
                 "In the new file only."),
        _section("removed", "Removed rows", c.removed, [*WHERE, *ROW, VERSION, MESSAGE], plain_rows(c.removed),
                 "In the old file only."),
        _section("versions", "Version and environment changes", c.versions,
                 [{"key": k, "label": k} for k in ("source", "name", "old", "new")], versions),
    ]


def diff_cards(changes: Changes, counts: dict[str, int]) -> list[dict]:
    def card(label: str, value: int, cls: str = "") -> dict:
        return {"label": label, "value": value, "cls": cls}

    return [
        card("new failures", counts["new failures"], "bad" if counts["new failures"] else "good"),
        card(f"ratio grew > {changes.factor:g}×", counts["ratio growth"], "bad" if counts["ratio growth"] else "good"),
        card("fixed", counts["fixed"], "good" if counts["fixed"] else ""),
        card("bound changed", counts["bound changed"]),
        card("expected new failures (xfail)", counts["expected new failures (xfail)"]),
        card("status changes", counts["status changes"]),
        card("rows added", counts["added"]),
        card("rows removed", counts["removed"], "warn" if counts["removed"] else ""),
        card("version changes", counts["version changes"]),
        card("rows matched", changes.matched),
    ]


def diff_headline(changes: Changes, counts: dict[str, int]) -> str:
    if not changes.regressed:
        return "No changes: every row has the same status, no ratio grew, same versions" if changes.empty \
            else "No regression"
    parts = []
    if counts["new failures"]:
        n = counts["new failures"]
        parts.append(f"{n} new failure{'' if n == 1 else 's'}")
    if counts["ratio growth"]:
        n = counts["ratio growth"]
        parts.append(f"{n} row{'' if n == 1 else 's'} whose bound ratio grew more than {changes.factor:g}×")
    return "Regression: " + " and ".join(parts)


def diff_context(changes: Changes) -> dict:
    """The page template's `diff` object: labels, verdict, cards and the category tables."""
    counts = changes.counts()
    subline = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or f"{changes.matched} rows matched"
    return {"old": changes.old_label, "new": changes.new_label, "factor": changes.factor,
            "min_ratio": changes.min_ratio, "regressed": changes.regressed,
            "headline": diff_headline(changes, counts), "subline": subline,
            "cards": diff_cards(changes, counts), "sections": diff_sections(changes)}


def write_diff_html(changes: Changes, path: str | Path) -> Path:
    """The diff as its own self-contained page → its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(diff=diff_context(changes), title="Convolution equivalence: what changed"),
                    encoding="utf-8")
    return path
