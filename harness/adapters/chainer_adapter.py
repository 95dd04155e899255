"""Chainer 7.8.1: chainer.functions.convolution_2d / deconvolution_2d (2D) and convolution_nd /
deconvolution_nd (1D, 3D), forward and gradients through chainer.grad with the seeded cotangent.

Chainer imports only with numpy < 2, so it lives in its own tox environment (tox -e chainer); in
the main environment `available()` is False and every row is `skipped`. `available()` never
raises: it checks that the package exists and that numpy is older than 2 (importing chainer under
numpy 2 fails), without importing chainer.

Vocabulary (see `harness.adapters.chainer_padding`): a conv pads (p, p), with cover_all
(p, p + s - 1); a deconvolution crops p at the start and keeps `outsize` elements. Canonical cases
outside it are emulated with Chainer's own differentiable functions around the native call: a conv
gets its input padded (F.pad) or cropped (slicing) and runs with pad=0; a deconvolution runs with
pad=0 and its full output is cropped / extended with zeros, then the bias is added (F.bias), so
that appended zeros carry it too. Chainer has no bfloat16.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from harness.adapters import chainer_padding as cp
from harness.adapters.base import EMULATED, NATIVE, UNSUPPORTED, Plan, Unsupported, crop_or_extend, fmt_call

LIBRARY = "chainer"
PATHS = ("functions",)
_DTYPES = ("float64", "float32", "float16")


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


def _names(case) -> tuple[str, str]:
    kind = "deconvolution" if case.is_transpose else "convolution"
    return (f"chainer.functions.{kind}_2d", "2d") if case.ndim == 2 else (f"chainer.functions.{kind}_nd", "nd")


def plan(case, dtype: str, path: str = "functions") -> Plan:
    if path not in PATHS:
        raise ValueError(f"unknown chainer path {path!r}; known: {', '.join(PATHS)}")
    if dtype not in _DTYPES:
        return Plan("chainer", path, UNSUPPORTED, "", f"chainer has no {dtype} (NumPy backend: float16/32/64 only)")
    func, _ = _names(case)
    note = f"  # numpy.{dtype} arrays; layout NC... (Chainer has no channels-last)" if case.layout == "channels_last" \
        else f"  # numpy.{dtype} arrays"
    common = dict(stride=case.stride, dilate=case.dilation, groups=case.groups)
    if case.is_transpose:
        spelled = cp.deconv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding)
        if spelled is not None:
            pad, outsize = spelled
            call = fmt_call(func, "x", "W", "b", pad=pad, outsize=outsize, **common)
            return Plan("chainer", path, NATIVE, call + note, details=("native", pad, outsize, False))
        call = (fmt_call(func, "x", "W", "None", pad=0, **common)
                + f"  then crop / zero-extend {case.padding}, then F.bias(y, b)")
        reason = (f"crops {case.padding}: Chainer crops (p, F - p - outsize) with p >= 0 and outsize within "
                  "get_conv_outsize's bounds (end crop in [p - s + 1, p + s - 1])")
        return Plan("chainer", path, EMULATED, call + note, reason, details=("emulated", 0, None, False))
    spelled = cp.conv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding,
                               prefer_cover_all=case.cover_all)
    if spelled is not None:
        pad, cover_all = spelled
        call = fmt_call(func, "x", "W", "b", pad=pad, cover_all=cover_all or None, **common)
        return Plan("chainer", path, NATIVE, call + note, details=("native", pad, None, cover_all))
    widths = [(0, 0), (0, 0), *((max(lo, 0), max(hi, 0)) for lo, hi in case.padding)]
    call = fmt_call(func, f"F.pad(x[crop], {widths}, 'constant')", "W", "b", pad=0, **common)
    reason = (f"padding {case.padding}: Chainer pads (p, p) or, with cover_all, (p, p + s - 1); "
              "the input is padded / cropped before the call")
    return Plan("chainer", path, EMULATED, call + note, reason, details=("emulated", 0, None, False))


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
    outsize = _backward_breaks(case) if case.is_transpose and dtype in _DTYPES else None
    if outsize is None:
        return None
    return ("chainer 7.8.1 deconvolution backward convolves gy with one cover_all flag for all axes, but "
            f"outsize {outsize} needs cover_all on some axes only: the gradient shapes disagree "
            "(ValueError: shape-mismatch for sum); the forward is right (chainer_padding.deconv_backward_breaks)")


def _crop_or_extend(F, y, pads):
    """base.crop_or_extend with chainer.functions.pad (differentiable)."""
    return crop_or_extend(y, pads, lambda t, grow: F.pad(t, [(0, 0), (0, 0), *grow], "constant"))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    chainer = _chainer()
    kind, pad, outsize, cover_all = plan.details
    npdt = np.dtype(dtype)
    x = chainer.Variable(inputs.x.astype(npdt))
    w = chainer.Variable(inputs.w.astype(npdt))
    b = chainer.Variable(inputs.b.astype(npdt)) if inputs.b is not None else None
    g = inputs.g.astype(npdt)
    with chainer.using_config("train", True), chainer.using_config("use_ideep", "never"):
        y = _forward(chainer, case, x, w, b, kind, pad, outsize, cover_all)
        leaves = [v for v in (x, w, b) if v is not None]
        try:
            grads = chainer.grad([y], leaves, grad_outputs=[chainer.Variable(g)])
        except NotImplementedError as exc:
            raise Unsupported(f"chainer backward: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}") from exc
        except Exception as exc:  # noqa: BLE001 - the forward worked: say that the backward failed
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeError(f"chainer backward failed ({type(exc).__name__}: {text})") from exc
    as_np = lambda v: np.asarray(v.array, dtype=np.float64)  # noqa: E731
    out = {"y": as_np(y), "dx": as_np(grads[0]), "dw": as_np(grads[1])}
    if b is not None:
        out["db"] = as_np(grads[2])
    return out


def _forward(chainer, case, x, w, b, kind, pad, outsize, cover_all):
    F = chainer.functions
    common = dict(stride=case.stride, pad=pad, dilate=case.dilation, groups=case.groups)
    try:
        if case.is_transpose:
            op = F.deconvolution_2d if case.ndim == 2 else F.deconvolution_nd
            if kind == "native":
                return op(x, w, b, outsize=outsize, **common)
            y = _crop_or_extend(F, op(x, w, None, **common), case.padding)
            return y if b is None else F.bias(y, b, axis=1)
        op = F.convolution_2d if case.ndim == 2 else F.convolution_nd
        xin = x if kind == "native" else _crop_or_extend(F, x, tuple((-lo, -hi) for lo, hi in case.padding))
        return op(xin, w, b, cover_all=cover_all, **common)
    except NotImplementedError as exc:
        raise Unsupported(f"chainer: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}") from exc
