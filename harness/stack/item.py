"""Run one (stack case, dtype, framework) item: the oracle once per (stack, dtype), the framework's
run, and result rows: one per layer output (`y[i]`: its end-to-end error against the propagated
bound, its local error, the blame) and, where the framework computes gradients, one for the input's
gradient (`dx`) and one per parameter of each layer (`dw[i]`, `db[i]`, `dgamma[i]`, `dbeta[i]`).

A stack whose oracle would need more memory than HARNESS_STACK_MEMORY_MIB (default 8192) is refused
with its estimate before anything is computed.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness.adapters import Adapter
from harness.stack import judge
from harness.stack.gradient_bounds import gradient_bounds
from harness.stack.model import StackCase, StackUnsupported
from harness.stack.reference import StackReference, reference
from harness.stack.runners import has_runner, runner
from harness.status import Status

MEMORY_ENV = "HARNESS_STACK_MEMORY_MIB"
COPIES = 12  # float64 arrays per layer output the oracle holds: value, bound, cotangent, scales, temporaries


def memory_estimate_mib(case: StackCase) -> float:
    """The oracle's peak, roughly: COPIES float64 arrays of every layer's output, plus the parameters."""
    per_sample = case.values * COPIES * 8
    weights = [math.prod(lay.case.w_shape) if lay.case is not None else
               lay.features * lay.in_shape[0] if lay.kind == "linear" else 0 for lay in case.layers]
    params = sum(weights) * 8 * 4  # the weight, its gradient, their absolute values
    return (per_sample * case.batch + params) / 2**20


def memory_budget_mib() -> float:
    return float(os.environ.get(MEMORY_ENV, "8192"))


@dataclass(frozen=True)
class Oracle:
    """What every framework's item of a (stack, dtype) is judged against, computed once."""

    ref: StackReference
    near: list[np.ndarray]  # each layer's own bound near the oracle's input (judge.near_bounds)
    dx_bound: np.ndarray
    grad_bounds: list[dict[str, np.ndarray]]
    seconds: float


@lru_cache(maxsize=4)
def stack_oracle(case: StackCase, dtype: str) -> Oracle:
    """The oracle's stack and its bounds; once per (stack, dtype) and process."""
    start = time.perf_counter()
    layers = list(case.layers)
    ref = reference(case.id, layers, case.batch, dtype, case.seed)
    dx_bound, grad_bounds = gradient_bounds(layers, ref, dtype)
    return Oracle(ref, judge.near_bounds(layers, ref, dtype), dx_bound, grad_bounds, time.perf_counter() - start)


def base_row(case: StackCase, dtype: str, adapter: Adapter) -> dict:
    return {"case_id": case.id, "file": case.file, "line": case.line, "op": "stack",
            "params": json.dumps(case.params()), "description": case.description, "refs": " ".join(case.refs),
            "dtype": dtype, "framework": adapter.name, "library": adapter.library, "path": "stack",
            "tolerance": case.tolerance, "xfail": case.xfail_reason(adapter.name, dtype) or ""}


def _one_row(base: dict, status: str, message: str, **extra) -> list[dict]:
    return [{**base, "quantity": "stack", "status": status, "message": message, **extra}]


def run_stack_item(case: StackCase, dtype: str, adapter: Adapter) -> list[dict]:
    """All result rows of one stack item. Never raises for a framework's failure: it becomes a row."""
    base = base_row(case, dtype, adapter)
    if not adapter.available():
        return _one_row(base, Status.SKIPPED, f"{adapter.library} is not installed here", version="")
    base["version"] = adapter.module.version()
    if not has_runner(adapter):
        return _one_row(base, Status.UNSUPPORTED, f"{adapter.name} has no stack runner (harness.stack.runners)")
    run = runner(adapter)
    if dtype not in run.dtypes:
        return _one_row(base, Status.UNSUPPORTED, f"the {adapter.name} stack runner takes {', '.join(run.dtypes)}")
    need, budget = memory_estimate_mib(case), memory_budget_mib()
    if need > budget:
        return _one_row(base, Status.SKIPPED, f"the oracle needs about {need:,.0f} MiB for this stack, over the "
                        f"budget of {budget:,.0f} MiB ({MEMORY_ENV}); raise it to run the stack")
    try:
        oracle = stack_oracle(case, dtype)
    except Exception as exc:  # noqa: BLE001 - a harness bug is an error row, not a lost item
        return _one_row(base, Status.ERROR, f"the stack oracle failed: {exc!r}", traceback=traceback.format_exc())
    base["oracle_seconds"] = oracle.seconds
    start = time.perf_counter()
    try:
        got = run.run(case.layers, oracle.ref, dtype)
    except StackUnsupported as exc:
        return _one_row({**base, "layer": exc.index}, Status.UNSUPPORTED, str(exc))
    except Exception as exc:  # noqa: BLE001 - any framework exception is a result
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return _one_row(base, Status.ERROR, f"{type(exc).__name__}: {first}", traceback=traceback.format_exc(),
                        seconds=time.perf_counter() - start)
    base.update(seconds=time.perf_counter() - start, version=got.get("version", base["version"]), expression="native")
    try:
        rows = layer_rows(case, dtype, base, oracle, got)
    except ValueError as exc:  # a layer output of the wrong shape
        return _one_row(base, Status.SHAPE_MISMATCH, str(exc))
    if run.gradients:
        rows += gradient_rows(case, base, oracle, got)
    return rows


def layer_rows(case: StackCase, dtype: str, base: dict, oracle: Oracle, got: dict) -> list[dict]:
    """One row per layer output: end-to-end ratio (`bound_ratio`: its error over the bound propagated
    through the stack), local ratio, the blame. A stack row has no `error_ratio` (units of u of
    |x|⋆|w| are a single case's measure)."""
    found = judge.verdicts(list(case.layers), oracle.ref, got["outputs"], dtype, oracle.near)
    blamed = judge.blame(found, case.tolerance)
    calls = got.get("calls") or [""] * len(found)
    rows = []
    for v, layer, call in zip(found, case.layers, calls):
        ok = v.e2e_ratio <= case.tolerance and v.local_ratio <= case.tolerance
        rows.append({**base, "quantity": f"y[{v.index}]", "layer": v.index, "layer_name": v.name, "layer_kind": v.kind,
                     "status": Status.PASS if ok else Status.MISMATCH, "bound_ratio": v.e2e_ratio, "local_ratio": v.local_ratio, "max_abs_error": v.max_abs,
                     "blame": blamed is not None and v.index == blamed.index, "call": call,
                     "shape": list(layer.out_shape), "message": judge.message(v, blamed, case.tolerance)})
    return rows


def gradient_rows(case: StackCase, base: dict, oracle: Oracle, got: dict) -> list[dict]:
    """The input's gradient and every parameter's, each against its bound (harness.stack.gradient_bounds)."""
    ref = oracle.ref
    rows = [_gradient_row(case, base, "dx", None, "input", got["dx"], ref.dx, oracle.dx_bound)]
    for layer, want, bounds, have in zip(case.layers, ref.grads, oracle.grad_bounds, got["grads"]):
        for n, value in want.items():
            rows.append(_gradient_row(case, base, f"d{n}[{layer.index}]", layer.index, layer.name, have.get(n), value,
                                      bounds[n], layer.kind))
    return rows


def _gradient_row(case, base, quantity, index, name, have, want, bound, kind="input") -> dict:
    row = {**base, "quantity": quantity, "layer": index, "layer_name": name, "layer_kind": kind,
           "expected_shape": list(np.shape(want))}
    if have is None:
        return {**row, "status": Status.ERROR, "message": f"{base['framework']} returned no gradient for {quantity}"}
    have = np.asarray(have, dtype=np.float64)
    if have.shape != want.shape:
        return {**row, "status": Status.SHAPE_MISMATCH, "shape": list(have.shape),
                "message": f"shape {have.shape} where the oracle has {want.shape}"}
    ratio, max_abs = judge.compare(have, want, bound)
    ok = ratio <= case.tolerance
    return {**row, "status": Status.PASS if ok else Status.MISMATCH, "bound_ratio": ratio,
            "max_abs_error": max_abs, "shape": list(have.shape),
            "message": "" if ok else f"{quantity} is off by {ratio:.3g}x its bound propagated back through the stack"}
