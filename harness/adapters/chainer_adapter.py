"""Chainer 7.8.1: chainer.functions.convolution_2d / deconvolution_2d (2D) and convolution_nd /
deconvolution_nd (1D, 3D), forward and gradients through chainer.grad with the seeded cotangent.

Chainer imports only with numpy < 2, so it lives in its own tox environment (tox -e chainer); in
the main environment `available()` is False and every row is `skipped`. `available()` never
raises: it checks that the package exists and that numpy is older than 2 (importing chainer under
numpy 2 fails), without importing chainer.

The vocabulary (a conv pads (p, p), with cover_all (p, p + s - 1); a deconvolution crops p at the
start and keeps `outsize` elements), the emulations of the cases outside it and the program that
runs and prints them are in `harness.adapters.chainer_padding` (pure); this module executes that
program. Chainer has no bfloat16.

run() executes the program under `chainer.using_config("train", True)` and
`chainer.using_config("use_ideep", "never")`. These are Chainer 7.8.1's defaults (measured in the
chainer env: config.train True, config.use_ideep 'never', and intel64.is_ideep_available() False),
so the printed script, which runs under the defaults, computes the same numbers (the printed-code
test checks it bit for bit); environment() records use_ideep.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from harness.adapters import chainer_padding as cp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, Plan, Unsupported, first_line, refusals
from harness.adapters.chainer_padding import layer_program, precision, weight_from_native, weight_to_native  # noqa: F401 - hooks

LIBRARY = "chainer"
PATHS = ("functions",)
DTYPES = ("float64", "float32", "float16")


def _numpy_major() -> int:
    """numpy's major version from its metadata (cheap; never imports chainer)."""
    from importlib import metadata

    try:
        return int(metadata.version("numpy").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def available() -> bool:
    """Chainer is installed and importable here. Never raises.

    Cheap where Chainer cannot live: no chainer package, or numpy >= 2 (chainer's import fails
    there), answer False without importing anything. Where both checks pass, one guarded import
    (cached) confirms it, so that a broken installation (e.g. setuptools >= 74, whose distutils
    lacks the msvccompiler that chainer's numpy.distutils check imports) gives skipped rows
    instead of an error in version().
    """
    try:
        if importlib.util.find_spec("chainer") is None or _numpy_major() >= 2:
            return False
    except (ImportError, ValueError):  # a broken or shadowed installation counts as absent
        return False
    return _importable()


@lru_cache(maxsize=1)
def _importable() -> bool:
    try:
        import chainer  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure to import means: not available here
        return False
    return True


@lru_cache(maxsize=1)
def _chainer():
    import chainer

    return chainer


def version() -> str:
    return _chainer().__version__


def environment() -> dict[str, str]:
    chainer = _chainer()
    return {
        "chainer.numpy": np.__version__,
        "chainer.use_ideep": str(chainer.config.use_ideep),
        "chainer.ideep_available": str(chainer.backends.intel64.is_ideep_available()),
        "chainer.cuda_available": str(chainer.backends.cuda.available),
        "chainer.type_check": str(chainer.config.type_check),
    }


def plan(case, dtype: str, path: str = "functions") -> Plan:
    program, spelled = cp.program(case, dtype)
    return Plan(path, NATIVE if spelled.native else EMULATED, program, spelled.reason, details=spelled)


def _backward_breaks(case) -> tuple[int, ...] | None:
    """The outsize of a transposed conv whose Chainer backward fails, else None."""
    spelled = cp.deconv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding)
    if spelled is None or not cp.deconv_backward_breaks(case.input_size, case.kernel, case.stride, case.dilation,
                                                        *spelled):
        return None
    return spelled[1]


def known_issue(case, dtype: str, path: str) -> str | None:
    """Chainer 7.8.1's deconvolution backward with an outsize that needs cover_all on some axes only.

    (A conv case reaches it through its identity rows: `harness.runner.expected_failure` asks about
    the dual op too.)
    """
    outsize = _backward_breaks(case) if case.is_transpose and dtype in DTYPES else None
    if outsize is None:
        return None
    return ("chainer 7.8.1 deconvolution backward convolves gy with one cover_all flag for all axes, but "
            f"outsize {outsize} needs cover_all on some axes only: the gradient shapes disagree "
            "(ValueError: shape-mismatch for sum); the forward is right (chainer_padding.deconv_backward_breaks)")


def _typed(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    chainer = _chainer()
    program = plan.program
    env = {"chainer": chainer, "numpy": np, **{k: v for k, v in inputs.as_dict().items() if v is not None}}
    with chainer.using_config("train", True), chainer.using_config("use_ideep", "never"):
        with refusals("chainer", message=_typed):
            pg.execute(program.setup + program.cotangent + program.body, env)
        _backward(program, env)
    return pg.finish(program, env, grads=True)


def _backward(program, env: dict) -> None:
    """chainer.grad: NotImplementedError (or a refusal's words) is `Unsupported`; any other failure is
    a RuntimeError saying that the backward failed, the forward having worked."""
    try:
        with refusals("chainer backward", message=_typed):
            pg.execute(program.gradient, env)
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - the forward worked: say that the backward failed
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RuntimeError(f"chainer backward failed ({type(exc).__name__}: {text})") from exc
