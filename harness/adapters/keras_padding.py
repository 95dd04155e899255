"""Keras 3's vocabulary for canonical cases, and the program that computes them. Pure: no keras import.

Keras is a vocabulary more than an implementation: one padding word for all axes, `valid` or
`same`, plus `output_padding` for conv_transpose, and no `groups` argument (a conv's groups are
implied by the kernel's input-channel axis; conv_transpose has none).

- conv: a word fits an axis when it puts the same padding at the start and yields the same
  number of outputs (trailing padding a window never reaches changes nothing); `same` is
  TF/JAX SAME (odd pixel at the end, dilated kernel).
- conv_transpose: Keras fixes the output length (keras.src.backend.common.backend_utils):
  valid → (i-1)*s + max(e, s) or (i-1)*s + e + output_padding; same → i*s or
  (i-1)*s + e%2 + output_padding, e = d*(k-1) + 1. The crop of T = F - o follows TensorFlow's rule
  (the backend Keras was written for): valid crops (0, T), same crops max(T, 0)//2 at the start.

The program converts the canonical arrays with keras.ops.convert_to_tensor (data transposed to
channels-last first when the case asks for it, the weight to Keras's kernel layout), calls
keras.ops.conv / conv_transpose, adds the bias reshaped onto the channel axis (`y + bias`: the
backend's own add; keras.ops.add on TensorFlow guesses the channel axis from shapes, see
`layer_program`), and takes the
gradients the way the backend does: tf.GradientTape (tensorflow), jax.vjp (jax) or
torch.autograd.grad (torch).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import program as pg
from harness.adapters.base import channels_last_permutation, inverse_permutation, spatial_first_weight_permutation
from harness.adapters.native_call import NativeError, Spelled, bind, layer_weight, parse_call, per_axis
from harness.adapters.program import Ref

# how each backend takes gradients, and the module its gradient steps name
AUTODIFF = {"tensorflow": pg.TAPE, "jax": pg.VJP, "torch": pg.STEPS}
BACKEND_IMPORTS = {"tensorflow": ("tf", "tensorflow"), "jax": ("jax", "jax"), "torch": ("torch", "torch")}


@dataclass(frozen=True)
class Spelling:
    """The Keras padding word (and conv_transpose's output_padding) for a case, or why there is none."""

    word: str | None  # "valid" | "same"; None: Keras cannot spell the case
    output_padding: tuple[int, ...] | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        if self.word is None:
            return "unsupported"
        return self.word + ("+output_padding" if self.output_padding is not None else "")


# ------------------------------------------------------------------------------------------------
# padding words


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


def spelling(case) -> Spelling:
    if case.is_transpose:
        if case.groups > 1:
            return Spelling(None, reason="keras.ops.conv_transpose has no groups")
        spelled = transpose_spelling(case)
        if spelled is None:
            return Spelling(None, reason=f"crops {case.padding} are no 'valid' / 'same' + output_padding "
                                         "spelling of keras.ops.conv_transpose (its output lengths are "
                                         "fixed by the word)")
        return Spelling(*spelled)
    word = conv_spelling(case)
    if word is None:
        return Spelling(None, reason=f"padding {case.padding} is neither 'valid' nor 'same' on every axis "
                                     "(Keras has one padding word for all axes, no explicit or asymmetric "
                                     "padding)")
    return Spelling(word)


# ------------------------------------------------------------------------------------------------
# layouts


def perms(nd: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(channels-first → channels-last, inverse) permutations of data."""
    to_last = channels_last_permutation(nd)
    return to_last, inverse_permutation(to_last)


def kernel_permutation(nd: int) -> tuple[int, ...]:
    """PyTorch weights (O, I/g, *k) / (I, O/g, *k) → Keras (*k, I/g, O) / (*k, O, I)."""
    return spatial_first_weight_permutation(nd)


def weight_to_native(case, src: str = "w_torch", out: str = "w_keras") -> tuple[pg.Step, ...]:
    """The canonical weight (conv (C_out, C_in/g, *k), conv_transpose (C_in, C_out, *k)) → Keras's
    kernel: conv (*k, C_in/g, C_out), groups contiguous along C_out as in PyTorch; conv_transpose
    (*k, C_out, C_in). The same layout for keras.ops and the layers' `kernel`."""
    return (pg.call(out, "numpy.transpose", Ref(src), kernel_permutation(case.ndim)),)


def weight_from_native(case, src: str = "w_keras", out: str = "w_torch") -> tuple[pg.Step, ...]:
    return (pg.call(out, "numpy.transpose", Ref(src), inverse_permutation(kernel_permutation(case.ndim))),)


def native_x_shape(case) -> tuple[int, ...]:
    shape = case.x_shape
    return tuple(shape[a] for a in perms(case.ndim)[0]) if case.layout == "channels_last" else shape


# ------------------------------------------------------------------------------------------------
# programs


def _data_in(case, name: str, dtype: str) -> list[pg.Step]:
    """Canonical x (or g) → a Keras tensor in the case's layout."""
    steps = []
    if case.layout == "channels_last":
        steps.append(pg.call(name, "numpy.transpose", Ref(name), perms(case.ndim)[0]))
    return steps + [pg.call(name, "keras.ops.convert_to_tensor", Ref(name), dtype=dtype)]


def _setup(case, dtype: str, backend: str) -> list[pg.Step]:
    steps = _data_in(case, "x", dtype) + list(weight_to_native(case, "w", "w"))
    steps.append(pg.call("w", "keras.ops.convert_to_tensor", Ref("w"), dtype=dtype))
    if case.bias:
        steps.append(pg.call("b", "keras.ops.convert_to_tensor", Ref("b"), dtype=dtype))
    if AUTODIFF.get(backend) == pg.STEPS:  # torch: the leaves must record their graph
        steps += [pg.call(n, f"{n}.requires_grad_", True) for n in _leaves(case)]
    return steps


def _bias_steps(case) -> list[pg.Step]:
    axis = 1 if case.layout == "channels_first" else case.ndim + 1
    shape = tuple(-1 if a == axis else 1 for a in range(case.ndim + 2))
    return [pg.call("bias", "keras.ops.reshape", Ref("b"), shape), pg.add("y", Ref("y"), Ref("bias"))]


def _body(case, spelled: Spelling) -> list[pg.Step]:
    kw = dict(strides=case.stride, padding=spelled.word)
    if case.is_transpose:
        if spelled.output_padding is not None:
            kw["output_padding"] = spelled.output_padding
        func = "keras.ops.conv_transpose"
    else:
        func = "keras.ops.conv"
    kw.update(data_format=case.layout, dilation_rate=case.dilation)
    steps = [pg.call("y", func, Ref("x"), Ref("w"), **kw)]
    return steps + (_bias_steps(case) if case.bias else [])


def _back(case, q: str) -> tuple[pg.Step, ...]:
    """A computed quantity → canonical float64 NumPy (channels-first, PyTorch weight layout)."""
    steps = [pg.call(q, "keras.ops.cast", Ref(q), "float64"), pg.call(q, "keras.ops.convert_to_numpy", Ref(q))]
    if q in ("y", "dx") and case.layout == "channels_last":
        steps.append(pg.call(q, "numpy.transpose", Ref(q), perms(case.ndim)[1]))
    if q == "dw":
        steps += weight_from_native(case, q, q)
    return tuple(steps)


def _leaves(case) -> tuple[str, ...]:
    return ("x", "w", "b") if case.bias else ("x", "w")


def _notes(backend: str) -> tuple[str, ...]:
    notes = (f"KERAS_BACKEND={backend} (set before keras is imported)",)
    if backend == "jax":
        notes += ("jax.config.update('jax_enable_x64', True) first: float64 stays float64",)
    return notes


def _imports(backend: str, autodiff: str) -> tuple[tuple[str, str], ...]:
    imports = (("numpy", "numpy"), ("keras", "keras"))
    return imports + ((BACKEND_IMPORTS[backend],) if autodiff != pg.NONE else ())


def program(case, dtype: str, backend: str, spelled: Spelling | None = None) -> pg.Program:
    """The Keras program for a case Keras can spell, its gradients taken the way `backend` does
    (a backend with no autodiff here gets a forward-only program)."""
    spelled = spelled or spelling(case)
    if spelled.word is None:
        raise ValueError(f"no Keras spelling: {spelled.reason}")
    leaves = _leaves(case)
    autodiff = AUTODIFF.get(backend, pg.NONE)
    grads = tuple("d" + n for n in leaves)
    gradient = (pg.call(grads, "torch.autograd.grad", Ref("y"), tuple(Ref(n) for n in leaves),
                        grad_outputs=Ref("g")),) if autodiff == pg.STEPS else ()
    return pg.Program(
        imports=_imports(backend, autodiff),
        setup=tuple(_setup(case, dtype, backend)),
        body=tuple(_body(case, spelled)),
        leaves=leaves,
        cotangent=tuple(_data_in(case, "g", dtype)),
        autodiff=autodiff,
        gradient=gradient,
        outputs=tuple((q, _back(case, q)) for q in ("y", *grads)),
        notes=_notes(backend),
    )


# ------------------------------------------------------------------------------------------------
# the layer


def layer_refusal(case, spelled: Spelling) -> str:
    """Why keras.layers has no layer for a case keras.ops spells ('' when it has one): the layers
    refuse strides > 1 with dilation > 1 (any axes), a transposed layer's output_padding must be
    below its strides (ops allow up to max(stride, dilation)), and Conv*DTranspose has no groups."""
    if spelled.word is None:
        return spelled.reason
    if max(case.stride) > 1 and max(case.dilation) > 1:
        return "keras.layers refuse strides > 1 together with dilation_rate > 1"
    if spelled.output_padding is not None and any(op >= s for op, s in zip(spelled.output_padding, case.stride)):
        return "keras.layers.Conv*DTranspose needs output_padding < strides"
    return ""


def _layer(case, spelled: Spelling, dtype: str | None, out: str | None = "layer") -> pg.Step:
    nd = case.ndim
    kw = dict(filters=case.out_channels, kernel_size=case.kernel, strides=case.stride, padding=spelled.word)
    if case.is_transpose:
        kind = f"keras.layers.Conv{nd}DTranspose"
        kw["output_padding"] = spelled.output_padding
    else:
        kind = f"keras.layers.Conv{nd}D"
    kw.update(data_format=case.layout, dilation_rate=case.dilation)
    if not case.is_transpose:
        kw["groups"] = case.groups
    return pg.call(out, kind, **kw, use_bias=case.bias, **({"dtype": dtype} if dtype else {}))


KNOWN_ISSUE = "KNOWN ISSUE"  # how a printed program's note starts when the printed code is known to compute wrongly


def layer_bias_misplaced(case, backend: str) -> bool:
    """Keras's TF backend adds a layer's bias with tf.nn.bias_add, guessing the channel axis from shapes
    (keras/src/backend/tensorflow/numpy.py `add`, since keras-team/keras#20386): NHWC whenever the
    last axis has the bias's length. A channels-first layer output whose last spatial length equals
    its filters (> 1) gets the bias along that spatial axis (measured with Keras 3.15.1)."""
    return (backend == "tensorflow" and case.bias and case.layout == "channels_first"
            and case.out_channels > 1 and case.output_size[-1] == case.out_channels)


def layer_program(case, dtype: str, backend: str = "tensorflow") -> pg.Program | None:
    """keras.layers.Conv{n}D (groups=) / Conv{n}DTranspose with the case's word, output_padding,
    strides, dilation_rate and data_format, built for x's shape and loaded with the canonical
    weights (set_weights, kernel converted by `weight_to_native`), called on x; forward only.
    None where Keras has no such layer for the case (`layer_refusal`).

    Measured with Keras 3.15.1 on TensorFlow: the layers add their bias with keras.ops.add, which
    becomes tf.nn.bias_add with NHWC whenever the output's last axis has `filters` entries, so a
    channels-first output whose last spatial length equals filters (> 1) gets the bias along that
    axis. The layer is printed as Keras users write it; the difference is its finding."""
    spelled = spelling(case)
    if layer_refusal(case, spelled):
        return None
    weights = [Ref("w_keras"), Ref("b")] if case.bias else [Ref("w_keras")]
    body = (_layer(case, spelled, dtype), pg.call(None, "layer.build", native_x_shape(case)),
            pg.call(None, "layer.set_weights", weights), pg.call("y", "layer", Ref("x")))
    notes = _notes(backend)
    if layer_bias_misplaced(case, backend):
        notes += (f"{KNOWN_ISSUE}: Keras adds this layer's bias along the last axis (width {case.output_size[-1]} "
                  f"== filters), not the channels (keras.ops.add -> tf.nn.bias_add NHWC, keras-team/keras#20386); "
                  "add the bias yourself (use_bias=False, then y + b.reshape(1, -1, 1, ...))",)
    return pg.Program(imports=_imports(backend, pg.NONE),
                      setup=tuple(_data_in(case, "x", dtype)) + weight_to_native(case, "w", "w_keras"),
                      body=body, leaves=_leaves(case), autodiff=pg.NONE,
                      outputs=(("y", _back(case, "y")),), notes=notes)


_F16 = ("Keras on TensorFlow's CPU kernels: float16 {} errs like float16 accumulation (measured, keras 3 on "
        "tensorflow-cpu 2.21: ~10-11 bits)")
DEVIATIONS = {"float16": (("dw", prec.Deviation("float16", _F16.format("weight gradients"))),
                          ("dx", prec.Deviation("float16", _F16.format("input gradients"))),
                          ("db", prec.Deviation("float16", _F16.format("bias gradients (the Sum of y + bias)"))))}


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): y rounded twice with a bias; measured deviations."""
    deviations = DEVIATIONS.get(dtype, ())
    return prec.declared(case, dtype, "keras.ops.conv / conv_transpose take no bias: y + bias is a second op, "
                         "rounding y to the storage dtype again", deviations=deviations if device == "cpu" else ())


# ------------------------------------------------------------------------------------------------
# native spelling in: keras.layers.Conv{n}D / Conv{n}DTranspose as written

_CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
         "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
         "activity_regularizer", "kernel_constraint", "bias_constraint", "name", "dtype", "trainable")
_TRANSPOSE = ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
              "activation", "use_bias", *_CONV[9:])
LAYERS = {**{f"Conv{n}D": ("conv", n) for n in (1, 2, 3)}, **{f"Conv{n}DTranspose": ("conv_transpose", n) for n in (1, 2, 3)}}


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of `keras.layers.Conv{n}D(...)` / `Conv{n}DTranspose(...)` as written
    (measured against Keras 3.15.1): filters are the output channels (the input channels come from the
    input: the case gives in_channels), data_format defaults to channels_last, and a transposed layer's
    output length follows Keras's rule (`transpose_length`), which needs the input size."""
    call = parse_call(text)
    if call.name not in LAYERS:
        raise NativeError(f"keras layer {call.func!r} is not one of {', '.join(LAYERS)}", 1)
    layer_weight(call, weight_shape)
    op, nd = LAYERS[call.name]
    bound = bind(call, _TRANSPOSE if op == "conv_transpose" else _CONV, 2, "keras")
    activation = bound.get("activation")
    if activation is not None and activation.value not in (None, "linear"):
        raise NativeError(f"activation {activation.value!r}: the case is the convolution alone", activation.column)
    fields = {"op": f"{op}{nd}d", "out_channels": bound["filters"].value,
              "kernel": list(per_axis(bound, "kernel_size", nd, 1, 1)),
              "stride": list(per_axis(bound, "strides", nd, 1, 1)),
              "dilation": list(per_axis(bound, "dilation_rate", nd, 1, 1)),
              "bias": bound["use_bias"].value if "use_bias" in bound else True,
              "layout": _data_format(bound)}
    if max(fields["stride"]) > 1 and max(fields["dilation"]) > 1:
        raise NativeError("keras.layers refuse strides > 1 together with dilation_rate > 1",
                          bound["dilation_rate"].column)
    word = _padding_word(bound, nd)
    if op == "conv":
        return {**fields, "groups": bound["groups"].value if "groups" in bound else 1, "padding": word}
    return {**fields, "padding": _transpose_crops(bound, nd, fields, word, input_size)}


def _data_format(bound: dict) -> str:
    arg = bound.get("data_format")
    if arg is None or arg.value is None:
        return "channels_last"  # keras.config.image_data_format()'s default
    if arg.value not in ("channels_last", "channels_first"):
        raise NativeError(f"data_format {arg.value!r}: Keras takes 'channels_last' or 'channels_first'", arg.column)
    return arg.value


def _padding_word(bound: dict, nd: int) -> str:
    arg = bound.get("padding")
    word = "valid" if arg is None else arg.value
    if not isinstance(word, str) or word.lower() not in ("valid", "same"):
        raise NativeError(f"padding {word!r}: Keras's convolution layers take 'valid' or 'same'",
                          arg.column if arg else None)
    return word.lower()


def _transpose_crops(bound: dict, nd: int, fields: dict, word: str, input_size) -> list:
    """Canonical crops per axis of Keras's output length for the word and output_padding."""
    arg = bound.get("output_padding")
    ops = None if arg is None or arg.value is None else per_axis(bound, "output_padding", nd, 0, 0)
    if ops is not None and any(op >= s for op, s in zip(ops, fields["stride"])):
        raise NativeError(f"output_padding {arg.value!r} must be smaller than strides {tuple(fields['stride'])} "
                          "(keras.layers)", arg.column)
    if not input_size or len(input_size) != nd:
        raise NativeError("a Keras transposed layer's output length needs the input size (input_size per axis)")
    crops = []
    for ax, (i, k, s, d) in enumerate(zip(input_size, fields["kernel"], fields["stride"], fields["dilation"])):
        crop = transpose_crop(word, i, k, s, d, None if ops is None else ops[ax])
        if crop is None:
            raise NativeError(f"axis {ax}: Keras asks for length {transpose_length(word, i, k, s, d, ops and ops[ax])}, "
                              "which no forward conv maps back to the input (TensorFlow refuses it)",
                              arg.column if arg else None)
        crops.append(list(crop))
    return crops


def layer_text(case) -> str | None:
    """`keras.layers.Conv2DTranspose(filters=64, ...)` for a case Keras's layers spell, else None: the
    layer step of `layer_program` without its dtype."""
    spelled = spelling(case)
    if spelled.word is None or layer_refusal(case, spelled):
        return None
    return pg.render(_layer(case, spelled, None, out=None))


def native_texts(case) -> tuple[Spelled, ...]:
    """Every way Keras writes the case natively: its layer (Keras's ops are JAX's / TF's)."""
    text = layer_text(case)
    return (Spelled(text),) if text else ()
