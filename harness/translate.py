"""Pure padding and shape arithmetic shared by the case loader, the oracle and the adapters.

Canonical padding is a tuple of (lo, hi) pairs per spatial axis. For `conv` it is padding added to
the input (negative = crop). For `conv_transpose` it is the crop taken from the full output of
length F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended), i.e. the padding of the `conv`
whose adjoint the transposed convolution is. Every framework's vocabulary maps onto this.
"""

from __future__ import annotations

from collections.abc import Sequence

Pads = tuple[tuple[int, int], ...]

PADDING_WORDS = ("valid", "same", "same_lower", "full")


def effective_kernel(k: int, d: int) -> int:
    """Extent of a dilated kernel: d*(k-1) + 1."""
    return d * (k - 1) + 1


def conv_output_length(i: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a convolution over an input padded by (lo, hi) (floor mode)."""
    span = i + lo + hi - effective_kernel(k, d)
    return span // s + 1 if span >= 0 else 0


def transpose_full_length(i: int, k: int, s: int, d: int) -> int:
    """Length of a transposed convolution's output before any crop."""
    return (i - 1) * s + effective_kernel(k, d)


def transpose_output_length(i: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a transposed convolution with crops (lo, hi)."""
    return transpose_full_length(i, k, s, d) - lo - hi


def same_total_padding(i: int, k: int, s: int, d: int) -> int:
    """Total padding of TF/ONNX SAME for a forward conv: output ceil(i/s)."""
    out = -(-i // s)
    return max((out - 1) * s + effective_kernel(k, d) - i, 0)


def split_total(total: int, lower: bool) -> tuple[int, int]:
    """Split a total padding; the odd pixel goes to the end (SAME_UPPER) or the start (lower)."""
    small = total // 2
    return (total - small, small) if lower else (small, total - small)


def conv_word_padding(word: str, i: int, k: int, s: int, d: int) -> tuple[int, int]:
    """(lo, hi) input padding of a forward conv spelled with a padding word."""
    if word == "valid":
        return (0, 0)
    if word in ("same", "same_lower"):
        return split_total(same_total_padding(i, k, s, d), lower=word == "same_lower")
    if word == "full":
        e = effective_kernel(k, d) - 1
        return (e, e)
    raise ValueError(f"unknown padding word {word!r}; allowed: {', '.join(PADDING_WORDS)}")


def cover_all_padding(p: int, s: int) -> tuple[int, int]:
    """Chainer's cover_all=True pads (p, p + s - 1) so that no input pixel is dropped."""
    return (p, p + s - 1)


def transpose_default_length(word: str, i: int, k: int, s: int, d: int) -> int:
    """Output length TF/Keras give a transposed conv spelled with a word and no output_shape."""
    e = effective_kernel(k, d)
    if word == "valid":
        return i * s + max(e - s, 0)
    if word in ("same", "same_lower"):
        return i * s
    if word == "full":
        return transpose_full_length(i, k, s, d) - 2 * (e - 1)
    raise ValueError(f"unknown padding word {word!r}; allowed: {', '.join(PADDING_WORDS)}")


def transpose_word_crop(word: str, i: int, k: int, s: int, d: int, o: int) -> tuple[int, int]:
    """(lo, hi) crop of a transposed conv spelled with a padding word and output length o.

    With T = F - o: SAME crops max(T, 0)//2 at the start and the rest at the end (a negative T,
    i.e. stride larger than the dilated kernel, appends zeros at the end); SAME_LOWER puts the
    larger half at the start; VALID crops only at the end; FULL crops d*(k-1) on both sides.
    """
    total = transpose_full_length(i, k, s, d) - o
    if word == "valid":
        return (0, total)
    if word in ("same", "same_lower"):
        lo = split_total(max(total, 0), lower=word == "same_lower")[0]
        return (lo, total - lo)
    if word == "full":
        e = effective_kernel(k, d) - 1
        return (e, total - e)
    raise ValueError(f"unknown padding word {word!r}; allowed: {', '.join(PADDING_WORDS)}")


def transpose_length_range(
    word: str | None, i: int, k: int, s: int, d: int, lo: int = 0, hi: int = 0
) -> tuple[int, int]:
    """Inclusive range of output lengths a transposed conv may be asked for (output_shape).

    A length o is allowed when the forward conv with the same parameters maps o back to i:
    for SAME ceil(o/s) == i, for VALID ceil((o - e + 1)/s) == i, and for explicit padding
    (lo, hi) the extra length (PyTorch's output_padding) is below max(stride, dilation).
    """
    e = effective_kernel(k, d)
    if word in ("same", "same_lower"):
        return ((i - 1) * s + 1, i * s)
    if word == "valid":
        return ((i - 1) * s + e, i * s + e - 1)
    if word == "full":
        base = transpose_full_length(i, k, s, d) - 2 * (e - 1)
        return (base, base + s - 1)
    base = transpose_full_length(i, k, s, d) - lo - hi
    return (base, base + max(s, d) - 1)


def symmetric(pads: Sequence[tuple[int, int]]) -> bool:
    """True when every axis pads the same amount at both ends."""
    return all(lo == hi for lo, hi in pads)


def conv_vjp_input_crop(
    i: int, k: int, s: int, d: int, lo: int, hi: int
) -> tuple[int, int]:
    """Crops of the transposed conv that is the input-gradient of a conv.

    The forward conv may leave r = (i + lo + hi - e) % s trailing input pixels unused; the
    transposed conv's full output is r shorter than the padded input, so the end crop shrinks by r.
    """
    r = (i + lo + hi - effective_kernel(k, d)) % s
    return (lo, hi - r)
