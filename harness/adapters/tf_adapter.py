"""TensorFlow: tf.nn convolutions and the raw backprop-input ops, forward and VJP (GradientTape).

Two paths:

- ``nn``: conv via ``tf.nn.convolution`` (the op Keras calls; with dilation and stride 1 it runs
  space-to-batch, the only dilated conv whose gradient TF computes on CPU in every dtype), or
  ``tf.nn.conv{1,2,3}d`` where tf.nn.convolution refuses: explicit padding (2D only) and
  stride > 1 together with dilation > 1. conv_transpose via ``tf.nn.conv{1,2,3}d_transpose``
  with ``output_shape``.
- ``backprop_input`` (conv_transpose only): ``tf.raw_ops.Conv2DBackpropInput`` (a 1D case gets
  a unit H axis) and ``tf.raw_ops.Conv3DBackpropInputV2``.

Data always runs channels-last (NWC/NHWC/NDHWC: TF's CPU kernels refuse NCHW except float32 and
bfloat16 with SAME/VALID, measured), filters in TF's layouts (`tf_padding`); both case layouts
transpose at the edge. Padding is spelled 'SAME'/'VALID' when TF's rule gives the canonical
(lo, hi), else explicitly where TF takes a list (2D only, amounts >= 0), else emulated: conv pads
(tf.pad) or crops (slicing) its input before a 'VALID' conv; conv_transpose computes the uncropped
'VALID' output (o = F) and crops or appends zeros after it, and the bias is added after that.

What TF refuses on CPU is measured, not assumed: for a grouped or dilated case plan() runs the
native formulation once on a batch-1 copy of the case (cached per formulation, dtype and
geometry: oneDNN's refusals may depend on the shapes). Measured with TF 2.21 on CPU, oneDNN on
(float32 and bfloat16 run oneDNN kernels, float64 and float16 Eigen ones):

    feature                             float32, bfloat16       float64, float16
    groups, 1D/2D (conv and transpose)  native                  forward only; gradients refused
                                                                ("Gradients for grouped convolutions
                                                                are not supported on CPU")
    groups, 3D (conv and transpose)     refused, even forward   refused, even forward
    dilated conv, stride 1              native (tf.nn.convolution runs space-to-batch)
    dilated conv, stride > 1            native                  refused (gradient; 3D: forward)
    dilated conv_transpose              native                  refused ("do not yet support
                                                                dilation rates larger than 1")

A refusal is emulated: groups by splitting channels and concatenating, dilation by inserting
d - 1 zeros between the kernel taps (`dilate_kernel`); TF's message goes into the plan's reason.
Anything still refused at run time raises `Unsupported` with TF's message.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from harness.adapters import tf_padding as tp
from harness.adapters.base import (
    EMULATED,
    NATIVE,
    UNSUPPORTED,
    Plan,
    Unsupported,
    fmt_call,
    inverse_permutation,
    quiet_import,
    unsupported_message,
)

LIBRARY = "tensorflow"
PATHS = ("nn", "backprop_input")
_DTYPES = ("float64", "float32", "float16", "bfloat16")
# TF refusals that base.unsupported_message does not recognise (measured messages)
_REFUSALS = ("do not yet support", "could not create a primitive descriptor", "could not find device for node",
             "no kernel")

Pairs = tuple[tuple[int, int], ...]


def available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


@lru_cache(maxsize=1)
def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # failures come back as exceptions; keep stderr readable
    tf = quiet_import("tensorflow")

    tf.get_logger().setLevel("ERROR")

    # numbers must not depend on reduced-precision shortcuts (TF32 matters on Ampere+ GPUs)
    try:
        tf.config.experimental.enable_tensor_float_32_execution(False)
    except (AttributeError, RuntimeError):  # pragma: no cover - older TF or initialised context
        pass
    return tf


def version() -> str:
    return _tf().__version__


@lru_cache(maxsize=1)
def device() -> str:
    return "gpu" if _tf().config.list_physical_devices("GPU") else "cpu"


def environment() -> dict[str, str]:
    tf = _tf()
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn_build = str(bool(_pywrap_util_port.IsMklEnabled()))
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        onednn_build = "unknown"
    threading = tf.config.threading
    return {
        "tf.TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default)"),
        "tf.onednn_build": onednn_build,
        "tf.tf32": str(tf.config.experimental.tensor_float_32_execution_enabled()),
        "tf.intra_op_threads": str(threading.get_intra_op_parallelism_threads() or "0 (auto)"),
        "tf.inter_op_threads": str(threading.get_inter_op_parallelism_threads() or "0 (auto)"),
        "tf.device": device(),
        "tf.eager": str(tf.executing_eagerly()),
    }


def applies_to(case, path: str) -> bool:
    """The backprop_input path exists only for conv_transpose."""
    return case.is_transpose or path != "backprop_input"


# --------------------------------------------------------------------------- formulation


@dataclass(frozen=True)
class Formulation:
    """How the adapter computes one case: which TF op, which padding spelling, which emulations."""

    kind: str  # conv | transpose | backprop
    api: str  # convolution | conv_nd | conv_nd_transpose | Conv2DBackpropInput | Conv3DBackpropInputV2
    padding: str  # SAME | VALID | EXPLICIT
    explicit: Pairs = ()  # EXPLICIT amounts: conv input padding, or transposed-conv crops
    pre: Pairs | None = None  # conv emulation: canonical input padding by tf.pad / slicing
    post: Pairs | None = None  # transposed emulation: canonical crops of the o = F 'VALID' output
    dilate_kernel: bool = False  # dilation emulated by zeros between kernel taps
    split_groups: bool = False  # groups emulated by per-group ops and a concat



def _first_choice(case, path: str) -> tuple[Formulation, list[str]]:
    """The most native formulation TF's API can spell (before probing what TF refuses)."""
    nd, pads = case.ndim, case.padding
    geometry = (case.input_size, case.kernel, case.stride, case.dilation)
    reasons: list[str] = []
    if not case.is_transpose:
        strided_dilated = any(s > 1 for s in case.stride) and any(d > 1 for d in case.dilation)
        api = "conv_nd" if strided_dilated else "convolution"
        word = tp.conv_word(pads, *geometry)
        if word:
            return Formulation("conv", api, word), reasons
        if nd == 2 and tp.explicit_ok(pads):
            return Formulation("conv", "conv_nd", "EXPLICIT", explicit=pads), reasons
        why = "negative padding (a crop)" if not tp.explicit_ok(pads) else f"explicit padding in {nd}D"
        reasons.append(f"{why} is not a TF padding argument: tf.pad / slicing of x before a 'VALID' conv")
        return Formulation("conv", api, "VALID", pre=pads), reasons
    if path == "backprop_input":
        kind, api = "backprop", ("Conv3DBackpropInputV2" if nd == 3 else "Conv2DBackpropInput")
        explicit_dims = (1, 2)  # Conv2DBackpropInput has explicit_paddings; 1D runs with a unit axis
    else:
        kind, api, explicit_dims = "transpose", "conv_nd_transpose", (2,)
    word = tp.transpose_word(pads, *geometry)
    if word:
        return Formulation(kind, api, word), reasons
    if nd in explicit_dims and tp.explicit_ok(pads):
        return Formulation(kind, api, "EXPLICIT", explicit=pads), reasons
    why = ("negative crops (appended zeros) are not SAME/VALID" if not tp.explicit_ok(pads)
           else f"crops {pads} are not what SAME/VALID give and {nd}D takes no explicit padding")
    reasons.append(f"{why}: 'VALID' with output_shape F, then crop / append zeros, then add b")
    return Formulation(kind, api, "VALID", post=pads), reasons


_PROBES: dict[tuple, str | None] = {}


def _probe(case, dtype: str, form: Formulation) -> str | None:
    """None if TF computes this formulation (forward and gradients), else TF's message.

    Runs once per (formulation, dtype, geometry) on a copy of the case with batch 1: what oneDNN
    accepts depends on the shapes (a dilated float32 conv1d_transpose runs with 'VALID' and o = F
    but not with 'SAME'), so a refusal measured on one geometry is not assumed for another.
    """
    key = (form, dtype, case.ndim, case.in_channels, case.out_channels, case.input_size, case.kernel,
           case.stride, case.dilation, case.groups, case.padding)
    if key not in _PROBES:
        small = replace(case, batch=1, bias=False)
        ones = lambda shape: np.ones(shape)  # noqa: E731
        try:
            _execute(small, dtype, form, ones(small.x_shape), ones(small.w_shape), None, ones(small.y_shape))
            _PROBES[key] = None
        except Exception as exc:  # noqa: BLE001 - any failure on a valid configuration is a refusal
            _PROBES[key] = f"{type(exc).__name__}: {_first_line(exc)}"
    return _PROBES[key]


def _choose(case, dtype: str, path: str) -> tuple[Formulation, list[str]]:
    form, reasons = _first_choice(case, path)
    dilated = any(d > 1 for d in case.dilation)
    if not (dilated or case.groups > 1) or _probe(case, dtype, form) is None:
        return form, reasons
    if dilated:
        msg = _probe(replace(case, groups=1), dtype, form)
        if msg:
            form = replace(form, dilate_kernel=True)
            reasons.append(f"TF refuses dilation {case.dilation} here ({msg}): zeros inserted between "
                           f"kernel taps, dilation 1")
    if case.groups > 1:
        msg = _probe(case, dtype, form)
        if msg:
            form = replace(form, split_groups=True)
            reasons.append(f"TF refuses {case.groups} groups here ({msg}): one op per group, concatenated")
    return form, reasons


# --------------------------------------------------------------------------- readable calls


def _slices(crop: Pairs) -> str:
    """Python slicing of channels-last spatial axes that crops (lo, hi) pixels."""
    parts = [f"{lo or ''}:{-hi if hi else ''}" for lo, hi in crop]
    return "[:, " + ", ".join(parts) + ", :]"


def _pad_list(grow: Pairs) -> list[list[int]]:
    return tp.explicit_padding(grow)


def _op_call(case, form: Formulation, x: str, w: str, channels: int) -> str:
    """The single TF call (no groups split, bias, or crop) as Python source."""
    nd = case.ndim
    fmt = tp.DATA_FORMAT[nd]
    stride, dil = case.stride, case.dilation
    if form.dilate_kernel:
        w = f"dilate_kernel({w}, {dil})"
        dil = (1,) * nd
    padding = tp.explicit_padding(form.explicit) if form.padding == "EXPLICIT" else form.padding
    if form.kind == "conv":
        if form.api == "convolution":
            return fmt_call("tf.nn.convolution", x, w, strides=stride, padding=padding, dilations=dil,
                            data_format=fmt)
        if nd == 1:
            return fmt_call("tf.nn.conv1d", x, w, stride=stride[0], padding=padding, data_format=fmt,
                            dilations=dil[0])
        if nd == 2:
            return fmt_call("tf.nn.conv2d", x, w, strides=stride, padding=padding, data_format=fmt, dilations=dil)
        return fmt_call("tf.nn.conv3d", x, w, strides=[1, *stride, 1], padding=padding, data_format=fmt,
                        dilations=[1, *dil, 1])
    out = list(tp.full_lengths(case.input_size, case.kernel, case.stride, case.dilation)
               if form.post is not None else case.output_size)
    shape = [case.batch, *out, channels]
    if form.kind == "transpose":
        strides = list(stride) if nd > 1 else stride[0]
        return fmt_call(f"tf.nn.conv{nd}d_transpose", x, w, output_shape=shape, strides=strides,
                        padding=padding, data_format=fmt, dilations=list(dil) if nd > 1 else dil[0])
    if nd == 3:
        return fmt_call("tf.raw_ops.Conv3DBackpropInputV2", f"input_sizes={shape!r}", f"filter={w}",
                        f"out_backprop={x}", strides=[1, *stride, 1], padding=form.padding,
                        data_format="NDHWC", dilations=[1, *dil, 1])
    unit = nd == 1
    if unit:
        shape, stride, dil = [shape[0], 1, *shape[1:]], (1, *stride), (1, *dil)
        x, w = f"tf.expand_dims({x}, 1)", f"tf.expand_dims({w}, 0)"
    attr = tp.explicit_paddings_attr(form.explicit, unit_axis=unit) if form.padding == "EXPLICIT" else []
    call = fmt_call("tf.raw_ops.Conv2DBackpropInput", f"input_sizes={shape!r}", f"filter={w}",
                    f"out_backprop={x}", strides=[1, *stride, 1], padding=form.padding,
                    explicit_paddings=attr, data_format="NHWC", dilations=[1, *dil, 1])
    return call + ("[:, 0]" if unit else "")


def _call(case, form: Formulation) -> str:
    """The whole computation as one Python expression of x (channels-last), w (TF layout), b."""
    g = case.groups
    x = "x"
    if form.pre is not None:  # zeros first: a crop may reach beyond the input into the added zeros
        grow, crop = tp.split_pad(form.pre)
        if any(lo or hi for lo, hi in grow):
            x = f"tf.pad({x}, {_pad_list(grow)})"
        if any(lo or hi for lo, hi in crop):
            x = f"{x}{_slices(crop)}"
    cout = case.out_channels
    if form.split_groups:
        cin_g = case.in_channels // g
        w_axis_size = cout // g if form.kind == "conv" else cin_g
        xs = f"{x}[..., i * {cin_g}:(i + 1) * {cin_g}]"
        ws = f"w[..., i * {w_axis_size}:(i + 1) * {w_axis_size}]"
        y = f"tf.concat([{_op_call(case, form, xs, ws, cout // g)} for i in range({g})], axis=-1)"
    else:
        y = _op_call(case, form, x, "w", cout)
    if form.post is not None:  # zeros first: a crop may reach beyond F into the appended zeros
        grow, crop = tp.split_crop(form.post)
        if any(lo or hi for lo, hi in grow):
            y = f"tf.pad({y}, {_pad_list(grow)})"
        if any(lo or hi for lo, hi in crop):
            y = f"{y}{_slices(crop)}"
    return f"tf.nn.bias_add({y}, b)" if case.bias else y


def _note(case, dtype: str, form: Formulation) -> str:
    perm_x, perm_w = tp.data_permutation(case.ndim), tp.weight_permutation(case.ndim)
    note = f"  # tf.{dtype}; x = x_ncx.transpose{perm_x}, w = w_torch.transpose{perm_w}"
    if form.dilate_kernel:
        note += "; dilate_kernel from harness.adapters.tf_adapter"
    return note


def plan(case, dtype: str, path: str = "nn") -> Plan:
    if path not in PATHS:
        raise ValueError(f"unknown tensorflow path {path!r}; known: {', '.join(PATHS)}")
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}")
    if not applies_to(case, path):
        return Plan("tensorflow", path, UNSUPPORTED, "", "the backprop_input path computes conv_transpose only",
                    device())
    form, reasons = _choose(case, dtype, path)
    call = _call(case, form) + _note(case, dtype, form)
    if reasons:
        return Plan("tensorflow", path, EMULATED, call, "; ".join(reasons), device(), (form,))
    return Plan("tensorflow", path, NATIVE, call, device=device(), details=(form,))


# --------------------------------------------------------------------------- computation


def dilate_kernel(w, dilation):
    """A TF filter (*k, I, O) with d - 1 zeros between taps: the dilated kernel as a dense one."""
    tf = _tf()
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = int(w.shape[axis])
        w = tf.expand_dims(w, axis + 1)
        pad = [[0, 0] for _ in w.shape]
        pad[axis + 1] = [0, d - 1]
        w = tf.pad(w, pad)
        shape = list(w.shape)
        w = tf.reshape(w, shape[:axis] + [k * d] + shape[axis + 2:])
        w = w[(slice(None),) * axis + (slice(0, (k - 1) * d + 1),)]
    return w


def _single(tf, case, form: Formulation, x, w, channels: int):
    """One TF op (no groups split, bias or crop), mirroring `_op_call`."""
    nd = case.ndim
    fmt = tp.DATA_FORMAT[nd]
    stride, dil = case.stride, case.dilation
    if form.dilate_kernel:
        w = dilate_kernel(w, dil)
        dil = (1,) * nd
    padding = tp.explicit_padding(form.explicit) if form.padding == "EXPLICIT" else form.padding
    if form.kind == "conv":
        if form.api == "convolution":
            return tf.nn.convolution(x, w, strides=stride, padding=padding, dilations=dil, data_format=fmt)
        if nd == 1:
            return tf.nn.conv1d(x, w, stride=stride[0], padding=padding, data_format=fmt, dilations=dil[0])
        if nd == 2:
            return tf.nn.conv2d(x, w, strides=stride, padding=padding, data_format=fmt, dilations=dil)
        return tf.nn.conv3d(x, w, strides=[1, *stride, 1], padding=padding, data_format=fmt,
                            dilations=[1, *dil, 1])
    out = (tp.full_lengths(case.input_size, case.kernel, case.stride, case.dilation)
           if form.post is not None else case.output_size)
    shape = [case.batch, *out, channels]
    if form.kind == "transpose":
        op = getattr(tf.nn, f"conv{nd}d_transpose")
        strides = list(stride) if nd > 1 else stride[0]
        return op(x, w, output_shape=shape, strides=strides, padding=padding, data_format=fmt,
                  dilations=list(dil) if nd > 1 else dil[0])
    if nd == 3:
        return tf.raw_ops.Conv3DBackpropInputV2(input_sizes=shape, filter=w, out_backprop=x,
                                                strides=[1, *stride, 1], padding=form.padding,
                                                data_format="NDHWC", dilations=[1, *dil, 1])
    unit = nd == 1
    if unit:
        shape, stride, dil = [shape[0], 1, *shape[1:]], (1, *stride), (1, *dil)
        x, w = tf.expand_dims(x, 1), tf.expand_dims(w, 0)
    attr = tp.explicit_paddings_attr(form.explicit, unit_axis=unit) if form.padding == "EXPLICIT" else []
    y = tf.raw_ops.Conv2DBackpropInput(input_sizes=shape, filter=w, out_backprop=x, strides=[1, *stride, 1],
                                       padding=form.padding, explicit_paddings=attr, data_format="NHWC",
                                       dilations=[1, *dil, 1])
    return y[:, 0] if unit else y


def _grow_then_crop(tf, t, grow: Pairs, crop: Pairs):
    """Zeros appended (`grow`), then pixels cropped (`crop`) on the channels-last spatial axes."""
    if any(lo or hi for lo, hi in grow):
        t = tf.pad(t, _pad_list(grow))
    if any(lo or hi for lo, hi in crop):
        t = t[(slice(None), *(slice(lo, (-hi) or None) for lo, hi in crop), slice(None))]
    return t


def _forward(tf, case, form: Formulation, x, w, b):
    """y (channels-last) from x (channels-last), w (TF layout), b, mirroring `_call`."""
    if form.pre is not None:
        x = _grow_then_crop(tf, x, *tp.split_pad(form.pre))
    g, cout = case.groups, case.out_channels
    if form.split_groups:
        cin_g = case.in_channels // g
        w_size = cout // g if form.kind == "conv" else cin_g
        y = tf.concat([_single(tf, case, form, x[..., i * cin_g:(i + 1) * cin_g],
                               w[..., i * w_size:(i + 1) * w_size], cout // g) for i in range(g)], axis=-1)
    else:
        y = _single(tf, case, form, x, w, cout)
    if form.post is not None:
        y = _grow_then_crop(tf, y, *tp.split_crop(form.post))
    return tf.nn.bias_add(y, b) if b is not None else y


def _execute(case, dtype: str, form: Formulation, x, w, b, g) -> dict[str, np.ndarray]:
    """Forward and VJP; canonical float64 arrays in, canonical float64 arrays out."""
    tf = _tf()
    nd = case.ndim
    xperm, wperm = tp.data_permutation(nd), tp.weight_permutation(nd)
    xinv, winv = inverse_permutation(xperm), inverse_permutation(wperm)
    dt = getattr(tf, dtype)
    # inputs are already exact in `dtype`: the casts do not round
    native = lambda a, p: tf.cast(tf.constant(np.ascontiguousarray(np.transpose(a, p))), dt)  # noqa: E731
    tx, tw, tg = native(x, xperm), native(w, wperm), native(g, xperm)
    leaves = [tx, tw]
    tb = None
    if b is not None:
        tb = tf.cast(tf.constant(np.asarray(b, dtype=np.float64)), dt)
        leaves.append(tb)
    with tf.GradientTape() as tape:
        tape.watch(leaves)
        y = _forward(tf, case, form, tx, tw, tb)
    grads = tape.gradient(y, leaves, output_gradients=tg)
    as_np = lambda t: tf.cast(t, tf.float64).numpy()  # noqa: E731
    grads = [tf.zeros_like(leaf) if gr is None else gr for gr, leaf in zip(grads, leaves)]
    out = {"y": np.transpose(as_np(y), xinv), "dx": np.transpose(as_np(grads[0]), xinv),
           "dw": np.transpose(as_np(grads[1]), winv)}
    if b is not None:
        out["db"] = as_np(grads[2])
    return out


def _first_line(exc: BaseException) -> str:
    """TF's message without the eager wrapper noise ({{function_node ...}} and 'name:')."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(exc)).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"\s*name:\s*$", "", text)


def _refused(exc: BaseException) -> bool:
    text = str(exc).lower()
    return unsupported_message(exc) or any(n in text for n in _REFUSALS)


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    (form,) = plan.details
    try:
        return _execute(case, dtype, form, inputs.x, inputs.w, inputs.b, inputs.g)
    except Exception as exc:  # tf.errors.OpError, ValueError, TypeError: refusal or bug
        if _refused(exc):
            raise Unsupported(f"tensorflow: {_first_line(exc)}") from exc
        raise
