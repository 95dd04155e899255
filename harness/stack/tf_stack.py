"""A stack run natively in TensorFlow, eagerly, end to end under one tf.GradientTape: every conv,
conv_transpose and unpool layer through the body of the program the single-case adapter plans
(`tf_adapter.plan(case, dtype, "nn")`: tf.nn.convolution / conv*d / conv*d_transpose with TF's padding
spelling, or its emulations: tf.pad / slicing around a 'VALID' op, one op per group, zeros between
kernel taps, where TF's CPU kernels refuse), the other layers as tf.nn / tf.math / tf.linalg calls;
gradients of the input and every trained parameter from one `tape.gradient(last, [x, *params],
output_gradients=g)`.

The whole stack runs channels-last (NWC / NHWC / NDHWC), as the adapter's bodies do: TF's CPU kernels
refuse NCHW except float32 / bfloat16 with SAME / VALID (measured, tf_adapter). x, g and the outputs
are transposed at the edges (NumPy, exact); conv filters go in TF's layout (tf_padding.weight_permutation)
and their gradients come back through the inverse permutation. A reshape is in channels-first order
(torch's h.reshape(N, *shape)), so it transposes to channels-first, reshapes, and transposes back.
An unpool is the adapter's depthwise conv_transpose with a tf.ones filter (not trained).

Measured with tensorflow-cpu 2.21 (oneDNN on): the generator of tests/test_stack.py, a small U-Net
decoder (concat, condition), a 3D conv_transpose + unpool, what TF's kernels refuse as such (a grouped
conv_transpose, a dilated conv_transpose in float64, a strided dilated conv) and seed 004's generators
at their real sizes (cases/stacks) run inside every bound in float32 and float64, gradients inside
their bounds (harness.stack.gradient_bounds) and within 1e-4 (float32) / 1e-12 (float64) of the oracle.
The float64 and 3D unpools (groups = C) run the adapter's split-groups emulation. No layer needed
StackUnsupported: a refusal left after the adapter's emulations (`tf_adapter.kernel_refusal` on the
final formulation) would raise it. Finding: tf.nn.leaky_relu's `alpha` is a float32 attribute, so a
float64 leaky ReLU multiplies by 0.2 rounded to float32 (0.20000000298023224; ~1.7e7 times the layer's
float64 bound). float16 / bfloat16 are not offered: there the bias is a second op after the matmul or
conv (tf.nn.bias_add, `+ b`), a second rounding the stack's local bounds do not allow for (a 16-bit
linear layer measured at 16x its bound), and TF's float16 conv gradients and Conv2DBackpropInput err
like float16 accumulation (tf_padding.DEVIATIONS).
"""

from __future__ import annotations

import numpy as np

from harness.adapters import program as pg
from harness.adapters import tf_adapter
from harness.adapters import tf_padding as tp
from harness.adapters.base import channels_last_permutation, inverse_permutation
from harness.stack.model import Layer, StackUnsupported
from harness.stack.reference import StackReference, with_skip
from harness.stack.runners import program_call

NAME = "tensorflow"
TRAINED = ("w", "b", "gamma", "beta")
GRADIENTS = True
DTYPES = ("float64", "float32")
CONVS = ("conv", "conv_transpose", "unpool")
SIMPLE_CALLS = {
    "relu": "tf.nn.relu(h)", "tanh": "tf.math.tanh(h)", "sigmoid": "tf.math.sigmoid(h)",
    "leaky_relu": "tf.nn.leaky_relu(h, alpha={slope})",
    "batch_norm": "tf.nn.batch_normalization(h, mean, var, beta, gamma, variance_epsilon={eps})",
    "linear": "tf.linalg.matmul(h, w, transpose_b=True) + b",
    "upsample": "tf.repeat(h, s, axis=a) for s, a in zip({scale}, spatial axes)",
    "concat": "tf.concat([h, outputs[{source}]], axis=-1)",
    "condition": "tf.concat([h, tf.broadcast_to(c[:, None, ..., :], (N, *spatial, {features}))], axis=-1)",
}


def to_last(a: np.ndarray) -> np.ndarray:
    """Canonical (N, C, *spatial) → channels-last; (N, features) as it is."""
    return np.transpose(a, channels_last_permutation(a.ndim - 2)) if a.ndim > 2 else a


def to_first(a: np.ndarray) -> np.ndarray:
    """Channels-last → canonical (N, C, *spatial); (N, features) as it is."""
    return np.transpose(a, inverse_permutation(channels_last_permutation(a.ndim - 2))) if a.ndim > 2 else a


def plans(layers: list[Layer], dtype: str) -> dict[int, object]:
    """The adapter's plan of every conv-like layer (by index); StackUnsupported for a layer TF still
    refuses after the adapter's emulations, before anything runs."""
    if dtype not in DTYPES:
        raise ValueError(f"the tensorflow stack runs {', '.join(DTYPES)}, not {dtype}")
    out = {}
    for layer in layers:
        if layer.kind not in CONVS:
            continue
        case = layer.case
        plan = tf_adapter.plan(case, dtype, "nn")
        if plan.program is None:
            raise StackUnsupported(layer.index, layer.kind, plan.reason)
        if case.groups > 1 or max(case.dilation) > 1:
            refused = tf_adapter.kernel_refusal(case, dtype, plan.details)
            if refused:
                raise StackUnsupported(layer.index, layer.kind, f"TF refuses it even emulated: {refused}")
        out[layer.index] = plan
    return out


def calls(layers: list[Layer], found: dict) -> list[str]:
    """Per layer, the TF call(s) that compute it: a conv's program body, rendered step by step."""
    out = []
    for layer in layers:
        if layer.index in found:
            out.append(program_call(found[layer.index].program.body))
        elif layer.kind == "reshape":
            out.append(_reshape_call(layer))
        else:
            out.append(SIMPLE_CALLS[layer.kind].format(slope=layer.slope, eps=layer.eps, out_shape=layer.out_shape,
                                                      scale=layer.scale, source=layer.source, features=layer.features))
    return out


def _reshape_call(layer: Layer) -> str:
    """The reshape as _reshape runs it: transposes only around a tensor with spatial axes."""
    h = "tf.transpose(h, to_channels_first)" if len(layer.in_shape) > 1 else "h"
    call = f"tf.reshape({h}, (N, *{layer.out_shape}))"
    return f"tf.transpose({call}, to_channels_last)" if len(layer.out_shape) > 1 else call


def _conv(tf, layer: Layer, p: dict, h, plan, dtype):
    if layer.kind == "unpool":
        w = tf.ones(tp.filter_shape(layer.case), dtype=dtype)
    else:
        w = p["w"]
    env = {"tf": tf, "x": h, "w": w, "b": p.get("b")}
    return pg.execute(plan.program.body, env)["y"]


def _reshape(tf, layer: Layer, h):
    """Channels-first order: transpose to channels-first, reshape, back to channels-last."""
    if h.shape.rank > 2:
        h = tf.transpose(h, inverse_permutation(channels_last_permutation(h.shape.rank - 2)))
    h = tf.reshape(h, (h.shape[0], *layer.out_shape))
    if h.shape.rank > 2:
        h = tf.transpose(h, channels_last_permutation(h.shape.rank - 2))
    return h


def _appended(tf, layer: Layer, p: dict, h):
    if layer.kind == "concat":
        return p["skip"]
    c = tf.reshape(p["c"], (h.shape[0], *([1] * (h.shape.rank - 2)), layer.features))
    return tf.broadcast_to(c, (*h.shape[:-1], layer.features))


def _layer(tf, layer: Layer, p: dict, h, plan, dtype):
    k = layer.kind
    if k in CONVS:
        return _conv(tf, layer, p, h, plan, dtype)
    if k in ("concat", "condition"):
        return tf.concat([h, _appended(tf, layer, p, h)], axis=-1)
    if k == "linear":
        y = tf.linalg.matmul(h, p["w"], transpose_b=True)
        return y + p["b"] if "b" in p else y
    if k == "reshape":
        return _reshape(tf, layer, h)
    if k == "batch_norm":
        return tf.nn.batch_normalization(h, p["mean"], p["var"], p["beta"], p["gamma"], variance_epsilon=layer.eps)
    if k in ("relu", "tanh", "sigmoid"):
        return {"relu": tf.nn.relu, "tanh": tf.math.tanh, "sigmoid": tf.math.sigmoid}[k](h)
    if k == "leaky_relu":
        return tf.nn.leaky_relu(h, alpha=layer.slope)
    if k == "upsample":
        for axis, f in enumerate(layer.scale):
            h = tf.repeat(h, f, axis=1 + axis)
        return h
    raise ValueError(f"tensorflow has no stack layer {k!r}")


def _leaves(tf, layers: list[Layer], ref: StackReference, dtype) -> list[dict]:
    """Every layer's parameters as TF tensors: conv filters in TF's layout, the rest as they are."""
    out = []
    for layer, p in zip(layers, ref.params):
        q = {}
        for n, v in p.items():
            if n == "w" and layer.kind in CONVS:
                v = np.transpose(v, tp.weight_permutation(layer.case.ndim))
            q[n] = tf.cast(tf.constant(v), dtype)
        out.append(q)
    return out


def _canonical(layer: Layer, name: str, grad: np.ndarray) -> np.ndarray:
    if name == "w" and layer.kind in CONVS:
        return np.transpose(grad, inverse_permutation(tp.weight_permutation(layer.case.ndim)))
    return grad


def run(layers: list[Layer], ref: StackReference, dtype: str) -> dict:
    """{outputs: per layer (float64 NumPy, channels-first), dx, grads: per layer {parameter: gradient},
    version, calls}."""
    found = plans(layers, dtype)
    version = tf_adapter.version()  # TF imported the adapter's way (TF32 per --allow-tf32, quiet logs)
    import tensorflow as tf

    tdt = getattr(tf, dtype)
    leaves = _leaves(tf, layers, ref, tdt)
    x = tf.cast(tf.constant(to_last(ref.x)), tdt)
    trained = [(i, n, v) for i, p in enumerate(leaves) for n, v in p.items() if n in TRAINED]
    with tf.GradientTape() as tape:
        tape.watch([x, *(v for _, _, v in trained)])
        h, outs = x, []
        for layer, p in zip(layers, leaves):
            h = _layer(tf, layer, with_skip(layer, p, outs), h, found.get(layer.index), tdt)
            outs.append(h)
    g = tf.cast(tf.constant(to_last(ref.g)), tdt)
    grads = tape.gradient(h, [x, *(v for _, _, v in trained)], output_gradients=g,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def back(t):
        return tf.cast(t, tf.float64).numpy()

    per_layer = [{} for _ in layers]
    for (i, n, _), d in zip(trained, grads[1:]):
        per_layer[i][n] = _canonical(layers[i], n, back(d))
    return {"outputs": [to_first(back(o)) for o in outs], "dx": to_first(back(grads[0])), "grads": per_layer,
            "version": version, "calls": calls(layers, found)}
