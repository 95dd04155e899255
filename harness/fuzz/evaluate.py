"""A draw as `harness run` would run it: fields → the loader's Case → session items → rows, and the
failures in those rows (what a campaign keeps of each item).

A failure is a row whose status is failing (mismatch, shape_mismatch, error, crash): an error that
is a recognised refusal is already `unsupported` in the adapters (harness.adapters.base.refusals),
so it is never a failure here. A failure is `known` when every failing row of its item carries an
expected-failure reason (an adapter's known issue, a declared precision deviation).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.case import Case
from harness.session import Item, make_item
from harness.status import Status

ORDER = ("y", "dx", "dw", "db", "adjoint", "transpose_is_grad")  # which failing quantity names a failure


def to_case(fields: dict, file: str, line: int = 1):
    """The loader's Case (a StackCase for `layers:`) for case-file fields (ValueError, a CaseError or
    pydantic's, if refused)."""
    from harness.loader import native, stack
    from harness.loader.schema import CaseSpec, StackSpec
    from harness.loader.schema import to_case as build

    fields = {"id": "draw", **fields}
    if stack.is_stack(fields):
        return stack.to_stack(StackSpec.model_validate(fields), file, line, [])
    return build(CaseSpec.model_validate(native.merge(fields, fields.keys())), file, line)


def items(case: Case, adapters: list) -> list[Item]:
    """The case's items in the chosen adapters that have a path for it (one dtype per draw)."""
    from harness.session import _runs_in

    return [make_item(case, dtype, a) for dtype in case.dtypes for a in adapters if _runs_in(case, a)]


@dataclass(frozen=True)
class Failure:
    """What failed in one item: the first failing quantity (in ORDER), its status and message, every
    failing quantity, and why it is expected (empty: a new failure)."""

    framework: str
    dtype: str
    quantity: str
    status: str
    message: str
    failing: tuple[str, ...]
    known: str
    emulated: str = ""  # the plan's reason when the harness emulated what the framework refuses

    @property
    def key(self) -> tuple[str, str, str]:
        """What a shrink must keep: the same framework, first failing quantity and status (the dtype
        is one of the features a shrink may simplify)."""
        return (self.framework, self.quantity, self.status)


def failure(rows: list[dict]) -> Failure | None:
    """The item's failure, or None when no row fails."""
    bad = [r for r in rows if Status.of(r["status"]).failing]
    if not bad:
        return None
    bad.sort(key=lambda r: ORDER.index(q) if (q := _plain(r["quantity"])) in ORDER else len(ORDER))
    first = bad[0]
    known = (first.get("xfail") or "") if all(r.get("xfail") for r in bad) else ""
    emulated = str(first.get("reason") or "") if first.get("expression") == "emulated" else ""
    return Failure(first["framework"], first["dtype"], _plain(first["quantity"]), str(first["status"]),
                   str(first.get("message") or "")[:500], tuple(r["quantity"] for r in bad), known, emulated)


def _plain(quantity: str) -> str:
    """A stack's y[3] or dw[1] as y or dw: a shrink may drop the layers before it."""
    return quantity.split("[")[0]
