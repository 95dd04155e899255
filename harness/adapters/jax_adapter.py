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

Padding is passed as explicit pairs; lax accepts negative padding (it crops), so no case needs
an extra crop. float64 needs ``jax_enable_x64``, switched on at first use (importing this module
does not import jax). Every (op, parameters, dtype, layout, formulation) gets one jitted function
computing (y, dx, dw, db), cached; jit caches the compiled executable per input shape. The
identity rows' dual op runs forward only (FORWARD_ONLY_RUNS): its program is a fraction of a forward+VJP.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np

from harness.adapters import jax_padding as jp
from harness.adapters.base import (
    EMULATED,
    NATIVE,
    Plan,
    Unsupported,
    fmt_call,
    inverse_permutation,
    unsupported_message,
)

LIBRARY = "jax"
PATHS = ("lax", "conv_general_dilated")
_DTYPES = ("float64", "float32", "float16", "bfloat16")
_PRECISION = "precision=jax.lax.Precision.HIGHEST"
FORWARD_ONLY_RUNS = True  # run() with inputs.g None returns y alone (see base.py)


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


def _formulation(case, path: str) -> str:
    """Which computation a (case, path) runs: conv, transpose (lax.conv_transpose), its grouped
    split/concat emulation, or dilated (conv_general_dilated with lhs_dilation)."""
    if not case.is_transpose:
        return "conv"  # both paths compute a conv the same way: share the compiled function
    if path == "conv_general_dilated":
        return "dilated"
    return "transpose" if case.groups == 1 else "transpose_split"


def _bias_expr(case, layout: str) -> str:
    idx = ["None"] * (case.ndim + 2)
    idx[1 if layout == "channels_first" else case.ndim + 1] = ":"
    return f"b[{', '.join(idx)}]"


def plan(case, dtype: str, path: str = "lax") -> Plan:
    if path not in PATHS:
        raise ValueError(f"unknown jax path {path!r}; known: {', '.join(PATHS)}")
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}")
    form = _formulation(case, path)
    layout = case.layout
    dn = jp.dimension_numbers(case.ndim, layout)
    wperm = jp.weight_permutation(case.ndim, layout)
    xperm = jp.data_permutation(case.ndim, layout)
    bias = f" + {_bias_expr(case, layout)}" if case.bias else ""
    note = (f"  # dtype jnp.{dtype}; x = x_ncx.transpose{xperm}, w = w_torch.transpose{wperm}"
            if layout == "channels_last" else f"  # dtype jnp.{dtype}; PyTorch layouts")
    if form == "conv":
        pads = jp.conv_padding(case.padding)
        call = fmt_call("jax.lax.conv_general_dilated", "x", "w", _PRECISION, window_strides=case.stride,
                        padding=pads, rhs_dilation=case.dilation, dimension_numbers=dn,
                        feature_group_count=case.groups) + bias + note
        return Plan("jax", path, NATIVE, call, device=device(), details=(form, pads))
    pads = jp.transpose_padding(case.padding, case.kernel, case.dilation)
    if form == "transpose":
        call = fmt_call("jax.lax.conv_transpose", "x", "w", _PRECISION, strides=case.stride, padding=pads,
                        rhs_dilation=case.dilation, dimension_numbers=dn, transpose_kernel=True) + bias + note
        return Plan("jax", path, NATIVE, call, device=device(), details=(form, pads))
    if form == "transpose_split":
        ax_x = 1 if layout == "channels_first" else case.ndim + 1
        ax_w = 0 if layout == "channels_first" else case.ndim + 1
        g = case.groups
        cin_g = case.in_channels // g
        sx = ", ".join(":" if a != ax_x else "sl" for a in range(case.ndim + 2))
        sw = ", ".join(":" if a != ax_w else "sl" for a in range(case.ndim + 2))
        inner = fmt_call("jax.lax.conv_transpose", f"x[{sx}]", f"w[{sw}]", _PRECISION, strides=case.stride,
                         padding=pads, rhs_dilation=case.dilation, dimension_numbers=dn, transpose_kernel=True)
        call = (f"jnp.concatenate([{inner} for sl in [slice(i * {cin_g}, (i + 1) * {cin_g}) for i in range({g})]],"
                f" axis={ax_x}){bias}{note}")
        reason = f"lax.conv_transpose has no groups: {g} groups split over channels and concatenated"
        return Plan("jax", path, EMULATED, call, reason, device(), (form, pads))
    # dilated: the transposed conv as a fractionally strided forward conv
    kernel = f"jax_padding.transpose_kernel_as_conv(w_torch, {case.groups})"
    if layout == "channels_last":
        kernel += f".transpose{wperm}"
    call = (fmt_call("jax.lax.conv_general_dilated", "x", kernel, _PRECISION, window_strides=(1,) * case.ndim,
                     padding=pads, lhs_dilation=case.stride, rhs_dilation=case.dilation, dimension_numbers=dn,
                     feature_group_count=case.groups)
            + bias + note + "; transpose_kernel_as_conv flips k and swaps in/out channels per group")
    return Plan("jax", path, NATIVE, call, device=device(), details=(form, pads))


def _key(case, dtype: str, form: str, pads, gradients: bool = True) -> tuple:
    return (form, case.ndim, case.stride, case.dilation, case.groups, case.bias, pads, case.layout, dtype,
            gradients)


@lru_cache(maxsize=512)
def _compiled(form: str, ndim: int, stride, dilation, groups: int, bias: bool, pads, layout: str, dtype: str,
              gradients: bool = True):
    """One jitted (x, w, b, g) -> (y, dx, dw[, db]) in float64 for native-layout float64 inputs, or
    (x, w, b) -> (y,) without `gradients`.

    The casts to and from `dtype` are inside the program: moving them out compiles about a fifth
    faster but lets XLA sum db in another order (measured: float32 db bound ratios 2-5x larger,
    still passing), which would change the library's numbers."""
    jax = _jax()
    jnp, lax = jax.numpy, jax.lax
    dt = getattr(jnp, dtype)
    dn = jp.dimension_numbers(ndim, layout)
    hi = lax.Precision.HIGHEST
    cax = 1 if layout == "channels_first" else ndim + 1  # channel axis of data
    wax = 0 if layout == "channels_first" else ndim + 1  # C_in axis of a transposed kernel
    wperm = jp.weight_permutation(ndim, layout)
    winv = inverse_permutation(wperm)
    bshape = tuple(-1 if a == cax else 1 for a in range(ndim + 2))

    def conv(x, w):
        return lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, dimension_numbers=dn,
                                        feature_group_count=groups, precision=hi)

    def transpose(x, w):
        return lax.conv_transpose(x, w, stride, pads, rhs_dilation=dilation, dimension_numbers=dn,
                                  transpose_kernel=True, precision=hi)

    def transpose_split(x, w):
        parts = []
        for sl in jp.group_slices(x.shape[cax], groups):
            xs = x[tuple(sl if a == cax else slice(None) for a in range(ndim + 2))]
            ws = w[tuple(sl if a == wax else slice(None) for a in range(ndim + 2))]
            parts.append(transpose(xs, ws))
        return jnp.concatenate(parts, axis=cax)

    def dilated(x, w):
        wc = jp.transpose_kernel_as_conv(w.transpose(winv), groups).transpose(wperm)
        return lax.conv_general_dilated(x, wc, (1,) * ndim, pads, lhs_dilation=stride, rhs_dilation=dilation,
                                        dimension_numbers=dn, feature_group_count=groups, precision=hi)

    op = {"conv": conv, "transpose": transpose, "transpose_split": transpose_split, "dilated": dilated}[form]

    def f(x, w, b):
        y = op(x, w)
        return y + b.reshape(bshape) if bias else y

    def cast(x, w, b):
        return x.astype(dt), w.astype(dt), None if b is None else b.astype(dt)

    def both(x, w, b, g):
        y, vjp = jax.vjp(f, *cast(x, w, b))
        grads = vjp(g.astype(dt))
        outs = (y, *grads[:2]) + ((grads[2],) if bias else ())
        return tuple(o.astype(jnp.float64) for o in outs)

    def forward(x, w, b, g):
        return (f(*cast(x, w, b)).astype(jnp.float64),)

    return jax.jit(both if gradients else forward)


def _prepared(case, dtype: str, plan: Plan, gradients: bool = True):
    form, pads = plan.details
    return _compiled(*_key(case, dtype, form, pads, gradients))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    """Forward and VJP; with `inputs.g` None (the identity rows' dual op) the forward alone."""
    _jax()
    gradients = inputs.g is not None
    fn = _prepared(case, dtype, plan, gradients)
    xperm = jp.data_permutation(case.ndim, case.layout)
    wperm = jp.weight_permutation(case.ndim, case.layout)
    xinv, winv = inverse_permutation(xperm), inverse_permutation(wperm)
    native = lambda a, p: None if a is None else np.ascontiguousarray(np.transpose(a, p), dtype=np.float64)  # noqa: E731
    try:
        outs = fn(native(inputs.x, xperm), native(inputs.w, wperm), inputs.b, native(inputs.g, xperm))
        outs = [np.asarray(o) for o in outs]
    except Exception as exc:  # XlaRuntimeError, TypeError, NotImplementedError: refusal or bug
        if unsupported_message(exc):
            raise Unsupported(f"jax: {str(exc).strip().splitlines()[0]}") from exc
        raise
    if not gradients:
        return {"y": np.transpose(outs[0], xinv)}
    result = {"y": np.transpose(outs[0], xinv), "dx": np.transpose(outs[1], xinv), "dw": np.transpose(outs[2], winv)}
    if case.bias:
        result["db"] = outs[3]
    return result
