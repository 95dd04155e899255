"""A test double for the precision contract: a NumPy convolution that sums its products one after
another, in an accumulator of a chosen precision.

Paths:
- `float16_sums`: every product and every partial sum rounded to the storage dtype (float16 or
  bfloat16), in order: what a 16-bit accumulator does. It must fail the float32-accumulation
  contract on every realistic low-precision case.
- `float32_sums`: the products (exact in float32 for 16-bit inputs) summed in float32 in order,
  rounded once to the storage dtype at the end: the contract itself. It must pass.
- `shifted`: `float32_sums` with y moved by one pixel along the last spatial axis: a wrong result,
  which must fail in every dtype at every size.

Every quantity is written as one sum of K products per element: y and dx as correlations over
im2col rows (transposed directions through zero insertion, as textbooks explain them), dw as a
correlation of input windows with the cotangent, db as the sum of the cotangent. The windows are
gathered with the oracle's `_im2col` (index plumbing only; the arithmetic is this module's own).
"""

from __future__ import annotations

import numpy as np

from harness import oracle, translate
from harness.adapters.base import NATIVE, Plan
from harness.adapters.numpy_adapter import available, environment, version  # noqa: F401 - the contract's names
from harness.inputs import round_to_dtype

LIBRARY = "numpy"
PATHS = ("float16_sums", "float32_sums", "shifted")
DTYPES = ("float64", "float32", "float16", "bfloat16")


def plan(case, dtype: str, path: str) -> Plan:
    return Plan(path, NATIVE, None, details=path)


def _numpy_type(dtype: str):
    """The NumPy type `dtype` rounds to (None: bfloat16 without ml_dtypes, rounded by hand)."""
    if dtype != "bfloat16":
        return np.dtype(dtype)
    try:
        import ml_dtypes
    except ImportError:  # a partial install: round_to_dtype after each operation instead
        return None
    return np.dtype(ml_dtypes.bfloat16)


class Sums:
    """In-order sums: each product and partial sum rounded to the accumulator, `finish` to storage.

    The arithmetic runs in float32 (float64 for float64), each result cast to the accumulator's type
    and back: a product of two 16-bit values is exact in float32, and so is the sum of two of them
    but where it would underflow the accumulator's spacing anyway."""

    def __init__(self, storage: str, path: str):
        self.storage = storage
        self.accumulator = storage if path == "float16_sums" or storage in ("float64", "float32") else "float32"
        self.work = np.float64 if self.accumulator == "float64" else np.float32
        self.type = _numpy_type(self.accumulator)

    def round(self, a: np.ndarray) -> np.ndarray:
        if self.type is None:
            return round_to_dtype(a, self.accumulator).astype(self.work)
        if self.type == self.work:
            return np.asarray(a, dtype=self.work)
        return np.asarray(a).astype(self.type).astype(self.work)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(G, M, K) @ (G, K, O), the K products of each element added one after another."""
        # exact: the inputs are values of the storage dtype; K leading, for contiguous steps
        a, b = self.round(np.moveaxis(a, 2, 0)).copy(), self.round(np.moveaxis(b, 1, 0)).copy()
        acc = self.round(np.zeros((a.shape[1], a.shape[2], b.shape[2])))
        for ak, bk in zip(a, b):
            acc = self.round(acc + self.round(ak[:, :, None] * bk[:, None, :]))
        return acc.astype(np.float64)

    def total(self, terms: np.ndarray) -> np.ndarray:
        """The sum over the first axis, in order."""
        terms = self.round(terms)
        acc = self.round(np.zeros(terms.shape[1:]))
        for t in terms:
            acc = self.round(acc + t)
        return acc.astype(np.float64)

    def finish(self, a: np.ndarray) -> np.ndarray:
        return round_to_dtype(np.asarray(a, dtype=np.float64), self.storage)


def conv(s: Sums, x, w, b, stride, dilation, pads, groups) -> np.ndarray:
    """Cross-correlation as im2col rows times the kernel, the bias the last term of each sum."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    xp = oracle.pad_or_crop(x, pads)
    out = tuple(translate.conv_output_length(i, k, st, d, 0, 0)
                for i, k, st, d in zip(xp.shape[2:], kernel, stride, dilation))
    cols = oracle._im2col(xp, out, kernel, stride, dilation, groups)  # G, N*o, C*k
    wm = w.reshape(groups, w.shape[0] // groups, -1).transpose(0, 2, 1)  # G, C*k, O
    y = s.matmul(cols, wm)
    if b is not None:
        y = s.round(s.round(y) + s.round(b.reshape(groups, 1, -1))).astype(np.float64)
    y = y.reshape(groups, x.shape[0], *out, -1).transpose(1, 0, nd + 2, *range(2, 2 + nd))
    return y.reshape(x.shape[0], w.shape[0], *out)


def conv_transpose(s: Sums, x, w, b, stride, dilation, pads, groups) -> np.ndarray:
    """Zero insertion, padding d*(k-1) - crop, and the flipped kernel's correlation."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    n, cin = x.shape[:2]
    up = np.zeros((n, cin, *((i - 1) * st + 1 for i, st in zip(x.shape[2:], stride))))
    up[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in stride)] = x
    border = tuple((d * (k - 1) - lo, d * (k - 1) - hi) for k, d, (lo, hi) in zip(kernel, dilation, pads))
    cout_g = w.shape[1]
    wg = w.reshape(groups, cin // groups, cout_g, *kernel).swapaxes(1, 2)
    wf = np.flip(wg, axis=tuple(range(3, 3 + nd))).reshape(groups * cout_g, cin // groups, *kernel)
    return conv(s, up, wf, b, (1,) * nd, dilation, border, groups)


def weight_grad(s: Sums, x, g, kernel, stride, dilation, pads, groups) -> np.ndarray:
    """dw of a conv: the input windows times the cotangent, summed over batch and pixels in order."""
    nd = x.ndim - 2
    xp = oracle.pad_or_crop(x, pads)
    cols = oracle._im2col(xp, g.shape[2:], kernel, stride, dilation, groups)  # G, N*o, C*k
    gm = g.reshape(g.shape[0], groups, -1, *g.shape[2:]).transpose(1, 0, *range(3, 3 + nd), 2)
    dw = s.matmul(gm.reshape(groups, cols.shape[1], -1).transpose(0, 2, 1), cols)  # G, O, C*k
    return dw.reshape(g.shape[1], x.shape[1] // groups, *kernel)


def quantities(s: Sums, case, x, w, b, g) -> dict[str, np.ndarray]:
    st, d, p, groups = case.stride, case.dilation, case.padding, case.groups
    if case.is_transpose:
        out = {"y": conv_transpose(s, x, w, b, st, d, p, groups), "dx": conv(s, g, w, None, st, d, p, groups),
               "dw": weight_grad(s, g, x, case.kernel, st, d, p, groups)}
    else:
        crops = tuple(translate.conv_vjp_input_crop(i, k, ss, dd, lo, hi)
                      for i, k, ss, dd, (lo, hi) in zip(case.input_size, case.kernel, st, d, p))
        out = {"y": conv(s, x, w, b, st, d, p, groups), "dx": conv_transpose(s, g, w, None, st, d, crops, groups),
               "dw": weight_grad(s, x, g, case.kernel, st, d, p, groups)}
    if b is not None:
        out["db"] = s.total(np.moveaxis(g, 1, -1).reshape(-1, g.shape[1]))
    return {q: s.finish(v) for q, v in out.items()}


FORWARD_ONLY_RUNS = True


def run(case, dtype: str, inputs, how: Plan) -> dict[str, np.ndarray]:
    """y, dx, dw (and db); y alone without a cotangent."""
    s = Sums(dtype, how.path)
    if inputs.g is None:
        st, d, p, groups = case.stride, case.dilation, case.padding, case.groups
        op = conv_transpose if case.is_transpose else conv
        out = {"y": s.finish(op(s, inputs.x, inputs.w, inputs.b, st, d, p, groups))}
    else:
        out = quantities(s, case, inputs.x, inputs.w, inputs.b, inputs.g)
    if how.path == "shifted":
        out["y"] = np.roll(out["y"], 1, axis=-1)
    return out
