"""harness/translate.py against values worked out by hand, and against the frameworks themselves.

Every expected value below is a literal computed on paper from the formula in DESIGN.md ("The
canonical case"), never by calling harness code: a test that asks translate.py for its own expected
value cannot catch a wrong formula. Notation: i input length, k kernel, s stride, d dilation,
e = d*(k-1) + 1 the dilated kernel, F = (i-1)*s + e the full transposed-conv length, o an output
length, T = F - o. The framework cross-checks at the end (importorskip) use tiny 1-D tensors.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import translate
from harness.adapters import torch_padding

# ---------------------------------------------------------------------------------------------
# effective_kernel: d*(k-1) + 1


@pytest.mark.parametrize(
    ("k", "d", "expected"),
    [
        (1, 1, 1),
        (3, 1, 3),
        (3, 2, 5),  # 2*2+1
        (1, 5, 1),  # a 1-tap kernel has no gaps to dilate
        (2, 3, 4),  # 3*1+1
        (4, 3, 10),  # 3*3+1
    ],
)
def test_effective_kernel(k, d, expected):
    assert translate.effective_kernel(k, d) == expected


# ---------------------------------------------------------------------------------------------
# conv_output_length: floor((i + lo + hi - e) / s) + 1, and 0 when the kernel does not fit


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "lo", "hi", "expected"),
    [
        (5, 3, 1, 1, 0, 0, 3),  # valid: 5-3+1
        (3, 3, 1, 1, 0, 0, 1),  # span 0: exactly one window
        (7, 3, 2, 1, 0, 0, 3),  # span 4: 4//2+1
        (8, 3, 2, 1, 0, 0, 3),  # span 5: 5//2+1, the last input pixel is never read
        (5, 3, 1, 1, 1, 1, 5),  # same k3 s1: pads (1, 1), span 4
        (7, 3, 2, 1, 1, 1, 4),  # same: pads (1, 1), span 6: 6//2+1 = ceil(7/2)
        (8, 4, 1, 1, 1, 2, 8),  # same k4: pads (1, 2), span 7
        (5, 3, 1, 1, 2, 2, 7),  # full: pads (2, 2), span 6: i+k-1
        (5, 3, 2, 1, 2, 2, 4),  # full s2: span 6: 6//2+1
        (5, 3, 1, 1, 2, 0, 5),  # asymmetric (2, 0): span 4
        (5, 3, 1, 1, 0, 3, 6),  # asymmetric (0, 3): span 5
        (10, 3, 1, 1, -2, -1, 5),  # negative padding crops: span 10-3-3 = 4
        (9, 2, 2, 1, -1, 0, 4),  # crop one at the start: span 6: 6//2+1
        (4, 3, 1, 1, -1, -1, 0),  # span 4-2-3 = -1: the kernel no longer fits
        (2, 5, 2, 1, 0, 0, 0),  # span -3: unguarded floor would give -3//2+1 = -1
        (10, 2, 5, 1, 0, 0, 2),  # stride > kernel: span 8: 8//5+1
        (11, 2, 5, 1, 0, 0, 2),  # span 9: 9//5+1
        (12, 2, 5, 1, 0, 0, 3),  # span 10: 10//5+1
        (1, 1, 3, 1, 0, 0, 1),  # span 0 with a stride: one output
        (10, 3, 1, 2, 0, 0, 6),  # e=5, span 5
        (10, 3, 2, 3, 0, 0, 2),  # e=7, span 3: 3//2+1
        (10, 3, 2, 3, 3, 3, 5),  # e=7, span 9: 9//2+1
        (6, 3, 1, 3, 0, 0, 0),  # e=7 > 6: nothing fits
        (6, 3, 1, 3, 1, 0, 1),  # e=7, padded length 7: one window
    ],
)
def test_conv_output_length(i, k, s, d, lo, hi, expected):
    assert translate.conv_output_length(i, k, s, d, lo, hi) == expected


# ---------------------------------------------------------------------------------------------
# transposed conv: full length F = (i-1)*s + e, then crops (lo, hi); a negative crop adds zeros


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "expected"),
    [
        (5, 3, 2, 1, 11),  # 4*2+3
        (1, 3, 2, 1, 3),  # one input pixel: just the kernel
        (4, 2, 3, 1, 11),  # 3*3+2
        (3, 3, 1, 2, 7),  # 2*1+5
        (4, 3, 2, 3, 13),  # 3*2+7
        (1, 1, 1, 1, 1),
        (6, 1, 4, 1, 21),  # 5*4+1
        (5, 4, 3, 2, 19),  # 4*3 + (2*3+1)
    ],
)
def test_transpose_full_length(i, k, s, d, expected):
    assert translate.transpose_full_length(i, k, s, d) == expected


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "lo", "hi", "expected"),
    [
        (5, 3, 2, 1, 0, 0, 11),  # F itself
        (5, 3, 2, 1, 1, 1, 9),  # F=11: PyTorch p=1, op=0: (5-1)*2 - 2 + 2 + 0 + 1 = 9
        (5, 3, 2, 1, 1, 0, 10),  # PyTorch p=1, op=1: crops (1, 0)
        (4, 2, 3, 1, 0, -1, 12),  # F=11, one zero appended at the end
        (3, 3, 1, 2, 2, 2, 3),  # F=7
        (4, 3, 2, 3, -1, -2, 16),  # F=13, zeros on both sides
        (5, 4, 3, 2, 3, 1, 15),  # F=19
    ],
)
def test_transpose_output_length(i, k, s, d, lo, hi, expected):
    assert translate.transpose_output_length(i, k, s, d, lo, hi) == expected


# ---------------------------------------------------------------------------------------------
# SAME for a forward conv: output ceil(i/s), total padding max((ceil(i/s)-1)*s + e - i, 0)


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "expected"),
    [
        (5, 3, 1, 1, 2),  # out 5: 4+3-5
        (5, 4, 1, 1, 3),  # out 5: 4+4-5
        (7, 3, 2, 1, 2),  # out 4: 6+3-7
        (8, 3, 2, 1, 1),  # out 4: 6+3-8
        (10, 2, 5, 1, 0),  # stride > kernel, out 2: 5+2-10 = -3, clamped to 0
        (6, 1, 2, 1, 0),  # out 3: 4+1-6 = -1, clamped
        (10, 3, 3, 1, 2),  # out 4: 9+3-10
        (10, 3, 1, 2, 4),  # e=5, out 10: 9+5-10
        (9, 3, 2, 2, 4),  # e=5, out 5: 8+5-9
        (5, 3, 3, 2, 3),  # e=5, out 2: 3+5-5
        (1, 5, 1, 1, 4),  # out 1: 0+5-1
    ],
)
def test_same_total_padding(i, k, s, d, expected):
    assert translate.same_total_padding(i, k, s, d) == expected


@pytest.mark.parametrize(
    ("total", "lower", "expected"),
    [
        (0, False, (0, 0)),
        (0, True, (0, 0)),
        (1, False, (0, 1)),  # SAME_UPPER: the odd pixel at the end
        (1, True, (1, 0)),  # SAME_LOWER: the odd pixel at the start
        (4, False, (2, 2)),
        (4, True, (2, 2)),
        (5, False, (2, 3)),
        (5, True, (3, 2)),
        (3, True, (2, 1)),
    ],
)
def test_split_total(total, lower, expected):
    assert translate.split_total(total, lower) == expected


@pytest.mark.parametrize(
    ("word", "i", "k", "s", "d", "expected"),
    [
        ("valid", 5, 3, 2, 1, (0, 0)),
        ("valid", 2, 5, 1, 3, (0, 0)),  # no check that the kernel fits: the loader does that
        ("same", 5, 3, 1, 1, (1, 1)),  # total 2
        ("same_lower", 5, 3, 1, 1, (1, 1)),
        ("same", 5, 4, 1, 1, (1, 2)),  # total 3: odd pixel at the end
        ("same_lower", 5, 4, 1, 1, (2, 1)),  # odd pixel at the start
        ("same", 8, 3, 2, 1, (0, 1)),  # total 1
        ("same_lower", 8, 3, 2, 1, (1, 0)),
        ("same", 10, 2, 5, 1, (0, 0)),  # total max(-3, 0)
        ("same", 10, 3, 1, 2, (2, 2)),  # e=5: total 4
        ("same", 5, 3, 3, 2, (1, 2)),  # e=5, out 2: total 3
        ("same_lower", 5, 3, 3, 2, (2, 1)),
        ("full", 5, 3, 1, 1, (2, 2)),  # e-1 on both sides
        ("full", 5, 3, 2, 2, (4, 4)),  # e=5
        ("full", 4, 1, 1, 1, (0, 0)),  # a 1-tap kernel needs no padding
    ],
)
def test_conv_word_padding(word, i, k, s, d, expected):
    assert translate.conv_word_padding(word, i, k, s, d) == expected


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "expected"),
    [
        (5, 3, 1, 1, 5),  # ceil(5/1)
        (7, 3, 2, 1, 4),  # ceil(7/2)
        (8, 3, 2, 1, 4),
        (10, 2, 5, 1, 2),  # no padding needed, still ceil(10/5)
        (11, 2, 5, 1, 3),  # out 3: 10+2-11 = 1 → (0, 1): span 10: 10//5+1
        (9, 3, 2, 2, 5),
    ],
)
def test_same_conv_keeps_ceil_of_input_over_stride(i, k, s, d, expected):
    for word in ("same", "same_lower"):
        lo, hi = translate.conv_word_padding(word, i, k, s, d)
        assert translate.conv_output_length(i, k, s, d, lo, hi) == expected


@pytest.mark.parametrize("word", ["SAME", "causal", "", "same_upper"])
def test_conv_word_padding_rejects_unknown_words(word):
    with pytest.raises(ValueError, match="unknown padding word.*allowed: valid, same, same_lower, full"):
        translate.conv_word_padding(word, 5, 3, 1, 1)


def test_padding_words():
    assert translate.PADDING_WORDS == ("valid", "same", "same_lower", "full")


# ---------------------------------------------------------------------------------------------
# Chainer's cover_all: pads (p, p + s - 1), so that the conv keeps every input pixel (ceil mode)


@pytest.mark.parametrize(
    ("p", "s", "expected"),
    [
        (0, 1, (0, 0)),  # stride 1 drops nothing: no extra pixel
        (0, 2, (0, 1)),
        (1, 3, (1, 3)),
        (2, 1, (2, 2)),
        (0, 4, (0, 3)),
    ],
)
def test_cover_all_padding(p, s, expected):
    assert translate.cover_all_padding(p, s) == expected


@pytest.mark.parametrize(
    ("i", "k", "s", "p", "floor_length", "cover_all_length"),
    [
        (6, 3, 2, 0, 2, 3),  # floor: (6-3)//2+1 = 2 drops pixel 5; pads (0, 1): (7-3)//2+1 = 3
        (7, 3, 2, 0, 3, 3),  # (7-3)//2+1 = 3 reads every pixel; pads (0, 1): (8-3)//2+1 = 3
        (10, 3, 4, 1, 3, 4),  # floor (12-3)//4+1 = 3; pads (1, 4): (15-3)//4+1 = 4
    ],
)
def test_cover_all_is_ceil_mode(i, k, s, p, floor_length, cover_all_length):
    assert translate.conv_output_length(i, k, s, 1, p, p) == floor_length
    assert translate.conv_output_length(i, k, s, 1, *translate.cover_all_padding(p, s)) == cover_all_length


# ---------------------------------------------------------------------------------------------
# transposed conv spelled with a word: TF/Keras's default length, the crop for an output length


@pytest.mark.parametrize(
    ("word", "i", "k", "s", "d", "expected"),
    [
        ("valid", 5, 3, 2, 1, 11),  # i*s + max(e-s, 0) = 10+1 = F
        ("valid", 4, 2, 3, 1, 12),  # 12 + max(-1, 0): F=11, one zero appended
        ("valid", 3, 3, 1, 2, 7),  # 3 + (5-1) = F
        ("valid", 4, 1, 2, 1, 8),  # 8 + 0: F=7
        ("same", 5, 3, 2, 1, 10),  # i*s
        ("same_lower", 5, 3, 2, 1, 10),
        ("same", 4, 2, 3, 1, 12),
        ("same", 3, 3, 1, 2, 3),
        ("full", 5, 3, 2, 1, 7),  # F - 2(e-1) = 11-4; Keras: i*s - (s+e-2) = 10-3
        ("full", 5, 3, 1, 1, 3),  # 7-4: the transpose of a full conv is a valid conv
        ("full", 6, 3, 1, 2, 2),  # F=10, e=5: 10-8; Keras: 6 - (1+5-2)
    ],
)
def test_transpose_default_length(word, i, k, s, d, expected):
    assert translate.transpose_default_length(word, i, k, s, d) == expected


@pytest.mark.parametrize(
    ("word", "i", "k", "s", "d", "o", "expected"),
    [
        ("same", 5, 3, 2, 1, 10, (0, 1)),  # F=11, T=1: lo = 1//2 = 0, hi = 1
        ("same_lower", 5, 3, 2, 1, 10, (1, 0)),  # T=1: the larger half at the start
        ("same", 5, 3, 2, 1, 9, (1, 1)),  # T=2
        ("same_lower", 5, 3, 2, 1, 9, (1, 1)),
        ("same", 5, 4, 1, 1, 5, (1, 2)),  # F=8, T=3
        ("same_lower", 5, 4, 1, 1, 5, (2, 1)),
        ("same", 5, 4, 2, 1, 9, (1, 2)),  # F=12, T=3
        ("same_lower", 5, 4, 2, 1, 9, (2, 1)),
        ("same", 5, 4, 2, 1, 10, (1, 1)),  # T=2
        ("same", 3, 3, 1, 2, 3, (2, 2)),  # F=7, T=4
        ("same", 5, 3, 2, 2, 10, (1, 2)),  # F=13, T=3 (checked against TF below)
        ("same", 4, 2, 3, 1, 12, (0, -1)),  # stride > kernel: F=11, T=-1 extends the end
        ("same_lower", 4, 2, 3, 1, 12, (0, -1)),  # a negative T goes to the end for both
        ("same", 4, 2, 3, 1, 10, (0, 1)),  # T=1
        ("same_lower", 4, 2, 3, 1, 10, (1, 0)),
        ("same", 4, 1, 4, 1, 16, (0, -3)),  # F=13, T=-3
        ("valid", 5, 3, 2, 1, 11, (0, 0)),  # T=0
        ("valid", 5, 3, 2, 1, 12, (0, -1)),  # VALID crops (0, T): here a zero appended
        ("valid", 4, 2, 3, 1, 12, (0, -1)),  # F=11
        ("valid", 4, 2, 3, 1, 13, (0, -2)),
        ("valid", 5, 3, 2, 1, 9, (0, 2)),  # out of VALID's range, but the arithmetic is (0, T)
        ("full", 5, 3, 2, 1, 7, (2, 2)),  # F=11, T=4: (e-1, T-(e-1))
        ("full", 5, 3, 2, 1, 8, (2, 1)),  # T=3
        ("full", 6, 3, 1, 2, 2, (4, 4)),  # F=10, e=5, T=8
    ],
)
def test_transpose_word_crop(word, i, k, s, d, o, expected):
    assert translate.transpose_word_crop(word, i, k, s, d, o) == expected
    lo, hi = expected
    # the crops of a row leave exactly o, whatever the split
    assert translate.transpose_output_length(i, k, s, d, lo, hi) == o


@pytest.mark.parametrize(
    ("word", "i", "k", "s", "d", "lo", "hi", "expected"),
    [
        ("same", 5, 3, 2, 1, 0, 0, (9, 10)),  # ceil(o/2) == 5: ((i-1)*s + 1, i*s)
        ("same_lower", 5, 3, 2, 1, 0, 0, (9, 10)),
        ("same", 4, 2, 3, 1, 0, 0, (10, 12)),  # 3*3+1 .. 12 (12 > F=11)
        ("same", 3, 3, 1, 2, 0, 0, (3, 3)),  # stride 1: only i
        ("same", 1, 3, 4, 1, 0, 0, (1, 4)),
        ("valid", 5, 3, 2, 1, 0, 0, (11, 12)),  # ceil((o-e+1)/s) == i: ((i-1)*s + e, i*s + e - 1)
        ("valid", 4, 2, 3, 1, 0, 0, (11, 13)),  # 9+2 .. 12+1
        ("valid", 3, 3, 1, 2, 0, 0, (7, 7)),  # 2+5 .. 3+4
        ("full", 5, 3, 2, 1, 0, 0, (7, 8)),  # base F - 2(e-1) = 7, up to base + s - 1
        ("full", 5, 3, 1, 1, 0, 0, (3, 3)),
        ("same", 5, 3, 2, 1, 7, 7, (9, 10)),  # with a word, (lo, hi) are ignored
        (None, 5, 3, 2, 1, 1, 1, (9, 10)),  # F=11, base 9, PyTorch op in 0..1
        (None, 5, 3, 2, 1, 0, 0, (11, 12)),
        (None, 5, 3, 1, 1, 1, 1, (5, 5)),  # s=1, d=1: no output_padding
        (None, 4, 2, 3, 1, 1, 0, (10, 12)),  # F=11, base 10, op < 3
        (None, 3, 3, 1, 2, 0, 0, (7, 8)),  # F=7, op < max(s, d) = 2 (PyTorch's rule)
        (None, 4, 3, 2, 3, -1, -2, (16, 18)),  # F=13, base 16, op < max(2, 3)
    ],
)
def test_transpose_length_range(word, i, k, s, d, lo, hi, expected):
    assert translate.transpose_length_range(word, i, k, s, d, lo, hi) == expected


def test_transpose_length_range_defaults_to_no_padding():
    # F = 11 for i5 k3 s2
    assert translate.transpose_length_range(None, 5, 3, 2, 1) == (11, 12)


def test_transpose_length_range_does_not_check_the_word():
    # Unlike conv_word_padding / transpose_word_crop / transpose_default_length, an unknown word
    # falls through to the explicit-padding rule (the loader checks words before calling it).
    assert translate.transpose_length_range("causal", 5, 3, 2, 1) == (11, 12)


@pytest.mark.parametrize("function", [translate.transpose_default_length, translate.transpose_word_crop])
def test_transpose_word_functions_reject_unknown_words(function):
    args = (5, 3, 2, 1) if function is translate.transpose_default_length else (5, 3, 2, 1, 10)
    with pytest.raises(ValueError, match="unknown padding word 'SAME'; allowed: valid, same, same_lower, full"):
        function("SAME", *args)


# ---------------------------------------------------------------------------------------------
# PyTorch's (padding, output_padding): crops (p, p - op); symmetric padding; the conv's input VJP


@pytest.mark.parametrize(
    ("pads", "expected"),
    [
        ((), True),  # no axes: vacuously symmetric
        (((1, 1),), True),
        (((1, 1), (0, 0)), True),
        (((-1, -1),), True),
        (((1, 0),), False),
        (((0, 1),), False),
        (((1, 1), (2, 1)), False),  # one asymmetric axis is enough
        ([(2, 2), (3, 3), (0, 0)], True),  # any sequence of pairs
    ],
)
def test_symmetric(pads, expected):
    assert translate.symmetric(pads) is expected


@pytest.mark.parametrize(
    ("i", "k", "s", "d", "lo", "hi", "expected"),
    [
        (5, 3, 1, 1, 1, 1, (1, 1)),  # r = 4 % 1 = 0
        (7, 3, 2, 1, 0, 0, (0, 0)),  # r = 4 % 2 = 0: conv out 3, F = 2*2+3 = 7
        (6, 3, 2, 1, 0, 0, (0, -1)),  # r = 3 % 2 = 1: conv out 2, F = 5, one zero for pixel 5
        (10, 2, 5, 1, 0, 0, (0, -3)),  # r = 8 % 5 = 3: conv out 2, F = 7, three zeros
        (8, 3, 2, 1, 1, 1, (1, 0)),  # r = 7 % 2 = 1: conv out 4, F = 9, crop 1 at the start
        (10, 3, 3, 2, 2, 1, (2, -1)),  # e=5, span 8, r = 2: conv out 3, F = 6+5 = 11, 11-2+1 = 10
        (5, 3, 2, 1, -1, 0, (-1, -1)),  # span 1, r = 1: conv out 1, F = 3, a zero on each side
    ],
)
def test_conv_vjp_input_crop(i, k, s, d, lo, hi, expected):
    assert translate.conv_vjp_input_crop(i, k, s, d, lo, hi) == expected


# ---------------------------------------------------------------------------------------------
# Cross-checks against the frameworks: tiny 1-D tensors, one channel, distinct weights.


def _crop(y: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """y cropped by (lo, hi) along its last axis; a negative crop appends zeros (written here, not the harness's)."""
    y = np.concatenate([np.zeros(y.shape[:-1] + (max(-lo, 0),)), y, np.zeros(y.shape[:-1] + (max(-hi, 0),))], axis=-1)
    return y[..., max(lo, 0): y.shape[-1] - max(hi, 0)]


def _configs(n: int, seed: int) -> list[tuple[int, int, int, int]]:
    """n random (i, k, s, d), small enough to compute in microseconds."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4)))
            for _ in range(n)]


def _signal(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64)


def _kernel(k: int) -> np.ndarray:
    return 10.0 ** np.arange(k)  # 1, 10, 100, ...: every tap tells where it landed


def _torch_full_transpose(torch, x: np.ndarray, k: int, s: int, d: int) -> np.ndarray:
    """PyTorch's conv_transpose1d with no padding: the full output of length F."""
    y = torch.nn.functional.conv_transpose1d(torch.tensor(x).reshape(1, 1, -1), torch.tensor(_kernel(k)).reshape(1, 1, -1),
                                             stride=s, dilation=d)
    return y.numpy().ravel()


def test_torch_conv_transpose_length_and_crop():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    for i, k, s, d in _configs(20, 0):
        full = _torch_full_transpose(torch, _signal(i), k, s, d)
        p = int(rng.integers(0, 3))
        op = int(rng.integers(0, max(s, d)))
        if (i - 1) * s + d * (k - 1) + 1 - 2 * p + op <= 0:
            continue
        y = F.conv_transpose1d(torch.tensor(_signal(i)).reshape(1, 1, -1), torch.tensor(_kernel(k)).reshape(1, 1, -1),
                               stride=s, padding=p, output_padding=op, dilation=d).numpy().ravel()
        where = (i, k, s, d, p, op)
        assert len(full) == translate.transpose_full_length(i, k, s, d), where
        assert len(y) == translate.transpose_output_length(i, k, s, d, p, p - op), where
        np.testing.assert_array_equal(y, _crop(full, p, p - op), err_msg=str(where))  # PyTorch crops (p, p - op)
        assert torch_padding.transpose_padding(p, p - op) == (p, op), where


def test_torch_output_padding_bound_is_the_length_range():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for i, k, s, d in _configs(20, 2):
        p = 1 if (i - 1) * s + d * (k - 1) + 1 > 2 else 0
        x, w = torch.ones(1, 1, i), torch.ones(1, 1, k)
        low, high = translate.transpose_length_range(None, i, k, s, d, p, p)
        op_max = max(s, d) - 1
        assert F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=0, dilation=d).shape[-1] == low
        assert F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=op_max, dilation=d).shape[-1] == high
        with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
            F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=op_max + 1, dilation=d)


def test_torch_conv_output_length_with_explicit_and_negative_padding():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    for i, k, s, d in _configs(20, 4):
        lo, hi = int(rng.integers(-2, 3)), int(rng.integers(-2, 3))
        if i + lo <= 0 or i + lo + hi < d * (k - 1) + 1:
            continue
        x = F.pad(torch.ones(1, 1, i), (lo, hi))  # a negative pad crops
        y = F.conv1d(x, torch.ones(1, 1, k), stride=s, dilation=d)
        assert y.shape[-1] == translate.conv_output_length(i, k, s, d, lo, hi), (i, k, s, d, lo, hi)


def test_torch_input_gradient_is_the_vjp_crop():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    for i, k, s, d in _configs(20, 6):
        lo, hi = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        if i + lo + hi < d * (k - 1) + 1:
            continue
        x = torch.tensor(_signal(i)).reshape(1, 1, -1).requires_grad_()
        y = F.conv1d(F.pad(x, (lo, hi)), torch.tensor(_kernel(k)).reshape(1, 1, -1), stride=s, dilation=d)
        g = torch.tensor(_signal(y.shape[-1]) * 1000.0).reshape(y.shape)
        (dx,) = torch.autograd.grad(y, x, g)
        full = _torch_full_transpose(torch, g.numpy().ravel(), k, s, d)
        crop = translate.conv_vjp_input_crop(i, k, s, d, lo, hi)
        np.testing.assert_array_equal(dx.numpy().ravel(), _crop(full, *crop), err_msg=str((i, k, s, d, lo, hi)))


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def test_tf_same_conv_padding(tf):
    torch = pytest.importorskip("torch")
    for i, k, s, d in _configs(20, 7):
        lo, hi = translate.conv_word_padding("same", i, k, s, d)
        x, w = _signal(i), _kernel(k)
        y = tf.nn.conv1d(x.reshape(1, i, 1), w.reshape(k, 1, 1), stride=s, padding="SAME", dilations=d).numpy().ravel()
        ref = torch.nn.functional.conv1d(torch.nn.functional.pad(torch.tensor(x).reshape(1, 1, -1), (lo, hi)),
                                         torch.tensor(w).reshape(1, 1, -1), stride=s, dilation=d).numpy().ravel()
        assert len(y) == -(-i // s), (i, k, s, d)
        np.testing.assert_array_equal(y, ref, err_msg=str((i, k, s, d, lo, hi)))


@pytest.mark.parametrize("word", ["same", "valid"])
def test_tf_conv_transpose_crop_and_output_shape_range(tf, word):
    torch = pytest.importorskip("torch")
    for i, k, s, d in _configs(20, 8 if word == "same" else 9):
        full = _torch_full_transpose(torch, _signal(i), k, s, d)
        low, high = translate.transpose_length_range(word, i, k, s, d)

        def tf_transpose(o, i=i, k=k, s=s, d=d):
            # float32: TF's CPU Conv2DBackpropInput refuses dilation > 1 in float64 (the sums stay exact)
            x, w = _signal(i).astype(np.float32), _kernel(k).astype(np.float32)
            return tf.nn.conv1d_transpose(x.reshape(1, i, 1), w.reshape(k, 1, 1), output_shape=[1, o, 1],
                                          strides=s, padding=word.upper(), dilations=d).numpy().ravel()

        for o in range(low, high + 1):
            where = (word, i, k, s, d, o)
            np.testing.assert_array_equal(tf_transpose(o), _crop(full, *translate.transpose_word_crop(word, i, k, s, d, o)),
                                          err_msg=str(where))
        for o in (low - 1, high + 1):
            # TF VALID takes (o - e)/s + 1 truncated toward zero, so for i=1 it also accepts an o below
            # the kernel (e-s < o < e) and returns a cut kernel; no forward conv maps such an o to 1.
            if o > 0 and not (word == "valid" and i == 1 and o < low):
                with pytest.raises((tf.errors.OpError, ValueError)):
                    tf_transpose(o)


def test_jax_conv_transpose_default_length():
    jax = pytest.importorskip("jax")
    for i, k, s, d in _configs(20, 10):
        for word in ("same", "valid"):
            def f(x, w, s=s, d=d, word=word):
                return jax.lax.conv_transpose(x, w, strides=(s,), padding=word.upper(), rhs_dilation=(d,),
                                              dimension_numbers=("NCH", "OIH", "NCH"))

            shape = jax.eval_shape(f, jax.ShapeDtypeStruct((1, 1, i), np.float32), jax.ShapeDtypeStruct((1, 1, k), np.float32))
            assert shape.shape[-1] == translate.transpose_default_length(word, i, k, s, d), (word, i, k, s, d)


def test_onnxruntime_same_lower_conv_padding():
    ort = pytest.importorskip("onnxruntime")
    helper = pytest.importorskip("onnx.helper")
    torch = pytest.importorskip("torch")
    f32 = pytest.importorskip("onnx").TensorProto.FLOAT

    for i, k, s, _ in _configs(12, 11):
        d = 1  # ONNX Runtime: "Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER"
        node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[s], dilations=[d])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", f32, [1, 1, i]),
                                                helper.make_tensor_value_info("w", f32, [1, 1, k])],
                                  [helper.make_tensor_value_info("y", f32, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x, w = _signal(i).reshape(1, 1, i), _kernel(k).reshape(1, 1, k)
        (y,) = sess.run(None, {"x": x.astype(np.float32), "w": w.astype(np.float32)})  # exact: small integer sums
        lo, hi = translate.conv_word_padding("same_lower", i, k, s, d)
        ref = torch.nn.functional.conv1d(torch.nn.functional.pad(torch.tensor(x), (lo, hi)), torch.tensor(w),
                                         stride=s, dilation=d).numpy()
        np.testing.assert_array_equal(y, ref, err_msg=str((i, k, s, d, lo, hi)))


def test_chainer_cover_all_and_deconv_length():
    conv = pytest.importorskip("chainer.utils.conv")
    for i, k, s, d in _configs(20, 12):
        for p in (0, 1):
            e = d * (k - 1) + 1
            if i + 2 * p < e:
                continue
            assert conv.get_conv_outsize(i, k, s, p, cover_all=True, d=d) == translate.conv_output_length(
                i, k, s, d, *translate.cover_all_padding(p, s))
            assert conv.get_conv_outsize(i, k, s, p, d=d) == translate.conv_output_length(i, k, s, d, p, p)
            assert conv.get_deconv_outsize(i, k, s, p, d=d) == translate.transpose_output_length(i, k, s, d, p, p)
