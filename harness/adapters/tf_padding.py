"""Pure translation of canonical cases into TensorFlow vocabulary (this module never imports TF).

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) taken from the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

What TensorFlow accepts (measured with TF 2.21 on CPU, see tests/test_tf_padding.py and
tests/test_tf_adapter.py):

- padding words: a conv with 'SAME' pads total = max((ceil(i/s)-1)*s + e - i, 0), the odd pixel
  at the end; 'VALID' pads nothing. A transposed conv with `output_shape` o crops, with
  T = F - o, 'SAME': (max(T, 0)//2, T - lo) (T < 0 appends zeros at the end), 'VALID': (0, T);
  TF checks that the forward conv maps o back to i and refuses other lengths.
- explicit [[0, 0], [lo, hi], ..., [0, 0]] padding: only the 2D ops (tf.nn.conv2d,
  tf.nn.conv2d_transpose, tf.raw_ops.Conv2DBackpropInput); every amount must be >= 0.
  tf.nn.conv1d / conv3d / convolution (without dilation) raise "Expected string for argument
  'padding'"; tf.nn.convolution with dilation > 1 takes explicit padding only in 2D.
- layouts: data NWC/NHWC/NDHWC, conv filters (*k, C_in/g, C_out) ("HWIO"), transposed-conv filters
  (*k, C_out/g, C_in): both are PyTorch's weight array with the axes permuted (*k, 1, 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness import translate
from harness.adapters.base import channels_last_permutation, spatial_first_weight_permutation

Pairs = tuple[tuple[int, int], ...]

DATA_FORMAT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
WORDS = ("VALID", "SAME")  # preference when several words spell the same padding


def conv_word(pads: Sequence[tuple[int, int]], input_size, kernel, stride, dilation) -> str | None:
    """'VALID' or 'SAME' when a conv's canonical padding is exactly what TF pads, else None."""
    for word in WORDS:
        want = tuple(translate.conv_word_padding(word.lower(), i, k, s, d)
                     for i, k, s, d in zip(input_size, kernel, stride, dilation))
        if tuple(tuple(p) for p in pads) == want:
            return word
    return None


def transpose_word(pads: Sequence[tuple[int, int]], input_size, kernel, stride, dilation) -> str | None:
    """'VALID' or 'SAME' when TF's rule with output_shape o = F - lo - hi gives these crops.

    The word must give exactly the crops on every axis, and o must be a length TF accepts for
    that word (the forward conv of o has length i), or TF raises.
    """
    for word in WORDS:
        ok = True
        for (lo, hi), i, k, s, d in zip(pads, input_size, kernel, stride, dilation):
            o = translate.transpose_output_length(i, k, s, d, lo, hi)
            first, last = translate.transpose_length_range(word.lower(), i, k, s, d)
            if not first <= o <= last or translate.transpose_word_crop(word.lower(), i, k, s, d, o) != (lo, hi):
                ok = False
                break
        if ok:
            return word
    return None


def explicit_ok(pads: Sequence[tuple[int, int]]) -> bool:
    """TF's explicit padding takes only non-negative amounts."""
    return all(lo >= 0 and hi >= 0 for lo, hi in pads)


def explicit_padding(pads: Sequence[tuple[int, int]]) -> list[list[int]]:
    """tf.nn.conv2d / conv2d_transpose `padding=` list for channels-last data."""
    return [[0, 0], *([int(lo), int(hi)] for lo, hi in pads), [0, 0]]


def explicit_paddings_attr(pads: Sequence[tuple[int, int]], unit_axis: bool = False) -> list[int]:
    """Flat `explicit_paddings` attribute of tf.raw_ops.Conv2DBackpropInput (NHWC).

    With `unit_axis` (a 1D case run as 2D with H = 1) the H axis gets no padding.
    """
    flat = [0, 0]
    if unit_axis:
        flat += [0, 0]
    for lo, hi in pads:
        flat += [int(lo), int(hi)]
    return flat + [0, 0]


def split_pad(pads: Sequence[tuple[int, int]]) -> tuple[Pairs, Pairs]:
    """A conv's canonical input padding as (zeros to add, pixels to crop), both non-negative."""
    grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    crop = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    return grow, crop


def split_crop(crops: Sequence[tuple[int, int]]) -> tuple[Pairs, Pairs]:
    """A transposed conv's canonical crops as (zeros to append, pixels to crop), non-negative."""
    grow = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in crops)
    crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in crops)
    return grow, crop


def full_lengths(input_size, kernel, stride, dilation) -> tuple[int, ...]:
    """Uncropped transposed-conv output lengths F = (i-1)*s + d*(k-1) + 1 (TF 'VALID', o = F)."""
    return tuple(translate.transpose_full_length(i, k, s, d)
                 for i, k, s, d in zip(input_size, kernel, stride, dilation))


def data_permutation(ndim: int) -> tuple[int, ...]:
    """Canonical N, C, *spatial → TF channels-last N, *spatial, C."""
    return channels_last_permutation(ndim)


def weight_permutation(ndim: int) -> tuple[int, ...]:
    """PyTorch weights → TF filters, for conv ((C_out, C_in/g, *k) → (*k, C_in/g, C_out), HWIO)
    and conv_transpose ((C_in, C_out/g, *k) → (*k, C_out/g, C_in)) alike."""
    return spatial_first_weight_permutation(ndim)


def dilated_kernel_size(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Kernel extent after inserting d - 1 zeros between taps: d*(k-1) + 1."""
    return tuple(translate.effective_kernel(k, d) for k, d in zip(kernel, dilation))


def group_bounds(channels: int, groups: int) -> tuple[tuple[int, int], ...]:
    """(start, stop) of every group's channels."""
    size = channels // groups
    return tuple((g * size, (g + 1) * size) for g in range(groups))
