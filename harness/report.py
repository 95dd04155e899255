"""`harness report`: results files → one self-contained HTML page (and a CSV of every row).

The page needs nothing at view time: CSS and JavaScript are inline and the plots are SVG drawn
here. It shows, top to bottom: a verdict and counts by framework × status, a matrix of cases ×
(framework, dtype) coloured by the worst bound ratio, the failing rows (worst first), plots of
the error ratios, every case's details (parameters, native calls, each quantity's errors and worst
element), every row, and the environment of each run (versions, flags).

Several results files (one per framework version, say) merge into one page; each keeps a `run`
label. Everything that comes from a case file (ids, descriptions, refs, messages) is escaped by
the template (autoescape on) or by `markupsafe.escape` in the SVG code below.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pandas as pd
from markupsafe import Markup, escape

from harness import results
from harness.status import FAILING, STATUSES, Status

SKIPPED = Status.SKIPPED

QUANTITY_ORDER = ["y", "dx", "dw", "db", "adjoint", "transpose_is_grad", "-"]
DTYPE_ORDER = ["float64", "float32", "float16", "bfloat16"]
FRAMEWORK_ORDER = ["numpy", "torch", "tensorflow", "tensorflow-backprop", "jax", "jax-dilated"]
# how bad a status is, for "the worst row of a cell" (unknown statuses rank with error)
SEVERITY = {"skipped": 0, "unsupported": 1, "pass": 2, "mismatch": 3, "shape_mismatch": 4, "error": 5, "crash": 6}
STATUS_COLORS = {  # background, text
    "error": ("#6d28d9", "#ffffff"),
    "crash": ("#111827", "#ffffff"),
    "shape_mismatch": ("#0369a1", "#ffffff"),
    "unsupported": ("#e5e7eb", "#4b5563"),
    "skipped": ("#ffffff", "#9ca3af"),
}
COUNT_COLORS = {"pass": "#15803d", "mismatch": "#b91c1c", "shape_mismatch": "#0369a1", "error": "#6d28d9",
                "crash": "#111827", "unsupported": "#4b5563", "skipped": "#6b7280"}
STATUS_SHORT = {"error": "error", "crash": "crash", "shape_mismatch": "shape", "unsupported": "n/a",
                "skipped": "skip"}
FRAMEWORK_COLORS = ["#2563eb", "#ea580c", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#92400e", "#475569"]
DTYPE_MARKERS = {"float64": "circle", "float32": "square", "float16": "triangle", "bfloat16": "diamond"}
INF_SORT = 1e300


# ---------------------------------------------------------------------------------------------
# formatting and colours (shared with harness.diff)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def fmt(v, digits: int = 3) -> str:
    """A number for a table cell: '–' for missing, '∞' for infinity, 3 significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, str):
        return v
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e9):
        return f"{int(v)}"
    return f"{v:.{digits}g}"


def sort_key(v) -> str:
    """data-sort value of a numeric cell ('' sorts last)."""
    if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
        return ""
    if math.isinf(v):
        return repr(INF_SORT if v > 0 else -INF_SORT)
    return repr(float(v))


def num_cell(v) -> tuple[str, str | None]:
    """(text, data-sort): data-sort only where the text itself does not sort (missing, infinite)."""
    text = fmt(v)
    if is_num(v) and not math.isinf(v):
        return text, None
    return text, sort_key(v)


def ratio_color(r: float | None) -> tuple[str, str]:
    """Background and text colour for a bound ratio already divided by the tolerance.

    Within the bound (<= 1): pale green for tiny ratios shading to yellow-green at the bound, on a
    log scale over 1e-4..1. Beyond: orange just above shading to dark red at 1000x (log scale).
    """
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "#f3f4f6", "#6b7280"
    if r <= 1:
        f = (min(max(math.log10(r), -4.0), 0.0) + 4.0) / 4.0 if r > 0 else 0.0
        return f"hsl({140 - 68 * f:.0f}, {42 + 30 * f:.0f}%, {88 - 16 * f:.0f}%)", "#14351f"
    f = min(math.log10(r), 3.0) / 3.0 if math.isfinite(r) else 1.0
    return f"hsl({28 - 28 * f:.0f}, 88%, {50 - 14 * f:.0f}%)", "#ffffff"


def legend_gradient() -> str:
    """CSS linear-gradient for the legend bar: 1e-4 .. 1 (the bound, a hard edge) .. 1e3."""
    stops = []
    for i in range(17):  # 1e-4 .. 1 over the first 4/7
        stops.append(f"{ratio_color(10 ** (-4 + i / 4))[0]} {100 * (i / 4) / 7:.2f}%")
    for i in range(13):  # just above 1 .. 1e3 over the last 3/7
        r = 10 ** (i / 4) if i else 1.0001
        stops.append(f"{ratio_color(r)[0]} {100 * (4 + i / 4) / 7:.2f}%")
    return "linear-gradient(to right, " + ", ".join(stops) + ")"


def status_style(status: str, norm: float | None = None) -> tuple[str, str]:
    if status in ("pass", "mismatch"):
        if status == "mismatch" and (norm is None or (isinstance(norm, float) and math.isnan(norm)) or norm <= 1):
            norm = math.inf  # a mismatch for non-finite values: as bad as it gets
        return ratio_color(norm)
    return STATUS_COLORS.get(status, STATUS_COLORS["error"])


def anchor(file: str, case_id: str) -> str:
    return "case-" + hashlib.sha1(f"{file}::{case_id}".encode()).hexdigest()[:12]


def framework_rank(name: str) -> tuple:
    if name in FRAMEWORK_ORDER:
        return (0, FRAMEWORK_ORDER.index(name), name)
    return (2 if name in ("oracle", "loader") else 1, 0, name)


def dtype_rank(name: str) -> tuple:
    return (DTYPE_ORDER.index(name), name) if name in DTYPE_ORDER else (len(DTYPE_ORDER), name)


def quantity_rank(name: str) -> tuple:
    return (QUANTITY_ORDER.index(name), name) if name in QUANTITY_ORDER else (len(QUANTITY_ORDER), name)


# ---------------------------------------------------------------------------------------------
# loading and merging


def run_labels(paths: list[str | Path]) -> list[str]:
    """A short, unique label per results file: its stem, else parent/stem, else stem#i."""
    paths = [Path(p) for p in paths]
    labels = [p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{label}#{i + 1}" for i, label in enumerate(labels)]
    return labels


def load_runs(specs: list[str]) -> list[tuple[pd.DataFrame, dict, str]]:
    """Read results files; a spec is PATH or LABEL=PATH."""
    paths, given = [], []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if sep and not Path(spec).exists() and Path(path).exists():
            paths.append(Path(path))
            given.append(label)
        else:
            paths.append(Path(spec))
            given.append(None)
    auto = run_labels(paths)
    out = []
    for path, label, default in zip(paths, given, auto):
        df, env = results.read_results(path)
        env = {**env, "results file": str(path)}
        out.append((df, env, label or default))
    return out


def merge_runs(frames_with_env: list[tuple[pd.DataFrame, dict, str]]) -> pd.DataFrame:
    """One frame, a `run` column first, then results.COLUMNS, then any extra columns."""
    parts = []
    for df, _env, label in frames_with_env:
        part = df.copy()
        for col in results.COLUMNS:
            if col not in part.columns:
                part[col] = None
        part.insert(0, "run", label)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["run", *results.COLUMNS])
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        # a framework only `skipped` in one run (not installed there) but run in another (Chainer in
        # its own environment, say) is shown from the run that ran it
        skipped = merged["status"] == SKIPPED
        ran = set(merged.loc[~skipped, "framework"])
        only_skipped = merged.groupby(["run", "framework"])["status"].transform(lambda st: (st == SKIPPED).all())
        merged = merged[~(only_skipped & merged["framework"].isin(ran))].reset_index(drop=True)
    extra = [c for c in merged.columns if c not in results.COLUMNS and c != "run"]
    return merged[["run", *results.COLUMNS, *extra]]


def _clean(v):
    """A pandas cell as a plain Python value: None for missing, float for numbers."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None  # missing, in a numeric or a text column alike
    return v


def records(df: pd.DataFrame) -> list[dict]:
    cols = list(df.columns)
    return [{c: _clean(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


def _s(v) -> str:
    return "" if v is None else str(v)


def _norm(row: dict) -> float | None:
    """bound_ratio / tolerance: > 1 fails."""
    br = row.get("bound_ratio")
    if not is_num(br) and not (isinstance(br, float) and math.isinf(br)):
        return None
    tol = row.get("tolerance")
    tol = tol if is_num(tol) and tol > 0 else 1.0
    return br / tol


# ---------------------------------------------------------------------------------------------
# the page's pieces


def _cell(rows: list[dict]) -> dict:
    """The matrix cell of one (run, case, framework, dtype): its worst row decides."""
    worst = max(rows, key=lambda r: (SEVERITY.get(_s(r["status"]), 5) if _s(r["status"]) in FAILING else -1,
                                     _norm(r) if _norm(r) is not None else -1.0))
    statuses = {_s(r["status"]) for r in rows}
    failing = [r for r in rows if _s(r["status"]) in FAILING]
    if failing:
        status = _s(worst["status"])
    elif "pass" in statuses:
        status = "pass"
    elif "unsupported" in statuses:
        status = "unsupported"
        worst = next(r for r in rows if r["status"] == "unsupported")
    elif "skipped" in statuses:
        status = "skipped"
        worst = next(r for r in rows if r["status"] == "skipped")
    else:
        status = _s(worst["status"])
    norms = [n for n in (_norm(r) for r in rows) if n is not None]
    norm = max(norms) if norms else None
    ratios = [r["bound_ratio"] for r in rows if _norm(r) is not None]
    ratio = max(ratios) if ratios else None
    xfail = next((_s(r["xfail"]) for r in rows if _s(r.get("xfail"))), "")
    bg, fg = status_style(status, norm)
    if status in ("pass", "mismatch"):
        text = fmt(ratio, 2) if ratio is not None else status
        sort = norm if norm is not None else (INF_SORT if status == "mismatch" else 0.0)
    else:
        text = STATUS_SHORT.get(status, status)
        sort = {"shape_mismatch": 1e303, "error": 1e304, "crash": 1e305, "unsupported": -1.0,
                "skipped": -2.0}.get(status, 1e304)
    partial = sorted({_s(r["quantity"]) for r in rows if _s(r["status"]) in ("unsupported", "skipped")})
    tip = [f"{worst['framework']} {_s(worst.get('version'))} · {worst['dtype']}: {status}"]
    if ratio is not None:
        tip.append(f"worst bound ratio {fmt(ratio)} ({worst['quantity']}), tolerance {fmt(worst.get('tolerance'))}")
    if _s(worst.get("message")):
        tip.append(_s(worst["message"]))
    if status == "pass" and partial:
        tip.append("not compared: " + ", ".join(partial))
    if _s(worst.get("expression")) == "emulated":
        tip.append("emulated: " + _s(worst.get("reason")))
    if xfail:
        tip.append("expected to fail (xfail): " + xfail)
    return {"status": status, "text": text, "bg": bg, "fg": fg, "sort": sort_key(sort), "xfail": bool(xfail),
            "emulated": any(_s(r.get("expression")) == "emulated" for r in rows),
            "failing": status in FAILING and not xfail, "title": "\n".join(tip)}


def _columns(rows: list[dict], multi_run: bool) -> list[dict]:
    keys = sorted({(r["run"], r["framework"], r["dtype"]) for r in rows},
                  key=lambda k: (framework_rank(k[1]), k[0] if multi_run else "", dtype_rank(k[2])))
    versions = defaultdict(set)
    for r in rows:
        if _s(r.get("version")):
            versions[(r["run"], r["framework"], r["dtype"])].add(_s(r["version"]))
    cols = []
    for run, fw, dt in keys:
        v = versions.get((run, fw, dt), set())
        cols.append({"key": (run, fw, dt), "run": run if multi_run else "", "framework": fw, "dtype": dt,
                     "version": ", ".join(sorted(v)), "first": False})
    # alternate shading per framework group, for readability
    group, last = 0, None
    for c in cols:
        if (c["run"], c["framework"]) != last:
            group += 1
            last = (c["run"], c["framework"])
            c["first"] = True
        c["group"] = group % 2
    return cols


def _matrix(rows: list[dict], multi_run: bool) -> dict:
    rows = [r for r in rows if r["framework"] != "loader"]
    cols = _columns(rows, multi_run)
    by_cell = defaultdict(list)
    cases = {}
    for r in rows:
        ck = (r["file"], r["case_id"])
        by_cell[(ck, r["run"], r["framework"], r["dtype"])].append(r)
        cases.setdefault(ck, r)
    out_rows = []
    for ck, first in sorted(cases.items(), key=lambda kv: (_s(kv[0][0]), kv[1].get("line") or 0, _s(kv[0][1]))):
        cells, worst_sort, tokens = [], -3.0, []
        n_fail = 0
        for col in cols:
            found = by_cell.get((ck, *col["key"]))
            if not found:
                cells.append(None)
                continue
            c = _cell(found)
            cells.append(c)
            tokens.append(f"{col['framework']}:{c['status']}")
            if c["failing"]:
                n_fail += 1
                tokens.append("failing")
            if c["xfail"]:
                tokens.append("xfail")
            if c["emulated"]:
                tokens.append(f"{col['framework']}:emulated")
            worst_sort = max(worst_sort, float(c["sort"]) if c["sort"] else -3.0)
        out_rows.append({
            "case_id": ck[1], "file": ck[0], "line": first.get("line"), "op": _s(first.get("op")),
            "anchor": anchor(_s(ck[0]), _s(ck[1])), "cells": cells, "n_fail": n_fail,
            "text": " ".join([_s(ck[1]), _s(ck[0]), _s(first.get("op")), _s(first.get("description")), *tokens]),
        })
    return {"columns": cols, "rows": out_rows}


def _counts(rows: list[dict], multi_run: bool) -> dict:
    statuses = [s for s in STATUSES]
    statuses += sorted({_s(r["status"]) for r in rows} - set(statuses))
    groups = defaultdict(list)
    for r in rows:
        groups[(r["run"] if multi_run else "", r["framework"])].append(r)
    present = [s for s in statuses if any(_s(r["status"]) == s for r in rows)]
    table = []
    for (run, fw), rs in sorted(groups.items(), key=lambda kv: (framework_rank(kv[0][1]), kv[0][0])):
        counts = {s: sum(1 for r in rs if _s(r["status"]) == s) for s in present}
        norms = [n for n in (_norm(r) for r in rs) if n is not None]
        worst = max(norms) if norms else None
        fails = sum(1 for r in rs if _s(r["status"]) in FAILING and not _s(r.get("xfail")))
        xf = sum(1 for r in rs if _s(r["status"]) in FAILING and _s(r.get("xfail")))
        bg, fg = ratio_color(worst)
        # `seconds` is the time of the whole item, repeated on each of its rows
        item_secs: dict = {}
        for r in rs:
            if is_num(r.get("seconds")):
                k = (r["file"], r["case_id"], r["dtype"])
                item_secs[k] = max(item_secs.get(k, 0.0), r["seconds"])
        secs = sum(item_secs.values())
        cases = {(r["file"], r["case_id"]) for r in rs}
        fail_cases = {(r["file"], r["case_id"]) for r in rs if _s(r["status"]) in FAILING and not _s(r.get("xfail"))}
        table.append({
            "run": run, "framework": fw,
            "version": ", ".join(sorted({_s(r.get("version")) for r in rs if _s(r.get("version"))})),
            "counts": [(s, counts[s], COUNT_COLORS.get(s) if counts[s] else None) for s in present],
            "rows": len(rs), "cases": len(cases), "fail_cases": len(fail_cases), "failing": fails, "xfail": xf,
            "worst": worst, "worst_text": fmt(worst, 2), "worst_sort": sort_key(worst), "worst_bg": bg,
            "worst_fg": fg, "seconds": secs,
        })
    return {"statuses": present, "rows": table}


def _row_view(r: dict) -> dict:
    """One result row, formatted for a table."""
    norm = _norm(r)
    status = _s(r["status"])
    bg, fg = status_style(status, norm) if status in ("pass", "mismatch") else ("", "")
    widx = r.get("worst_index")
    try:
        widx = "(" + ", ".join(str(i) for i in json.loads(widx)) + ")" if widx else ""
    except (TypeError, ValueError):
        widx = _s(widx)
    shape, expected = _s(r.get("shape")), _s(r.get("expected_shape"))
    return {
        **{k: _s(r.get(k)) for k in ("run", "case_id", "file", "dtype", "framework", "version", "quantity",
                                     "status", "expression", "message", "reason", "xfail", "op", "device",
                                     "path", "call")},
        "line": r.get("line"), "anchor": anchor(_s(r["file"]), _s(r["case_id"])),
        "bg": bg, "fg": fg, "failing": status in FAILING,
        "num": {k: num_cell(r.get(k)) for k in (
            "bound_ratio", "error_ratio", "max_abs_error", "max_rel_error", "max_ulps", "worst_actual",
            "worst_expected", "worst_bound", "reduction_length", "tolerance", "seconds")},
        "worst_index": widx,
        "shape": shape if shape == expected or not expected else f"{shape} (expected {expected})",
        "traceback": _s(r.get("traceback")),
    }


def _params_view(text: str) -> list[tuple[str, str]]:
    try:
        params = json.loads(text) if text else {}
    except ValueError:
        return [("params", text)]
    if not isinstance(params, dict):
        return [("params", text)]
    out = []
    for k, v in params.items():
        if v is None:
            continue
        out.append((k, json.dumps(v) if not isinstance(v, str) else v))
    return out


def _refs_view(refs: str) -> list[tuple[str, bool]]:
    """Each reference, and whether it may be a link (only http(s) URLs; never javascript: etc.)."""
    return [(ref, ref.lower().startswith(("https://", "http://"))) for ref in refs.split()]


def _cases(rows: list[dict], multi_run: bool) -> list[dict]:
    by_case = defaultdict(list)
    for r in rows:
        if r["framework"] == "loader":
            continue
        by_case[(r["file"], r["case_id"])].append(r)
    out = []
    for (file, case_id), rs in sorted(by_case.items(), key=lambda kv: (_s(kv[0][0]), kv[1][0].get("line") or 0,
                                                                       _s(kv[0][1]))):
        first = rs[0]
        rs = sorted(rs, key=lambda r: (framework_rank(r["framework"]), r["run"], dtype_rank(r["dtype"]),
                                       quantity_rank(r["quantity"])))
        # how each framework expressed the case (identity rows carry the dual call: listed apart)
        how, seen = [], set()
        for r in rs:
            dual = _s(r.get("call")).startswith("dual of ")
            key = (r["run"], r["framework"], _s(r.get("call")), _s(r.get("expression")), _s(r.get("reason")),
                   _s(r.get("version")), _s(r.get("device")))
            if key in seen or (dual and r["status"] not in FAILING):
                continue
            seen.add(key)
            dtypes = sorted({x["dtype"] for x in rs if x["run"] == r["run"] and x["framework"] == r["framework"]
                             and _s(x.get("call")) == _s(r.get("call"))}, key=dtype_rank)
            expr = _s(r.get("expression")) or ("unsupported" if r["status"] == "unsupported" else "")
            how.append({
                "run": r["run"], "framework": r["framework"], "version": _s(r.get("version")),
                "path": _s(r.get("path")), "device": _s(r.get("device")), "expression": expr,
                "reason": _s(r.get("reason")) or (_s(r.get("message")) if r["status"] in ("unsupported", "skipped")
                                                   else ""),
                "call": _s(r.get("call")), "dtypes": ", ".join(dtypes), "xfail": _s(r.get("xfail")),
            })
        badges = []
        for (run, fw), grp in _group(rs, lambda r: (r["run"], r["framework"])):
            c = _cell(grp)
            badges.append({"label": f"{fw}" + (f" [{run}]" if multi_run else ""), **c})
        failing = any(_s(r["status"]) in FAILING and not _s(r.get("xfail")) for r in rs)
        out.append({
            "case_id": case_id, "file": file, "line": first.get("line"), "op": _s(first.get("op")),
            "anchor": anchor(_s(file), _s(case_id)), "description": _s(first.get("description")),
            "refs": _refs_view(_s(first.get("refs"))), "params": _params_view(_s(first.get("params"))),
            "how": how, "rows": [_row_view(r) for r in rs], "badges": badges, "failing": failing,
            "text": " ".join([_s(case_id), _s(file), _s(first.get("op")), _s(first.get("description")),
                              *(f"{b['label']}:{b['status']}" for b in badges), "failing" if failing else ""]),
        })
    return out


def _group(rows, key):
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return groups.items()


def _environment(frames_with_env) -> dict:
    """Keys as rows, runs as columns; sections: platform, versions, flags; differing values marked."""
    envs = [{k: _s(v) for k, v in env.items()} for _df, env, _label in frames_with_env]
    labels = [label for _df, _env, label in frames_with_env]
    keys = sorted({k for env in envs for k in env})
    platform_keys = [k for k in ("results file", "python", "platform", "machine", "harness") if k in keys]
    version_keys = [k for k in keys if k.startswith("version.")]
    flag_keys = [k for k in keys if k not in platform_keys and k not in version_keys]
    sections = []
    for title, ks, strip in (("Platform", platform_keys, ""), ("Library versions", version_keys, "version."),
                             ("Framework settings and flags", flag_keys, "")):
        if not ks:
            continue
        rows = []
        for k in ks:
            values = [env.get(k, "") for env in envs]
            rows.append({"key": k[len(strip):] if strip and k.startswith(strip) else k, "values": values,
                         "differs": len(envs) > 1 and len(set(values)) > 1})
        sections.append({"title": title, "rows": rows})
    return {"labels": labels, "sections": sections}


# ---------------------------------------------------------------------------------------------
# SVG plots


def _log_ticks(lo: int, hi: int) -> list[int]:
    step = max(1, math.ceil((hi - lo) / 8))
    return list(range(lo, hi + 1, step))


def _pow10(e: int) -> str:
    return {0: "1", 1: "10", 2: "100", -1: "0.1", -2: "0.01"}.get(e, f"1e{e}")


def _svg_text(x, y, text, anchor_="start", size=11, fill="#374151", extra="") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor_}" fill="{fill}"{extra}>'
            f"{escape(text)}</text>")


def _marker(shape: str, x: float, y: float, r: float, fill: str, stroke: str, opacity: float, title: str) -> str:
    t = f"<title>{escape(title)}</title>"
    common = f'fill="{fill}" fill-opacity="{opacity}" stroke="{stroke}" stroke-width="1"'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {common}>{t}</rect>'
    if shape == "triangle":
        pts = f"{x:.1f},{y - r * 1.2:.1f} {x - r * 1.1:.1f},{y + r * 0.8:.1f} {x + r * 1.1:.1f},{y + r * 0.8:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if shape == "diamond":
        pts = f"{x:.1f},{y - r * 1.3:.1f} {x + r * 1.3:.1f},{y:.1f} {x:.1f},{y + r * 1.3:.1f} {x - r * 1.3:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if shape == "cross":
        return (f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}L{x + r:.1f},'
                f'{y - r:.1f}" stroke="{fill}" stroke-width="2">{t}</path>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {common}>{t}</circle>'


def _jitter(i: int) -> float:
    return ((i * 0.6180339887) % 1.0) - 0.5


def _decades(values: list[float], lo_min: int, hi_min: int) -> tuple[int, int]:
    pos = [v for v in values if v > 0 and math.isfinite(v)]
    lo = math.floor(math.log10(min(pos))) if pos else lo_min
    hi = math.ceil(math.log10(max(pos))) if pos else hi_min
    lo, hi = min(lo, lo_min), max(hi, hi_min)
    return max(lo, -30), min(hi, 30)


BINS_PER_DECADE = 4


def distribution_plot(rows: list[dict], metric: str, multi_run: bool) -> Markup:
    """A histogram per (framework, dtype[, run]) on a shared log axis: how large the errors are.

    Bars are 1/4 decade wide and scaled per band (the tallest bin fills the band); the failing
    part of a bin is red (amber when expected to fail). Exact zeros and infinite ratios have
    their own slots at the ends. The black tick is the band's median.
    """
    norm = metric == "bound"
    pts = []
    for r in rows:
        if r["framework"] == "loader":
            continue
        v = _norm(r) if norm else r.get("error_ratio")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        pts.append((v, r))
    if not pts:
        return Markup('<p class="muted">No finite ratios to plot.</p>')
    bands = sorted({(r["framework"], r["dtype"], r["run"] if multi_run else "") for _, r in pts},
                   key=lambda k: (framework_rank(k[0]), dtype_rank(k[1]), k[2]))
    lo, hi = _decades([v for v, _ in pts], -3 if norm else -1, 1 if norm else 2)
    left, right, top, band_h = 200, 64, 26, 30
    width = 900
    x0, x1 = left + 40, width - right - 40  # the 0 slot lies left of x0, the ∞ slot right of x1
    nbins = (hi - lo) * BINS_PER_DECADE
    bw = (x1 - x0) / nbins
    ybot = top + band_h * len(bands)
    height = ybot + 44

    def xpos(v: float) -> float:
        if v <= 0:
            return left + 16
        if math.isinf(v):
            return width - right - 16
        return x0 + (math.log10(v) - lo) / (hi - lo) * (x1 - x0)

    def slot(v: float) -> int:  # -1: zero, nbins: infinity
        if v <= 0:
            return -1
        if math.isinf(v):
            return nbins
        return min(max(int((math.log10(v) - lo) * BINS_PER_DECADE), 0), nbins - 1)

    def slot_x(i: int) -> tuple[float, float]:
        if i == -1:
            return left + 6, 20
        if i == nbins:
            return width - right - 26, 20
        return x0 + i * bw + 0.5, bw - 1

    def slot_label(i: int) -> str:
        if i == -1:
            return "exactly 0"
        if i == nbins:
            return "infinite (non-finite values)"
        a, b = lo + i / BINS_PER_DECADE, lo + (i + 1) / BINS_PER_DECADE
        return f"{fmt(10 ** a, 2)} – {fmt(10 ** b, 2)}"

    what = "bound ratio ÷ tolerance" if norm else "error ratio"
    out = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" role="img" '
           f'aria-label="distribution of the {what} per framework and dtype" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">']
    for i in range(len(bands)):
        if i % 2 == 0:
            out.append(f'<rect x="{left}" y="{top + i * band_h}" width="{width - left - right}" height="{band_h}" '
                       f'fill="#f8fafc"/>')
    for e in _log_ticks(lo, hi):
        x = xpos(10.0 ** e)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{ybot}" stroke="#e5e7eb"/>')
        out.append(_svg_text(x, ybot + 16, _pow10(e), "middle"))
    out.append(_svg_text(left + 16, ybot + 16, "0", "middle", fill="#6b7280"))
    out.append(_svg_text(width - right - 16, ybot + 16, "∞", "middle", fill="#6b7280"))
    for xs in (x0 - 6, x1 + 6):
        out.append(f'<line x1="{xs:.1f}" x2="{xs:.1f}" y1="{top}" y2="{ybot}" stroke="#d1d5db" stroke-dasharray="2,3"/>')
    label = ("bound ratio ÷ tolerance  (> 1 fails)" if norm
             else "error ratio = max |error| / (u · (|x| ⋆ |w|)), in units of the dtype's roundoff u")
    out.append(_svg_text((left + width - right) / 2, ybot + 36, label, "middle", 12, "#111827"))
    if norm:
        xb = xpos(1.0)
        out.append(f'<line x1="{xb:.1f}" x2="{xb:.1f}" y1="{top - 8}" y2="{ybot}" stroke="#dc2626" '
                   f'stroke-width="1.5" stroke-dasharray="5,3"/>')
        out.append(_svg_text(xb + 4, top - 10, "bound", size=11, fill="#dc2626"))
    by_band = defaultdict(list)
    for v, r in pts:
        by_band[(r["framework"], r["dtype"], r["run"] if multi_run else "")].append((v, r))
    for i, band in enumerate(bands):
        ytop = top + i * band_h
        base = ytop + band_h - 2
        name = f"{band[0]} · {band[1]}" + (f" [{band[2]}]" if band[2] else "")
        out.append(_svg_text(left - 8, ytop + band_h / 2 + 4, name, "end", 12, "#111827"))
        items = by_band[band]
        bins: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # pass, fail, xfail
        for v, r in items:
            fail = _s(r["status"]) in FAILING
            bins[slot(v)][2 if fail and _s(r.get("xfail")) else (1 if fail else 0)] += 1
        top_count = max(sum(c) for c in bins.values())
        for j, (n_ok, n_fail, n_xf) in sorted(bins.items()):
            x, w = slot_x(j)
            total = n_ok + n_fail + n_xf
            y = base
            tip = f"{name}: {total} row(s) with {what} {slot_label(j)}" + (f", {n_fail} failing" if n_fail else "") + (
                f", {n_xf} expected to fail" if n_xf else "")
            parts = []
            for n, color in ((n_ok, "#3b82f6"), (n_xf, "#f59e0b"), (n_fail, "#dc2626")):
                if not n:
                    continue
                h = max((band_h - 6) * n / top_count, 1.5)
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}"/>')
            out.append(f"<g><title>{escape(tip)}</title>{''.join(parts)}</g>")
        finite = sorted(v for v, _ in items)
        med = finite[len(finite) // 2]
        xm = xpos(med)
        out.append(f'<line x1="{xm:.1f}" x2="{xm:.1f}" y1="{ytop + 2}" y2="{base + 1}" stroke="#111827" '
                   f'stroke-width="2"><title>median {escape(fmt(med))}</title></line>')
        out.append(_svg_text(width - right + 6, ytop + band_h / 2 + 4, f"n={len(items)}", size=10, fill="#6b7280"))
    out.append("</svg>")
    return Markup("".join(out))


def k_scatter(rows: list[dict], frameworks: list[str]) -> Markup:
    """error_ratio against the reduction length K, log-log, with the bound line (K+1)·tolerance."""
    pts = [r for r in rows if r["framework"] != "loader" and r["quantity"] in ("y", "dx", "dw", "db")
           and is_num(r.get("reduction_length")) and r["reduction_length"] > 0
           and (is_num(r.get("error_ratio")) or (isinstance(r.get("error_ratio"), float)
                                                 and math.isinf(r["error_ratio"])))]
    if not pts:
        return Markup('<p class="muted">No rows with a reduction length and an error ratio to plot.</p>')
    colors = {fw: FRAMEWORK_COLORS[i % len(FRAMEWORK_COLORS)] for i, fw in enumerate(frameworks)}
    kx_lo, kx_hi = _decades([float(r["reduction_length"]) for r in pts], 0, 2)
    ey_lo, ey_hi = _decades([r["error_ratio"] for r in pts], -1, 2)
    width, height = 900, 420
    left, right, top, bottom = 70, 190, 16, 70
    x0, x1, y0, y1 = left, width - right, height - bottom, top  # y0: bottom of the log area
    zero_y, inf_y = y0 + 22, y1 - 2

    def xpos(k: float) -> float:
        return x0 + (math.log10(k) - kx_lo) / (kx_hi - kx_lo) * (x1 - x0)

    def ypos(v: float) -> float:
        if v <= 0:
            return zero_y
        if math.isinf(v):
            return inf_y
        return y0 - 10 - (math.log10(v) - ey_lo) / (ey_hi - ey_lo) * (y0 - 10 - y1 - 10)

    out = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" role="img" '
           f'aria-label="error ratio against reduction length" xmlns="http://www.w3.org/2000/svg" '
           f'font-family="system-ui, sans-serif">',
           f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="#f8fafc"/>']
    for e in _log_ticks(kx_lo, kx_hi):
        x = xpos(10.0 ** e)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y1}" y2="{y0}" stroke="#e5e7eb"/>')
        out.append(_svg_text(x, zero_y + 18, _pow10(e), "middle"))
    for e in _log_ticks(ey_lo, ey_hi):
        y = ypos(10.0 ** e)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(_svg_text(x0 - 6, y + 4, _pow10(e), "end"))
    out.append(_svg_text(x0 - 6, zero_y + 4, "0", "end", fill="#6b7280"))
    out.append(f'<line x1="{x0}" x2="{x1}" y1="{y0 + 11}" y2="{y0 + 11}" stroke="#d1d5db" stroke-dasharray="2,3"/>')
    out.append(_svg_text((x0 + x1) / 2, zero_y + 40, "reduction length K (products summed into one element)",
                         "middle", 12, "#111827"))
    out.append(_svg_text(16, (y0 + y1) / 2, "error ratio (units of u)", "middle", 12, "#111827",
                         f' transform="rotate(-90 16 {(y0 + y1) / 2:.1f})"'))
    # the bound: error ratio ≈ (K+1)·tolerance (γ_{K+1}/u ≈ K+1), drawn for tolerance 1
    seg = []
    for i in range(41):
        lk = kx_lo + (kx_hi - kx_lo) * i / 40
        v = 10 ** lk + 1
        if math.log10(v) > ey_hi:
            break
        seg.append(f"{xpos(10 ** lk):.1f},{ypos(v):.1f}")
    if len(seg) > 1:
        out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#dc2626" stroke-width="1.5" '
                   f'stroke-dasharray="6,4"><title>bound at tolerance 1: error ratio = K + 1</title></polyline>')
        lx, ly = (float(c) for c in seg[-1].split(","))
        if lx < x1 - 90:
            out.append(_svg_text(lx + 6, ly + 4, "bound ≈ K+1", "start", 11, "#dc2626"))
        else:
            out.append(_svg_text(lx - 8, ly + 16, "bound ≈ K+1", "end", 11, "#dc2626"))
    style = "".join(f".ks .k{i}{{fill:{c};stroke:{c}}}" for i, c in enumerate(colors.values()))
    out.append(f"<style>.ks circle,.ks rect,.ks path{{fill-opacity:.5;stroke-opacity:0}}"
               f".ks .bad{{fill-opacity:.95;stroke:#dc2626 !important;stroke-opacity:1;stroke-width:1.5}}{style}</style>")
    out.append('<g class="ks">')
    fw_index = {fw: i for i, fw in enumerate(colors)}
    for i, r in enumerate(pts):
        k = float(r["reduction_length"])
        x = xpos(k) * (1 + 0.004 * _jitter(i))
        y = ypos(r["error_ratio"])
        fail = _s(r["status"]) in FAILING
        cls = f'k{fw_index.get(r["framework"], 0)}{" bad" if fail else ""}'
        title = escape(f"{r['case_id']} {r['framework']} {r['dtype']} {r['quantity']}: K={int(k)}, "
                       f"error ratio {fmt(r['error_ratio'])}" + (f" ({r['status']})" if fail else ""))
        shape = DTYPE_MARKERS.get(r["dtype"], "circle")
        rr = 4.5 if fail else 3.5
        if shape == "square":
            out.append(f'<rect x="{x - rr + 0.5:.0f}" y="{y - rr + 0.5:.0f}" width="{2 * rr - 1:.0f}" '
                       f'height="{2 * rr - 1:.0f}" class="{cls}"><title>{title}</title></rect>')
        elif shape == "circle":
            out.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{rr}" class="{cls}"><title>{title}</title></circle>')
        else:
            d = (f"M{x:.0f},{y - rr - 1:.0f}l{rr + 1:.0f},{2 * rr + 1:.0f}h{-2 * rr - 2:.0f}z" if shape == "triangle"
                 else f"M{x:.0f},{y - rr - 1:.0f}l{rr + 1:.0f},{rr + 1:.0f}l{-rr - 1:.0f},{rr + 1:.0f}"
                 f"l{-rr - 1:.0f},{-rr - 1:.0f}z")
            out.append(f'<path d="{d}" class="{cls}"><title>{title}</title></path>')
    out.append("</g>")
    # legend
    lx, ly = x1 + 20, y1 + 8
    out.append(_svg_text(lx, ly + 4, "framework", size=11, fill="#6b7280"))
    ly += 18
    for fw in frameworks:
        out.append(_marker("circle", lx + 6, ly, 4.5, colors[fw], "none", 0.9, fw))
        out.append(_svg_text(lx + 16, ly + 4, fw, size=12, fill="#111827"))
        ly += 18
    dtypes = sorted({r["dtype"] for r in pts}, key=dtype_rank)
    ly += 8
    out.append(_svg_text(lx, ly + 4, "dtype", size=11, fill="#6b7280"))
    ly += 18
    for dt in dtypes:
        out.append(_marker(DTYPE_MARKERS.get(dt, "circle"), lx + 6, ly, 4.5, "#6b7280", "none", 0.9, dt))
        out.append(_svg_text(lx + 16, ly + 4, dt, size=12, fill="#111827"))
        ly += 18
    ly += 8
    out.append(_marker("circle", lx + 6, ly, 4.5, "#9ca3af", "#dc2626", 0.9, "failing row"))
    out.append(_svg_text(lx + 16, ly + 4, "failing row", size=12, fill="#111827"))
    out.append("</svg>")
    return Markup("".join(out))


# ---------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=1)
def jinja_env():
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.globals["status_colors"] = STATUS_COLORS
    return env


def render_page(**context) -> str:
    """Render the page template: `report` (the results page) and/or `diff` (a Changes view)."""
    context.setdefault("report", None)
    context.setdefault("diff", None)
    context.setdefault("title", "Convolution equivalence report")
    context.setdefault("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    context.setdefault("legend_gradient", legend_gradient())
    context.setdefault("ratio_color", ratio_color)
    return jinja_env().get_template("report.html.j2").render(**context)


def report_context(frames_with_env: list[tuple[pd.DataFrame, dict, str]], merged: pd.DataFrame | None = None) -> dict:
    merged = merge_runs(frames_with_env) if merged is None else merged
    rows = records(merged)
    multi_run = len(frames_with_env) > 1
    loader_rows = [r for r in rows if r["framework"] == "loader"]
    case_rows = [r for r in rows if r["framework"] != "loader"]
    failing_rows = [r for r in case_rows if _s(r["status"]) in FAILING]
    failing_rows.sort(key=lambda r: (bool(_s(r.get("xfail"))), -SEVERITY.get(_s(r["status"]), 5),
                                     -(_norm(r) if _norm(r) is not None else 0.0)))
    frameworks = sorted({r["framework"] for r in case_rows}, key=framework_rank)
    n_fail = sum(1 for r in failing_rows if not _s(r.get("xfail")))
    fail_by_fw = defaultdict(set)
    for r in failing_rows:
        if not _s(r.get("xfail")):
            fail_by_fw[r["framework"]].add((r["file"], r["case_id"]))
    cases = {(r["file"], r["case_id"]) for r in case_rows}
    status_totals = {s: sum(1 for r in case_rows if _s(r["status"]) == s) for s in STATUSES}
    return {
        "multi_run": multi_run,
        "runs": [{"label": label, "file": env.get("results file", ""), "rows": len(df)}
                 for df, env, label in frames_with_env],
        "cards": {
            "cases": len(cases), "rows": len(case_rows), "pass": status_totals["pass"], "failing": n_fail,
            "xfail": len(failing_rows) - n_fail, "unsupported": status_totals["unsupported"],
            "skipped": status_totals["skipped"], "invalid": len(loader_rows),
            "frameworks": len(frameworks),
        },
        "disagree": [{"framework": fw, "cases": len(fail_by_fw[fw])}
                     for fw in sorted(fail_by_fw, key=framework_rank)],
        "counts": _counts(case_rows, multi_run),
        "failures": [_row_view(r) for r in failing_rows],
        "loader": [_row_view(r) for r in loader_rows],
        "matrix": _matrix(case_rows, multi_run),
        "strip_error": distribution_plot(case_rows, "error", multi_run),
        "strip_bound": distribution_plot(case_rows, "bound", multi_run),
        "scatter": k_scatter(case_rows, frameworks),
        "cases": _cases(case_rows, multi_run),
        "all_rows": [_row_view(r) for r in sorted(case_rows, key=_row_order)] if len(case_rows) <= MAX_ALL_ROWS else [],
        "all_rows_total": len(case_rows),
        "environment": _environment(frames_with_env),
        "status_order": list(STATUSES),
    }


MAX_ALL_ROWS = 20000


def _row_order(r: dict) -> tuple:
    return (_s(r["file"]), r.get("line") or 0, _s(r["case_id"]), framework_rank(r["framework"]), _s(r["run"]),
            dtype_rank(r["dtype"]), quantity_rank(r["quantity"]))


def write_csv(merged: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(path, index=False)
    return path


def build_report(frames_with_env: list[tuple[pd.DataFrame, dict, str]], out_path: str | Path,
                 csv_path: str | Path | None = None, write_csv_file: bool = True, title: str | None = None,
                 changes=None) -> Path:
    """Write the HTML report (and the CSV of all rows: `csv_path`, default next to it) → HTML path.

    `frames_with_env`: (results DataFrame, its environment dict, run label) per results file.
    `changes`: an optional `harness.diff.Changes` shown as a "changes since baseline" section.
    """
    out_path = Path(out_path)
    merged = merge_runs(frames_with_env)
    context = report_context(frames_with_env, merged)
    diff_ctx = None
    if changes is not None:
        from harness.diff import diff_context

        diff_ctx = diff_context(changes)
    html = render_page(report=context, diff=diff_ctx, title=title or "Convolution equivalence report")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    if write_csv_file:
        write_csv(merged, csv_path or out_path.with_suffix(".csv"))
    return out_path


def cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    try:
        runs = load_runs(args.results)
    except (OSError, ValueError) as exc:
        console.print(f"cannot read results: {exc}", markup=False, highlight=False)
        return 2
    changes = None
    if args.baseline:
        from harness.diff import diff_files

        if len(runs) != 1:
            console.print("--baseline needs exactly one results file", markup=False)
            return 2
        changes = diff_files(args.baseline, runs[0][1]["results file"], factor=args.factor)
    csv_path = None if args.csv in (None, "") else args.csv
    out = build_report(runs, args.output, csv_path=csv_path, write_csv_file=not args.no_csv, title=args.title,
                       changes=changes)
    size = out.stat().st_size
    console.print(f"report written to {out} ({size / 1024:.0f} KiB)"
                  + ("" if args.no_csv else f"; rows as CSV in {csv_path or out.with_suffix('.csv')}"),
                  markup=False, highlight=False)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("report", help="results files → one self-contained HTML report (+ CSV)",
                       description="Merge results files (each a 'run'; PATH or LABEL=PATH) into one HTML page.")
    p.add_argument("results", nargs="+", help="results files (Parquet), PATH or LABEL=PATH")
    p.add_argument("-o", "--output", default="reports/index.html", help="HTML file (default reports/index.html)")
    p.add_argument("--csv", help="CSV of every row (default: next to the HTML, same stem, .csv)")
    p.add_argument("--no-csv", action="store_true", help="write no CSV")
    p.add_argument("--title", help="page title")
    p.add_argument("--baseline", help="also show what changed since this earlier results file")
    p.add_argument("--factor", type=float, default=2.0, help="with --baseline: ratio growth that counts (2.0)")
    p.set_defaults(func=cmd_report)
