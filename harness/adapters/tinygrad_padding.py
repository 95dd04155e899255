"""tinygrad's vocabulary for canonical cases, and the program that computes them. Pure: no tinygrad import.

Measured with tinygrad 0.14.0 on its CPU device (clang 14), against the NumPy oracle
(tests/test_tinygrad_adapter.py) and by reading `Tensor.conv2d`, `Tensor.conv_transpose2d`,
`helpers.resolve_pool_pads` / `flat_to_grouped` and `MixinOp._pad_constant`:

- `Tensor.conv2d(weight, bias, groups, stride, dilation, padding)` and `Tensor.conv_transpose2d(...,
  padding, output_padding)` are n-D despite their names (1D, 2D and 3D measured); the weight layouts
  are PyTorch's (conv (C_out, C_in/g, *k), conv_transpose (C_in, C_out/g, *k)).
- `padding` is an int (every side), one int per spatial axis in axis order (symmetric), or 2*ndim
  ints per side, LAST axis first, as torch's F.pad: (lo_W, hi_W, lo_H, hi_H) for 2D
  (`resolve_pool_pads`; `flat_to_grouped` turns it back into (lo, hi) pairs in axis order).
  Measured on non-square inputs: (1, 2, 0, 3) pads W by (1, 2) and H by (0, 3).
- conv: the (lo, hi) pairs are the canonical input padding, negative amounts crop
  (`_pad_constant` shrinks first, then pads). It shrinks the input by the crops of both sides before
  padding, so a crop reaching past the data into the zeros on the other side (padding (2, -2) of one
  pixel) raises "ValueError: invalid shrink": such cases are emulated (`Tensor.pad` with the zeros,
  then the crop by slicing, then a conv with no padding: "pre_pad").
- conv_transpose: the pairs are the canonical crops of the full output, with `output_padding`
  taken off the end crop: crops (lo, hi - op); any integers (negative crops append zeros, which the
  bias then reaches, as the canonical definition has it; no bound on output_padding). It is a conv of
  the zero-inserted input (length (i-1)*s + 1) with the flipped kernel and padding
  ((k-1)*d - lo, (k-1)*d - hi): where that padding's crops exceed the zero-inserted input the same
  "invalid shrink" is raised, and the case is emulated ("crop_extend": conv_transpose2d with no
  padding, the crop / zeros after it, then the bias).

bfloat16: the CPU device's ClangRenderer stores bfloat16 as clang's `__bf16` (arithmetic in float32,
rounded back by bit manipulation), which Debian's clang 14 refuses on x86-64 ("error: __bf16 is not
supported on this target", a CalledProcessError: the kernels that store a float32 computation into a
__bf16 buffer, such as the gradients' reductions; all 7 bfloat16 items of cases/conv_transpose). Where the
adapter's probe finds that, the program sets tinygrad's own emulation, `EMULATED_DTYPES=bfloat16`
(what tinygrad does for a renderer without the dtype: each bfloat16 op computed in float32, rounded
to bfloat16 where it is cast or stored), in its prelude ("emulated", the reason says why).

Spellings, most readable first: symmetric pairs as one int per axis ("native"); a transposed conv
whose crops are (p, p - op) with op >= 0 on every axis as padding=p, output_padding=op per axis
("native_output_padding"); anything else as the per-side tuple ("native_per_side").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness import precision as prec
from harness import translate
from harness.adapters import program as pg
from harness.adapters.program import Ref

DEVICE = "CPU"  # pinned: tinygrad would otherwise pick the first device it can open
# `from tinygrad import Tensor, dtypes, nn, helpers`, as tinygrad's own examples write it (tinygrad 0.14.0
# has no __version__: the version comes from the package metadata, LIBRARY)
IMPORTS = (("numpy", "numpy"), ("Tensor", "tinygrad.Tensor"), ("dtypes", "tinygrad.dtypes"), ("nn", "tinygrad.nn"),
           ("helpers", "tinygrad.helpers"))


# --------------------------------------------------------------------------- tinygrad's arithmetic


def resolve_pool_pads(padding: int | Sequence[int], dims: int) -> list[int]:
    """tinygrad.helpers.resolve_pool_pads, verbatim arithmetic: the flat per-side list, last axis first."""
    if not isinstance(padding, int) and len(padding) not in (dims, 2 * dims):
        raise ValueError(f"Padding must be an int or a sequence of length {dims} or {2 * dims}, but got {padding=}")
    if isinstance(padding, int):
        return [padding] * 2 * dims
    return list(padding) if len(padding) == 2 * dims else [p for p in padding for _ in range(2)][::-1]


def flat_to_grouped(flat: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """tinygrad.helpers.flat_to_grouped: the flat list (last axis first) → (lo, hi) pairs in axis order."""
    return tuple(zip(flat[-2::-2], flat[::-2]))


def per_side(pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """The per-side `padding` tuple for (lo, hi) pairs in axis order: last axis first (the inverse of
    `flat_to_grouped`)."""
    return tuple(int(v) for lo, hi in reversed(tuple(pairs)) for v in (lo, hi))


def shrink_is_valid(length: int, lo: int, hi: int) -> bool:
    """Whether `_pad_constant` can pad an axis of `length` by (lo, hi): it shrinks by the negative
    amounts of both sides first, which must leave a non-negative length."""
    return max(-lo, 0) + max(-hi, 0) <= length


def transpose_inner_pads(k: int, d: int, lo: int, hi: int) -> tuple[int, int]:
    """The padding conv_transpose2d gives its inner conv of the zero-inserted input for crops (lo, hi)."""
    e = translate.effective_kernel(k, d) - 1
    return (e - lo, e - hi)


def native_reach(case) -> bool:
    """Whether tinygrad's own padding reaches the case (no "invalid shrink" on any axis)."""
    if not case.is_transpose:
        return all(shrink_is_valid(i, lo, hi) for i, (lo, hi) in zip(case.input_size, case.padding))
    return all(shrink_is_valid((i - 1) * s + 1, *transpose_inner_pads(k, d, lo, hi))
               for i, k, s, d, (lo, hi) in zip(case.input_size, case.kernel, case.stride, case.dilation,
                                                case.padding))


# --------------------------------------------------------------------------- the spelling


@dataclass(frozen=True)
class Spelling:
    """How tinygrad computes a case: the op's own padding (and output_padding), or an emulation."""

    label: str  # native | native_output_padding | native_per_side | pre_pad | crop_extend
    padding: tuple[int, ...] = ()  # the op's padding argument ((): none, emulated)
    output_padding: tuple[int, ...] | None = None
    reason: str = ""

    @property
    def native(self) -> bool:
        return self.label.startswith("native") and not self.label.endswith("emulated_bf16")


def spelling(case) -> Spelling:
    pads = tuple(case.padding)
    if not native_reach(case):
        if case.is_transpose:
            return Spelling("crop_extend", reason=(
                f"crops {pads}: conv_transpose2d's inner conv would crop more than the zero-inserted input "
                "(tinygrad: ValueError: invalid shrink); the full output is cropped / extended after it"))
        return Spelling("pre_pad", reason=(
            f"padding {pads}: a crop reaching past the input into the zeros on the other side (tinygrad "
            "shrinks before it pads: ValueError: invalid shrink); Tensor.pad, then the crop, before the conv"))
    if translate.symmetric(pads):
        return Spelling("native", tuple(lo for lo, _ in pads))
    if case.is_transpose and all(lo >= hi for lo, hi in pads):
        return Spelling("native_output_padding", tuple(lo for lo, _ in pads), tuple(lo - hi for lo, hi in pads))
    return Spelling("native_per_side", per_side(pads))


# --------------------------------------------------------------------------- the program


def tensor_step(name: str, dtype: str) -> pg.Step:
    return pg.call(name, "Tensor", Ref(name), dtype=Ref(f"dtypes.{dtype}"), device=DEVICE)


def _pad_step(out: str, src: str, grow) -> pg.Step:
    """Tensor.pad with (lo, hi) pairs for every axis, in axis order (zeros)."""
    return pg.call(out, f"{src}.pad", ((0, 0), (0, 0), *(tuple(p) for p in grow)))


def _pre_pad(case, src: str = "x") -> list[pg.Step]:
    """`xp`: the conv's canonical input padding on `src`, zeros first, then the crop by slicing."""
    return pg.crop_or_extend("xp", src, tuple((-lo, -hi) for lo, hi in case.padding), 2, case.ndim + 2, _pad_step)


def _after(case) -> list[pg.Step]:
    """An emulated transposed conv's crop / zeros of its full output, then its bias."""
    steps = pg.crop_or_extend("y", "y", case.padding, 2, case.ndim + 2, _pad_step)
    if case.bias:
        steps += [pg.call("bias", "b.reshape", 1, -1, *([1] * case.ndim)), pg.add("y", Ref("y"), Ref("bias"))]
    return steps


def op_kwargs(case, spelled: Spelling) -> dict:
    kwargs = dict(groups=case.groups, stride=case.stride, dilation=case.dilation)
    if spelled.padding:
        kwargs["padding"] = spelled.padding
    if spelled.output_padding is not None:
        kwargs["output_padding"] = spelled.output_padding
    return kwargs


def _body(case, spelled: Spelling) -> list[pg.Step]:
    kwargs = op_kwargs(case, spelled)
    b = Ref("b") if case.bias else None
    if not case.is_transpose:
        pre = _pre_pad(case) if spelled.label == "pre_pad" else []
        return [*pre, pg.call("y", f"{'xp' if pre else 'x'}.conv2d", Ref("w"), b, **kwargs)]
    if spelled.native:
        return [pg.call("y", "x.conv_transpose2d", Ref("w"), b, **kwargs)]
    return [pg.call("y", "x.conv_transpose2d", Ref("w"), None, **kwargs), *_after(case)]


def _outputs(names) -> tuple:
    """Each quantity to NumPy (`.numpy()` gives float32 for bfloat16: exact), then float64."""
    return tuple((q, (pg.call(q, f"{q}.numpy"), pg.call(q, f"{q}.astype", Ref("numpy.float64")))) for q in names)


def _notes(case) -> tuple[str, ...]:
    return ("tinygrad has no channels-last convolution: the arrays stay N, C, *spatial",) \
        if case.layout == "channels_last" else ()


BF16_EMULATION = ("the CPU device's clang has no __bf16 (clang 14: 'not supported on this target'): tinygrad's "
                  "own bfloat16 emulation, EMULATED_DTYPES=bfloat16 (float32 arithmetic, rounded to bfloat16 "
                  "where cast or stored)")


def prelude(dtype: str, bf16_emulated: bool) -> tuple[pg.Step, ...]:
    """tinygrad's bfloat16 emulation where the compiler lacks __bf16 (set for the process: it changes
    only bfloat16 kernels)."""
    if dtype == "bfloat16" and bf16_emulated:
        return (pg.assign("helpers.EMULATED_DTYPES.value", "bfloat16"),)
    return ()


def with_emulated_bf16(spelled: Spelling, dtype: str, bf16_emulated: bool) -> Spelling:
    """The spelling with the bfloat16 emulation in its label and reason, where the prelude sets it."""
    if not prelude(dtype, bf16_emulated):
        return spelled
    reason = f"{spelled.reason}; {BF16_EMULATION}" if spelled.reason else BF16_EMULATION
    return replace(spelled, label=f"{spelled.label}+emulated_bf16", reason=reason)


def program(case, dtype: str, bf16_emulated: bool = False) -> tuple[pg.Program, Spelling]:
    """The tinygrad program for a case (tensors on the CPU device, gradients by Tensor.gradient with
    the cotangent, realized together) and the spelling it uses; `bf16_emulated`: the compiler has no
    __bf16, bfloat16 runs under tinygrad's emulation (`prelude`)."""
    spelled = spelling(case)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    grads = tuple("d" + n for n in leaves)
    prog = pg.Program(
        imports=IMPORTS,
        prelude=prelude(dtype, bf16_emulated),
        setup=tuple(tensor_step(n, dtype) for n in leaves),
        body=tuple(_body(case, spelled)),
        leaves=leaves,
        cotangent=(tensor_step("g", dtype),),
        gradient=(pg.call(grads, "y.gradient", *(Ref(n) for n in leaves), gradient=Ref("g")),
                  pg.call(None, "Tensor.realize", Ref("y"), *(Ref(n) for n in grads))),
        outputs=_outputs(("y", *grads)),
        notes=_notes(case),
    )
    return prog, with_emulated_bf16(spelled, dtype, bf16_emulated)


# --------------------------------------------------------------------------- the layer object


def layer_name(case) -> str:
    """tinygrad.nn's layer (as `nn`): Conv1d / ConvTranspose1d (kernel an int) in 1D, else Conv2d / ConvTranspose2d,
    which take a kernel tuple of any length (tinygrad.nn has no Conv3d: Conv2d with three kernel sizes is it)."""
    kind = "ConvTranspose" if case.is_transpose else "Conv"
    return f"nn.{kind}{1 if case.ndim == 1 else 2}d"


def layer_same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The (lo, hi) pairs of tinygrad.nn.Conv2d(padding='same'), verbatim arithmetic (tinygrad 0.14.0): the
    flat per-side list is built from the kernel sizes reversed (last axis first) but the dilations in axis
    order, so with per-axis dilations each axis gets another axis's dilation (tinygrad/tinygrad#17805)."""
    flat = [v for d, k in zip(dilation, tuple(kernel)[::-1]) for v in (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)]
    return flat_to_grouped(flat)


def layer_says_same(case) -> bool:
    """The layer is built with padding='same' as a user writes it: a conv whose case says `same`, at stride 1
    (tinygrad.nn.Conv2d refuses 'same' with a stride)."""
    return not case.is_transpose and case.padding_word == "same" and all(s == 1 for s in case.stride)


def layer_known_issue(case) -> str | None:
    """Why tinygrad.nn.Conv2d(padding='same') computes another padding than the case's, or None."""
    if not layer_says_same(case):
        return None
    got = layer_same_padding(case.kernel, case.dilation)
    if got == tuple(case.padding):
        return None
    return (f"KNOWN ISSUE: tinygrad 0.14.0 nn.Conv2d(padding='same') pads {got}, not {tuple(case.padding)}: it "
            "pairs the kernel sizes reversed with the dilations in axis order (tinygrad/tinygrad#17805)")


def _layer_call(case, spelled: Spelling, native_bias: bool) -> pg.Step:
    kernel = case.kernel[0] if case.ndim == 1 else case.kernel
    kwargs = {}
    if layer_says_same(case):  # stride left at its default: the layer refuses 'same' unless stride == 1 (an int)
        kwargs["padding"] = "same"
    else:
        kwargs["stride"] = case.stride
    if not layer_says_same(case) and spelled.padding:
        kwargs["padding"] = spelled.padding
    if spelled.output_padding is not None:
        kwargs["output_padding"] = spelled.output_padding
    kwargs |= dict(dilation=case.dilation, groups=case.groups, bias=native_bias)
    return pg.call("layer", layer_name(case), case.in_channels, case.out_channels, kernel, **kwargs)


def _layer_steps(case, spelled: Spelling) -> list[pg.Step]:
    native_bias = case.bias and not spelled.label == "crop_extend"
    steps = [_layer_call(case, spelled, native_bias), pg.assign("layer.weight", Ref("w"))]
    if native_bias:
        steps.append(pg.assign("layer.bias", Ref("b")))
    pre = _pre_pad(case) if spelled.label == "pre_pad" else []
    steps += [*pre, pg.call("y", "layer", Ref("xp" if pre else "x"))]
    return steps + (_after(case) if spelled.label == "crop_extend" else [])


def layer_program(case, dtype: str, bf16_emulated: bool = False) -> pg.Program:
    """tinygrad.nn's layer built with the case's stride, padding (and output_padding), dilation and groups,
    its weight and bias set to the canonical tensors (attributes), called on x (forward only). A `same`
    conv at stride 1 is built with padding='same' (and flagged where tinygrad computes that wrongly:
    `layer_known_issue`); an emulated case gets the same pre-pad, or crop / zeros and bias after it, as
    `program`."""
    names = ("x", "w", "b") if case.bias else ("x", "w")
    issue = layer_known_issue(case)
    return pg.Program(imports=IMPORTS, prelude=prelude(dtype, bf16_emulated),
                      setup=tuple(tensor_step(n, dtype) for n in names),
                      body=tuple(_layer_steps(case, spelling(case))), leaves=names, autodiff=pg.NONE,
                      outputs=_outputs(("y",)), notes=_notes(case) + ((issue,) if issue else ()))


# --------------------------------------------------------------------------- precision


# Measured (tinygrad 0.14.0, CPU, cases/precision: K up to 2049): float16 and emulated bfloat16 y, dx, dw,
# db meet the default contract (effective accumulation ~24-29 bits: float32); no deviation to declare.
def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): tinygrad adds the bias after the conv's sum has been
    rounded to the dtype (Tensor.conv2d: `ret.add(bias)`; an emulated transposed conv after its crop)."""
    return prec.declared(case, dtype, "tinygrad adds the bias to the sum already rounded to the dtype")
