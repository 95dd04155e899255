"""Keras 3: keras.ops.conv / keras.ops.conv_transpose, on whatever KERAS_BACKEND selects.

Keras is a vocabulary more than an implementation: one padding word for all axes (`valid` or
`same`), `output_padding` for conv_transpose, no groups for conv_transpose. The spelling and the
program that runs and prints it are in `harness.adapters.keras_padding` (pure); `plan` says which
canonical cases that vocabulary expresses at all (unsupported with the reason otherwise), `run`
executes the program and so shows whether what the backend computes for them matches.

Measured with Keras 3.15.1: the JAX backend's own padding arithmetic gives the same conv_transpose
crop as TF's rule for every spelling whose length TF accepts, and the torch backend's crops agree
on the random Keras-shaped cases of the tests. Should a backend ever place the crop elsewhere, its
rows show a mismatch: that is a finding, not something to adapt to.

Layouts follow the case: `data_format="channels_first"` unless the case asks for channels_last.
TensorFlow on CPU computes NCHW only through oneDNN (float32, bfloat16); otherwise it refuses
("only supports the NHWC tensor format"): such rows are unsupported with TF's message, as are
TF's other refusals: strides > 1 together with dilation > 1 in a conv (even on different axes),
and dilation > 1 in a float64 / float16 conv_transpose on CPU.

Gradients: computed through the backend's own autodiff of the Keras call (tf.GradientTape,
jax.vjp under jax.jit, torch.autograd.grad), so dx/dw/db rows test Keras's spelling composed with
the backend's VJP, the way a Keras model trains. They come at little cost and catch a backend whose
gradient of its conv_transpose spelling differs from its forward.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from functools import lru_cache

import numpy as np

from harness.adapters import keras_padding as kp
from harness.adapters import program as pg
from harness.adapters.base import NATIVE, Plan, Unsupported, quiet_import, refusals, unsupported_plan
from harness.adapters.keras_padding import precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "keras"
PATHS = ("ops",)
DTYPES = ("float64", "float32", "float16", "bfloat16")
_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
_REFUSALS = ("not yet support", "only supports", "currently only supports", "is not supported",
             "not supported")


def backend_name() -> str:
    """The backend Keras will use: KERAS_BACKEND, else ~/.keras/keras.json, else tensorflow."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    config = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "keras.json")
    try:
        import json

        with open(config, encoding="utf-8") as fh:
            return json.load(fh).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def available() -> bool:
    if importlib.util.find_spec("keras") is None:
        return False
    module = _BACKEND_MODULES.get(backend_name())
    return module is not None and importlib.util.find_spec(module) is not None


@lru_cache(maxsize=1)
def _keras():
    if backend_name() == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 stays float64
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = quiet_import("keras")

    if keras.backend.backend() == "tensorflow":  # per-shape retracing warnings are expected here
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")

    return keras


def _backend_version() -> str:
    name = _keras().backend.backend()
    module = importlib.import_module(_BACKEND_MODULES.get(name, name))
    return getattr(module, "__version__", "")


def version() -> str:
    keras = _keras()
    return f"{keras.__version__} ({keras.backend.backend()} {_backend_version()})"


def device() -> str:
    name = _keras().backend.backend()
    if name == "jax":
        import jax

        return jax.default_backend()
    if name == "torch":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return "cpu"


def environment() -> dict[str, str]:
    keras = _keras()
    env = {
        "keras.version": keras.__version__,
        "keras.backend": keras.backend.backend(),
        "keras.backend_version": _backend_version(),
        "keras.floatx": keras.config.floatx(),
        "keras.image_data_format": keras.config.image_data_format(),
        "keras.device": device(),
    }
    if keras.backend.backend() == "tensorflow":
        env["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)")
    return env


def layer_program(case, dtype: str) -> pg.Program | None:
    """keras.layers.Conv*D / Conv*DTranspose for the case on the selected backend (`harness translate`)."""
    return kp.layer_program(case, dtype, backend_name())


def plan(case, dtype: str, path: str = "ops") -> Plan:
    spelled = kp.spelling(case)
    if spelled.word is None:
        return unsupported_plan(path, spelled.reason)
    backend = backend_name()
    if backend not in kp.AUTODIFF:
        return unsupported_plan(path, f"keras backend {backend!r} has no autodiff here")
    return Plan(path, NATIVE, kp.program(case, dtype, backend, spelled), device=device() if available() else "cpu",
                details=spelled)


def _message(exc: BaseException) -> str:
    """The line of a refusal that says what is refused (XLA and TF put it below a traceback)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = next((ln for ln in lines if any(n in ln for n in _REFUSALS)), lines[0] if lines else "")
    first = first.removeprefix(f"{type(exc).__name__}: ")  # XLA repeats the type in its text
    return f"{type(exc).__name__}: {first[:300]}"


_RUNNERS = {pg.TAPE: pg.run_tape, pg.VJP: pg.run_vjp, pg.STEPS: pg.run}


def _modules(keras) -> dict:
    alias, module = kp.BACKEND_IMPORTS[keras.backend.backend()]
    return {"numpy": np, "keras": keras, alias: importlib.import_module(module)}


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    keras = _keras()
    backend = keras.backend.backend()
    if backend not in kp.AUTODIFF:
        raise Unsupported(f"keras backend {backend!r} has no autodiff here")
    with refusals(f"keras[{backend}]", _REFUSALS, _message):
        return _RUNNERS[plan.program.autodiff](plan.program, _modules(keras), inputs.as_dict())
