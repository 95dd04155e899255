"""The canonical, framework-neutral description of one convolution configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness import translate

DTYPES = ("float64", "float32", "float16", "bfloat16")
LAYOUTS = ("channels_first", "channels_last")
INPUT_KINDS = ("normal", "integers", "large", "with_nan", "with_inf", "zeros")
QUANTITIES = ("y", "dx", "dw", "db")


class CaseError(ValueError):
    """A case file or case that cannot be run, located by file, line (and column), case id and field."""

    def __init__(self, file: str, line: int | None, case_id: str | None, field: str | None, message: str,
                 column: int | None = None):
        self.file, self.line, self.case_id, self.field, self.message = file, line, case_id, field, message
        self.column = column if line else None
        where = f"{file}:{line}:{column}" if line and column else f"{file}:{line}" if line else file
        what = "".join(
            [f" case {case_id!r}" if case_id else "", f" field {field!r}" if field else ""]
        )
        super().__init__(f"{where}:{what}: {message}" if what else f"{where}: {message}")


@dataclass(frozen=True)
class Case:
    """One convolution configuration; all spatial tuples have `ndim` entries.

    `padding` is canonical: input padding for conv, output crop for conv_transpose (see
    `harness.translate`), with output_padding / output_shape already folded in. The original
    spelling (`padding_word`, `output_padding`, `output_shape`) is kept for adapters that want to
    express the case in a framework's own vocabulary.
    """

    id: str
    file: str
    line: int
    op: str  # "conv" | "conv_transpose"
    ndim: int
    batch: int
    in_channels: int
    out_channels: int
    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool
    padding: tuple[tuple[int, int], ...]
    padding_word: str | None = None  # valid / same / same_lower / full, if spelled so
    cover_all: bool = False
    output_padding: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    dtypes: tuple[str, ...] = ("float64", "float32")
    frameworks: tuple[str, ...] | None = None
    layout: str = "channels_first"
    tolerance: float = 1.0
    tolerance_reason: str = ""
    accumulation: str | None = None  # the float16/bfloat16 rows' accumulation, if not the contract's float32
    accumulation_reason: str = ""
    inputs: str = "normal"
    seed: int = 0
    description: str = ""
    refs: tuple[str, ...] = ()
    xfail: tuple[tuple[str, str], ...] = ()  # (framework pattern, reason)
    marks: tuple[str, ...] = ()
    golden: dict | None = field(default=None, compare=False, hash=False)

    @property
    def is_transpose(self) -> bool:
        return self.op == "conv_transpose"

    @property
    def name(self) -> str:
        return f"{self.op}{self.ndim}d"

    @property
    def output_size(self) -> tuple[int, ...]:
        f = translate.transpose_output_length if self.is_transpose else translate.conv_output_length
        return tuple(
            f(i, k, s, d, lo, hi)
            for i, k, s, d, (lo, hi) in zip(
                self.input_size, self.kernel, self.stride, self.dilation, self.padding
            )
        )

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.input_size)

    @property
    def y_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.output_size)

    @property
    def w_shape(self) -> tuple[int, ...]:
        """PyTorch weight layout: (C_out, C_in/g, *k) for conv, (C_in, C_out/g, *k) transposed."""
        if self.is_transpose:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def nbytes_float64(self) -> int:
        """Memory of x, w, y and their gradients in float64."""
        n = math.prod(self.x_shape) + math.prod(self.w_shape) + math.prod(self.y_shape)
        return 2 * 8 * n

    def params(self) -> dict:
        """Flat, JSON-friendly parameters for result rows and reports."""
        return {
            "op": self.op,
            "ndim": self.ndim,
            "batch": self.batch,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias,
            "padding": [list(p) for p in self.padding],
            "padding_word": self.padding_word,
            "output_padding": list(self.output_padding) if self.output_padding else None,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "layout": self.layout,
            "inputs": self.inputs,
        }

    def xfail_reason(self, framework: str, dtype: str | None = None) -> str | None:
        """The case's own expected failure for (framework, dtype): see `xfail_reason`."""
        return xfail_reason(self.xfail, framework, dtype)


def xfail_reason(xfail: tuple[tuple[str, str], ...], framework: str, dtype: str | None = None) -> str | None:
    """The first reason in `xfail` for (framework, dtype).

    Keys read `framework` or `framework:dtype`; `*` matches every framework, a library name
    ('tensorflow') every path of it ('tensorflow-backprop').
    """
    for pattern, reason in xfail:
        name, _, want_dtype = pattern.partition(":")
        if want_dtype and want_dtype != dtype:
            continue
        if name in ("*", framework) or framework.startswith(name + "-"):
            return reason
    return None
