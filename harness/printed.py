"""Printed code executed: a plan's program, as printed, run in a fresh namespace against the adapter's run.

`check(adapter, case, dtype)` prints the adapter's whole script for the case (`program.script`:
setup, body under its autodiff, gradients, conversions back to NumPy), executes it with nothing
in its namespace but the case's canonical inputs x, w, b, g (the script imports the framework and
NumPy itself), and compares every quantity with what `adapter.run` returned, bit for bit. The
test suite runs it over every formulation of every adapter; `scripts/printed_coverage.py` over
the whole library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.adapters import Adapter
from harness.adapters import program as pg
from harness.case import Case
from harness.runner import reference


@dataclass(frozen=True)
class Outcome:
    formulation: str  # the plan's own label for how it computed the case
    expression: str
    differences: tuple[str, ...] = ()  # one line per quantity that differs
    skipped: str = ""  # why nothing was executed (unsupported plan, refused run)

    @property
    def same(self) -> bool:
        return not self.differences and not self.skipped


def formulation(plan) -> str:
    """A plan's formulation label: its details' `label`, else its expression."""
    return getattr(plan.details, "label", "") or plan.expression


def execute_script(program: pg.Program, arrays: dict, gradients: bool) -> dict:
    """Run the printed script in a fresh namespace holding only copies of the canonical arrays."""
    namespace = {"__name__": "printed", **{k: np.array(v) for k, v in arrays.items() if v is not None}}
    exec(compile("\n".join(pg.script(program, gradients)), "<printed>", "exec"), namespace)  # noqa: S102
    return namespace


def _difference(q: str, got, printed) -> str:
    got, printed = np.asarray(got), np.asarray(printed)
    if got.shape != printed.shape:
        return f"{q}: run {got.shape}, printed {printed.shape}"
    if np.array_equal(got, printed, equal_nan=True):
        return ""
    return f"{q}: max |run - printed| = {np.nanmax(np.abs(got - printed)):.3g}"


def check(adapter: Adapter, case: Case, dtype: str) -> Outcome:
    plan = adapter.plan(case, dtype)
    label = formulation(plan)
    if plan.program is None:
        return Outcome(label, plan.expression, skipped=plan.reason or "no program")
    inputs = reference(case, dtype).inputs
    try:
        got = adapter.run(case, dtype, inputs, plan)
    except Exception as exc:  # noqa: BLE001 - a refusal or a framework bug: nothing to compare with
        return Outcome(label, plan.expression, skipped=f"run raised {type(exc).__name__}: {exc}")
    gradients = adapter.gradients and "dx" in got
    namespace = execute_script(plan.program, inputs.as_dict(), gradients)
    diffs = tuple(d for q in got if (d := _difference(q, got[q], namespace.get(q, np.array(np.nan)))))
    return Outcome(label, plan.expression, diffs)
