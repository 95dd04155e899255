"""Run one (case, dtype, framework) item: plan, run, compare every quantity, return result rows."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness import compare as cmp
from harness import oracle
from harness import precision as prec
from harness.adapters import Adapter
from harness.adapters.base import UNSUPPORTED, Plan, Unsupported
from harness.case import QUANTITIES, Case
from harness.identities import IDENTITIES, dual_case, dual_inputs, identity_comparisons
from harness.inputs import Inputs, inputs_for_dtype, make_inputs
from harness.status import Status


@dataclass(frozen=True)
class Reference:
    """The oracle's answer for one (case, dtype): values, error scales and reduction lengths."""

    inputs: Inputs
    values: dict[str, np.ndarray]
    scales: dict[str, np.ndarray]
    reduction: dict[str, int]
    expected: cmp.ExpectedSet  # the oracle's side of each comparison, shared by every framework
    seconds: float


# Items of one case run one after another (one worker per case), so a few entries are enough; each
# holds the oracle's arrays several times over.
@lru_cache(maxsize=8)
def reference(case: Case, dtype: str) -> Reference:
    """Computed once per (case, dtype) and process; inputs are rounded to the dtype first."""
    start = time.perf_counter()
    inp = inputs_for_dtype(make_inputs(case), dtype)
    values = oracle.forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g).as_dict()
    scales = oracle.abs_forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g).as_dict()
    k = cmp.reduction_lengths(case)
    exact = {q: cmp.sums_are_exact(case.inputs, scales[q], dtype) for q in values}
    # the flat copies in the set are for comparisons only: identities and reports keep the oracle's own
    # arrays (a BLAS dot over a view at another alignment can differ in the last bit)
    prepared = cmp.expected_set(values, scales, dtype, k, exact)
    return Reference(inp, values, scales, k, prepared, time.perf_counter() - start)


@lru_cache(maxsize=8)
def expected_for(case: Case, dtype: str, contract: prec.Contract) -> cmp.ExpectedSet:
    """The oracle's side of the comparisons under `contract` (the reference's own for the default)."""
    ref = reference(case, dtype)
    if contract == prec.default_contract(dtype, allow_tf32=False):
        return ref.expected
    exact = {q: p.exact for q, p in ref.expected.parts.items()}
    return cmp.expected_set(ref.values, ref.scales, dtype, ref.reduction, exact, contract)


def quantities(case: Case) -> tuple[str, ...]:
    return QUANTITIES if case.bias else tuple(q for q in QUANTITIES if q != "db")


@lru_cache(maxsize=256)
def _params_json(case: Case) -> str:
    return json.dumps(case.params(), sort_keys=True)


def runs_identities(case: Case, dtype: str, identities: bool | None = None) -> bool:
    """The duality identities run for the case's first dtype unless the caller says otherwise."""
    return identities if identities is not None else dtype == case.dtypes[0]


@lru_cache(maxsize=1024)
def expected_failure(case: Case, dtype: str, adapter: Adapter | None, framework: str | None = None) -> str | None:
    """Why this item is expected to fail: the case file's `xfail`, else the adapter's known issue for
    the case's op, or for the dual op its identity rows run."""
    reason = case.xfail_reason(adapter.name if adapter else framework, dtype)
    if reason or adapter is None:
        return reason
    reason = adapter.known_issue(case, dtype)
    if reason is None and runs_identities(case, dtype):
        dual = dual_case(case)
        if adapter.applies_to(dual) and (dual_reason := adapter.known_issue(dual, dtype)):
            reason = f"the identity rows (adjoint, transpose_is_grad) run the dual {dual.op}: {dual_reason}"
    return reason


def base_row(case: Case, dtype: str, adapter: Adapter | None, framework: str) -> dict:
    return {
        "case_id": case.id,
        "file": case.file,
        "line": case.line,
        "op": case.name,
        "params": _params_json(case),
        "description": case.description,
        "refs": " ".join(case.refs),
        "dtype": dtype,
        "framework": framework,
        "library": adapter.library if adapter else framework,
        "path": adapter.path if adapter else "",
        "tolerance": case.tolerance,
        "xfail": expected_failure(case, dtype, adapter, framework) or "",
    }


def _rows(base: dict, case: Case, status: str, message: str, **extra) -> list[dict]:
    return [{**base, "quantity": q, "status": status, "message": message, **extra} for q in quantities(case)]


def run_item(case: Case, dtype: str, adapter: Adapter, identities: bool | None = None) -> list[dict]:
    """All result rows of one item. Never raises for a framework's failure: it becomes a row.

    With `identities` (default: for the case's first dtype) the framework's conv/conv_transpose
    duality is checked too, as rows with quantities `adjoint` and `transpose_is_grad`.
    """
    base = base_row(case, dtype, adapter, adapter.name)
    if not adapter.available():
        return _rows(base, case, Status.SKIPPED, f"{adapter.library} is not installed here", version="")
    base["version"] = adapter.module.version()
    try:
        plan: Plan = adapter.plan(case, dtype)
    except Exception as exc:  # noqa: BLE001 - a planning bug is an error row, not a crash
        return _rows(base, case, Status.ERROR, f"plan failed: {exc!r}", traceback=traceback.format_exc())
    base.update(expression=plan.expression, call=plan.call, reason=plan.reason, device=plan.device)
    if plan.expression == UNSUPPORTED:
        return _rows(base, case, Status.UNSUPPORTED, plan.reason)
    oracle_start = time.perf_counter()
    ref = reference(case, dtype)
    contract = adapter.contract(case, dtype, plan.device)
    expected = expected_for(case, dtype, contract)
    base["oracle_seconds"] = time.perf_counter() - oracle_start  # ~0 when cached for this (case, dtype)
    start = time.perf_counter()
    try:
        got = adapter.run(case, dtype, ref.inputs, plan)
    except Unsupported as exc:
        return _rows({**base, "expression": UNSUPPORTED}, case, Status.UNSUPPORTED, str(exc))
    except Exception as exc:  # noqa: BLE001 - any framework exception is a result
        msg = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return _rows(base, case, Status.ERROR, msg, traceback=traceback.format_exc(),
                     seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    rows = quantity_rows(case, adapter, base, ref, expected, got, seconds)
    for row in rows:
        if (dev := contract.deviation(row["quantity"])) and row["quantity"] in got:
            judge_deviation(row, dev, got[row["quantity"]], ref, dtype, case.tolerance)
    if runs_identities(case, dtype, identities):
        rows += identity_rows(case, dtype, adapter, base, ref, got, contract)
    return rows


def quantity_rows(case: Case, adapter: Adapter, base: dict, ref: Reference, expected: cmp.ExpectedSet, got: dict,
                  seconds: float) -> list[dict]:
    """One row per quantity: the framework's values against the oracle's (all in one pass)."""
    start = time.perf_counter()
    if adapter.gradients:
        found = cmp.compare_all(got, expected, case.tolerance)
    else:
        found = {"y": cmp.compare_to(got.get("y"), expected.parts["y"], case.tolerance)}
    rows = []
    for q in quantities(case):
        if q not in found:
            rows.append({**base, "quantity": q, "status": Status.UNSUPPORTED,
                         "message": f"{adapter.name} computes no gradients (forward only)"})
            continue
        rows.append({**base, "quantity": q, **found[q].as_row(), "shape": list(np.shape(got.get(q))),
                     "expected_shape": list(ref.values[q].shape), "seconds": seconds})
    compare_seconds = time.perf_counter() - start
    for row in rows:
        row["compare_seconds"] = compare_seconds
    return rows


def judge_deviation(row: dict, dev: prec.Deviation, actual, ref: Reference, dtype: str, factor: float) -> None:
    """A quantity with a known contract deviation (`precision.Deviation`): a contract mismatch within
    the deviation's own bound is expected (the row's xfail); one outside it too is an unexpected
    mismatch; a row meeting the contract says the deviation is not shown there."""
    q = row["quantity"]
    row["deviation"] = dev.accumulation
    if row["status"] == Status.PASS:
        row["deviation_seen"] = "not shown"
        return
    if row["status"] != Status.MISMATCH:
        return
    exact = ref.expected.parts[q].exact
    alt = cmp.compare(actual, ref.values[q], ref.scales[q], dtype, ref.reduction[q], factor, exact,
                      contract=prec.Contract(dtype, dev.accumulation, dev.reason))
    if alt.status == Status.PASS:
        row.update(deviation_seen="observed", xfail=row["xfail"] or f"known contract deviation: {dev.reason}")
    else:
        row.update(deviation_seen="exceeded",
                   message=f"{row['message']}; outside the declared {dev.accumulation}-accumulation deviation too")


def identity_rows(case: Case, dtype: str, adapter: Adapter, base: dict, ref: Reference, got: dict,
                  contract: prec.Contract | None = None) -> list[dict]:
    """Rows for the duality identities, computed from the framework's own outputs."""
    dual = dual_case(case)
    if not adapter.applies_to(dual):
        return []
    start = time.perf_counter()
    try:
        plan = adapter.plan(dual, dtype)
        base = {**base, "call": f"dual of this item's call ({dual.name}):\n{plan.call}", "expression": plan.expression}
        if plan.expression == UNSUPPORTED:
            raise Unsupported(plan.reason)
        got_dual = adapter.run(dual, dtype, dual_inputs(ref.inputs, adapter.runs_forward_only), plan)
    except Unsupported as exc:
        return [{**base, "quantity": q, "status": Status.UNSUPPORTED, "message": f"dual op: {exc}"} for q in IDENTITIES]
    except Exception as exc:  # noqa: BLE001
        return [{**base, "quantity": q, "status": Status.ERROR, "message": f"dual op: {type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc()} for q in IDENTITIES]
    seconds = time.perf_counter() - start
    found = identity_comparisons(case, dtype, ref.inputs, got, got_dual, ref.scales, ref.reduction, contract)
    return [{**base, "quantity": q, **c.as_row(), "seconds": seconds} for q, c in found.items()]


def golden_rows(case: Case) -> list[dict]:
    """Check the oracle itself against a case's literal expected values (float64)."""
    gold = case.golden or {}
    base = {**base_row(case, "float64", None, "oracle"), "version": "", "expression": "native",
            "call": "harness.oracle.forward_and_vjp(case, x, w, b, g)", "reason": "", "device": "cpu"}
    ref = reference(case, "float64")
    rows = []
    for q in quantities(case):
        if q not in gold:
            continue
        expected = np.asarray(gold[q], dtype=np.float64)
        result = cmp.compare(ref.values[q], expected, ref.scales[q], "float64", ref.reduction[q], 1.0)
        rows.append({**base, "quantity": q, **result.as_row(), "shape": list(ref.values[q].shape),
                     "expected_shape": list(expected.shape)})
    return rows
