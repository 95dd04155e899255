"""PaddlePaddle's vocabulary for canonical cases, and the program that computes them. Pure: no paddle import.

Measured with paddlepaddle 3.3.1 (CPU wheel) against the NumPy oracle, and read in its source
(python/paddle/nn/functional/conv.py `_update_padding_nd`; phi's `UpdatePaddingAndDilation`; the
reference `conv2dtranspose_forward_naive` of Paddle's own test/legacy_test/test_conv2d_transpose_op.py):

- `paddle.nn.functional.conv{1,2,3}d(x, weight, bias, stride, padding, dilation, groups, data_format)`
  pads the input; `padding` is an int or one int per axis (symmetric), one (lo, hi) pair per axis with
  the batch and channel axes' pairs [0, 0] included (asymmetric), or a word. Negative amounts are
  refused in Python ("Invalid padding, all value should be larger than or equal to 0").
  Weights (C_out, C_in/groups, *k): PyTorch's layout, the canonical one.
- `conv{1,2,3}d_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
  output_size, data_format)` crops the full output (length F = (i-1)*s + d*(k-1) + 1) by the
  padding pairs (lo, hi) as given; `output_padding` e gives the crops (lo, hi - e), and `output_size`
  o the crops (lo, F - lo - o). Weights (C_in, C_out/groups, *k), PyTorch's layout. The shape
  check (phi infermeta) accepts e < max(stride, dilation) and o in [F - lo - hi, F - lo - hi + stride),
  but the CPU kernel computes only e < stride: with dilation > stride, an e in [stride, dilation)
  fails in col2im/vol2col ("Expected ... == col_height"); so the harness spells e < stride natively
  and emulates the rest.
- 'SAME' (both ops): Paddle resets the dilation to 1 and pads, per axis, pad_sum = max((ceil(i/s) - 1)*s
  + k - i, 0), pad_sum // 2 at the start (`same_padding`), where i is the op's own input length. For a
  conv with dilation 1 that is TF's SAME. For a transposed conv it is the same formula on the transposed
  conv's input, so its output is (i-1)*s + k - pad_sum (x 5, k 3, s 2: 9, where TF's SAME gives i*s = 10),
  and a dilation > 1 is ignored; this is Paddle's own reference rule (the test's naive implementation
  sets dilations = [1, 1] and calls `_get_padding_with_SAME` on the input shape), not TF's. 'VALID'
  pads nothing (the dilation is kept). The harness uses a word only where Paddle's rule gives the
  case's canonical padding, else explicit pairs.
- Layout: data_format 'NCL'/'NCHW'/'NCDHW' or 'NLC'/'NHWC'/'NDHWC' (channels_last: NumPy transposes
  in `prepare`, outside the autodiff, and back in the outputs; the weights keep their layout).
- dtypes on CPU: float64 and float32 kernels only; float16 and bfloat16 raise "(NotFound) The kernel
  with key (CPU, Undefined(AnyLayout), float16) of kernel `conv2d` is not registered" (a refusal).

Emulated (`program`): a conv with a negative padding gets its input cropped / padded first
(paddle.nn.functional.pad, then slicing) and runs with padding 0; a transposed conv whose crops Paddle
cannot say (a negative start crop, or an end extension of stride or more) runs with padding 0 and
its full output is cropped / extended with zeros, then the bias is added, so that the zeros carry it.
Gradients: paddle.grad(outputs, inputs, grad_outputs) on leaves made with stop_gradient=False.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.adapters import program as pg
from harness.adapters.base import channels_last_permutation, inverse_permutation
from harness.adapters.program import Ref

F = "paddle.nn.functional"
FORMATS = {("channels_first", 1): "NCL", ("channels_first", 2): "NCHW", ("channels_first", 3): "NCDHW",
           ("channels_last", 1): "NLC", ("channels_last", 2): "NHWC", ("channels_last", 3): "NDHWC"}


# --------------------------------------------------------------------------- the vocabulary, measured


def same_padding(i: int, k: int, s: int) -> tuple[int, int]:
    """Paddle's 'SAME' padding of an op whose input length is i (phi UpdatePaddingAndDilation; the
    dilation is reset to 1): pad_sum = max((ceil(i/s) - 1)*s + k - i, 0), the smaller half first."""
    out = (i + s - 1) // s
    total = max((out - 1) * s + k - i, 0)
    return (total // 2, total - total // 2)


def full_length(i: int, k: int, s: int, d: int) -> int:
    """The transposed conv's full output F = (i-1)*s + d*(k-1) + 1."""
    return (i - 1) * s + d * (k - 1) + 1


def transpose_crop(lo: int, hi: int, extra: int = 0) -> tuple[int, int]:
    """Canonical crops of conv_transpose with explicit padding (lo, hi) and output_padding `extra`
    (or an output_size `extra` longer than F - lo - hi)."""
    return (lo, hi - extra)


def transpose_word_crop(word: str, i: int, k: int, s: int, d: int, extra: int = 0) -> tuple[int, int] | None:
    """Canonical crops of conv_transpose(padding=word, output_padding=extra) on an axis of the case's
    dilation d, or None where Paddle computes something else than the case: 'SAME' drops the dilation."""
    if word == "VALID":
        return (0, -extra)
    if d != 1:
        return None
    lo, hi = same_padding(i, k, s)
    return (lo, hi - extra)


def conv_word_padding(word: str, i: int, k: int, s: int, d: int) -> tuple[int, int] | None:
    """Canonical input padding of conv(padding=word), or None where Paddle drops the dilation (SAME)."""
    if word == "VALID":
        return (0, 0)
    return same_padding(i, k, s) if d == 1 else None


def native_extra(hi: int, s: int) -> int | None:
    """The output_padding for an end crop hi (negative: an extension), or None past the CPU kernel's
    bound (extra < stride)."""
    extra = max(-hi, 0)
    return extra if extra < s else None


# --------------------------------------------------------------------------- a case's spelling


@dataclass(frozen=True)
class Spelling:
    """How Paddle computes a case: the op's own padding arguments, or an emulation around it."""

    native: bool
    padding: object = 0  # the op's padding argument: an int list, pairs with batch/channel, or a word
    output_padding: tuple[int, ...] | None = None  # conv_transpose, when any axis extends
    output_size: tuple[int, ...] | None = None  # conv_transpose, where the case gives output_shape
    word: str | None = None  # 'SAME' / 'VALID' when spelled by the word
    emulation: str = ""  # "pre_pad" (conv) | "crop_extend" (conv_transpose), when not native
    reason: str = ""

    @property
    def label(self) -> str:
        if not self.native:
            return self.emulation
        return f"native+{self.word}" if self.word else "native"


def _pairs(case, pads) -> list:
    """Explicit (lo, hi) pairs as Paddle takes them: with [0, 0] for the batch and channel axes."""
    body = [[int(lo), int(hi)] for lo, hi in pads]
    return [[0, 0], *body, [0, 0]] if case.layout == "channels_last" else [[0, 0], [0, 0], *body]


def _explicit(case, pads):
    if all(lo == hi for lo, hi in pads):
        return [int(lo) for lo, _ in pads]
    return _pairs(case, pads)


def _word(case) -> str | None:
    return {"same": "SAME", "valid": "VALID"}.get(case.padding_word or "")


def conv_spelling(case) -> Spelling:
    word = _word(case)
    axes = list(zip(case.input_size, case.kernel, case.stride, case.dilation))
    if word and [conv_word_padding(word, *a) for a in axes] == list(case.padding):
        return Spelling(True, word, word=word)
    if all(lo >= 0 and hi >= 0 for lo, hi in case.padding):
        return Spelling(True, _explicit(case, case.padding))
    return Spelling(False, 0, emulation="pre_pad", reason="negative padding (Paddle refuses it): the input is cropped "
                                             "first, then the conv runs with padding 0")


def _extras(case) -> list[int | None]:
    """output_padding per axis: the case's own where it gives one Paddle computes (below the stride,
    the padding then non-negative), else what a negative end crop needs."""
    given = case.output_padding
    if given and all(e < s and hi + e >= 0 for e, s, (_, hi) in zip(given, case.stride, case.padding)):
        return list(given)
    return [native_extra(hi, s) for (_, hi), s in zip(case.padding, case.stride)]


def transpose_spelling(case) -> Spelling:
    extras = _extras(case)
    if any(lo < 0 for lo, _ in case.padding) or None in extras:
        return Spelling(False, 0, emulation="crop_extend", reason=(
            f"crops {case.padding}: Paddle crops (lo, hi - output_padding) with lo, hi >= 0 and, on the CPU, "
            "0 <= output_padding < stride: the full output is cropped / extended with zeros"))
    extra = tuple(extras) if any(extras) else None
    size = case.output_size if case.output_shape is not None and extra else None
    native = {"output_padding": None if size else extra, "output_size": size}
    word = _word(case)
    axes = list(zip(case.input_size, case.kernel, case.stride, case.dilation, extras))
    if word and [transpose_word_crop(word, *a) for a in axes] == list(case.padding):
        return Spelling(True, word, word=word, **native)
    pads = [(lo, hi + e) for (lo, hi), e in zip(case.padding, extras)]
    return Spelling(True, _explicit(case, pads), **native)


def spelling(case) -> Spelling:
    return transpose_spelling(case) if case.is_transpose else conv_spelling(case)


# --------------------------------------------------------------------------- the program


def data_format(case) -> str:
    return FORMATS[case.layout, case.ndim]


def _spatial_axis(case) -> int:
    return 1 if case.layout == "channels_last" else 2


def _perm(case) -> tuple[int, ...]:
    return channels_last_permutation(case.ndim)


def _pad_step(case):
    """paddle.nn.functional.pad by non-negative (lo, hi) pairs of the spatial axes: a list of 2 * rank
    amounts pads the axes in order (measured), the batch and channel axes by 0."""
    def step(out: str, src: str, grow) -> pg.Step:
        pairs = [(0, 0)] * (case.ndim + 2)
        pairs[_spatial_axis(case):_spatial_axis(case) + case.ndim] = grow
        return pg.call(out, f"{F}.pad", Ref(src), [v for pair in pairs for v in pair], value=0.0)
    return step


def _input_pad(case) -> list[pg.Step]:
    """`xp`: x with an emulated conv's canonical padding, zeros first, then the crop by slicing."""
    inverse = tuple((-lo, -hi) for lo, hi in case.padding)  # crop_or_extend crops positive amounts
    return pg.crop_or_extend("xp", "x", inverse, _spatial_axis(case), case.ndim + 2, _pad_step(case))


def _bias_after(case) -> list[pg.Step]:
    shape = [1] * (case.ndim + 2)
    shape[-1 if case.layout == "channels_last" else 1] = -1
    return [pg.call("bias", "b.reshape", shape), pg.add("y", Ref("y"), Ref("bias"))]


def _crop_extend(case) -> list[pg.Step]:
    steps = pg.crop_or_extend("y", "y", case.padding, _spatial_axis(case), case.ndim + 2, _pad_step(case))
    return steps + (_bias_after(case) if case.bias else [])


def op_name(case) -> str:
    return f"{F}.conv{case.ndim}d_transpose" if case.is_transpose else f"{F}.conv{case.ndim}d"


def op_kwargs(case, spelled: Spelling) -> dict:
    """The op's keyword arguments beyond the tensors, in its signature's order."""
    kwargs = {"stride": list(case.stride), "padding": spelled.padding}
    if case.is_transpose:
        if spelled.output_padding is not None:
            kwargs["output_padding"] = list(spelled.output_padding)
        kwargs |= {"groups": case.groups, "dilation": list(case.dilation)}
        if spelled.output_size is not None:
            kwargs["output_size"] = list(spelled.output_size)
        return kwargs | {"data_format": data_format(case)}
    return kwargs | {"dilation": list(case.dilation), "groups": case.groups, "data_format": data_format(case)}


def _body(case, spelled: Spelling) -> list[pg.Step]:
    b = Ref("b") if case.bias else None
    kwargs = op_kwargs(case, spelled)
    if spelled.native:
        return [pg.call("y", op_name(case), Ref("x"), Ref("w"), b, **kwargs)]
    if not case.is_transpose:
        pre = _input_pad(case)
        return [*pre, pg.call("y", op_name(case), Ref("xp" if pre else "x"), Ref("w"), b, **kwargs)]
    return [pg.call("y", op_name(case), Ref("x"), Ref("w"), None, **kwargs), *_crop_extend(case)]


def _tensors(names, dtype: str, leaf: bool) -> tuple[pg.Step, ...]:
    extra = {"stop_gradient": False} if leaf else {}
    return tuple(pg.call(n, "paddle.to_tensor", Ref(n), dtype=dtype, **extra) for n in names)


def _to_host(case, name: str) -> tuple[str, tuple[pg.Step, ...]]:
    steps = [pg.call(name, f"{name}.astype", "float64"), pg.call(name, f"{name}.numpy")]
    if case.layout == "channels_last" and name in ("y", "dx"):
        steps.append(pg.call(name, "numpy.transpose", Ref(name), inverse_permutation(_perm(case))))
    return (name, tuple(steps))


def _layout_in(case, name: str) -> tuple[pg.Step, ...]:
    """Canonical NC... → Paddle's channels-last data in NumPy, before the leaves are made."""
    if case.layout != "channels_last":
        return ()
    return (pg.call(name, "numpy.transpose", Ref(name), _perm(case)),)


IMPORTS = (("paddle", "paddle"), ("numpy", "numpy"))


def program(case, dtype: str) -> tuple[pg.Program, Spelling]:
    """The Paddle program for a case (dygraph tensors, gradients by paddle.grad) and its spelling."""
    spelled = spelling(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    grads = tuple("d" + n for n in leaves)
    prog = pg.Program(
        imports=IMPORTS,
        prepare=_layout_in(case, "x"),
        prepare_cotangent=_layout_in(case, "g"),
        setup=_tensors(leaves, dtype, leaf=True),
        body=tuple(_body(case, spelled)),
        leaves=leaves,
        cotangent=_tensors(("g",), dtype, leaf=False),
        gradient=(pg.call(grads, "paddle.grad", [Ref("y")], [Ref(n) for n in leaves], grad_outputs=[Ref("g")]),),
        outputs=tuple(_to_host(case, q) for q in ("y", *grads)),
    )
    return prog, spelled


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """Paddle's weight layouts are PyTorch's (conv (C_out, C_in/g, *k), conv_transpose (C_in, C_out/g, *k),
    measured with groups): nothing to convert."""
    return ()


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return ()


# --------------------------------------------------------------------------- the layer object


def layer_name(case) -> str:
    return f"paddle.nn.Conv{case.ndim}DTranspose" if case.is_transpose else f"paddle.nn.Conv{case.ndim}D"


def _layer_call(case, spelled: Spelling, native_bias: bool, out: str | None = "layer") -> pg.Step:
    """paddle.nn.Conv{n}D / Conv{n}DTranspose with the case's parameters (bias_attr False: no bias)."""
    kwargs = op_kwargs(case, spelled)
    kwargs.pop("output_size", None)  # the layer takes it at the call
    extra = {} if native_bias else {"bias_attr": False}
    fmt = kwargs.pop("data_format")
    return pg.call(out, layer_name(case), case.in_channels, case.out_channels, list(case.kernel), **kwargs, **extra,
                   data_format=fmt)


def _layer_steps(case, spelled: Spelling, dtype: str) -> list[pg.Step]:
    native_bias = case.bias and (spelled.native or not case.is_transpose)
    steps = [_layer_call(case, spelled, native_bias), pg.call(None, "layer.to", dtype=dtype),
             pg.call(None, "layer.weight.set_value", Ref("w"))]
    if native_bias:
        steps.append(pg.call(None, "layer.bias.set_value", Ref("b")))
    pre = _input_pad(case) if not spelled.native and not case.is_transpose else []
    at_call = {"output_size": list(spelled.output_size)} if spelled.output_size is not None else {}
    steps += [*pre, pg.call("y", "layer", Ref("xp" if pre else "x"), **at_call)]
    return steps + (_crop_extend(case) if not spelled.native and case.is_transpose else [])


# the dtypes Paddle's CPU convolution kernels are registered for (measured, 3.3.1 CPU wheel)
CPU_DTYPES = ("float64", "float32")


def layer_program(case, dtype: str) -> pg.Program | None:
    """paddle.nn.Conv{n}D / Conv{n}DTranspose built with the case's parameters, cast to the dtype
    (layer.to), its weight and bias set from the canonical w and b (set_value), called on x (forward
    only); an emulated case gets the same pre-pad, or crop / extension and bias, as `program`.
    None for float16 / bfloat16: the CPU wheel has no such kernel, so there is no layer to show."""
    if dtype not in CPU_DTYPES:
        return None
    spelled = spelling(case)
    names = ("x", "w", "b") if case.bias else ("x", "w")
    setup = _layout_in(case, "x") + _tensors(names, dtype, leaf=False)  # set_value takes the parameter's dtype
    return pg.Program(imports=IMPORTS, setup=setup, body=tuple(_layer_steps(case, spelled, dtype)),
                      leaves=names, autodiff=pg.NONE, outputs=(_to_host(case, "y"),))
