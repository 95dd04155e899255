"""Chainer's padding vocabulary as pure functions (this module never imports chainer).

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
"""

from __future__ import annotations

from collections.abc import Sequence

from harness import translate


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
