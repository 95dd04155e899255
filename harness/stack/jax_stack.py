"""A stack run natively in JAX, end to end under one jax.jit and jax.vjp: every conv layer through the
single-case program's body (harness.adapters.jax_padding: lax.conv_general_dilated /
lax.conv_transpose with transpose_kernel=True, channels-first), the other layers as jax.nn / jnp
calls; every layer's output returned beside the last (has_aux), gradients of the input and every
trained parameter from one VJP."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from harness.adapters import program as pg
from harness.adapters.jax_padding import program as jax_program
from harness.stack.model import Layer
from harness.stack.reference import StackReference, with_skip
from harness.stack.runners import program_call

NAME = "jax"
TRAINED = ("w", "b", "gamma", "beta")
GRADIENTS = True
DTYPES = ("float64", "float32", "float16", "bfloat16")
CALLS = {"linear": "jnp.dot(h, w.T, precision=HIGHEST) + b", "reshape": "h.reshape(N, {out_shape})",
         "batch_norm": "(h - mean) * (gamma / jnp.sqrt(var + {eps})) + beta", "relu": "jax.nn.relu(h)",
         "tanh": "jnp.tanh(h)", "sigmoid": "jax.nn.sigmoid(h)", "leaky_relu": "jax.nn.leaky_relu(h, {slope})",
         "upsample": "jnp.repeat(h, f, axis) for each axis, f in {scale}",
         "concat": "jnp.concatenate([h, outputs[{source}]], axis=1)",
         "condition": "jnp.concatenate([h, jnp.broadcast_to(c, (N, {features}, *spatial))], axis=1)"}


def _layer(jax, layer: Layer, p: dict, h, dtype: str):
    jnp, k = jax.numpy, layer.kind
    if k in ("conv", "conv_transpose", "unpool"):
        w = p["w"] if k != "unpool" else jnp.ones(layer.case.w_shape, dtype)
        return pg.execute(_body(layer.case, dtype), {"jax": jax, "jnp": jnp, "x": h, "w": w, "b": p.get("b")})["y"]
    if k == "concat":
        return jnp.concatenate([h, p["skip"]], axis=1)
    if k == "condition":
        c = p["c"].reshape(*p["c"].shape, *([1] * (h.ndim - 2)))
        return jnp.concatenate([h, jnp.broadcast_to(c, (h.shape[0], layer.features, *h.shape[2:]))], axis=1)
    if k == "linear":
        y = jnp.dot(h, p["w"].T, precision=jax.lax.Precision.HIGHEST)
        return y + p["b"] if "b" in p else y
    if k == "reshape":
        return h.reshape(h.shape[0], *layer.out_shape)
    if k == "batch_norm":
        shape = (1, -1) + (1,) * (h.ndim - 2)
        alpha = p["gamma"] / jnp.sqrt(p["var"] + jnp.asarray(layer.eps, h.dtype))
        return (h - p["mean"].reshape(shape)) * alpha.reshape(shape) + p["beta"].reshape(shape)
    if k in ("relu", "tanh", "sigmoid"):
        return getattr(jax.nn, k)(h) if k != "tanh" else jnp.tanh(h)
    if k == "leaky_relu":
        return jax.nn.leaky_relu(h, layer.slope)
    if k == "upsample":
        for axis, f in enumerate(layer.scale):
            h = jnp.repeat(h, f, axis=2 + axis)
        return h
    raise ValueError(f"jax has no stack layer {k!r}")


def run(layers: list[Layer], ref: StackReference, dtype: str) -> dict:
    """{outputs: per layer (float64 NumPy), dx, grads: per layer {parameter: gradient}}."""
    from harness.adapters.jax_adapter import configured

    jax = configured()  # x64 and the persistent compilation cache, as the single cases run
    jnp = jax.numpy
    trained = [{n: jnp.asarray(v, dtype) for n, v in p.items() if n in TRAINED} for p in ref.params]
    fixed = [{n: jnp.asarray(v, dtype) for n, v in p.items() if n not in TRAINED} for p in ref.params]

    def forward(x, params):
        h, outs = x, []
        for layer, p, q in zip(layers, params, fixed):
            h = _layer(jax, layer, with_skip(layer, {**p, **q}, outs), h, dtype)
            outs.append(h)
        return h, outs

    def compute(x, params, g):
        y, pullback, outs = jax.vjp(forward, x, params, has_aux=True)
        dx, dparams = pullback(g)
        return outs, dx, dparams

    outs, dx, dparams = jax.jit(compute)(jnp.asarray(ref.x, dtype), trained, jnp.asarray(ref.g, dtype))

    def back(a):
        return np.asarray(a, dtype=np.float64)

    return {"outputs": [back(o) for o in outs], "dx": back(dx),
            "grads": [{n: back(v) for n, v in d.items()} for d in dparams], "version": jax.__version__,
            "calls": [call(layer, dtype) for layer in layers]}


@lru_cache(maxsize=256)
def _body(case, dtype: str) -> tuple:
    """A conv layer's program body, the single case's: planned once per (case, dtype), for the run
    and for the call it prints."""
    return jax_program(case, dtype)[0].body


def call(layer: Layer, dtype: str) -> str:
    """What computed the layer: a conv's program body (the single case's), else the call above."""
    if layer.case is not None:
        return program_call(_body(layer.case, dtype))
    return CALLS[layer.kind].format(**vars(layer))
