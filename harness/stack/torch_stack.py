"""A stack run natively in torch, end to end: every conv layer through the same program steps the
single-case adapter runs (harness.adapters.torch_padding: native, or its emulation), the other layers
as torch.nn.functional calls; every layer's output kept, gradients of the input and every parameter
by one torch.autograd.grad from the last output."""

from __future__ import annotations

from functools import lru_cache

from harness.adapters import program as pg
from harness.adapters import torch_padding as tp
from harness.stack.model import Layer
from harness.stack.reference import StackReference, with_skip
from harness.stack.runners import program_call

NAME = "torch"
TRAINED = ("w", "b", "gamma", "beta")
GRADIENTS = True
DTYPES = ("float64", "float32", "float16", "bfloat16")
CALLS = {"linear": "F.linear(h, w, b)", "reshape": "h.reshape(N, {out_shape})",
         "batch_norm": "F.batch_norm(h, mean, var, gamma, beta, training=False, eps={eps})", "relu": "torch.relu(h)",
         "tanh": "torch.tanh(h)", "sigmoid": "torch.sigmoid(h)", "leaky_relu": "F.leaky_relu(h, {slope})",
         "upsample": "F.interpolate(h, scale_factor={scale}, mode='nearest')", "concat": "torch.cat([h, outputs[{source}]], 1)",
         "condition": "torch.cat([h, c.reshape(N, {features}, 1, ...).expand(N, {features}, *spatial)], 1)"}


def _layer(torch, layer: Layer, p: dict, h, dtype):
    F = torch.nn.functional
    k = layer.kind
    if k in ("conv", "conv_transpose", "unpool"):
        w = p["w"] if k != "unpool" else torch.ones(layer.case.w_shape, dtype=dtype)
        env = {"torch": torch, "x": h, "w": w, "b": p.get("b")}
        return pg.execute(_body(layer.case, str(dtype).removeprefix("torch.")), env)["y"]
    if k in ("concat", "condition"):
        return torch.cat([h, _appended(layer, p, h)], dim=1)
    if k == "linear":
        return F.linear(h, p["w"], p.get("b"))
    if k == "reshape":
        return h.reshape(h.shape[0], *layer.out_shape)
    if k == "batch_norm":
        return F.batch_norm(h, p["mean"], p["var"], p["gamma"], p["beta"], training=False, eps=layer.eps)
    if k in ("relu", "tanh", "sigmoid"):
        return getattr(torch, k)(h)
    if k == "leaky_relu":
        return F.leaky_relu(h, layer.slope)
    if k == "upsample":
        return F.interpolate(h, scale_factor=layer.scale, mode="nearest")
    raise ValueError(f"torch has no stack layer {k!r}")


def _appended(layer: Layer, p: dict, h):
    if layer.kind == "concat":
        return p["skip"]
    c = p["c"].reshape(*p["c"].shape, *([1] * (h.ndim - 2)))
    return c.expand(h.shape[0], layer.features, *h.shape[2:])


def run(layers: list[Layer], ref: StackReference, dtype: str, override=None) -> dict:
    """{outputs: per layer (float64 NumPy), dx, grads: per layer {parameter: gradient}}. `override`
    ({layer index: fn(torch, layer, params, h) -> tensor}) replaces a layer (the tests' wrong layer)."""
    import torch

    _resolve_vml(torch)
    tdt = getattr(torch, dtype)
    leaves = [{n: torch.tensor(v, dtype=tdt, requires_grad=n in TRAINED) for n, v in p.items()} for p in ref.params]
    x = torch.tensor(ref.x, dtype=tdt, requires_grad=True)
    h, outs = x, []
    for layer, p in zip(layers, leaves):
        p = with_skip(layer, p, outs)
        fn = (override or {}).get(layer.index)
        h = fn(torch, layer, p, h) if fn else _layer(torch, layer, p, h, tdt)
        outs.append(h)
    params = [(i, n, v) for i, p in enumerate(leaves) for n, v in p.items() if v.requires_grad]
    grads = torch.autograd.grad(h, [x, *(v for _, _, v in params)], torch.tensor(ref.g, dtype=tdt))
    per_layer = [{} for _ in layers]
    for (i, n, _), g in zip(params, grads[1:]):
        per_layer[i][n] = g.detach().to(torch.float64).numpy()

    def back(t):
        return t.detach().to(torch.float64).numpy()

    return {"outputs": [back(o) for o in outs], "dx": back(grads[0]), "grads": per_layer,
            "version": torch.__version__, "calls": [call(layer, str(tdt).removeprefix("torch.")) for layer in layers]}


@lru_cache(maxsize=1)
def _resolve_vml(torch) -> None:
    """One 1-element call of each unary op per dtype, on this thread, before any multi-threaded one.
    torch 2.13.0's MKL (2024.2) resolves a VML function's kernel on its first call; concurrent first
    calls from intra-op threads can run the low-accuracy kernel for one thread's chunk (pytorch#188792,
    open; fix proposed in pytorch#188791). Measured here: a cold process's float32 tanh on 49 152
    elements was ~14-bit on one thread's half in 5 of 30 processes, in 0 of 40 after this call."""
    for dt in (torch.float32, torch.float64):
        one = torch.ones(1, dtype=dt)
        torch.tanh(one), torch.sigmoid(one)


@lru_cache(maxsize=256)
def _body(case, dtype: str) -> tuple:
    """A conv layer's program body, the single case's: planned once per (case, dtype), for the run
    and for the call it prints."""
    return tp.program(case, dtype)[0].body


def call(layer: Layer, dtype: str) -> str:
    """What computed the layer: a conv's program body (the single case's), else the call above."""
    if layer.case is not None:
        return program_call(_body(layer.case, dtype))
    return CALLS[layer.kind].format(**vars(layer))


def shifted(torch, layer: Layer, p: dict, h):
    """A wrong layer for the tests: the right torch layer, its output shifted one pixel along the last axis."""
    y = _layer(torch, layer, p, h, h.dtype)
    return torch.roll(y, 1, dims=-1)



