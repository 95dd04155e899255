"""A case entry with `layers:` → a `StackCase` (harness.stack.model), its errors on the layer's own line.

The stack's fields are a single case's shared ones (id, batch, dtype, frameworks, tolerance, seed,
description, refs, xfail, marks) plus `input_shape` (per sample: C, *spatial, or features) and
`layers` (read by harness.stack.spec: a word, a one-key mapping, canonical conv fields or a native
spelling). A layer that does not fit is a FieldError `layers[i]` at that layer's line.
"""

from __future__ import annotations

from harness.loader.common import FieldError
from harness.loader.schema import StackSpec, check_framework_names, check_xfail_keys
from harness.stack import spec as stack_spec
from harness.stack.model import StackCase, StackError

STACK_ONLY = ("input_shape", "layers")


class LayerError(FieldError):
    """A layer that does not fit, with the line it is written on."""

    def __init__(self, field: str, message: str, line: int | None):
        super().__init__(field, message)
        self.line = line


def is_stack(fields: dict) -> bool:
    return "layers" in fields


def stack_fields(fields: dict, own_keys) -> dict:
    """The entry's fields a stack takes: `defaults:` give only what a stack has, the entry everything
    it wrote (so its own unknown keys are errors)."""
    allowed = set(StackSpec.model_fields)
    return {k: v for k, v in fields.items() if k in own_keys or k in allowed}


def to_stack(spec: StackSpec, file: str, line: int, layer_lines: list[int]) -> StackCase:
    """Check the layers one after another (shapes inferred) and build the StackCase."""
    check_framework_names("frameworks", spec.frameworks or [])
    check_xfail_keys(spec.xfail)
    try:
        layers = stack_spec.layers(tuple(spec.input_shape), spec.layers, spec.batch)
    except StackError as exc:
        field = f"layers[{exc.index}]" if exc.index is not None else "layers"
        at = layer_lines[exc.index] if exc.index is not None and exc.index < len(layer_lines) else None
        raise LayerError(field, exc.message if exc.index is None else f"({exc.kind}) {exc.message}", at) from None
    return StackCase(
        id=spec.id, file=file, line=line, input_shape=tuple(spec.input_shape), batch=spec.batch,
        layers=tuple(layers), layer_lines=tuple(layer_lines),
        dtypes=tuple([spec.dtype] if isinstance(spec.dtype, str) else spec.dtype),
        frameworks=tuple(spec.frameworks) if spec.frameworks else None,
        tolerance=spec.tolerance.factor if spec.tolerance else 1.0,
        tolerance_reason=spec.tolerance.reason if spec.tolerance else "", seed=spec.seed,
        description=spec.description, refs=tuple(spec.refs), xfail=tuple(spec.xfail.items()), marks=tuple(spec.marks))
