"""Keras 3: keras.ops.conv / keras.ops.conv_transpose, on whatever KERAS_BACKEND selects.

Keras is a vocabulary more than an implementation: one padding word for all axes, `valid` or
`same`, plus `output_padding` for conv_transpose, and no `groups` argument (a conv's groups are
implied by the kernel's input-channel axis; conv_transpose has none). This adapter shows which
canonical cases that vocabulary can express at all (`plan` → unsupported with the reason) and
whether what the backend computes for them matches.

Translation (pure functions below, importable without keras):

- conv: a word fits an axis when it puts the same padding at the start and yields the same
  number of outputs (trailing padding a window never reaches changes nothing); `same` is
  TF/JAX SAME (odd pixel at the end, dilated kernel).
- conv_transpose: Keras fixes the output length (keras.src.backend.common.backend_utils):
  valid → (i-1)*s + max(e, s) or (i-1)*s + e + output_padding; same → i*s or
  (i-1)*s + e%2 + output_padding, e = d*(k-1) + 1. The crop of T = F - o follows TensorFlow's rule
  (the backend Keras was written for): valid crops (0, T), same crops max(T, 0)//2 at the start.
  Measured with Keras 3.15.1: the JAX backend's own padding arithmetic gives the same crop for
  every spelling whose length TF accepts, and the torch backend's crops agree on the random
  Keras-shaped cases of the tests. Should a backend ever place the crop elsewhere, its rows show
  a mismatch: that is a finding, not something to adapt to.

Layouts follow the case: `data_format="channels_first"` unless the case asks for channels_last.
TensorFlow on CPU computes NCHW only through oneDNN (float32, bfloat16); otherwise it refuses
("only supports the NHWC tensor format"): such rows are unsupported with TF's message, as are
TF's other refusals: strides > 1 together with dilation > 1 in a conv (even on different axes),
and dilation > 1 in a float64 / float16 conv_transpose on CPU.

Gradients: computed through the backend's own autodiff (tf.GradientTape, jax.vjp or
torch.autograd) of the Keras call, so dx/dw/db rows test Keras's spelling composed with the
backend's VJP, the way a Keras model trains. They come at little cost and catch a backend whose
gradient of its conv_transpose spelling differs from its forward.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np

from harness import translate
from harness.adapters.base import (
    NATIVE,
    UNSUPPORTED,
    Plan,
    Unsupported,
    channels_last_permutation,
    fmt_call,
    inverse_permutation,
    quiet_import,
    spatial_first_weight_permutation,
    unsupported_message,
)

LIBRARY = "keras"
PATHS = ("ops",)
_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
_REFUSALS = ("not yet support", "only supports", "currently only supports", "is not supported",
             "not supported")


# ------------------------------------------------------------------------------------------------
# pure translation


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


def conv_words(i: int, k: int, s: int, d: int, lo: int, hi: int) -> tuple[str, ...]:
    """Keras padding words whose conv computes canonical padding (lo, hi) on one axis."""
    out = translate.conv_output_length(i, k, s, d, lo, hi)
    found = []
    for word in ("valid", "same"):
        wlo, whi = translate.conv_word_padding(word, i, k, s, d)
        if wlo == lo and translate.conv_output_length(i, k, s, d, wlo, whi) == out:
            found.append(word)
    return tuple(found)


def transpose_length(word: str, i: int, k: int, s: int, d: int, output_padding: int | None) -> int:
    """Output length Keras gives conv_transpose (compute_conv_transpose_output_shape)."""
    e = translate.effective_kernel(k, d)
    if word == "valid":
        op = max(e, s) - e if output_padding is None else output_padding
        return (i - 1) * s + e + op
    if output_padding is None:
        return i * s
    return (i - 1) * s + e % 2 + output_padding


def transpose_crop(word: str, i: int, k: int, s: int, d: int, output_padding: int | None) -> tuple[int, int] | None:
    """Canonical crop of a Keras conv_transpose spelling (TF's rule), or None when TF would refuse
    the length Keras asks for (no forward conv maps it back to i)."""
    o = transpose_length(word, i, k, s, d, output_padding)
    low, high = translate.transpose_length_range(word, i, k, s, d)
    if not low <= o <= high:
        return None
    return translate.transpose_word_crop(word, i, k, s, d, o)


def transpose_spelling(case) -> tuple[str, tuple[int, ...] | None] | None:
    """(padding word, output_padding or None) that Keras computes the case's crops with, or None."""
    words = ("same", "valid") if case.padding_word == "same" else ("valid", "same")
    axes = list(zip(case.input_size, case.kernel, case.stride, case.dilation, case.padding))
    for word in words:
        if all(transpose_crop(word, i, k, s, d, None) == tuple(p) for i, k, s, d, p in axes):
            return word, None
        ops = []
        for i, k, s, d, p in axes:
            fits = [op for op in range(max(s, d)) if transpose_crop(word, i, k, s, d, op) == tuple(p)]
            if not fits:
                break
            ops.append(fits[0])
        else:
            return word, tuple(ops)
    return None


def conv_spelling(case) -> str | None:
    """The one Keras word that computes every axis of a conv case, or None."""
    per_axis = [set(conv_words(i, k, s, d, lo, hi)) for i, k, s, d, (lo, hi)
                in zip(case.input_size, case.kernel, case.stride, case.dilation, case.padding)]
    common = set.intersection(*per_axis)
    for word in ((case.padding_word,) if case.padding_word in ("valid", "same") else ()) + ("valid", "same"):
        if word in common:
            return word
    return None


def _perms(nd: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(channels-first → channels-last, inverse) permutations of data."""
    to_last = channels_last_permutation(nd)
    return to_last, inverse_permutation(to_last)


def kernel_permutation(nd: int) -> tuple[int, ...]:
    """PyTorch weights (O, I/g, *k) / (I, O/g, *k) → Keras (*k, I/g, O) / (*k, O, I)."""
    return spatial_first_weight_permutation(nd)


# ------------------------------------------------------------------------------------------------
# the adapter


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


def plan(case, dtype: str, path: str = "ops") -> Plan:
    if path not in PATHS:
        raise ValueError(f"unknown keras path {path!r}; known: {', '.join(PATHS)}")
    backend = backend_name()
    fmt = case.layout
    common = dict(strides=case.stride, data_format=fmt, dilation_rate=case.dilation)
    note = f"  # KERAS_BACKEND={backend}; x {'NC...' if fmt == 'channels_first' else 'N...C'}, " \
           f"w = w_torch.transpose{kernel_permutation(case.ndim)}, dtype {dtype}"
    bias = " + b (broadcast on the channel axis)" if case.bias else ""
    if case.is_transpose:
        if case.groups > 1:
            return Plan("keras", path, UNSUPPORTED, "", "keras.ops.conv_transpose has no groups")
        spelled = transpose_spelling(case)
        if spelled is None:
            return Plan("keras", path, UNSUPPORTED, "",
                        f"crops {case.padding} are no 'valid' / 'same' + output_padding spelling of "
                        "keras.ops.conv_transpose (its output lengths are fixed by the word)")
        word, out_pad = spelled
        call = fmt_call("keras.ops.conv_transpose", "x", "w", padding=word, output_padding=out_pad, **common)
        return Plan("keras", path, NATIVE, call + bias + note, device=device() if available() else "cpu",
                    details=(word, out_pad))
    word = conv_spelling(case)
    if word is None:
        return Plan("keras", path, UNSUPPORTED, "",
                    f"padding {case.padding} is neither 'valid' nor 'same' on every axis (Keras has one "
                    "padding word for all axes, no explicit or asymmetric padding)")
    call = fmt_call("keras.ops.conv", "x", "w", padding=word, **common)
    return Plan("keras", path, NATIVE, call + bias + note, device=device() if available() else "cpu",
                details=(word, None))


def _forward(keras, case, plan: Plan):
    ops = keras.ops
    word, out_pad = plan.details
    kw = dict(strides=case.stride, padding=word, data_format=case.layout, dilation_rate=case.dilation)
    cax = 1 if case.layout == "channels_first" else case.ndim + 1
    bshape = tuple(-1 if a == cax else 1 for a in range(case.ndim + 2))

    def f(x, w, b=None):
        if case.is_transpose:
            y = ops.conv_transpose(x, w, output_padding=out_pad, **kw)
        else:
            y = ops.conv(x, w, **kw)
        return y if b is None else y + ops.reshape(b, bshape)

    return f


def _vjp_tensorflow(f, args, g):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        for a in args:
            tape.watch(a)
        y = f(*args)
    grads = tape.gradient(y, list(args), output_gradients=tf.cast(g, y.dtype))
    return y, grads


def _vjp_jax(f, args, g):
    import jax

    y, vjp = jax.vjp(f, *args)
    return y, vjp(g.astype(y.dtype))


def _vjp_torch(f, args, g):
    import torch

    leaves = [a.requires_grad_(True) for a in args]
    y = f(*leaves)
    grads = torch.autograd.grad(y, leaves, grad_outputs=g.to(y.dtype))
    return y, grads


def _to_numpy(keras, t) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(t, "float64")))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    keras = _keras()
    backend = keras.backend.backend()
    nd = case.ndim
    to_last, from_last = _perms(nd)
    wperm = kernel_permutation(nd)
    cl = case.layout == "channels_last"
    x = inputs.x.transpose(to_last) if cl else inputs.x
    g = inputs.g.transpose(to_last) if cl else inputs.g
    arrays = [x, inputs.w.transpose(wperm)] + ([inputs.b] if inputs.b is not None else [])
    args = tuple(keras.ops.convert_to_tensor(a, dtype=dtype) for a in arrays)
    gt = keras.ops.convert_to_tensor(g, dtype=dtype)
    f = _forward(keras, case, plan)
    vjp = {"tensorflow": _vjp_tensorflow, "jax": _vjp_jax, "torch": _vjp_torch}.get(backend)
    if vjp is None:
        raise Unsupported(f"keras backend {backend!r} has no autodiff here")
    try:
        y, grads = vjp(f, args, gt)
        y_np = _to_numpy(keras, y)
        grads_np = [_to_numpy(keras, t) for t in grads]
    except Exception as exc:  # noqa: BLE001 - sorted: refusals are unsupported, the rest errors
        text = str(exc).strip()
        if unsupported_message(exc) or any(n in text for n in _REFUSALS):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            first = next((ln for ln in lines if any(n in ln for n in _REFUSALS)), lines[0] if lines else "")
            first = first.removeprefix(f"{type(exc).__name__}: ")  # XLA repeats the type in its text
            raise Unsupported(f"keras[{backend}]: {type(exc).__name__}: {first[:300]}") from exc
        raise
    back = (lambda a: a.transpose(from_last)) if cl else (lambda a: a)  # noqa: E731
    winv = tuple(int(a) for a in np.argsort(wperm))
    out = {"y": back(y_np), "dx": back(grads_np[0]), "dw": grads_np[1].transpose(winv)}
    if inputs.b is not None:
        out["db"] = grads_np[2]
    return out
