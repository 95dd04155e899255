"""What every adapter module provides, and helpers they share.

An adapter module (one per framework) defines the same names:

    LIBRARY: str                      the distribution whose version is reported
    PATHS: tuple[str, ...]            the ways it can compute a case; the first is the default
    available() -> bool               importable here (cheap: must not import the framework)
    version() -> str
    environment() -> dict[str, str]   flags that change numbers (TF32, oneDNN, x64, ...)
    plan(case, dtype, path) -> Plan   how the case is spelled natively, or why it cannot be
    run(case, dtype, inputs, plan) -> dict[str, np.ndarray]
        inputs are float64 arrays already rounded to `dtype`, channels-first, PyTorch weight
        layout; the adapter converts to its own layouts and dtype, runs forward and VJP with the
        cotangent inputs.g, and returns y, dx, dw (and db with bias) as float64, channels-first.
    FORWARD_ONLY_RUNS: bool           optional (default False): run() accepts inputs.g None and then
        returns y alone; the runner uses it for the identity rows, which need only the dual op's
        forward (for JAX that cuts what the identity rows compile)

`run` raises `Unsupported` when the framework refuses a case it cannot compute (its message is
kept), and lets any other exception through: the runner records it as an `error` row.
"""

from __future__ import annotations

from dataclasses import dataclass

NATIVE, EMULATED, UNSUPPORTED = "native", "emulated", "unsupported"


class Unsupported(Exception):
    """The framework cannot compute this case (as opposed to computing it wrongly)."""


@dataclass(frozen=True)
class Plan:
    """How one framework expresses one case."""

    framework: str
    path: str
    expression: str  # native | emulated | unsupported
    call: str  # the native call(s) that reproduce the case, as Python source
    reason: str = ""  # why emulated or unsupported
    device: str = "cpu"
    details: tuple = ()  # adapter-private parameters computed by plan()


def fmt_call(func: str, *args: str, **kwargs) -> str:
    """A readable Python call: fmt_call('F.conv2d', 'x', 'w', stride=(2, 2))."""
    parts = list(args) + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"{func}({', '.join(parts)})"


def crops_as_slices(pads) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Split canonical crops into (zeros to append, amounts to crop), both non-negative."""
    grow = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    return grow, crop


def crop_or_extend(y, pads, pad):
    """Canonical crop of the trailing spatial axes of y (N, C, *spatial); negative amounts append zeros.

    `pad(y, grow)` appends zeros in the framework's own (differentiable) way, `grow` being one
    (before, after) pair per spatial axis. Zeros go on first, then the crop: a crop may reach past
    the data into the appended zeros.
    """
    grow, crop = crops_as_slices(pads)
    if any(a or b for a, b in grow):
        y = pad(y, grow)
    index = tuple(slice(lo, y.shape[2 + ax] - hi) for ax, (lo, hi) in enumerate(crop))
    return y[(slice(None), slice(None), *index)]


def channels_last_permutation(ndim: int) -> tuple[int, ...]:
    """Canonical data N, C, *spatial → N, *spatial, C."""
    return (0, *range(2, ndim + 2), 1)


def spatial_first_weight_permutation(ndim: int) -> tuple[int, ...]:
    """PyTorch weights (C_out, C_in/g, *k) or (C_in, C_out/g, *k) → (*k, C_in/g, C_out) / (*k, C_out/g, C_in)
    (TF's HWIO and Keras's kernel layout)."""
    return (*range(2, ndim + 2), 1, 0)


def inverse_permutation(perm) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def unsupported_message(exc: BaseException) -> bool:
    """True when a framework's exception says it does not implement something (vs. a bug)."""
    text = str(exc).lower()
    needles = ("not implemented", "not supported", "unimplemented", "no registered", "unsupported",
               "only supports", "is not available", "could not find a valid", "do not yet support",
               "could not find device for node")
    return any(n in text for n in needles)


# The start-up lines native libraries write to file descriptor 2 while they are imported (TF and absl:
# "All log messages before absl::InitializeLog()...", "oneDNN custom operations are on..."). The
# oneDNN flag they announce is kept in the environment record; anything else is passed through.
STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                 "Unable to register cu", "TF-TRT Warning", "computation placer already registered",
                 "This TensorFlow binary is optimized to use available CPU instructions")


def quiet_import(module_name: str):
    """Import a framework with its native start-up lines on stderr filtered out (at the fd level:
    they come from C++, below Python's sys.stderr)."""
    import importlib
    import os
    import sys
    import tempfile

    if module_name in sys.modules:
        return sys.modules[module_name]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module(module_name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not any(noise in line for noise in STARTUP_NOISE)]
            if kept:
                sys.stderr.write("".join(kept))
