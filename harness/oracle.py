"""The independent reference: convolution and transposed convolution in pure NumPy float64.

Everything is vectorised over output elements; the only Python loops run over kernel taps.
Layout is channels-first; weights are (C_out, C_in/g, *k) for conv and (C_in, C_out/g, *k) for
conv_transpose. `pads` are canonical (lo, hi) pairs (see `harness.translate`).

Two formulations of the transposed convolution are kept on purpose: `conv_transpose` scatters
each input pixel's contribution (the adjoint of `conv`), and `conv_transpose_textbook` inserts
zeros between input pixels, pads and runs a flipped-kernel conv. They share no code path but
`conv`'s tap gather, so an error in either shows up as a difference between them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from harness import translate

Pads = tuple[tuple[int, int], ...]
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # spatial axes; lower case is taken


def pad_or_crop(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Pad the trailing len(pads) axes with zeros; a negative amount crops instead."""
    lead = x.ndim - len(pads)
    x = np.pad(x, [(0, 0)] * lead + [(max(lo, 0), max(hi, 0)) for lo, hi in pads])
    index = [slice(None)] * lead + [
        slice(max(-lo, 0), x.shape[lead + a] - max(-hi, 0)) for a, (lo, hi) in enumerate(pads)
    ]
    return x[tuple(index)]


def _windows(xp: np.ndarray, out: tuple[int, ...], kernel, stride, dilation) -> np.ndarray:
    """View (..., *out, *kernel) of a padded array: element [o, k] = xp[o*s + k*d]."""
    lead = xp.ndim - len(out)
    spatial = xp.strides[lead:]
    shape = xp.shape[:lead] + tuple(out) + tuple(kernel)
    strides = (
        xp.strides[:lead]
        + tuple(st * s for st, s in zip(spatial, stride))
        + tuple(st * d for st, d in zip(spatial, dilation))
    )
    return as_strided(xp, shape=shape, strides=strides, writeable=False)



def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, ...) → (N, G, C/G, ...)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _im2col(xp: np.ndarray, out: tuple[int, ...], kernel, stride, dilation, groups: int) -> np.ndarray:
    """(G, N*prod(out), C/G*prod(kernel)): every output position's input window, one row each."""
    nd = xp.ndim - 2
    win = _windows(_grouped(xp, groups), out, kernel, stride, dilation)  # N G C *o *k
    perm = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))  # G N *o C *k
    return win.transpose(perm).reshape(groups, xp.shape[0] * int(np.prod(out)), -1)


def conv(x, w, b, stride, dilation, pads: Pads, groups: int) -> np.ndarray:
    """Cross-correlation (what every framework calls conv), floor output mode."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    xp = pad_or_crop(x, pads)
    out = tuple(
        translate.conv_output_length(i, k, s, d, 0, 0)
        for i, k, s, d in zip(xp.shape[2:], kernel, stride, dilation)
    )
    cols = _im2col(xp, out, kernel, stride, dilation, groups)  # G, N*o, C*k
    wm = w.reshape(groups, w.shape[0] // groups, -1).transpose(0, 2, 1)  # G, C*k, O
    y = (cols @ wm).reshape(groups, x.shape[0], *out, -1)  # G N *o O
    y = y.transpose(1, 0, nd + 2, *range(2, 2 + nd)).reshape(x.shape[0], w.shape[0], *out)
    if b is not None:
        y = y + b.reshape(1, -1, *([1] * nd))
    return y


def conv_transpose(x, w, b, stride, dilation, pads: Pads, groups: int) -> np.ndarray:
    """Transposed conv as the adjoint of `conv`: scatter every tap, then crop `pads`."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    n, cin = x.shape[:2]
    cout = w.shape[1] * groups
    full = tuple(
        translate.transpose_full_length(i, k, s, d)
        for i, k, s, d in zip(x.shape[2:], kernel, stride, dilation)
    )
    y = np.zeros((n, groups, cout // groups, *full))
    # every tap of every input pixel in one product per group: (G, N*i, C) @ (G, C, O*k), as im2col
    # does for conv (the same memory: one value per output channel and tap of each input pixel)
    xm = _grouped(x, groups).transpose(1, 0, *range(3, 3 + nd), 2).reshape(groups, -1, cin // groups)
    wm = w.reshape(groups, cin // groups, -1)
    taps = (xm @ wm).reshape(groups, n, *x.shape[2:], cout // groups, *kernel)  # G N *i O *k
    taps = taps.transpose(1, 0, 2 + nd, *range(2, 2 + nd), *range(3 + nd, 3 + 2 * nd))  # N G O *i *k
    for tap in itertools.product(*(range(k) for k in kernel)):
        index = tuple(
            slice(t * d, t * d + (i - 1) * s + 1, s)
            for t, d, s, i in zip(tap, dilation, stride, x.shape[2:])
        )
        y[(slice(None),) * 3 + index] += taps[(Ellipsis, *tap)]
    y = pad_or_crop(y.reshape(n, cout, *full), tuple((-lo, -hi) for lo, hi in pads))
    if b is not None:
        y = y + b.reshape(1, -1, *([1] * nd))
    return y


def conv_transpose_textbook(x, w, b, stride, dilation, pads: Pads, groups: int) -> np.ndarray:
    """Transposed conv the textbook way: insert s-1 zeros, pad d*(k-1) - crop, flipped conv."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    n, cin = x.shape[:2]
    upsampled = np.zeros((n, cin, *((i - 1) * s + 1 for i, s in zip(x.shape[2:], stride))))
    upsampled[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    border = tuple(
        (d * (k - 1) - lo, d * (k - 1) - hi) for k, d, (lo, hi) in zip(kernel, dilation, pads)
    )
    # (C_in, C_out/g, *k) → (C_out, C_in/g, *k), spatially flipped, per group
    cout_g = w.shape[1]
    wg = w.reshape(groups, cin // groups, cout_g, *kernel).swapaxes(1, 2)
    wf = np.flip(wg, axis=tuple(range(3, 3 + nd))).reshape(groups * cout_g, cin // groups, *kernel)
    return conv(upsampled, wf, b, (1,) * nd, dilation, border, groups)


def conv_weight_grad(x, g, kernel, stride, dilation, pads: Pads, groups: int) -> np.ndarray:
    """dL/dw of `conv` given the output cotangent g: correlate input windows with g."""
    nd = x.ndim - 2
    xp = pad_or_crop(x, pads)
    out = g.shape[2:]
    cols = _im2col(xp, out, kernel, stride, dilation, groups)  # G, N*o, C*k
    gm = _grouped(g, groups)  # N G O *o
    gm = gm.transpose(1, 0, *range(3, 3 + nd), 2).reshape(groups, cols.shape[1], -1)  # G, N*o, O
    dw = gm.transpose(0, 2, 1) @ cols  # G, O, C*k
    return dw.reshape(g.shape[1], x.shape[1] // groups, *kernel)


@dataclass
class Outputs:
    """Forward output and VJPs in canonical layout (db is None without bias)."""

    y: np.ndarray
    dx: np.ndarray
    dw: np.ndarray
    db: np.ndarray | None

    def as_dict(self) -> dict[str, np.ndarray]:
        d = {"y": self.y, "dx": self.dx, "dw": self.dw}
        if self.db is not None:
            d["db"] = self.db
        return d


def forward_and_vjp(case, x, w, b, g) -> Outputs:
    """y = op(x, w, b) and the VJPs (dx, dw, db) for the cotangent g, all float64."""
    x, w, g = (np.asarray(a, dtype=np.float64) for a in (x, w, g))
    b = None if b is None else np.asarray(b, dtype=np.float64)
    s, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    y = (conv_transpose if case.is_transpose else conv)(x, w, b, s, d, p, groups)
    db = None if b is None else g.sum(axis=(0, *range(2, 2 + case.ndim)))
    return Outputs(y, input_vjp(case, w, g), weight_vjp(case, x, g), db)


def input_vjp(case, w, g) -> np.ndarray:
    """dx of the case's op for the cotangent g (float64): the adjoint op with the same parameters."""
    s, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    if case.is_transpose:  # the adjoint of a transposed conv is the conv with the same parameters
        return conv(g, w, None, s, d, p, groups)
    crops = tuple(
        translate.conv_vjp_input_crop(i, k, ss, dd, lo, hi)
        for i, k, ss, dd, (lo, hi) in zip(case.input_size, case.kernel, s, d, p)
    )
    return conv_transpose(g, w, None, s, d, crops, groups)


def weight_vjp(case, x, g) -> np.ndarray:
    """dw of the case's op at x for the cotangent g (float64), in the case's weight layout."""
    s, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    if case.is_transpose:
        # dw[c, o, k] = sum_i x[c, i] * g_full[o, i*s + k*d]: the conv weight-gradient with the
        # roles of input and cotangent exchanged, which lands directly in (C_in, C_out/g, *k)
        return conv_weight_grad(g, x, case.kernel, s, d, p, groups)
    return conv_weight_grad(x, g, case.kernel, s, d, p, groups)


def abs_forward_and_vjp(case, x, w, b, g) -> Outputs:
    """The same operations on absolute values: the scale of each element's rounding error."""
    return forward_and_vjp(case, np.abs(x), np.abs(w), None if b is None else np.abs(b), np.abs(g))
