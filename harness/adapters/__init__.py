"""The registry of adapters. Frameworks are imported lazily, only when a case runs in them.

A framework that is not installed yields `skipped` rows, never an ImportError.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

from harness import precision
from harness.adapters import base

# adapter name → (module, path). Several names may share a module: one per computation path.
REGISTRY: dict[str, tuple[str, str]] = {
    "numpy": ("harness.adapters.numpy_adapter", "textbook"),
    "torch": ("harness.adapters.torch_adapter", "functional"),
    "tensorflow": ("harness.adapters.tf_adapter", "nn"),
    "tensorflow-backprop": ("harness.adapters.tf_adapter", "backprop_input"),
    "jax": ("harness.adapters.jax_adapter", "lax"),
    "jax-dilated": ("harness.adapters.jax_adapter", "conv_general_dilated"),
    "onnxruntime": ("harness.adapters.onnx_adapter", "onnxruntime"),
    "onnx-reference": ("harness.adapters.onnx_adapter", "reference"),
    "keras": ("harness.adapters.keras_adapter", "ops"),
    "chainer": ("harness.adapters.chainer_adapter", "functions"),
    # deployment runtimes in the main venv
    "openvino": ("harness.adapters.openvino_adapter", "opset"),
    "openvino-onnx": ("harness.adapters.openvino_adapter", "onnx_frontend"),
    "litert": ("harness.adapters.litert_adapter", "interpreter"),
    "mlx": ("harness.adapters.mlx_adapter", "core"),
    "mlx-general": ("harness.adapters.mlx_adapter", "conv_general"),
    # deployment runtimes in their own tox envs (skipped in the main venv): make deploy
    "paddle": ("harness.adapters.paddle_adapter", "functional"),
    "tvm": ("harness.adapters.tvm_adapter", "relax_onnx"),
    "tvm-relax": ("harness.adapters.tvm_adapter", "relax"),
    "mindspore": ("harness.adapters.mindspore_adapter", "ops"),
    "tinygrad": ("harness.adapters.tinygrad_adapter", "tensor"),
}

# Extra adapters (third-party frameworks, or test doubles): "name=module:path,name2=module2:path2"
for _spec in filter(None, os.environ.get("HARNESS_EXTRA_ADAPTERS", "").split(",")):
    _name, _, _target = _spec.partition("=")
    _module, _, _path = _target.partition(":")
    REGISTRY[_name.strip()] = (_module.strip(), _path.strip() or "default")


@dataclass(frozen=True)
class Adapter:
    name: str
    module_name: str
    path: str

    @cached_property
    def module(self) -> ModuleType:
        try:
            return importlib.import_module(self.module_name)
        except ImportError as exc:
            # a missing framework is normal (its rows are `skipped`); a missing harness module is a bug
            if (exc.name or "").split(".")[0] == "harness":
                raise RuntimeError(f"adapter {self.name!r}: cannot import {self.module_name}: {exc}") from exc
            raise

    def hook(self, name: str):
        """One of the contract's optional names (`base.DEFAULTS`), the module's own or the default."""
        try:
            return getattr(self.module, name, base.DEFAULTS[name])
        except ImportError:
            return base.DEFAULTS[name]

    def plan(self, case, dtype: str) -> base.Plan:
        """The module's plan, after the checks every adapter needs: a path it has, a dtype it takes."""
        paths = self.module.PATHS
        if self.path not in paths:
            raise ValueError(f"adapter {self.name!r}: unknown path {self.path!r}; {self.module_name} has "
                             f"{', '.join(paths)}")
        dtypes = getattr(self.module, "DTYPES", None)
        if dtypes is None:
            raise AttributeError(f"adapter {self.name!r}: {self.module_name} defines no DTYPES (the dtypes it "
                                 "takes; see harness/adapters/base.py)")
        if dtype not in dtypes:
            return base.unsupported_plan(self.path, f"{self.library} has no {dtype} here (it takes {', '.join(dtypes)})")
        return self.module.plan(case, dtype, self.path)

    def run(self, case, dtype: str, inputs, plan: base.Plan) -> dict:
        return self.module.run(case, dtype, inputs, plan)

    def layer_program(self, case, dtype: str):
        return self.hook("layer_program")(case, dtype)

    def weight_steps(self, case) -> tuple[tuple, tuple]:
        """(to native, from native): NumPy steps between canonical `w_torch` and the framework's layout."""
        return tuple(self.hook("weight_to_native")(case)), tuple(self.hook("weight_from_native")(case))

    @property
    def gradients(self) -> bool:
        return bool(self.hook("GRADIENTS"))

    @property
    def library(self) -> str:
        try:
            return self.module.LIBRARY
        except ImportError:
            return self.name.split("-")[0]

    def available(self) -> bool:
        try:
            return bool(self.module.available())
        except ImportError:
            return False

    def applies_to(self, case) -> bool:
        """Some paths exist only for one op (e.g. TF's backprop_input for conv_transpose); a missing
        framework's items still run, and report `skipped`."""
        return bool(self.hook("applies_to")(case, self.path))

    @property
    def runs_forward_only(self) -> bool:
        """Whether `run` accepts inputs without a cotangent and then computes the forward alone."""
        return bool(self.hook("FORWARD_ONLY_RUNS"))

    def contract(self, case, dtype: str, device: str = "cpu") -> precision.Contract:
        """How this path stores and accumulates `dtype` on `device`: the case's own `accumulation`,
        else the adapter's documented one, else the default contract."""
        if case.accumulation and dtype in precision.LOW_PRECISION:
            return precision.Contract(dtype, case.accumulation, f"the case: {case.accumulation_reason}")
        return self.hook("precision")(case, dtype, self.path, device) or precision.default_contract(dtype, device)

    def known_issue(self, case, dtype: str) -> str | None:
        """An adapter's own expected failure (a framework bug over a whole class of cases), or None."""
        if not self.available():  # its rows are `skipped`: no framework, no bug to expect
            return None
        return self.hook("known_issue")(case, dtype, self.path)


def named(adapter_name: str, wanted: str) -> bool:
    """Whether `wanted` names this adapter: itself, or its library ('tensorflow' → 'tensorflow-backprop')."""
    return adapter_name == wanted or adapter_name.startswith(wanted + "-")


def get(name: str) -> Adapter:
    if name not in REGISTRY:
        raise KeyError(f"unknown framework {name!r}; known: {', '.join(REGISTRY)}")
    module, path = REGISTRY[name]
    return Adapter(name, module, path)


def all_adapters() -> list[Adapter]:
    return [get(n) for n in REGISTRY]


def select(names: list[str] | None) -> list[Adapter]:
    """Adapters by name or library prefix ('tensorflow' selects both TF paths); None = all."""
    if not names:
        return all_adapters()
    chosen = []
    for want in names:
        match = [n for n in REGISTRY if named(n, want)]
        if not match:
            raise KeyError(f"unknown framework {want!r}; known: {', '.join(REGISTRY)}")
        chosen += [get(n) for n in match if get(n) not in chosen]
    return chosen
