"""PyTorch: torch.nn.functional.conv{1,2,3}d and conv_transpose{1,2,3}d.

PyTorch pads symmetrically (conv) and crops (p, p - output_padding) (conv_transpose). Anything
else, e.g. TF-style SAME with stride 2 (extra pixel at the end), a negative crop or
output_padding beyond max(stride, dilation), is emulated: pad the input or crop the full output
around the native call with no padding, and add the bias after the crop so that appended zeros
carry it as well.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from harness import translate
from harness.adapters.base import EMULATED, NATIVE, Plan, Unsupported, crop_or_extend, fmt_call, unsupported_message

LIBRARY = "torch"
PATHS = ("functional",)
_DTYPES = {"float64": "float64", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _torch():
    import torch

    # numbers must not depend on reduced-precision shortcuts
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def version() -> str:
    return _torch().__version__


def device() -> str:
    return "cuda" if _torch().cuda.is_available() else "cpu"


def environment() -> dict[str, str]:
    torch = _torch()
    return {
        "torch.cuda_tf32": str(torch.backends.cuda.matmul.allow_tf32),
        "torch.cudnn_tf32": str(torch.backends.cudnn.allow_tf32),
        "torch.mkldnn": str(torch.backends.mkldnn.is_available()),
        "torch.threads": str(torch.get_num_threads()),
        "torch.device": device(),
    }


def _native_transpose_padding(case) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(padding, output_padding) if torch can spell the crops natively."""
    pads, ops = [], []
    for (lo, hi), s, d in zip(case.padding, case.stride, case.dilation):
        native = translate.torch_transpose_padding(lo, hi)
        if native is None or native[1] >= max(s, d):
            return None
        pads.append(native[0])
        ops.append(native[1])
    return tuple(pads), tuple(ops)


def plan(case, dtype: str, path: str = "functional") -> Plan:
    nd = case.ndim
    common = dict(stride=case.stride, dilation=case.dilation, groups=case.groups)
    dev = device()
    if case.is_transpose:
        func = f"torch.nn.functional.conv_transpose{nd}d"
        native = _native_transpose_padding(case)
        if native is not None:
            call = fmt_call(func, "x", "w", "b", padding=native[0], output_padding=native[1], **common)
            return Plan("torch", path, NATIVE, call, device=dev, details=("native", native))
        call = fmt_call(func, "x", "w", "None", **common) + f"  # then crop/extend {case.padding}, add b"
        reason = f"crops {case.padding} are not (p, p - output_padding) with 0 <= output_padding < max(stride, dilation)"
        return Plan("torch", path, EMULATED, call, reason, dev, ("emulated", None))
    func = f"torch.nn.functional.conv{nd}d"
    if translate.symmetric(case.padding) and all(lo >= 0 for lo, _ in case.padding):
        call = fmt_call(func, "x", "w", "b", padding=tuple(lo for lo, _ in case.padding), **common)
        return Plan("torch", path, NATIVE, call, device=dev, details=("native", None))
    pad_arg = tuple(v for lo, hi in reversed(case.padding) for v in (lo, hi))
    call = f"{fmt_call(func, 'torch.nn.functional.pad(x, ' + repr(pad_arg) + ')', 'w', 'b', **common)}"
    return Plan("torch", path, EMULATED, call, "asymmetric or negative padding: F.pad before the conv",
                dev, ("emulated", pad_arg))


def _to_torch(torch, a: np.ndarray | None, dtype: str, dev: str, channels_last: bool):
    if a is None:
        return None
    t = torch.tensor(a, dtype=getattr(torch, _DTYPES[dtype]), device=dev)
    if channels_last and t.ndim in (4, 5):
        fmt = torch.channels_last if t.ndim == 4 else torch.channels_last_3d
        t = t.contiguous(memory_format=fmt)
    return t.requires_grad_(True)


def _crop_or_extend(torch, y, pads):
    """base.crop_or_extend with F.pad (not F.pad with mixed-sign amounts, which refuses a crop past
    the data: "narrow(): length must be non-negative")."""
    return crop_or_extend(y, pads, lambda t, grow: torch.nn.functional.pad(t, [v for p in reversed(grow) for v in p]))


def run(case, dtype: str, inputs, plan: Plan) -> dict[str, np.ndarray]:
    torch = _torch()
    F = torch.nn.functional
    cl = case.layout == "channels_last"
    x, w, b = (_to_torch(torch, a, dtype, plan.device, cl and a is inputs.x) for a in (inputs.x, inputs.w, inputs.b))
    g = torch.tensor(inputs.g, dtype=x.dtype, device=plan.device)
    nd = case.ndim
    kind, extra = plan.details
    common = dict(stride=case.stride, dilation=case.dilation, groups=case.groups)
    try:
        if case.is_transpose:
            op = getattr(F, f"conv_transpose{nd}d")
            if kind == "native":
                y = op(x, w, b, padding=extra[0], output_padding=extra[1], **common)
            else:
                y = _crop_or_extend(torch, op(x, w, None, **common), case.padding)
                if b is not None:
                    y = y + b.reshape(1, -1, *([1] * nd))
        else:
            op = getattr(F, f"conv{nd}d")
            if kind == "native":
                y = op(x, w, b, padding=tuple(lo for lo, _ in case.padding), **common)
            else:
                y = op(F.pad(x, extra), w, b, **common)
        leaves = [t for t in (x, w, b) if t is not None]
        grads = torch.autograd.grad(y, leaves, grad_outputs=g)
    except (RuntimeError, NotImplementedError) as exc:
        if unsupported_message(exc):
            raise Unsupported(f"torch: {str(exc).splitlines()[0]}") from exc
        raise
    as_np = lambda t: t.detach().to("cpu", torch.float64).numpy()  # noqa: E731
    out = {"y": as_np(y), "dx": as_np(grads[0]), "dw": as_np(grads[1])}
    if b is not None:
        out["db"] = as_np(grads[2])
    return out
