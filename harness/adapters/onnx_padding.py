"""Pure translation of canonical cases into ONNX Conv / ConvTranspose attributes (imports no onnx).

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) of the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

ONNX vocabulary (opset 22):

- Conv: `pads` = [x1_begin, x2_begin, ..., x1_end, x2_end, ...] (asymmetric is fine, must be >= 0),
  or `auto_pad` SAME_UPPER (odd pixel at the end), SAME_LOWER (at the start), VALID. A case written
  with `same` / `same_lower` / `valid` is spelled with that auto_pad; anything else with explicit
  pads. Negative padding (an input crop) is not ONNX: the input is sliced before the node (emulated).
- ConvTranspose: `pads` are crops of the full output (must be >= 0), `output_padding` gives back
  elements at the end (out = F + op - begin - end); `output_shape` fixes the length and the
  auto_pad rule splits T = F - o: SAME_UPPER crops T//2 at the start, SAME_LOWER T - T//2 (spec).
  A negative end crop is spelled as output_padding; onnxruntime and onnx.reference both refuse
  output_padding >= stride (measured; the spec's wording allows < stride/dilation), so larger ones
  and negative start crops are emulated: the node (no pads) computes the full output of length F,
  which is cropped / extended with zeros after it (the bias is added after the zeros, as the
  canonical definition wants). Cropping before the node would leave it an empty output, which
  onnxruntime refuses ("Computed output dimension is <= 0").

`spec_transpose_crop` states what the ONNX specification says a ConvTranspose computes, so that a
test can hold onnxruntime to the spec: where ORT differs, the case's rows show it as a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import translate

AUTO_PAD = {"same": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}
Pairs = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Spelling:
    """ONNX attributes for one node plus what the adapter does around it (emulation)."""

    attrs: dict  # attributes of the Conv / ConvTranspose node, besides strides/dilations/group
    input_crop: Pairs | None = None  # conv: (start, end) elements sliced off x before the node
    output_extend: Pairs | None = None  # conv_transpose: canonical crops applied after a node without pads
    reason: str = ""  # why emulated; empty when native

    @property
    def native(self) -> bool:
        return self.input_crop is None and self.output_extend is None


def flat_pads(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """ONNX pads order: all begins, then all ends."""
    return [int(lo) for lo, _ in pairs] + [int(hi) for _, hi in pairs]


def conv_spelling(word: str | None, pads: Sequence[tuple[int, int]]) -> Spelling:
    """Conv attributes for canonical input padding `pads` (already the word's padding if a word)."""
    if word in AUTO_PAD:
        return Spelling({"auto_pad": AUTO_PAD[word]})
    keep = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    attrs = {"pads": flat_pads(keep)} if any(lo or hi for lo, hi in keep) else {}
    if all(lo >= 0 and hi >= 0 for lo, hi in pads):
        return Spelling(attrs)
    crop = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    return Spelling(attrs, input_crop=crop,
                    reason=f"negative padding {tuple(pads)} (an input crop) is not ONNX: x is sliced before the node")


def transpose_spelling(
    word: str | None,
    pads: Sequence[tuple[int, int]],
    stride: Sequence[int],
    output_shape: Sequence[int] | None = None,
    output_padding: Sequence[int] | None = None,
) -> Spelling:
    """ConvTranspose attributes for canonical crops `pads`, in the case's own vocabulary if ONNX has it.

    - same / same_lower: auto_pad SAME_UPPER / SAME_LOWER (+ output_shape when the case gives one);
    - valid: auto_pad VALID + output_shape when given, else output_padding for the appended zeros;
    - explicit: pads (begin, end) + output_padding, using the case's own output_padding when it has one.
    """
    if word in ("same", "same_lower"):
        attrs = {"auto_pad": AUTO_PAD[word]}
        if output_shape is not None:
            attrs["output_shape"] = [int(o) for o in output_shape]
        return Spelling(attrs)
    if word == "valid" and all(lo == 0 and -hi < s for (lo, hi), s in zip(pads, stride)):
        attrs = {"auto_pad": "VALID"}
        if output_shape is not None:
            attrs["output_shape"] = [int(o) for o in output_shape]
        elif any(hi < 0 for _, hi in pads):
            attrs["output_padding"] = [max(-hi, 0) for _, hi in pads]
        return Spelling(attrs)
    # explicit pads; the case's own output_padding if it fits, else the smallest one
    ops = []
    ends = []
    for ax, ((_lo, hi), s) in enumerate(zip(pads, stride)):
        op = max(-hi, 0)
        if output_padding is not None and hi + output_padding[ax] >= 0 and output_padding[ax] < s:
            op = output_padding[ax]
        ops.append(op)
        ends.append(hi + op)
    ok = all(lo >= 0 and op < s for (lo, _), op, s in zip(pads, ops, stride))
    if ok:
        attrs = {}
        begin_end = tuple((lo, e) for (lo, _), e in zip(pads, ends))
        if any(lo or e for lo, e in begin_end):
            attrs["pads"] = flat_pads(begin_end)
        if any(ops):
            attrs["output_padding"] = ops
        return Spelling(attrs)
    why = []
    if any(lo < 0 for lo, _ in pads):
        why.append("a negative start crop (ONNX pads must be >= 0)")
    if any(-hi >= s for (_, hi), s in zip(pads, stride)):
        why.append("zeros appended at the end >= stride (onnxruntime and onnx.reference refuse output_padding >= stride)")
    return Spelling({}, output_extend=tuple((int(lo), int(hi)) for lo, hi in pads),
                    reason=f"crops {tuple(pads)}: {' and '.join(why)}; the node computes the full output, which is "
                           "cropped / extended with zeros after it, then the bias is added")


def spec_transpose_crop(
    auto_pad: str, i: int, k: int, s: int, d: int,
    pads: tuple[int, int] = (0, 0), output_padding: int = 0, output_shape: int | None = None,
) -> tuple[int, int]:
    """The (start, end) crop of one axis of a ConvTranspose as the ONNX spec defines it.

    With output_shape: total_padding = s*(i-1) + output_padding + e - output_shape, and SAME_UPPER
    puts total//2 at the start, otherwise (SAME_LOWER) total - total//2. Without output_shape,
    SAME_* give output_shape = i*s; NOTSET uses pads and output_padding; VALID crops nothing.
    A negative total (stride larger than the dilated kernel) is split with floor division here
    (what onnx.reference does); the spec's integer division is not defined for it.
    """
    full = translate.transpose_full_length(i, k, s, d)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") or output_shape is not None:
        o = output_shape if output_shape is not None else i * s
        if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            auto_pad = "SAME_LOWER"  # the spec's "else" branch
        total = full + output_padding - o
        start = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return (start, full - o - start)
    if auto_pad == "VALID":
        return (0, -output_padding)
    return (pads[0], pads[1] - output_padding)


def node_attributes(kernel, stride, dilation, groups: int, spelling: Spelling) -> dict:
    """All attributes of the node, in the order onnx.helper.make_node(...) is written."""
    attrs = {"kernel_shape": list(kernel), "strides": list(stride), "dilations": list(dilation), "group": groups}
    attrs.update(spelling.attrs)
    return attrs
