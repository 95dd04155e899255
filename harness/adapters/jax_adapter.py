"""JAX: jax.lax.conv_general_dilated and jax.lax.conv_transpose, forward and VJP under jit.

Two paths:

- ``lax``: conv via ``lax.conv_general_dilated``; conv_transpose via ``lax.conv_transpose`` with
  ``transpose_kernel=True`` (without it JAX neither flips the kernel nor swaps its channel axes,
  so it does not compute the adjoint of conv that TF/PyTorch compute: jax-ml/jax#14337) and
  explicit padding (d*(k-1) - lo, d*(k-1) - hi) of the lhs-dilated input. ``lax.conv_transpose``
  has no groups argument: groups > 1 are emulated by splitting channels and concatenating.
- ``conv_general_dilated``: conv as above; conv_transpose as ``lax.conv_general_dilated`` with
  lhs_dilation=stride, the same padding, a flipped and regrouped kernel and
  feature_group_count=groups (native for groups).

The computation is one `program.Program` built in `harness.adapters.jax_padding` (pure); `run`
executes it as `program.script` prints it: the layout transposes in NumPy before jit (`prepare`;
inside it XLA folds g's transpose into db's reduction, which then sums in another order), then
setup (casts) and cotangent inside `compute`, the body under `jax.vjp`, all compiled together by
`jax.jit`. The casts stay inside the compiled function: moving them out compiles about a fifth
faster but lets XLA sum db in another order (measured: float32 db bound ratios 2-5x larger), which
would change the library's numbers. One jitted function per program (cached), and jit caches the
executable per shape. The identity rows' dual op runs forward only (FORWARD_ONLY_RUNS): a fraction
of a forward+VJP.

float64 needs ``jax_enable_x64``, switched on at first use (importing this module does not import
jax) and in the program's prelude (the printed script switches it on before its first jit call).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np

from harness.adapters import jax_padding as jp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, refusals
from harness.adapters.jax_padding import precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "jax"
PATHS = ("lax", "conv_general_dilated")
DTYPES = ("float64", "float32", "float16", "bfloat16")
FORWARD_ONLY_RUNS = True  # run() with inputs.g None returns y alone (see base.py)


def layer_program(case, dtype: str):
    """flax.linen.Conv / ConvTranspose for the case (`jax_padding.layer_program`), only where flax is
    installed: `harness translate` prints no layer it cannot have executed here."""
    return jp.layer_program(case, dtype) if importlib.util.find_spec("flax") is not None else None


def available() -> bool:
    return importlib.util.find_spec("jax") is not None


def compilation_cache_dir() -> str | None:
    """Where compiled forward+VJP functions persist between runs (None: off).

    HARNESS_JAX_CACHE=0 turns it off, a path moves it; the default is the user's cache folder.
    A fresh CI machine gains nothing, a second local run skips most of JAX's compile time (which
    is most of the suite's). The cache keys include the jax/jaxlib versions and the XLA flags.
    """
    setting = os.environ.get("HARNESS_JAX_CACHE", "")
    if setting == "0":
        return None
    if setting:
        return setting
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "conv-harness", "jax")


@lru_cache(maxsize=1)
def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = compilation_cache_dir()
    if cache:
        try:
            os.makedirs(cache, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        except (OSError, AttributeError, ValueError):  # unwritable folder, or a jax without these options
            pass
    return jax


def configured() -> object:
    """jax, configured as every JAX run of the harness uses it (x64, the persistent compilation cache)."""
    return _jax()


def version() -> str:
    return _jax().__version__


def device() -> str:
    return _jax().default_backend()


def environment() -> dict[str, str]:
    jax = _jax()
    try:
        import jaxlib

        jaxlib_version = jaxlib.__version__
    except (ImportError, AttributeError):
        jaxlib_version = ""
    return {
        "jax.x64": str(bool(jax.config.jax_enable_x64)),
        "jax.backend": jax.default_backend(),
        "jax.device": str(jax.devices()[0]),
        "jax.default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "jax.precision": "HIGHEST (per call)",
        "jaxlib": jaxlib_version,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jax.compilation_cache_dir": compilation_cache_dir() or "(off)",
    }


def plan(case, dtype: str, path: str = "lax") -> Plan:
    program, f = jp.program(case, dtype, path)
    return Plan(path, NATIVE if f.native else EMULATED, program, f.reason, device(), f)


def _modules() -> dict:
    jax = _jax()
    return {"jax": jax, "jnp": jax.numpy, "numpy": np}


@lru_cache(maxsize=512)
def _compiled(program: pg.Program, gradients: bool = True):
    """The program's jitted `compute` (`program.vjp_function`), once per program: jit then caches
    the executable per input shape."""
    return pg.vjp_function(program, _modules(), gradients)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Forward and VJP; with `inputs.g` None (the identity rows' dual op) the forward alone."""
    with refusals("jax"):  # XlaRuntimeError, TypeError, NotImplementedError: refusal or bug
        return pg.run_vjp(plan.program, _modules(), inputs.as_dict(),
                          compiled=lambda program, _modules, gradients: _compiled(program, gradients))
