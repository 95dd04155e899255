"""Plain-text explanations of result rows, for pytest failures and the console."""

from __future__ import annotations

import json

from harness.case import Case
from harness.status import Status


def _num(v) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return str(v)


def failure_text(case: Case, rows: list[dict]) -> str:
    """What failed, where the case is, the native call to reproduce it and the worst elements."""
    if case.op == "stack":
        return stack_failure_text(case, rows)
    first = rows[0]
    lines = [
        f"{first['framework']} {first.get('version', '')} disagrees with the oracle on "
        f"{case.file}:{case.line} case {case.id!r} ({first['dtype']})",
    ]
    if case.description:
        lines.append(f"  description: {case.description.strip().splitlines()[0]}")
    params = case.params()
    lines.append("  parameters: " + json.dumps({k: v for k, v in params.items() if v is not None}))
    if first.get("call"):
        how = first.get("expression", "")
        lines.append(f"  native call ({how}): {first['call']}")
        if first.get("reason"):
            lines.append(f"  why {how}: {first['reason']}")
    lines.append("  quantity           status          bound_ratio  error_ratio  max_abs    worst index      actual"
                 "         expected       bound")
    for r in rows:
        idx = r.get("worst_index")
        lines.append(
            f"  {r['quantity']:<17}  {r['status']:<14}  {_num(r.get('bound_ratio')):>11}  {_num(r.get('error_ratio')):>11}  "
            f"{_num(r.get('max_abs_error')):>9}  {str(tuple(idx)) if idx else '-':<15}  {_num(r.get('worst_actual')):>13}  "
            f"{_num(r.get('worst_expected')):>13}  {_num(r.get('worst_bound')):>10}"
        )
        if r.get("message"):
            lines.append(f"                     {r['message']}")
    lines.append(
        "  (bound_ratio = max |err| / the row's contract bound: gamma_{K+1}(u) * (|x|*|w|) in float32/64, "
        "u_out*|y_ref| + gamma_K(u_acc) * (|x|*|w|) for float16/bfloat16 accumulating in float32; a row passes "
        f"when it is <= the case's tolerance factor {case.tolerance:g})"
    )
    tb = next((r.get("traceback") for r in rows if r.get("traceback")), None)
    if tb:
        lines.append("  framework traceback (last lines):")
        lines += ["    " + t for t in tb.strip().splitlines()[-6:]]
    return "\n".join(lines)


def stack_failure_text(case, rows: list[dict]) -> str:
    """A stack's failure: the layer to blame, then every layer and gradient row that fails."""
    first = rows[0]
    lines = [f"{first['framework']} {first.get('version', '')} disagrees with the oracle on the stack "
             f"{case.file}:{case.line} {case.id!r} ({first['dtype']})"]
    blamed = next((r for r in rows if r.get("blame")), None)
    if blamed:
        at = case.layer_lines[blamed["layer"]] if blamed["layer"] < len(case.layer_lines) else case.line
        lines.append(f"  the layer to blame: {blamed['layer']} ({blamed['layer_name']}, {blamed['layer_kind']}) at "
                     f"{case.file}:{at}: local error {_num(blamed.get('local_ratio'))}x its bound")
        if blamed.get("call"):
            lines.append(f"    it ran: {blamed['call']}")
    lines.append("  quantity      layer              status          e2e ratio  local ratio  max_abs")
    for r in rows:
        if r["status"] == Status.PASS and not r.get("blame"):
            continue
        lines.append(f"  {r['quantity']:<12}  {str(r.get('layer_name') or ''):<17}  {r['status']:<14}  "
                     f"{_num(r.get('bound_ratio')):>9}  {_num(r.get('local_ratio')):>11}  {_num(r.get('max_abs_error')):>8}")
        if r.get("message"):
            lines.append(f"                {r['message']}")
    lines.append("  (e2e ratio = max |err| of the layer's output / the bound propagated from |x|*|w| through the "
                 "stack; local ratio = the layer on the framework's own input of it, against its own bound)")
    tb = next((r.get("traceback") for r in rows if r.get("traceback")), None)
    if tb:
        lines += ["  framework traceback (last lines):", *("    " + t for t in tb.strip().splitlines()[-6:])]
    return "\n".join(lines)
