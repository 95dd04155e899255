"""`harness repro` of a stack case: the layer to blame, alone, as a standalone script.

The stack runs in the framework (harness.stack.item); where a conv or conv_transpose layer is to
blame, that layer becomes a single case (its canonical case, named `STACK.layerN`, at the layer's
line) and `harness.repro.build` writes the same standalone script as for any single case: NumPy
and the framework only, seeded inputs, the oracle's values and bound embedded. A layer with no
single-case form (an activation, batch norm, linear, unpool, ...) is named with the call it ran and
the command that reruns the stack.
"""

from __future__ import annotations

from harness import repro
from harness.adapters import Adapter
from harness.stack.item import run_stack_item
from harness.stack.model import StackCase, layer_case
from harness.status import Status


def build(stack: StackCase, dtype: str, adapter: Adapter, npz_name: str | None = None) -> repro.Repro:
    """The blamed layer's script; ReproError when nothing is blamed or the layer has no single-case form."""
    rows = run_stack_item(stack, dtype, adapter)
    rerun = f"harness run {stack.file} -k {stack.id} -f {adapter.name} -d {dtype}"
    blamed = next((r for r in rows if r.get("blame")), None)
    if blamed is None:
        failing = [r["quantity"] for r in rows if r["status"] != Status.PASS]
        what = f"no layer is to blame; not passing: {', '.join(failing)}" if failing else "every row passes"
        raise repro.ReproError(f"{stack.id} in {adapter.name} {dtype}: {what} (rerun: {rerun})")
    layer = stack.layers[blamed["layer"]]
    if layer.kind not in ("conv", "conv_transpose"):
        raise repro.ReproError(f"the layer to blame is {layer.index} ({layer.name}, {layer.kind}): it ran "
                               f"`{blamed.get('call', '')}`, which has no single-case reproducer; rerun the stack: {rerun}")
    note = ", the layer the harness blamed in it, alone on seeded inputs"
    return repro.build(layer_case(stack, layer, dtype, note), dtype, adapter, npz_name)
