"""Chainer's padding vocabulary, and the program that computes a case with it. Pure: this module
never imports chainer.

Chainer 7.8.1 (chainer.utils.conv), with e = d*(k-1) + 1:

- ``get_conv_outsize(size, k, s, p, cover_all=False, d=1)``: ``(size + 2p - e) // s + 1``, or
  with cover_all ``(size + 2p - e + s - 1) // s + 1``. A conv pads (p, p); with cover_all its
  im2col pads (p, p + s - 1), so that no input pixel is dropped.
- ``get_deconv_outsize(size, k, s, p, cover_all=False, d=1)``: ``s*(size-1) + e - 2p`` (with
  cover_all ``s*(size-1) + e - s + 1 - 2p``). A deconvolution computes the full output of length
  F = s*(size-1) + e, crops p at the start and keeps ``outsize`` elements (default F - 2p): crops
  (p, F - p - outsize); a negative end crop appends zeros. ``outsize`` must satisfy
  ``get_conv_outsize(outsize, k, s, p) <= size <= get_conv_outsize(outsize, k, s, p, cover_all=True)``
  (checked by DeconvolutionND.check_type_forward).

Canonical padding (harness.translate): conv input padding (lo, hi); conv_transpose crops (lo, hi).
A conv's trailing padding matters only through the number of outputs, so a canonical (lo, hi)
is Chainer-native when lo = p >= 0 and its output length equals Chainer's with or without
cover_all (one cover_all for all axes). A crop (lo, hi) is native when lo = p >= 0 and
outsize = F - lo - hi is one Chainer accepts.

Cases outside that vocabulary are emulated with Chainer's own differentiable functions around the
native call (`program`): a conv gets its input padded (chainer.functions.pad) or cropped (slicing)
and runs with pad=0 ("pre_pad"); a deconvolution runs with pad=0 and its full output is cropped /
extended with zeros, then the bias is added (chainer.functions.bias), so that appended zeros carry
it too ("crop_extend"). Chainer's weight layouts are PyTorch's (W of a convolution
(C_out, C_in/g, *k), of a deconvolution (C_in, C_out/g, *k)), so the canonical w is Chainer's W.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.native_call import NativeError, bind, parse_call, per_axis
from harness.adapters.program import Ref

F = "chainer.functions"
L = "chainer.links"


def get_conv_outsize(size: int, k: int, s: int, p: int, cover_all: bool = False, d: int = 1) -> int:
    """chainer.utils.conv.get_conv_outsize, verbatim arithmetic."""
    dk = k + (k - 1) * (d - 1)
    if cover_all:
        return (size + p * 2 - dk + s - 1) // s + 1
    return (size + p * 2 - dk) // s + 1


def get_deconv_outsize(size: int, k: int, s: int, p: int, cover_all: bool = False, d: int = 1) -> int:
    """chainer.utils.conv.get_deconv_outsize, verbatim arithmetic."""
    dk = (k - 1) * d + 1
    if cover_all:
        return s * (size - 1) + dk - s + 1 - 2 * p
    return s * (size - 1) + dk - 2 * p


def conv_padding(p: int, s: int, cover_all: bool) -> tuple[int, int]:
    """Canonical input padding of a Chainer conv: (p, p), or (p, p + s - 1) with cover_all."""
    return translate.cover_all_padding(p, s) if cover_all else (p, p)


def deconv_crop(i: int, k: int, s: int, d: int, p: int, outsize: int | None = None) -> tuple[int, int]:
    """Canonical crop of a Chainer deconvolution with pad p and outsize (default F - 2p)."""
    full = translate.transpose_full_length(i, k, s, d)
    o = get_deconv_outsize(i, k, s, p, d=d) if outsize is None else outsize
    return (p, full - p - o)


def outsize_range(i: int, k: int, s: int, d: int, p: int) -> tuple[int, int]:
    """Inclusive range of outsize Chainer's deconvolution accepts for input length i and pad p.

    get_conv_outsize(o) <= i  ⇔  o <= F - 2p + s - 1;  i <= get_conv_outsize(o, cover_all=True)
    ⇔  o >= F - 2p - s + 1. So the end crop F - p - o lies in [p - s + 1, p + s - 1].
    """
    full = translate.transpose_full_length(i, k, s, d)
    return (max(full - 2 * p - s + 1, 1), full - 2 * p + s - 1)


def conv_spelling(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    pads: Sequence[tuple[int, int]], prefer_cover_all: bool = False,
) -> tuple[tuple[int, ...], bool] | None:
    """(pad per axis, cover_all) of a Chainer conv computing canonical `pads`, or None."""
    order = (True, False) if prefer_cover_all else (False, True)
    for cover_all in order:
        ok = True
        for i, k, s, d, (lo, hi) in zip(size, kernel, stride, dilation, pads):
            if lo < 0 or translate.conv_output_length(i, k, s, d, lo, hi) != \
                    get_conv_outsize(i, k, s, lo, cover_all=cover_all, d=d):
                ok = False
                break
        if ok:
            return tuple(int(lo) for lo, _ in pads), cover_all
    return None


def deconv_spelling(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> tuple[tuple[int, ...], tuple[int, ...] | None] | None:
    """(pad per axis, outsize or None) of a Chainer deconvolution computing canonical crops, or None.

    outsize is None when every axis crops (p, p), Chainer's default."""
    pad, outs, default = [], [], True
    for i, k, s, d, (lo, hi) in zip(size, kernel, stride, dilation, pads):
        if lo < 0:
            return None
        o = translate.transpose_full_length(i, k, s, d) - lo - hi
        low, high = outsize_range(i, k, s, d, lo)
        if not low <= o <= high:
            return None
        pad.append(int(lo))
        outs.append(int(o))
        default &= hi == lo
    return tuple(pad), None if default else tuple(outs)


def deconv_cover_all(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    pad: Sequence[int], outsize: Sequence[int] | None,
) -> bool:
    """The one cover_all Chainer's deconvolution keeps for its backward (DeconvolutionND._set_cover_all):
    True when any axis's outsize does not map back to the input length without cover_all."""
    if outsize is None:
        return False
    return any(i != get_conv_outsize(o, k, s, p, d=d)
               for i, o, k, s, p, d in zip(size, outsize, kernel, stride, pad, dilation))


def deconv_backward_breaks(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    pad: Sequence[int], outsize: Sequence[int] | None,
) -> bool:
    """True when Chainer 7.8.1's deconvolution backward cannot compute the gradients.

    Its backward convolves gy (length outsize) with one cover_all for all axes; on an axis where
    that flag gives a length other than the input's, the gradient shapes disagree and NumPy raises
    "shape-mismatch for sum" (an outsize that needs cover_all on one axis but not on another).
    """
    cover_all = deconv_cover_all(size, kernel, stride, dilation, pad, outsize)
    if outsize is None:
        return False
    return any(i != get_conv_outsize(o, k, s, p, cover_all=cover_all, d=d)
               for i, o, k, s, p, d in zip(size, outsize, kernel, stride, pad, dilation))


# --------------------------------------------------------------------------- the program


@dataclass(frozen=True)
class Spelling:
    """How Chainer computes a case: the op's own pad (and cover_all / outsize), or an emulation."""

    native: bool
    pad: tuple[int, ...] | int = 0  # the op's pad argument (0 when emulated)
    cover_all: bool = False  # conv, native
    outsize: tuple[int, ...] | None = None  # deconvolution, native (None: Chainer's default)
    emulation: str = ""  # "pre_pad" (conv) | "crop_extend" (deconvolution), when not native
    reason: str = ""

    @property
    def label(self) -> str:
        if not self.native:
            return self.emulation
        return "native+cover_all" if self.cover_all else "native+outsize" if self.outsize else "native"


def spelling(case) -> Spelling:
    if case.is_transpose:
        spelled = deconv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding)
        if spelled is not None:
            return Spelling(True, spelled[0], outsize=spelled[1])
        return Spelling(False, emulation="crop_extend", reason=(
            f"crops {case.padding}: Chainer crops (p, F - p - outsize) with p >= 0 and outsize within "
            "get_conv_outsize's bounds (end crop in [p - s + 1, p + s - 1])"))
    spelled = conv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding,
                            prefer_cover_all=case.cover_all)
    if spelled is not None:
        return Spelling(True, spelled[0], cover_all=spelled[1])
    return Spelling(False, emulation="pre_pad", reason=(
        f"padding {case.padding}: Chainer pads (p, p) or, with cover_all, (p, p + s - 1); "
        "the input is padded / cropped before the call"))


def function_name(case) -> str:
    kind = "deconvolution" if case.is_transpose else "convolution"
    return f"{F}.{kind}_2d" if case.ndim == 2 else f"{F}.{kind}_nd"


def _pad_step(out: str, src: str, grow) -> pg.Step:
    """chainer.functions.pad of the spatial axes by non-negative (lo, hi) pairs."""
    return pg.call(out, f"{F}.pad", Ref(src), [(0, 0), (0, 0), *grow], "constant")


def _pre_pad(case, src: str) -> list[pg.Step]:
    """A conv's canonical input padding as steps on `src` (pad, or crop where negative) into `xp`."""
    return pg.crop_or_extend("xp", src, tuple((-lo, -hi) for lo, hi in case.padding), 2, case.ndim + 2,
                             _pad_step)


def _crop_extend(case) -> list[pg.Step]:
    """A deconvolution's canonical crops of its full output y, then its bias (b) when it has one."""
    steps = pg.crop_or_extend("y", "y", case.padding, 2, case.ndim + 2, _pad_step)
    return steps + ([pg.call("y", f"{F}.bias", Ref("y"), Ref("b"), axis=1)] if case.bias else [])


def _op_kwargs(case, spelled: Spelling, **link) -> dict:
    """The op's keyword arguments beyond the arrays (cover_all and outsize only when set); a link's
    own (nobias, initialW, ...) go in the middle, in the order of its signature."""
    kwargs = dict(stride=case.stride, pad=spelled.pad, **link)
    if spelled.cover_all:
        kwargs["cover_all"] = True
    if spelled.outsize is not None:
        kwargs["outsize"] = spelled.outsize
    return kwargs | dict(dilate=case.dilation, groups=case.groups)


def _body(case, spelled: Spelling) -> list[pg.Step]:
    op, kwargs = function_name(case), _op_kwargs(case, spelled)
    b = Ref("b") if case.bias else None
    if spelled.native:
        return [pg.call("y", op, Ref("x"), Ref("w"), b, **kwargs)]
    if not case.is_transpose:
        steps = _pre_pad(case, "x")
        return steps + [pg.call("y", op, Ref("xp" if steps else "x"), Ref("w"), b, **kwargs)]
    return [pg.call("y", op, Ref("x"), Ref("w"), None, **kwargs), *_crop_extend(case)]


def _variables(names, dtype: str) -> tuple[pg.Step, ...]:
    """Each canonical array cast to the dtype and wrapped as a chainer.Variable."""
    return tuple(s for n in names for s in (pg.call(n, f"{n}.astype", Ref(f"numpy.{dtype}")),
                                            pg.call(n, "chainer.Variable", Ref(n))))


def _to_numpy(names) -> tuple:
    return tuple((q, (pg.call(q, "numpy.asarray", Ref(f"{q}.array"), dtype=Ref("numpy.float64")),)) for q in names)


IMPORTS = (("chainer", "chainer"), ("numpy", "numpy"))


def _notes(case) -> tuple[str, ...]:
    return ("Chainer has no channels-last: the arrays stay N, C, *spatial",) if case.layout == "channels_last" else ()


def program(case, dtype: str) -> tuple[pg.Program, Spelling]:
    """The Chainer program for a case (chainer.functions on chainer.Variables, gradients by
    chainer.grad with the cotangent as a Variable) and the spelling it uses.

    It runs under Chainer's default configuration (config.train True, config.use_ideep 'never'),
    which the adapter's run() also sets explicitly."""
    spelled = spelling(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    grads = tuple("d" + n for n in leaves)
    prog = pg.Program(
        imports=IMPORTS,
        setup=_variables(leaves, dtype),  # W's layout is the canonical one (weight_to_native)
        body=tuple(_body(case, spelled)),
        leaves=leaves,
        cotangent=_variables(("g",), dtype),
        gradient=(pg.call(grads, "chainer.grad", [Ref("y")], [Ref(n) for n in leaves], grad_outputs=[Ref("g")]),),
        outputs=_to_numpy(("y", *grads)),
        notes=_notes(case),
    )
    return prog, spelled


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """Chainer's W layout is PyTorch's: convolution (C_out, C_in/g, *k), deconvolution
    (C_in, C_out/g, *k), groups included. Nothing to convert."""
    return (pg.call("w_chainer", "numpy.asarray", Ref("w_torch")),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return (pg.call("w_torch", "numpy.asarray", Ref("w_chainer")),)


def link_name(case, spelled: Spelling) -> str:
    """Convolution2D / Deconvolution2D in 2D, ConvolutionND / DeconvolutionND otherwise, and for a 2D
    cover_all conv: Convolution2D has no cover_all, ConvolutionND(2, ...) has (and computes the same
    bits as convolution_2d with cover_all, measured over the library's 15 such items)."""
    kind = "Deconvolution" if case.is_transpose else "Convolution"
    return f"{L}.{kind}2D" if case.ndim == 2 and not spelled.cover_all else f"{L}.{kind}ND"


def _link_call(case, spelled: Spelling, out: str | None, **link) -> pg.Step:
    """The link (`link_name`) built with the case's parameters; `link`: nobias, initialW, initial_bias."""
    name = link_name(case, spelled)
    head = (case.ndim,) if name.endswith("ND") else ()
    return pg.call(out, name, *head, case.in_channels, case.out_channels, case.kernel,
                   **_op_kwargs(case, spelled, **link))


def _layer_steps(case, spelled: Spelling, dtype: str) -> list[pg.Step]:
    native_bias = case.bias and (spelled.native or not case.is_transpose)
    steps, init = [], {}
    for name, arg in (("w", "initialW"), ("b", "initial_bias"))[:1 + native_bias]:
        steps.append(pg.call(f"initial_{name}", "chainer.initializers.Constant", Ref(name),
                             dtype=Ref(f"numpy.{dtype}")))
        init[arg] = Ref(f"initial_{name}")
    steps.append(_link_call(case, spelled, "layer", nobias=not native_bias, **init))
    pre = _pre_pad(case, "x") if not spelled.native and not case.is_transpose else []
    steps += [*pre, pg.call("y", "layer", Ref("xp" if pre else "x"))]
    return steps + (_crop_extend(case) if not spelled.native and case.is_transpose else [])


def layer_program(case, dtype: str) -> pg.Program:
    """chainer.links.Convolution2D / Deconvolution2D (2D) or ConvolutionND / DeconvolutionND (1D, 3D)
    built with the case's pad, cover_all, outsize, dilate and groups, its W and b loaded from the
    canonical w and b through `initialW` / `initial_bias` as chainer.initializers.Constant with the
    dtype (a bare array would be cast to config.dtype, float32; copydata into a default link, too),
    called on x (forward only). An emulated case gets the same pre-pad, or crop / extension and bias,
    as `program`. Every case has a layer (`link_name`), so this never returns None."""
    names = ("x", "w", "b") if case.bias else ("x", "w")
    setup = tuple(pg.call(n, f"{n}.astype", Ref(f"numpy.{dtype}")) for n in names)
    return pg.Program(imports=IMPORTS, setup=setup, body=tuple(_layer_steps(case, spelling(case), dtype)),
                      leaves=names, autodiff=pg.NONE, outputs=_to_numpy(("y",)), notes=_notes(case))


# Measured with chainer 7.8.1 on numpy 1.26.4 (CPU, its tox env): float16 y (conv and deconvolution),
# conv's dx and, on some cases, db err like a float16 accumulator (~9.5-14 effective bits: NumPy
# float16 tensordot/sum); dw meets the contract. Not strict: some long sums met it (K >= 1729).
_F16 = "Chainer's CPU float16 {} (NumPy float16) errs like float16 accumulation (measured, chainer 7.8.1, numpy 1.26)"
DEVIATIONS = {"float16": (("y", prec.Deviation("float16", _F16.format("forward"))),
                          ("dx", prec.Deviation("float16", _F16.format("input gradient"))),
                          ("db", prec.Deviation("float16", _F16.format("bias gradient"))))}


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): Chainer's measured CPU float16 deviations."""
    return prec.declared(case, dtype, deviations=DEVIATIONS.get(dtype, ()) if device == "cpu" else ())


# ---------------------------------------------------------------------------------------------
# native spelling in: chainer.links.Convolution{1,2,3,N}D / Deconvolution{1,2,3,N}D as written, or
# chainer.functions.convolution_{1,2,3,n}d / deconvolution_*(x, W, b, ...) with W's shape

_CONV = ("in_channels", "out_channels", "ksize", "stride", "pad", "nobias", "initialW", "initial_bias", "dilate",
         "groups")
_DECONV = ("in_channels", "out_channels", "ksize", "stride", "pad", "nobias", "outsize", "initialW", "initial_bias",
           "dilate", "groups")
LINKS = {**{f"Convolution{n}D": ("conv", n, _CONV) for n in (1, 2, 3)},
         **{f"Deconvolution{n}D": ("conv_transpose", n, _DECONV) for n in (1, 2, 3)},
         "ConvolutionND": ("conv", None, ("ndim", *_CONV[:8], "cover_all", *_CONV[8:])),
         "DeconvolutionND": ("conv_transpose", None, ("ndim", *_DECONV))}
_F_CONV = ("x", "W", "b", "stride", "pad", "cover_all", "dilate", "groups")
_F_DECONV = ("x", "W", "b", "stride", "pad", "outsize", "dilate", "groups")
FUNCTIONS = {f"{kind}_{n}": (op, {"1d": 1, "2d": 2, "3d": 3}.get(n), params)
             for kind, op, params in (("convolution", "conv", _F_CONV), ("deconvolution", "conv_transpose", _F_DECONV))
             for n in ("1d", "2d", "3d", "nd")}
_LAYOUT = {"conv": "Chainer's layout (C_out, C_in/groups, *ksize)",
           "conv_transpose": "Chainer's layout (C_in, C_out/groups, *ksize)"}


def from_native(text: str, input_size=None, weight_shape=None, in_channels=None) -> dict:
    """The canonical case fields of a Chainer link or function as written (no chainer import; measured
    against chainer 7.8.1): pad p pads (p, p) (cover_all: (p, p + s - 1)); a deconvolution crops (p, p),
    or (p, F - p - outsize) with outsize, which needs the input size. A function's channels and ksize
    come from W's shape (`weight_shape`), its bias from whether b is given."""
    call = parse_call(text)
    if call.name in FUNCTIONS:
        return _from_function(call, input_size, weight_shape)
    if call.name not in LINKS:
        raise NativeError(f"chainer {call.func!r} is not one of {', '.join([*LINKS, *FUNCTIONS])}", 1)
    nc.layer_weight(call, weight_shape)
    op, nd, params = LINKS[call.name]
    bound = bind(call, params, params.index("ksize") + 1, "chainer")
    if nd is None:
        nd = bound["ndim"].value
        if nd not in (1, 2, 3):
            raise NativeError(f"ndim must be 1, 2 or 3, not {nd!r}", bound["ndim"].column)
    if bound["ksize"].value is None:
        raise NativeError("ksize None: Chainer then infers in_channels at the first call; give "
                          f"{call.name}(in_channels, out_channels, ksize)", bound["ksize"].column)
    fields = {"op": f"{op}{nd}d", "in_channels": bound["in_channels"].value, "out_channels": bound["out_channels"].value,
              "kernel": list(per_axis(bound, "ksize", nd, 1, 1)),
              "bias": not (bound["nobias"].value if "nobias" in bound else False)}
    return _geometry(bound, op, nd, fields, input_size)


def _from_function(call, input_size, weight_shape) -> dict:
    """chainer.functions.(de)convolution_*: dilate and groups are keyword-only in the 2D functions."""
    op, nd, params = FUNCTIONS[call.name]
    two_d = call.name.endswith("_2d")
    bound = bind(call, params, 2, "chainer", tensors=("x", "W", "b"),
                 keyword_only=("dilate", "groups") if two_d else ())
    nc.check_tensors(bound, ("x", "W"), ("b",))
    if nd is None:  # the _nd functions take the number of axes from W
        nd = len(weight_shape) - 2 if isinstance(weight_shape, (list, tuple)) and 3 <= len(weight_shape) <= 5 else 2
    shape = nc.functional_weight(call, weight_shape, nd, _LAYOUT[op])
    groups = bound["groups"].value if "groups" in bound else 1
    fields = {"op": f"{op}{nd}d", **nc.torch_layout_channels(op, shape, groups, "chainer"),
              "bias": nc.is_tensor(bound.get("b"))}
    return _geometry(bound, op, nd, fields, input_size)


def _geometry(bound: dict, op: str, nd: int, fields: dict, input_size) -> dict:
    """stride, dilate, groups and pad (cover_all for a conv, outsize for a deconvolution) as Chainer reads them."""
    fields = {**fields, "stride": list(per_axis(bound, "stride", nd, 1, 1)),
              "dilation": list(per_axis(bound, "dilate", nd, 1, 1)),
              "groups": bound["groups"].value if "groups" in bound else 1}
    pad = list(per_axis(bound, "pad", nd, 0, 0))
    if op == "conv":
        cover_all = bool(bound["cover_all"].value) if "cover_all" in bound else False
        return {**fields, "padding": pad, **({"cover_all": True} if cover_all else {})}
    return {**fields, "padding": _deconv_pads(bound, nd, fields, pad, input_size)}


def _deconv_pads(bound: dict, nd: int, fields: dict, pad: list[int], input_size) -> list:
    """pad per axis (Chainer's default outsize), or canonical crops (p, F - p - outsize) per axis."""
    arg = bound.get("outsize")
    if arg is None or arg.value is None:
        return pad
    outsize = per_axis(bound, "outsize", nd, 1, 1)
    if not input_size or len(input_size) != nd:
        raise NativeError("outsize needs the input size (input_size, one per spatial axis)", arg.column)
    crops = []
    for ax, (i, k, s, d, p, o) in enumerate(zip(input_size, fields["kernel"], fields["stride"], fields["dilation"],
                                                pad, outsize)):
        low, high = outsize_range(i, k, s, d, p)
        if not low <= o <= high:
            raise NativeError(f"axis {ax}: outsize {o} is not one Chainer's deconvolution accepts for input {i} "
                              f"(k={k}, s={s}, pad={p}, dilate={d}): {low}..{high}", arg.column)
        crops.append(list(deconv_crop(i, k, s, d, p, o)))
    return crops


def layer_text(case) -> str | None:
    """`chainer.links.Deconvolution2D(512, 256, (4, 4), ...)` for a case Chainer spells natively, else
    None: the link step of `layer_program` without its initializers (the inverse of `from_native`)."""
    spelled = spelling(case)
    return pg.render(_link_call(case, spelled, None, nobias=not case.bias)) if spelled.native else None


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """Every way Chainer writes the case natively: the link, and the function call of `program`'s body
    with W's shape (Chainer's layout is the canonical one)."""
    spelled = spelling(case)
    if not spelled.native:
        return ()
    step = _body(case, spelled)[0]
    return (nc.Spelled(layer_text(case)), nc.Spelled(pg.expression(step), case.w_shape))
