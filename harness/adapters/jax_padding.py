"""Pure translation of canonical cases into jax.lax vocabulary (this module never imports jax).

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) taken from the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

- `lax.conv_general_dilated` takes explicit (lo, hi) input padding and accepts negative values
  (measured: it crops), so a conv's canonical padding is passed unchanged.
- `lax.conv_transpose(..., padding=pairs)` (with the default `use_consistent_padding=False`) pads
  the lhs-dilated input, whose length is (i-1)*s + 1, then runs a stride-1 conv with the dilated
  kernel of extent e = d*(k-1) + 1. Its output length is (i-1)*s + 1 + a + b - (e-1); it equals
  F - lo - hi for (a, b) = (e-1-lo, e-1-hi), and the values agree with the canonical crop (the
  padded input is the adjoint of the forward conv's window placement). The same pairs serve the
  `conv_general_dilated` formulation with lhs_dilation=stride.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness import translate
from harness.adapters.base import channels_last_permutation, spatial_first_weight_permutation

Pairs = tuple[tuple[int, int], ...]

SPATIAL = {1: "H", 2: "HW", 3: "DHW"}


def conv_padding(pads: Sequence[tuple[int, int]]) -> Pairs:
    """lax.conv_general_dilated padding of a canonical conv: the same pairs (negative = crop)."""
    return tuple((int(lo), int(hi)) for lo, hi in pads)


def transpose_padding(
    pads: Sequence[tuple[int, int]], kernel: Sequence[int], dilation: Sequence[int]
) -> Pairs:
    """Explicit padding of the lhs-dilated input for canonical transposed-conv crops.

    (lo, hi) → (d*(k-1) - lo, d*(k-1) - hi). Used by lax.conv_transpose (explicit pairs,
    use_consistent_padding=False) and by conv_general_dilated with lhs_dilation=stride. A crop
    beyond d*(k-1) gives negative padding (lax crops); a negative crop gives extra zeros.
    """
    out = []
    for (lo, hi), k, d in zip(pads, kernel, dilation):
        e1 = translate.effective_kernel(k, d) - 1
        out.append((e1 - int(lo), e1 - int(hi)))
    return tuple(out)


def crops_from_transpose_padding(
    pairs: Sequence[tuple[int, int]], kernel: Sequence[int], dilation: Sequence[int]
) -> Pairs:
    """Inverse of `transpose_padding`: canonical crops of a lax.conv_transpose explicit padding."""
    return transpose_padding(pairs, kernel, dilation)  # the map is an involution


def lax_transpose_output_length(i: int, k: int, s: int, d: int, a: int, b: int) -> int:
    """Output length of a stride-1 conv over the lhs-dilated input padded by (a, b)."""
    dilated = (i - 1) * s + 1
    return dilated + a + b - translate.effective_kernel(k, d) + 1


def dimension_numbers(ndim: int, layout: str) -> tuple[str, str, str]:
    """(lhs, rhs, out) specs: NCHW/OIHW for channels_first, NHWC/HWIO for channels_last.

    For lax.conv_transpose(transpose_kernel=True) the rhs spec describes the kernel *before*
    its I and O axes are swapped, so the "O" slot holds C_in and the "I" slot C_out/groups:
    PyTorch's transposed layout (C_in, C_out/g, *k) is 'OIHW' as is, and (*k, C_out/g, C_in) is
    'HWIO' (TensorFlow's conv_transpose filter layout).
    """
    sp = SPATIAL[ndim]
    if layout == "channels_first":
        return (f"NC{sp}", f"OI{sp}", f"NC{sp}")
    if layout == "channels_last":
        return (f"N{sp}C", f"{sp}IO", f"N{sp}C")
    raise ValueError(f"unknown layout {layout!r}")


def data_permutation(ndim: int, layout: str) -> tuple[int, ...]:
    """Axes permutation from canonical N,C,*spatial to the native data layout."""
    if layout == "channels_first":
        return tuple(range(ndim + 2))
    return channels_last_permutation(ndim)


def weight_permutation(ndim: int, layout: str) -> tuple[int, ...]:
    """Axes permutation from PyTorch weight layout to the native kernel layout.

    conv: (C_out, C_in/g, *k) → OIHW (identity) or HWIO. conv_transpose: (C_in, C_out/g, *k) →
    the same permutation, which lax.conv_transpose(transpose_kernel=True) reads with the same spec.
    """
    if layout == "channels_first":
        return tuple(range(ndim + 2))
    return spatial_first_weight_permutation(ndim)


def transpose_kernel_as_conv(w, groups: int):
    """Forward-conv kernel (C_out, C_in/g, *k) of a transposed conv with PyTorch weights.

    (C_in, C_out/g, *k) → (g, C_in/g, C_out/g, *k) → swap the two channel axes → (C_out, C_in/g,
    *k), spatially flipped. Works on any array with reshape/swapaxes/negative-step slicing
    (NumPy or jax.numpy), so the gradient flows through it when called inside a traced function.
    """
    cin, cout_g, *k = w.shape
    cin_g = cin // groups
    w = w.reshape((groups, cin_g, cout_g, *k)).swapaxes(1, 2).reshape((groups * cout_g, cin_g, *k))
    return w[(slice(None), slice(None), *(slice(None, None, -1) for _ in k))]


def group_slices(channels: int, groups: int) -> tuple[slice, ...]:
    """The channel slice of every group."""
    size = channels // groups
    return tuple(slice(g * size, (g + 1) * size) for g in range(groups))
