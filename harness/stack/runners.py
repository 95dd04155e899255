"""The registry of stack runners: which framework runs a stack through which module.

A runner's name is its framework's adapter name (harness.adapters.REGISTRY), so `--framework`,
availability, versions and the environment record are the single cases' own. Every module has the
same contract: NAME, GRADIENTS, DTYPES and `run(layers, ref, dtype, **options) -> {outputs, dx, grads,
version, calls}` (outputs channels-first float64, one per layer), raising StackUnsupported before
it runs for a layer it cannot express.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType

from harness import adapters as registry
from harness.adapters import program as pg

RUNNERS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "torch": ("harness.stack.torch_stack", ()),
    "tensorflow": ("harness.stack.tf_stack", ()),
    "jax": ("harness.stack.jax_stack", ()),
    "onnxruntime": ("harness.stack.onnx_stack", (("runtime", "onnxruntime"),)),
    "onnx-reference": ("harness.stack.onnx_stack", (("runtime", "reference"),)),
    "keras": ("harness.stack.keras_stack", ()),
    "chainer": ("harness.stack.chainer_stack", ()),
}


@dataclass(frozen=True)
class StackRunner:
    name: str
    module_name: str
    options: tuple[tuple[str, str], ...] = field(default=())

    @cached_property
    def module(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    def run(self, layers, ref, dtype: str) -> dict:
        return self.module.run(list(layers), ref, dtype, **dict(self.options))

    @property
    def gradients(self) -> bool:
        return bool(self.module.GRADIENTS)

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.module.DTYPES)


def has_runner(adapter: registry.Adapter) -> bool:
    return adapter.name in RUNNERS


def runner(adapter: registry.Adapter) -> StackRunner:
    module, options = RUNNERS[adapter.name]
    return StackRunner(adapter.name, module, options)


def program_call(steps) -> str:
    """A conv layer's call as the runner executed it: its program steps, rendered, on one line."""
    return "; ".join(pg.render(s) for s in steps)
