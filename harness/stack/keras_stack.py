"""A stack run as a real Keras 3 model: keras.Input and the functional API (a concat reaches an earlier
layer's output; every layer's output is a model output), built from keras.layers, called with
training=False under one tf.GradientTape; gradients of the input and every trained weight from one
`tape.gradient(last, [x, *weights], output_gradients=g)`, mapped back to the canonical layouts.

The model is channels-last (Keras's default image_data_format), x, g and the outputs transposed at the
edges (NumPy, exact). Layers:

- conv / conv_transpose: keras.layers.Conv{n}D (groups=) / Conv{n}DTranspose with the padding word and
  output_padding `keras_padding.spelling` gives and `keras_padding.layer_refusal` allows, the kernel in
  Keras's layout (`keras_padding.kernel_permutation`). Where Keras cannot spell the padding, the layer
  is 'valid' (a transposed one with output_padding 0: the full length F) with ZeroPadding{n}D /
  Cropping{n}D before a conv or after a transposed conv: exact. Refused (StackUnsupported): a grouped
  conv_transpose (Conv*DTranspose has no groups), strides > 1 with dilation > 1 (keras.layers refuse
  it), a transposed conv with bias whose canonical crops append zeros Keras's 'same' does not (the
  layer adds b before the ZeroPadding, the canonical op after), and what TF refuses under the layer,
  measured per geometry on a batch-1 probe for a grouped or dilated layer (a float64 dilated
  conv_transpose: "Current CPU implementations do not yet support dilation rates larger than 1"; a
  grouped conv runs in float64 and 3D too: Keras's TF backend compiles it with XLA on CPU, where
  tf.nn refuses it).
- unpool (Chainer's depthwise ones-kernel conv_transpose): Keras's Conv*DTranspose has no groups, so it
  is a dense, non-trainable Conv{n}DTranspose with kernel ones(k) x eye(C): the off-diagonal taps are
  exact zeros, so every output is the same sum of the same products (measured within the bounds).
- Dense (kernel = w.T), Reshape between Permutes (the canonical reshape is in channels-first order),
  BatchNormalization (weights [gamma, beta, mean, var], epsilon = layer.eps), ReLU, Activation('tanh' /
  'sigmoid'), LeakyReLU(negative_slope=), UpSampling{n}D (nearest), Concatenate; a condition is a model
  input of shape (features,) spread over the spatial axes by Reshape((1,)*n + (features,)) and
  UpSampling{n}D(size=spatial) (copies: exact), then Concatenate.

Measured with Keras 3.15.1 on tensorflow-cpu 2.21: the generator of tests/test_stack.py, a U-Net decoder
(concat, condition), a 3D conv_transpose + unpool, unspelled paddings and seed 004's generators at their
real sizes (cases/stacks) run inside every bound in float32 and float64, gradients inside their bounds
(harness.stack.gradient_bounds) and within 1e-4 (float32) / 1e-12 (float64) of the oracle. A model with
one output returns the tensor, not a list of one. float16 / bfloat16 are not offered, as for the
tensorflow runner (the bias rounds a second time; TF's float16 kernels accumulate in float16). Finding: keras.layers.LeakyReLU on TensorFlow runs tf.nn.leaky_relu, whose
`alpha` is a float32 attribute: in float64 the slope 0.2 is 0.20000000298023224 (relative error 1.5e-8,
10^7 times the float64 bound). Only the tensorflow backend is run here (its tape); another backend is
StackUnsupported at layer 0.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache

import numpy as np

from harness.adapters import keras_adapter
from harness.adapters import keras_padding as kp
from harness.adapters import program as pg
from harness.adapters.base import inverse_permutation
from harness.adapters.tf_padding import split_crop, split_pad
from harness.stack.model import Layer, StackUnsupported
from harness.stack.reference import StackReference
from harness.stack.tf_stack import to_first, to_last

NAME = "keras"
TRAINED = ("w", "b", "gamma", "beta")
GRADIENTS = True
DTYPES = ("float64", "float32")
CONVS = ("conv", "conv_transpose", "unpool")
ACTIVATIONS = {"relu": ("ReLU", {}), "tanh": ("Activation", {"activation": "tanh"}),
               "sigmoid": ("Activation", {"activation": "sigmoid"})}


def _step(func: str, dtype: str, **kwargs) -> pg.Step:
    return pg.call(None, f"keras.layers.{func}", **kwargs, dtype=dtype)


def _fmt(nd: int) -> dict:
    return {"data_format": "channels_last"} if nd > 1 else {}


def _main(case, unpool: bool, word: str, output_padding, dtype: str) -> pg.Step:
    """The Conv{n}D / Conv{n}DTranspose layer itself."""
    nd = case.ndim
    kw = dict(filters=case.out_channels, kernel_size=case.kernel, strides=case.stride, padding=word,
              data_format="channels_last", dilation_rate=case.dilation)
    if case.is_transpose:
        kw["output_padding"] = output_padding
        return _step(f"Conv{nd}DTranspose", dtype, **kw, use_bias=case.bias, **({"trainable": False} if unpool else {}))
    return _step(f"Conv{nd}D", dtype, **kw, groups=case.groups, use_bias=case.bias)


def _refuse_first(layer: Layer) -> None:
    """What no Keras layer spells, before any padding is looked at."""
    case, nd = layer.case, layer.case.ndim
    if layer.kind == "conv_transpose" and case.groups > 1:
        raise StackUnsupported(layer.index, layer.kind, f"keras.layers.Conv{nd}DTranspose has no groups "
                               f"({case.groups} here)")
    if max(case.stride) > 1 and max(case.dilation) > 1:
        raise StackUnsupported(layer.index, layer.kind, "keras.layers refuse strides > 1 together with "
                               f"dilation_rate > 1 (strides {case.stride}, dilation {case.dilation})")


def conv_steps(layer: Layer, dtype: str) -> tuple[tuple[pg.Step, ...], int]:
    """The Keras layers computing a conv-like layer, and the position of the one holding the weights:
    the spelled layer, or ZeroPadding / Cropping around a 'valid' one; StackUnsupported where neither."""
    _refuse_first(layer)
    case, nd, unpool = layer.case, layer.case.ndim, layer.kind == "unpool"
    spelled = kp.spelling(replace(case, groups=1) if unpool else case)
    if spelled.word is not None and not kp.layer_refusal(case, spelled):
        return (_main(case, unpool, spelled.word, spelled.output_padding, dtype),), 0
    if not case.is_transpose:
        grow, crop = split_pad(case.padding)
        edges = _edge("ZeroPadding", "padding", grow, dtype) + _edge("Cropping", "cropping", crop, dtype)
        return (*edges, _main(case, unpool, "valid", None, dtype)), len(edges)
    grow, crop = split_crop(case.padding)
    if case.bias and any(map(any, grow)):
        raise StackUnsupported(layer.index, layer.kind, f"crops {case.padding} append zeros that get the bias in the "
                               "canonical op, but Keras's layer adds b before a ZeroPadding (and 'same' does not spell "
                               "them)")
    edges = _edge("Cropping", "cropping", crop, dtype) + _edge("ZeroPadding", "padding", grow, dtype)
    return (_main(case, unpool, "valid", (0,) * nd, dtype), *edges), 0


def _edge(kind: str, arg: str, pads, dtype: str) -> list[pg.Step]:
    """ZeroPadding{n}D / Cropping{n}D by (lo, hi) per spatial axis, or nothing when all are 0."""
    if not any(map(any, pads)):
        return []
    nd = len(pads)
    value = tuple(tuple(p) for p in pads) if nd > 1 else tuple(pads[0])
    return [_step(f"{kind}{nd}D", dtype, **{arg: value}, **_fmt(nd))]


def plans(layers: list[Layer], dtype: str) -> dict[int, tuple[tuple[pg.Step, ...], int]]:
    """Every conv-like layer's Keras layers (by index); StackUnsupported for a layer Keras cannot
    express or TF's kernels refuse under it (a grouped or dilated layer is probed), before anything runs."""
    if dtype not in DTYPES:
        raise ValueError(f"the keras stack runs {', '.join(DTYPES)}, not {dtype}")
    backend = keras_adapter.backend_name()
    if backend != "tensorflow":
        raise StackUnsupported(0, layers[0].kind, f"keras backend {backend!r}: the stack's gradients are taken "
                               "with tf.GradientTape (tensorflow backend only)")
    out = {}
    for layer in layers:
        if layer.kind in CONVS:
            out[layer.index] = conv_steps(layer, dtype)
            if (layer.case.groups > 1 and layer.kind == "conv") or max(layer.case.dilation) > 1:
                refused = probe(out[layer.index][0], tuple(to_last_shape(layer.in_shape)), dtype)
                if refused:
                    raise StackUnsupported(layer.index, layer.kind, f"TensorFlow refuses it under Keras: {refused}")
    return out


def to_last_shape(shape) -> tuple[int, ...]:
    """A per-sample (C, *spatial) shape channels-last; (features,) as it is."""
    return (*shape[1:], shape[0]) if len(shape) > 1 else tuple(shape)


def _make(keras, step: pg.Step):
    return pg.resolve(step.func, {"keras": keras})(**dict(step.kwargs))


@cache
def probe(steps: tuple[pg.Step, ...], in_shape: tuple[int, ...], dtype: str) -> str | None:
    """None if TF computes these Keras layers (forward and gradients, batch 1, ones), else its message."""
    keras_adapter.version()
    import keras
    import tensorflow as tf

    try:
        x = tf.ones((1, *in_shape), dtype)
        made = [_make(keras, s) for s in steps]
        with tf.GradientTape() as tape:
            tape.watch(x)
            h = x
            for lay in made:
                h = lay(h)
        tape.gradient(h, [x, *(w for lay in made for w in lay.trainable_weights)])
    except Exception as exc:  # noqa: BLE001 - any failure on a valid configuration is a refusal
        return _message(exc)
    return None


def _message(exc: BaseException) -> str:
    """TF's own line of a refusal Keras wraps ('Exception encountered when calling ...', colour codes,
    {{function_node ...}})."""
    text = re.sub(r"\x1b\[[0-9;]*m|\{\{function_node [^}]*\}\}\s*", "", str(exc))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Exception encountered")]
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:300]}"


class _Builder:
    """The functional model as it grows: inputs (x, then one per condition) with their values, every
    stack layer's output tensor, the trained weights with their conversion back, the calls."""

    def __init__(self, keras, layers: list[Layer], ref: StackReference, dtype: str, found: dict):
        self.keras, self.layers, self.ref, self.dtype, self.found = keras, layers, ref, dtype, found
        self.inputs = [keras.Input(shape=to_last_shape(layers[0].in_shape), dtype=dtype, name="x")]
        self.feeds = [to_last(ref.x)]
        self.outs, self.weights, self.calls = [], [], []

    def chain(self, steps, h):
        """Each step's Keras layer made and called in turn; (h, the layers)."""
        made = [_make(self.keras, s) for s in steps]
        for lay in made:
            h = lay(h)
        self.calls.append("; ".join(pg.render(s) for s in steps))
        return h, made

    def trained(self, layer: Layer, pairs) -> None:
        """(param name, Keras variable, gradient → canonical layout) of a layer's trained weights."""
        self.weights += [(layer.index, n, v, f) for n, v, f in pairs if n in self.ref.params[layer.index]]

    def build(self):
        h = self.inputs[0]
        for layer, p in zip(self.layers, self.ref.params):
            h = self.layer(layer, p, h)
            self.outs.append(h)
        return self.keras.Model(self.inputs, self.outs)

    def layer(self, layer: Layer, p: dict, h):
        k, dt = layer.kind, self.dtype
        if k in CONVS:
            return self.conv(layer, p, h)
        if k in ("concat", "condition"):
            return self.appended(layer, p, h)
        if k == "linear":
            h, (dense,) = self.chain([_step("Dense", dt, units=layer.features, use_bias=layer.bias)], h)
            dense.set_weights([p["w"].T, p["b"]] if layer.bias else [p["w"].T])
            self.trained(layer, [("w", dense.kernel, np.transpose), ("b", getattr(dense, "bias", None), _same)])
            return h
        if k == "batch_norm":
            h, (bn,) = self.chain([_step("BatchNormalization", dt, axis=-1, epsilon=layer.eps)], h)
            bn.set_weights([p["gamma"], p["beta"], p["mean"], p["var"]])
            self.trained(layer, [("gamma", bn.gamma, _same), ("beta", bn.beta, _same)])
            return h
        return self.chain(simple_steps(layer, dt), h)[0]

    def conv(self, layer: Layer, p: dict, h):
        steps, at = self.found[layer.index]
        h, made = self.chain(steps, h)
        case, lay = layer.case, made[at]
        if layer.kind == "unpool":
            c = case.in_channels
            lay.set_weights([np.ones((*case.kernel, 1, 1)) * np.eye(c)])
            return h
        kernel = np.transpose(p["w"], kp.kernel_permutation(case.ndim))
        lay.set_weights([kernel, p["b"]] if case.bias else [kernel])
        back = inverse_permutation(kp.kernel_permutation(case.ndim))
        self.trained(layer, [("w", lay.kernel, lambda g: np.transpose(g, back)),
                             ("b", getattr(lay, "bias", None), _same)])
        return h

    def appended(self, layer: Layer, p: dict, h):
        """Concatenate(axis=-1) of h and an earlier output, or of h and a condition input spread over
        the spatial axes."""
        cat = _step("Concatenate", self.dtype, axis=-1)
        if layer.kind == "concat":
            self.calls.append(f"{pg.render(cat)}([h, outputs[{layer.source}]])")
            return _make(self.keras, cat)([h, self.outs[layer.source]])
        c = self.keras.Input(shape=(layer.features,), dtype=self.dtype, name=f"c{layer.index}")
        self.inputs.append(c)
        self.feeds.append(p["c"])
        spatial = layer.in_shape[1:]
        spread = [_step("Reshape", self.dtype, target_shape=(*(1,) * len(spatial), layer.features)),
                  _upsample(spatial, self.dtype)] if spatial else []
        c, _ = self.chain(spread, c)
        spread_call = self.calls.pop()
        self.calls.append(f"{spread_call + ' on c; ' if spread else ''}{pg.render(cat)}([h, c])")
        return _make(self.keras, cat)([h, c])


def _same(g):
    return g


def _upsample(scale, dtype: str) -> pg.Step:
    nd = len(scale)
    return _step(f"UpSampling{nd}D", dtype, size=tuple(scale) if nd > 1 else scale[0], **_fmt(nd))


def simple_steps(layer: Layer, dtype: str) -> list[pg.Step]:
    """The Keras layers of an activation, reshape or upsample layer."""
    k = layer.kind
    if k in ACTIVATIONS:
        func, kw = ACTIVATIONS[k]
        return [_step(func, dtype, **kw)]
    if k == "leaky_relu":
        return [_step("LeakyReLU", dtype, negative_slope=layer.slope)]
    if k == "upsample":
        return [_upsample(layer.scale, dtype)]
    if k == "reshape":
        n_in, n_out = len(layer.in_shape) - 1, len(layer.out_shape) - 1
        steps = [_step("Permute", dtype, dims=(n_in + 1, *range(1, n_in + 1)))] if n_in else []
        steps.append(_step("Reshape", dtype, target_shape=tuple(layer.out_shape)))
        return steps + ([_step("Permute", dtype, dims=(*range(2, n_out + 2), 1))] if n_out else [])
    raise ValueError(f"keras has no stack layer {k!r}")


def run(layers: list[Layer], ref: StackReference, dtype: str) -> dict:
    """{outputs: per layer (float64 NumPy, channels-first), dx, grads: per layer {parameter: gradient},
    version, calls}."""
    found = plans(layers, dtype)
    version = keras_adapter.version()  # keras imported the adapter's way (x64 on JAX, quiet TF logs)
    import keras
    import tensorflow as tf

    builder = _Builder(keras, layers, ref, dtype, found)
    model = builder.build()
    feeds = [tf.constant(v, dtype) for v in builder.feeds]
    variables = [v for _, _, v, _ in builder.weights]
    with tf.GradientTape() as tape:
        tape.watch(feeds[0])
        outs = model(feeds, training=False)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]  # a one-output model returns the tensor
    g = tf.constant(to_last(ref.g), dtype)
    grads = tape.gradient(outs[-1], [feeds[0], *variables], output_gradients=g,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def back(t):
        return np.asarray(tf.cast(t, tf.float64).numpy())

    per_layer = [{} for _ in layers]
    for (i, n, _, convert), d in zip(builder.weights, grads[1:]):
        per_layer[i][n] = convert(back(d))
    return {"outputs": [to_first(back(o)) for o in outs], "dx": to_first(back(grads[0])), "grads": per_layer,
            "version": version, "calls": builder.calls}
