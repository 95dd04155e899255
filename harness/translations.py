"""One configuration spelled natively in every framework (what `harness translate` prints).

Everything printed is generated from the programs the adapters run (`Plan.program`) or from the
adapters' own layer and weight-layout descriptions, and tests execute it: tests/test_printed_code.py
(the functional call), tests/test_translate_code.py (layer objects and weight conversions).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import adapters as registry
from harness.adapters import program as pg
from harness.case import Case


@dataclass(frozen=True)
class Translation:
    framework: str
    expression: str  # native | emulated | unsupported | not installed
    reason: str = ""
    call: str = ""  # the functional program, as run
    layer: str = ""  # the framework's layer object for the case
    weights: str = ""  # the weight conversion from `weights_from`'s layout to this framework's


def weight_conversion(case: Case, source: registry.Adapter, target: registry.Adapter) -> tuple[pg.Step, ...]:
    """NumPy steps taking `source`'s weight layout (its native name) to `target`'s, through canonical w_torch."""
    return source.weight_steps(case)[1] + target.weight_steps(case)[0]


def _translation(case: Case, dtype: str, adapter: registry.Adapter, source: registry.Adapter | None) -> Translation:
    plan = adapter.plan(case, dtype)
    layer = adapter.layer_program(case, dtype) if plan.program is not None else None
    weights = ""
    if source is not None and adapter.library != source.library:
        steps = weight_conversion(case, source, adapter)
        weights = "\n".join(["import numpy", *map(pg.render, steps)]) if steps else ""
    return Translation(adapter.name, plan.expression, plan.reason, plan.call, layer.source() if layer else "", weights)


def translations(case: Case, dtype: str, names: list[str] | None = None,
                 weights_from: str | None = "torch") -> list[Translation]:
    """For each adapter: how it expresses the case (native / emulated / unsupported), the call, the layer
    object, and the weight conversion from `weights_from`'s layout."""
    source = registry.get(weights_from) if weights_from else None
    out = []
    for adapter in registry.select(names):
        if not adapter.available():
            out.append(Translation(adapter.name, "not installed", f"{adapter.library} is not installed here"))
        elif adapter.applies_to(case):
            out.append(_translation(case, dtype, adapter, source))
    return out


def find_cases(cases: list[Case], wanted: str) -> tuple[list[Case], str]:
    """The cases a user means by `wanted` (an id or FILE::ID), else none and a hint of what exists."""
    chosen = [c for c in cases if c.id == wanted or f"{c.file}::{c.id}" == wanted]
    if chosen:
        return chosen, ""
    near = [c.id for c in cases if wanted in c.id][:10]
    in_file = [c.id for c in cases if c.file == wanted or c.file.endswith("/" + wanted)][:10]
    if in_file:
        return [], f"; that is a file: give a case id or FILE::ID, e.g. {', '.join(in_file)}"
    return [], f"; did you mean: {', '.join(near)}" if near else ""


def verdict(case: Case, dtype: str, adapter: registry.Adapter) -> str:
    """What running the case in `adapter` against the oracle (seeded inputs, forward and VJP) says, in a line."""
    from harness.runner import run_item
    from harness.status import FAILING, Status

    if not adapter.available():
        return f"{adapter.library} is not installed here"
    rows = run_item(case, dtype, adapter, identities=False)
    bad = [r for r in rows if r["status"] in FAILING]
    if bad:
        return "; ".join(f"{r['quantity']}: {r['status']} ({r.get('message', '')})" for r in bad)
    if all(r["status"] in (Status.UNSUPPORTED, Status.SKIPPED) for r in rows):
        return f"{rows[0]['status']}: {rows[0].get('message', '')}"
    ratio = max((r.get("bound_ratio") or 0.0) for r in rows)
    done = ", ".join(r["quantity"] for r in rows if r["status"] == Status.PASS)
    return f"agrees with the oracle ({done}; max bound ratio {ratio:.3g})"
