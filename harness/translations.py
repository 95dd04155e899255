"""One configuration spelled natively in every framework (what `harness translate` prints)."""

from __future__ import annotations

from harness import adapters as registry
from harness.case import Case


def translations(case: Case, dtype: str, names: list[str] | None = None) -> list[dict]:
    """For each adapter: how it expresses the case (native / emulated / unsupported) and the call."""
    out = []
    for adapter in registry.select(names):
        row = {"framework": adapter.name, "expression": "", "call": "", "reason": ""}
        if not adapter.available():
            row.update(expression="not installed", reason=f"{adapter.library} is not installed here")
        elif not adapter.applies_to(case):
            continue
        else:
            plan = adapter.module.plan(case, dtype, adapter.path)
            row.update(expression=plan.expression, call=plan.call, reason=plan.reason)
        out.append(row)
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
