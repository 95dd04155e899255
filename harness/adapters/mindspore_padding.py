"""MindSpore's convolution vocabulary, and the program that computes a case with it. Pure: this
module never imports mindspore.

Measured with mindspore 2.10.0 (CPU wheel, PyNative mode, numpy 2.4.6) in its tox env, against the
harness's NumPy oracle (tests/test_mindspore_adapter.py):

- ``ops.Conv2D(out_channel, kernel_size, mode=1, pad_mode, pad, stride, dilation, group)(x, w)``:
  pad_mode "pad" takes ``pad`` as an int or a 4-tuple (top, bottom, left, right): canonical
  (lo, hi) = (top, bottom), (left, right), any non-negative amounts. "valid" is (0, 0); "same"
  pads the total TF's SAME pads, the extra pixel at the end (bottom / right). The weight is
  PyTorch's (C_out, C_in/group, kh, kw). ``ops.conv2d`` (the function) takes only symmetric
  padding (an int or 2 ints: "'padding' must be a tuple or list of 2 integers").
- ``ops.Conv3D``: the same with a 6-tuple (head, tail, top, bottom, left, right).
- There is no 1D primitive: ``ops.conv1d`` is Conv2D on a unit H axis (ExpandDims, Conv2D,
  Squeeze); its Squeeze with a tuple axis fails on its first call in a process under numpy 2
  (libmindspore_frontend.so imports numpy.core._multiarray_umath._ARRAY_API, built against
  numpy 1.x: "SystemError: <built-in method pyboost_squeeze ...> returned a result with an
  exception set"), so the harness spells 1D itself: ops.expand_dims, Conv2D, ops.squeeze(y, 2)
  (an int axis, which does not reach that import) — the same computation, labelled emulated.
- ``ops.Conv2DTranspose(out_channel, kernel_size, pad_mode, pad, mode=1, stride, dilation,
  group)(dout, weight, input_size)`` is Conv2DBackpropInput: the input gradient of the forward
  Conv2D with those arguments. Its ``out_channel`` and weight are the FORWARD conv's: out_channel
  = the transposed conv's C_in = w.shape[0] (as nn.Conv2dTranspose passes it; in PyNative 2.10.0
  a wrong out_channel is not checked), weight (C_in, C_out/group, kh, kw), PyTorch's transposed
  layout; ``input_size`` = (N, C_out, *o). A size the forward conv cannot map back to the input
  fails in oneDNN ("could not create a primitive descriptor for the convolution forward
  propagation primitive"). With pad (top, bottom, left, right) and
  o = F - lo - hi it crops (lo, hi) = (top, bottom), (left, right) of the full output (the adjoint
  of a conv padded so): every non-negative crop is native.
- ``ops.Conv3DTranspose(in_channel, out_channel, kernel_size, mode=1, pad_mode, pad, stride,
  dilation, group, output_padding)(x, w)``: weight (C_in, C_out/group, kd, kh, kw); with a 6-tuple
  pad it crops (head, tail), (top, bottom), (left, right): o = F - lo - hi. Its depth dilation must
  be 1 ("For 'Conv3DTranspose', the depth of parameter 'dilation' must be 1").
- 1D transposed: Conv2DTranspose on a unit H axis (what nn.Conv1dTranspose does), emulated.
- Not on CPU: ``ops.conv_transpose2d`` and ``mint.nn.functional.conv_transpose2d`` ("The kernel
  ConvTranspose2D unregistered"), ``mint.nn.functional.conv2d`` ("The kernel Conv2DExt
  unregistered"), ``mint...conv1d`` / ``conv3d`` ("only supports Ascend"): no `mint` path here.
- Execution is asynchronous: a kernel's error (BiasAddGrad's, below) surfaces at the next
  synchronisation (asnumpy), which the program's outputs reach.
- dtypes on CPU: float32 and float16 (float16 is selected as a float32 kernel: "The supported data
  types are input[Float32 Float32]"); float64 is refused by the primitives' type check ("must be a
  type of {Tensor[BFloat16], Tensor[Float16], Tensor[Float32], ...}"), bfloat16 by kernel selection
  ("Select CPU operator[Conv2D] fail! Unsupported data type!"). NCHW only ("the 'NHWC' format is only
  supported in GPU target").

Gradients: ``mindspore.grad(fn, grad_position, sens_param=True)(*args, cotangent)``. It takes a
Python function (with __code__: not a functools.partial, not a Primitive instance, "'Conv2D' object
has no attribute '__name__'"); a primitive instance's bound ``__call__`` is one. A Program step
cannot `def` the composed body, so the body is a chain of stages (optional pre-pad or expand_dims,
the primitive, optional crop / zero-extension, squeeze, bias_add), each a function of its tensors,
and the gradient is the chain rule over MindSpore's own VJP of each stage, last stage first.

Emulations: a conv with a negative padding (a crop of its input) gets ``ops.PadV3`` of its input by
the canonical (lo, hi) (negative amounts crop; torch's order, last axis first) and pad 0, not
``ops.pad``: ops.pad with a negative amount is right on its first call in a process and wrong
(stale or zero values) on later calls with new data (measured, 2.10.0 CPU; PadV3 and ops.pad with
non-negative amounts are right every time). A transposed conv with a negative crop (zeros appended)
crops the positive amounts natively and gets ``ops.pad`` of its output by the zeros (-lo, -hi)
(where that native part would be empty, a crop reaching past the data into the zeros, the full
output goes through ops.PadV3 by (-lo, -hi) instead);
the bias is added after (``ops.bias_add``, which is how nn.Conv2d adds it: the conv primitives take
none).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import program as pg
from harness.adapters.program import Ref

OPS = "mindspore.ops"
NN = "mindspore.nn"
IMPORTS = (("mindspore", "mindspore"), ("numpy", "numpy"))
CPU_DTYPES = ("float32", "float16")  # what the CPU kernels compute (measured); others are refused


@dataclass(frozen=True)
class Stage:
    """One differentiable step of the body: `out = func(*inputs, *consts)`; `primitive`: func names a
    Primitive instance built in the body (its gradient is taken through its bound __call__)."""

    out: str
    func: str
    inputs: tuple[str, ...]
    consts: tuple = ()
    primitive: bool = False


@dataclass(frozen=True)
class Spelling:
    """How MindSpore computes a case: the primitive's pad, and the stages around it."""

    pad: tuple[int, ...]  # the primitive's pad tuple (Conv2D: top, bottom, left, right)
    pre_pad: tuple[int, ...] | None = None  # conv: ops.PadV3 of x (negative amounts crop)
    post_pad: tuple[int, ...] | None = None  # conv_transpose: ops.pad (zeros) of the output
    post_crops: bool = False  # post_pad has negative amounts: ops.PadV3 instead of ops.pad
    unit_axis: bool = False  # 1D spelled on a unit H axis of the 2D primitive
    reason: str = ""

    @property
    def native(self) -> bool:
        return not (self.pre_pad or self.post_pad or self.unit_axis)

    @property
    def label(self) -> str:
        if self.pre_pad:
            return "pre_pad"
        if self.post_crops:
            return "crop_extend_padv3"
        if self.post_pad:
            return "crop_extend"
        return "unit_axis" if self.unit_axis else "native"


def primitive_pad(pairs) -> tuple[int, ...]:
    """Conv2D / Conv3D / Conv2DTranspose / Conv3DTranspose's pad tuple for (lo, hi) per spatial axis,
    in axis order: (top, bottom, left, right), or (head, tail, top, bottom, left, right)."""
    return tuple(int(v) for pair in pairs for v in pair)


def ops_pad(pairs) -> tuple[int, ...]:
    """ops.pad's flat padding for (lo, hi) per spatial axis: the last axis first (torch's order)."""
    return tuple(int(v) for lo, hi in reversed(tuple(pairs)) for v in (lo, hi))


def same_padding(i: int, k: int, s: int, d: int) -> tuple[int, int]:
    """pad_mode "same" of a MindSpore conv: TF's SAME total, the extra pixel at the end."""
    return translate.conv_word_padding("same", i, k, s, d)


def spelling(case) -> Spelling:
    unit = case.ndim == 1
    why_unit = "1D: Conv2D / Conv2DTranspose on a unit H axis (expand_dims, the 2D op, squeeze)" if unit else ""
    if all(lo >= 0 and hi >= 0 for lo, hi in case.padding):
        return Spelling(primitive_pad(case.padding), unit_axis=unit, reason=why_unit)
    if case.is_transpose and all(o >= 1 for o in _positive_crop_lengths(case)):
        # the primitive crops the positive amounts, ops.pad appends the zeros
        crops = tuple((max(lo, 0), max(hi, 0)) for lo, hi in case.padding)
        return Spelling(primitive_pad(crops), post_pad=ops_pad((max(-lo, 0), max(-hi, 0)) for lo, hi in case.padding),
                        unit_axis=unit, reason=_join(f"crops {case.padding}: MindSpore's pad is >= 0; the zeros "
                                                     "are appended by ops.pad after the primitive", why_unit))
    if case.is_transpose:  # a crop past the data into the appended zeros: the full output through PadV3
        return Spelling(primitive_pad(((0, 0),) * case.ndim), post_pad=ops_pad((-lo, -hi) for lo, hi in case.padding),
                        post_crops=True, unit_axis=unit, reason=_join(
                            f"crops {case.padding} reach past the data: the full output is cropped and extended "
                            "by ops.PadV3", why_unit))
    return Spelling(primitive_pad(((0, 0),) * case.ndim), pre_pad=ops_pad(case.padding), unit_axis=unit,
                    reason=_join(f"padding {case.padding}: MindSpore's pad is >= 0; the input is padded / "
                                 "cropped by ops.PadV3 first (ops.pad crops wrongly after its first call)", why_unit))


def _positive_crop_lengths(case) -> tuple[int, ...]:
    """A transposed conv's output lengths after its positive crops alone (the primitive's part)."""
    return tuple(translate.transpose_output_length(i, k, s, d, max(lo, 0), max(hi, 0)) for (lo, hi), i, k, s, d in
                 zip(case.padding, case.input_size, case.kernel, case.stride, case.dilation))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------- the program


def _axes(case, values, fill: int) -> tuple[int, ...]:
    """Per-axis values of the primitive: 1D gets the unit H axis first."""
    return (fill, *values) if case.ndim == 1 else tuple(values)


def primitive_step(case, spelled: Spelling, out: str = "conv") -> pg.Step:
    """The primitive instance: Conv2D / Conv3D, or Conv2DTranspose (out_channel = the forward conv's,
    the transposed conv's C_in) / Conv3DTranspose (its own in and out channels)."""
    nd = 2 if case.ndim == 1 else case.ndim
    pad = (0, 0, *spelled.pad) if case.ndim == 1 else spelled.pad
    common = dict(stride=_axes(case, case.stride, 1), dilation=_axes(case, case.dilation, 1), group=case.groups)
    kernel = _axes(case, case.kernel, 1)
    if not case.is_transpose:
        return pg.call(out, f"{OPS}.Conv{nd}D", out_channel=case.out_channels, kernel_size=kernel, mode=1,
                       pad_mode="pad", pad=pad, **common)
    if nd == 2:
        return pg.call(out, f"{OPS}.Conv2DTranspose", out_channel=case.in_channels, kernel_size=kernel,
                       pad_mode="pad", pad=pad, mode=1, **common)
    return pg.call(out, f"{OPS}.Conv3DTranspose", in_channel=case.in_channels, out_channel=case.out_channels,
                   kernel_size=kernel, mode=1, pad_mode="pad", pad=pad, **common)


def _native_output(case, spelled: Spelling) -> tuple[int, ...]:
    """Conv2DTranspose's input_size: (N, C_out, *o) of the native call (1D: with its unit axis)."""
    pairs = zip(spelled.pad[::2], spelled.pad[1::2])
    o = tuple(translate.transpose_output_length(i, k, s, d, lo, hi) for (lo, hi), i, k, s, d in
              zip(pairs, case.input_size, case.kernel, case.stride, case.dilation))
    return (case.batch, case.out_channels, *_axes(case, o, 1))


def stages(case, spelled: Spelling) -> list[Stage]:
    """The body as differentiable stages, x (and w, b) to y. A 1D case's bias is added while it still
    has its unit axis: BiasAddGrad refuses a 3D input whose last axis has length 1 ("For 'BiasAddGrad',
    input tensor's dimension is 3, when data_format is NCHW the last dimension size should greater
    than 1", measured), and the squeeze commutes with it."""
    src, weight, found = "x", "w", []
    if spelled.unit_axis:
        found += [Stage("x4", f"{OPS}.expand_dims", ("x",), (2,)), Stage("w4", f"{OPS}.expand_dims", ("w",), (2,))]
        src, weight = "x4", "w4"
    if spelled.pre_pad:
        found.append(Stage("xp", "pad", (src,), (Ref("paddings"), Ref("value")), primitive=True))
        src = "xp"
    size = (_native_output(case, spelled),) if case.is_transpose and case.ndim < 3 else ()
    found.append(Stage("y0", "conv", (src, weight), size, primitive=True))
    if spelled.post_pad and spelled.post_crops:
        found.append(Stage("yp", "pad", (found[-1].out,), (Ref("paddings"), Ref("value")), primitive=True))
    elif spelled.post_pad:
        found.append(Stage("yp", f"{OPS}.pad", (found[-1].out,), (spelled.post_pad,)))
    if case.bias:
        found.append(Stage("yb", f"{OPS}.bias_add", (found[-1].out, "b")))
    if spelled.unit_axis:
        found.append(Stage("y1", f"{OPS}.squeeze", (found[-1].out,), (2,)))
    return _renamed_last(found)


def instances(case, spelled: Spelling, dtype: str) -> list[pg.Step]:
    """The primitive instances the stages call: the conv, and ops.PadV3 with its paddings (which may
    be negative: crops) and fill value for a pre-padded conv."""
    steps = [primitive_step(case, spelled)]
    amounts = spelled.pre_pad or (spelled.post_pad if spelled.post_crops else None)
    if amounts:
        steps += [pg.call("pad", f"{OPS}.PadV3"),
                  pg.call("paddings", "mindspore.Tensor", amounts, Ref("mindspore.int64")),
                  pg.call("value", "mindspore.Tensor", 0.0, Ref(f"mindspore.{dtype}"))]
    return steps


def _renamed_last(found: list[Stage]) -> list[Stage]:
    """The last stage writes y."""
    last = found[-1]
    return found[:-1] + [Stage("y", last.func, last.inputs, last.consts, last.primitive)]


def _call(stage: Stage) -> pg.Step:
    return pg.call(stage.out, stage.func, *(Ref(n) for n in stage.inputs), *stage.consts)


def _cotangent(name: str, leaves: tuple[str, ...]) -> str:
    return f"d{name}" if name in leaves else f"g_{name}"


def gradient_steps(found: list[Stage], leaves: tuple[str, ...]) -> list[pg.Step]:
    """The chain rule over the stages, last first: each stage's VJP by mindspore.grad with sens_param
    (the cotangent of its output last), into the cotangents of its inputs (d<leaf> for the leaves)."""
    steps, cot = [], {"y": "g"}
    for stage in reversed(found):
        func = f"{stage.func}.__call__" if stage.primitive else stage.func
        positions = tuple(range(len(stage.inputs)))
        grad = f"grad_{stage.out}"
        steps.append(pg.call(grad, "mindspore.grad", Ref(func),
                             grad_position=positions if len(positions) > 1 else 0, sens_param=True))
        outs = tuple(_cotangent(n, leaves) for n in stage.inputs)
        steps.append(pg.call(outs if len(outs) > 1 else outs[0], grad, *(Ref(n) for n in stage.inputs),
                             *stage.consts, Ref(cot[stage.out])))
        cot.update({n: o for n, o in zip(stage.inputs, outs)})
    return steps


def prelude() -> tuple[pg.Step, ...]:
    """PyNative mode on the CPU (the harness computes eagerly; graph mode would compile the stages)."""
    return (pg.call(None, "mindspore.set_context", mode=Ref("mindspore.PYNATIVE_MODE")),
            pg.call(None, "mindspore.set_device", "CPU"))


def _tensors(names, dtype: str) -> tuple[pg.Step, ...]:
    return tuple(pg.call(n, "mindspore.Tensor", Ref(n), Ref(f"mindspore.{dtype}")) for n in names)


def _to_numpy(names) -> tuple:
    return tuple((q, (pg.call(q, f"{q}.asnumpy"), pg.call(q, "numpy.asarray", Ref(q), dtype=Ref("numpy.float64"))))
                 for q in names)


def _notes(case) -> tuple[str, ...]:
    if case.layout == "channels_last":
        return ("MindSpore's CPU convolutions are NCHW only (NHWC: GPU): the arrays stay N, C, *spatial",)
    return ()


def program(case, dtype: str) -> tuple[pg.Program, Spelling]:
    """The MindSpore program for a case and the spelling it uses."""
    spelled = spelling(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    found = stages(case, spelled)
    prog = pg.Program(
        imports=IMPORTS, prelude=prelude(), setup=_tensors(leaves, dtype),
        body=(*instances(case, spelled, dtype), *(_call(s) for s in found)),
        leaves=leaves, cotangent=_tensors(("g",), dtype),
        gradient=tuple(gradient_steps(found, leaves)),
        outputs=_to_numpy(("y", *("d" + n for n in leaves))), notes=_notes(case))
    return prog, spelled


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """MindSpore's weights are PyTorch's: Conv2D/Conv3D (C_out, C_in/g, *k); Conv2DTranspose (the
    forward conv's weight) and Conv3DTranspose (C_in, C_out/g, *k). Nothing to convert."""
    return (pg.call("w_mindspore", "numpy.asarray", Ref("w_torch")),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return (pg.call("w_torch", "numpy.asarray", Ref("w_mindspore")),)


# Measured with mindspore 2.10.0 CPU: float16 runs as a float32 kernel; the conv's output is rounded to
# float16 before ops.bias_add adds the bias (a second rounding of y).
def precision(case, dtype: str, path: str, device: str):
    return prec.declared(case, dtype, "ops.bias_add after the conv primitive (float16 in between)")


def layer_step(case, spelled: Spelling, out: str | None = "layer", **init) -> pg.Step:
    """mindspore.nn.Conv2d / Conv3d / Conv2dTranspose / Conv3dTranspose with pad_mode "pad" and the
    primitive's pad tuple (the layers pass it on: Conv2dTranspose's output length is then
    (i-1)*s + e - lo - hi, the canonical one)."""
    kind = f"Conv{case.ndim}dTranspose" if case.is_transpose else f"Conv{case.ndim}d"
    return pg.call(out, f"{NN}.{kind}", case.in_channels, case.out_channels, case.kernel, stride=case.stride,
                   pad_mode="pad", padding=spelled.pad, dilation=case.dilation, group=case.groups,
                   has_bias=case.bias, **init)


def layer_program(case, dtype: str) -> pg.Program | None:
    """The nn layer with the canonical weight (and bias) as its initial values, on x (forward only),
    where the layer says the case natively (2D, 3D, non-negative padding) in a dtype the CPU computes
    (float32, float16: the layer refuses float64 and bfloat16 as the program does); None otherwise. 1D has
    none here: nn.Conv1d / Conv1dTranspose pad symmetrically only, and their ops.Squeeze(2) is the
    call that fails once per process under numpy 2 (see the module docstring)."""
    spelled = spelling(case)
    if not spelled.native or dtype not in CPU_DTYPES:
        return None
    names = ("x", "w", "b") if case.bias else ("x", "w")
    init = {"weight_init": Ref("w")} | ({"bias_init": Ref("b")} if case.bias else {})
    body = (layer_step(case, spelled, dtype=Ref(f"mindspore.{dtype}"), **init), pg.call("y", "layer", Ref("x")))
    return pg.Program(imports=IMPORTS, prelude=prelude(), setup=_tensors(names, dtype), body=body, leaves=names,
                      autodiff=pg.NONE, outputs=_to_numpy(("y",)), notes=_notes(case))
