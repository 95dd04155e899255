"""PyTorch's vocabulary for canonical cases, and the program that computes them. Pure: no torch import.

PyTorch pads symmetrically (conv: `padding=p` pads (p, p)) and crops (p, p - output_padding)
(conv_transpose), with 0 <= output_padding < max(stride, dilation). Anything else, e.g. TF-style
SAME with stride 2 (extra pixel at the end), a negative crop or a larger output_padding, is
emulated: F.pad of the input before a conv with no padding, or a crop / zero-extension of the
full output of a conv_transpose with no padding, the bias added after it so that appended zeros
carry it as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.native_call import NativeError, bind, parse_call, per_axis
from harness.adapters.program import Ref

F = "torch.nn.functional"


@dataclass(frozen=True)
class Spelling:
    """How torch computes a case: native padding arguments, or an emulation around the op."""

    native: bool
    padding: tuple[int, ...] = ()  # the op's padding argument (native)
    output_padding: tuple[int, ...] | None = None  # conv_transpose, native
    pre_pad: tuple[int, ...] | None = None  # conv emulation: F.pad amounts (last axis first)
    reason: str = ""

    @property
    def label(self) -> str:
        """The formulation: native, pre_pad (conv: F.pad first) or crop_extend (conv_transpose: after)."""
        if self.native:
            return "native"
        return "pre_pad" if self.pre_pad is not None else "crop_extend"


def transpose_padding(lo: int, hi: int) -> tuple[int, int] | None:
    """(padding, output_padding) for crops (lo, hi), or None: torch crops (p, p - op), so it needs
    lo >= hi and lo >= 0 (the stride/dilation bound on op is checked by the caller)."""
    if lo < 0 or hi > lo:
        return None
    return (lo, lo - hi)


def pad_widths(pairs) -> list[int]:
    """F.pad's flat list (last spatial axis first) for (lo, hi) pairs in axis order."""
    return [v for lo, hi in reversed(tuple(pairs)) for v in (lo, hi)]


def spelling(case) -> Spelling:
    if case.is_transpose:
        pads, ops = [], []
        for (lo, hi), s, d in zip(case.padding, case.stride, case.dilation):
            native = transpose_padding(lo, hi)
            if native is None or native[1] >= max(s, d):
                return Spelling(False, reason=f"crops {case.padding} are not (p, p - output_padding) with "
                                              "0 <= output_padding < max(stride, dilation)")
            pads.append(native[0])
            ops.append(native[1])
        return Spelling(True, tuple(pads), tuple(ops))
    if translate.symmetric(case.padding) and all(lo >= 0 for lo, _ in case.padding):
        return Spelling(True, tuple(lo for lo, _ in case.padding))
    return Spelling(False, pre_pad=tuple(pad_widths(case.padding)),
                    reason="asymmetric or negative padding: F.pad before the conv")


def _setup(case, dtype: str, device: str) -> list[pg.Step]:
    steps = []
    names = ("x", "w", "b") if case.bias else ("x", "w")
    for name in names:
        steps.append(pg.call(name, "torch.tensor", Ref(name), dtype=Ref(f"torch.{dtype}"), device=device,
                             requires_grad=True))
        if name == "x" and case.layout == "channels_last" and case.ndim in (2, 3):
            fmt = "torch.channels_last" if case.ndim == 2 else "torch.channels_last_3d"
            steps.append(pg.call("x", "x.contiguous", memory_format=Ref(fmt)))
    return steps


def _body(case, spelled: Spelling) -> list[pg.Step]:
    nd = case.ndim
    common = dict(stride=case.stride, dilation=case.dilation, groups=case.groups)
    b = Ref("b") if case.bias else None
    if not case.is_transpose:
        op = f"{F}.conv{nd}d"
        if spelled.native:
            return [pg.call("y", op, Ref("x"), Ref("w"), b, padding=spelled.padding, **common)]
        return [*_input_pad(case), pg.call("y", op, Ref("xp"), Ref("w"), b, **common)]
    op = f"{F}.conv_transpose{nd}d"
    if spelled.native:
        return [pg.call("y", op, Ref("x"), Ref("w"), b, padding=spelled.padding,
                        output_padding=spelled.output_padding, **common)]
    steps = [pg.call("y", op, Ref("x"), Ref("w"), None, **common)]
    # F.pad with mixed-sign amounts refuses a crop past the data ("narrow(): length must be
    # non-negative"): zeros by F.pad first, then the crop by slicing
    steps += pg.crop_or_extend("y", "y", case.padding, 2, nd + 2,
                               lambda out, src, grow: pg.call(out, f"{F}.pad", Ref(src), pad_widths(grow)))
    if case.bias:
        steps += [pg.call("bias", "b.reshape", 1, -1, *([1] * nd)), pg.add("y", Ref("y"), Ref("bias"))]
    return steps


def _input_pad(case) -> list[pg.Step]:
    """`xp`: x with an emulated conv's canonical padding, zeros first, then the crop by slicing (F.pad
    with mixed signs refuses a crop past the data, which a crop longer than the input needs: padding
    (2, -2) of one pixel; found by harness fuzz). Without a crop: one F.pad, `Spelling.pre_pad`."""
    inverse = tuple((-lo, -hi) for lo, hi in case.padding)  # crop_or_extend crops positive amounts
    return pg.crop_or_extend("xp", "x", inverse, 2, case.ndim + 2,
                             lambda out, src, grow: pg.call(out, f"{F}.pad", Ref(src), pad_widths(grow)))


def _outputs(case) -> tuple:
    def back(q):
        return (pg.call(q, f"{q}.to", Ref("torch.float64")), pg.call(q, f"{q}.numpy", force=True))

    names = ("y", "dx", "dw") + (("db",) if case.bias else ())
    return tuple((q, back(q)) for q in names)


def prelude() -> tuple[pg.Step, ...]:
    """Numbers must not depend on reduced-precision shortcuts (TF32 on Ampere+ GPUs) unless the run
    allows them (`--allow-tf32`: harness.precision names TF32 the float32 accumulation then)."""
    tf32 = prec.tf32_allowed()
    return (pg.assign("torch.backends.cuda.matmul.allow_tf32", tf32),
            pg.assign("torch.backends.cudnn.allow_tf32", tf32),
            pg.call(None, "torch.set_float32_matmul_precision", "high" if tf32 else "highest"))


def program(case, dtype: str, device: str = "cpu") -> tuple[pg.Program, Spelling]:
    """The torch program for a case (tensors on `device`) and the spelling it uses."""
    spelled = spelling(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    grads = ("dx", "dw", "db")[:len(leaves)]
    prog = pg.Program(
        imports=(("torch", "torch"),),
        prelude=prelude(),
        setup=tuple(_setup(case, dtype, device)),
        body=tuple(_body(case, spelled)),
        leaves=leaves,
        cotangent=(pg.call("g", "torch.tensor", Ref("g"), dtype=Ref(f"torch.{dtype}"), device=device),),
        gradient=(pg.call(grads, "torch.autograd.grad", Ref("y"), tuple(Ref(n) for n in leaves),
                          grad_outputs=Ref("g")),),
        outputs=_outputs(case),
    )
    return prog, spelled


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """PyTorch's weight layout is the canonical one (`w_torch`: conv (C_out, C_in/g, *k),
    conv_transpose (C_in, C_out/g, *k)): nothing to convert."""
    return ()


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return ()


def _layer_call(case, spelled: Spelling, out: str | None = "layer", **tensor) -> pg.Step:
    """torch.nn.Conv{n}d / ConvTranspose{n}d built with the case's parameters (`tensor`: dtype, device)."""
    kind = f"torch.nn.ConvTranspose{case.ndim}d" if case.is_transpose else f"torch.nn.Conv{case.ndim}d"
    extra = {}
    if spelled.native:
        extra["padding"] = spelled.padding
        if case.is_transpose:
            extra["output_padding"] = spelled.output_padding
    return pg.call(out, kind, case.in_channels, case.out_channels, case.kernel, stride=case.stride,
                   dilation=case.dilation, groups=case.groups, bias=_native_bias(case, spelled), **extra, **tensor)


def _native_bias(case, spelled: Spelling) -> bool:
    """Whether the layer adds the bias itself (not an emulated transposed conv: after its crop)."""
    return case.bias and (spelled.native or not case.is_transpose)


def _layer_steps(case, spelled: Spelling, dtype: str, device: str) -> list[pg.Step]:
    nd, native_bias = case.ndim, _native_bias(case, spelled)
    steps = [_layer_call(case, spelled, dtype=Ref(f"torch.{dtype}"), device=device)]
    state = {"weight": Ref("w")} | ({"bias": Ref("b")} if native_bias else {})
    steps.append(pg.call(None, "layer.load_state_dict", state))
    src = "x"
    if not spelled.native and not case.is_transpose:
        steps += _input_pad(case)
        src = "xp"
    steps.append(pg.call("y", "layer", Ref(src)))
    if not spelled.native and case.is_transpose:
        steps += pg.crop_or_extend("y", "y", case.padding, 2, nd + 2,
                                   lambda out, s, grow: pg.call(out, f"{F}.pad", Ref(s), pad_widths(grow)))
        if case.bias:
            steps += [pg.call("bias", "b.reshape", 1, -1, *([1] * nd)), pg.add("y", Ref("y"), Ref("bias"))]
    return steps


def layer_program(case, dtype: str, device: str = "cpu") -> pg.Program:
    """torch.nn.Conv{n}d / ConvTranspose{n}d with the canonical weights loaded (load_state_dict), on x;
    an emulated case gets the same F.pad before, or crop / extension and bias after, as `program`."""
    spelled = spelling(case)
    names = ("x", "w", "b") if case.bias else ("x", "w")
    setup = tuple(pg.call(n, "torch.tensor", Ref(n), dtype=Ref(f"torch.{dtype}"), device=device) for n in names)
    return pg.Program(imports=(("torch", "torch"),), prelude=prelude(), setup=setup,
                      body=tuple(_layer_steps(case, spelled, dtype, device)), leaves=names, autodiff=pg.NONE,
                      outputs=(("y", (pg.call("y", "y.to", Ref("torch.float64")),
                                      pg.call("y", "y.numpy", force=True))),))


# Measured with torch 2.13.0 (CPU): float16 convolutions compute y in float32 and round once, but the
# col2im direction (conv_transpose's y, conv's dx), the weight gradient and, once, the bias gradient
# err like a float16 accumulator (~11-14 effective bits); which kernel runs depends on the shape
# (dw meets the contract at K = 2048), so the deviations are not strict. bfloat16 meets the contract.
_F16 = "torch's CPU float16 {} errs like float16 accumulation (measured, torch 2.13.0 CPU: ~11-14 bits)"
DEVIATIONS = {"float16": (("dw", prec.Deviation("float16", _F16.format("weight gradient"))),
                          ("db", prec.Deviation("float16", _F16.format("bias gradient"))),
                          ("transposed", prec.Deviation("float16", _F16.format("col2im (transposed direction)"))))}


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): y rounded twice where an emulated transposed conv adds
    the bias after its crop; torch's measured CPU float16 deviations."""
    twice = case.is_transpose and not spelling(case).native
    deviations = tuple(((("y" if case.is_transpose else "dx") if q == "transposed" else q), d)
                       for q, d in DEVIATIONS.get(dtype, ()))
    return prec.declared(case, dtype, "the bias is added after the crop of an emulated transposed conv" if twice else "",
                         deviations=deviations if device == "cpu" else ())


# ---------------------------------------------------------------------------------------------
# native spelling in: torch.nn.Conv{n}d / ConvTranspose{n}d as written, or F.conv{n}d /
# F.conv_transpose{n}d(x, w, b, ...) with the weight's shape → canonical case fields

CONV_PARAMS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype")
TRANSPOSE_PARAMS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups",
                    "bias", "dilation", "padding_mode", "device", "dtype")
F_CONV_PARAMS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
F_TRANSPOSE_PARAMS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")
LAYERS = {f"Conv{n}d": ("conv", n) for n in (1, 2, 3)} | {f"ConvTranspose{n}d": ("conv_transpose", n) for n in (1, 2, 3)}
FUNCTIONS = {f"conv{n}d": ("conv", n) for n in (1, 2, 3)} | {f"conv_transpose{n}d": ("conv_transpose", n)
                                                             for n in (1, 2, 3)}
WEIGHT_LAYOUT = {"conv": "torch's layout (C_out, C_in/groups, *kernel)",
                 "conv_transpose": "torch's layout (C_in, C_out/groups, *kernel)"}


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of `torch.nn.Conv{n}d(...)` / `ConvTranspose{n}d(...)`, or of
    `F.conv{n}d` / `F.conv_transpose{n}d(x, w, b, ...)` with `weight_shape`, as written (no torch
    import): the inverse of `native_texts`. What torch refuses is refused with its column."""
    call = parse_call(text)
    if call.name in FUNCTIONS:
        return _from_function(call, weight_shape)
    if call.name not in LAYERS:
        raise NativeError(f"torch {call.func!r} is not one of {', '.join([*LAYERS, *FUNCTIONS])}", 1)
    nc.layer_weight(call, weight_shape)
    op, nd = LAYERS[call.name]
    bound = bind(call, TRANSPOSE_PARAMS if op == "conv_transpose" else CONV_PARAMS, 3, "torch")
    fields = {"op": f"{op}{nd}d", "in_channels": bound["in_channels"].value, "out_channels": bound["out_channels"].value,
              "kernel": list(per_axis(bound, "kernel_size", nd, 1, 1))}
    fields.update(_geometry(bound, nd), bias=bound["bias"].value if "bias" in bound else True)
    mode = bound.get("padding_mode")
    if mode is not None and mode.value != "zeros":
        raise NativeError(f"padding_mode {mode.value!r}: only 'zeros' is a convolution's padding here", mode.column)
    fields.update(_native_padding(bound, op, nd, fields))
    return fields


def _geometry(bound: dict, nd: int) -> dict:
    return {"stride": list(per_axis(bound, "stride", nd, 1, 1)), "dilation": list(per_axis(bound, "dilation", nd, 1, 1)),
            "groups": bound["groups"].value if "groups" in bound else 1}


def _from_function(call, weight_shape) -> dict:
    """F.conv{n}d / F.conv_transpose{n}d: the channels and kernel from the weight's shape, the bias from
    whether a tensor is passed (None or absent: no bias)."""
    op, nd = FUNCTIONS[call.name]
    bound = bind(call, F_TRANSPOSE_PARAMS if op == "conv_transpose" else F_CONV_PARAMS, 2, "torch",
                 tensors=("input", "weight", "bias"))
    nc.check_tensors(bound, ("input", "weight"), ("bias",))
    shape = nc.functional_weight(call, weight_shape, nd, WEIGHT_LAYOUT[op])
    fields = {"op": f"{op}{nd}d", **_geometry(bound, nd), "bias": nc.is_tensor(bound.get("bias"))}
    fields |= nc.torch_layout_channels(op, shape, fields["groups"], "torch")
    fields.update(_native_padding(bound, op, nd, fields))
    return fields


def _native_padding(bound: dict, op: str, nd: int, fields: dict) -> dict:
    """padding (and output_padding) as torch takes them: 'same' / 'valid' for conv (same only at stride 1),
    output_padding < max(stride, dilation) per axis."""
    arg = bound.get("padding")
    if op == "conv" and arg is not None and isinstance(arg.value, str):
        if arg.value not in ("same", "valid"):
            raise NativeError(f"padding {arg.value!r}: torch takes 'same', 'valid', an int or {nd} ints", arg.column)
        if arg.value == "same" and any(s != 1 for s in fields["stride"]):
            raise NativeError("padding='same' is not supported for strided convolutions (torch)", arg.column)
        return {"padding": arg.value}
    out = {"padding": list(per_axis(bound, "padding", nd, 0, 0))}
    if op == "conv_transpose":
        extra = per_axis(bound, "output_padding", nd, 0, 0)
        for ax, (e, s, d) in enumerate(zip(extra, fields["stride"], fields["dilation"])):
            if e >= max(s, d):
                raise NativeError(f"axis {ax}: output padding must be smaller than either stride or dilation "
                                  f"(torch), got output_padding={e}, stride={s}, dilation={d}",
                                  bound["output_padding"].column)
        if "output_padding" in bound:  # as written: a case says output_padding only where the call does
            out["output_padding"] = list(extra)
    return out


def layer_text(case) -> str | None:
    """`torch.nn.ConvTranspose2d(32, 1, (3, 3), ...)` for a case torch spells natively, else None: the
    layer step of `layer_program` without its dtype and device."""
    spelled = spelling(case)
    return pg.render(_layer_call(case, spelled, out=None)) if spelled.native else None


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """Every way torch writes the case natively: the layer, and the functional call of `program`'s body
    with the weight's shape (torch's layout is the canonical one)."""
    spelled = spelling(case)
    if not spelled.native:
        return ()
    call = _body(case, spelled)[0]
    return (nc.Spelled(layer_text(case)), nc.Spelled(pg.expression(call), case.w_shape))
