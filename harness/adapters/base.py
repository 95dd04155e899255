"""The adapter contract, and helpers adapters share.

An adapter module (one per framework; see `harness.adapters.REGISTRY`) defines

    LIBRARY: str                      the distribution whose version is reported
    PATHS: tuple[str, ...]            the ways it can compute a case; the first is the default
    DTYPES: tuple[str, ...]           the dtypes it can be asked for (others are `unsupported` rows)
    available() -> bool               importable here (cheap: must not import the framework)
    version() -> str
    environment() -> dict[str, str]   flags that change numbers (TF32, oneDNN, x64, ...)
    plan(case, dtype, path) -> Plan   how the case is spelled natively (a `program.Program`, the one
                                      description that both runs and prints), or why it cannot be
    run(case, dtype, inputs, plan) -> dict[str, np.ndarray]
        inputs are float64 arrays already rounded to `dtype`, channels-first, PyTorch weight
        layout; the adapter executes plan.program (setup, then body under its autodiff), runs the
        VJP with the cotangent inputs.g, and returns y, dx, dw (and db with bias) as float64,
        channels-first.

and may define (the defaults are in `DEFAULTS`, applied by the registry, nowhere else)

    applies_to(case, path) -> bool    whether a path exists for the case (default: True)
    known_issue(case, dtype, path) -> str | None   an expected failure over a class of cases
    precision(case, dtype, path, device) -> Contract | None   how the path stores and accumulates
                                      where its framework documents other than the default contract
                                      (`harness.precision`: 16-bit inputs accumulate in float32),
                                      with the documentation's source in `Contract.source`
    GRADIENTS: bool                   False: forward only, dx/dw/db rows are `unsupported`
    FORWARD_ONLY_RUNS: bool           run() accepts inputs.g None and then returns y alone (the
                                      identity rows need only the dual op's forward)
    layer_program(case, dtype) -> Program | None    the framework's layer object for the case
                                      (`harness translate`); None where it has none
    weight_to_native(case), weight_from_native(case) -> tuple[Step, ...]   NumPy steps between the
                                      canonical `w_torch` and the framework's own weight layout

`run` raises `Unsupported` when the framework refuses a case it cannot compute (`refusal` decides
from the exception's text), and lets any other exception through: the runner records it as an
`error` row. The registry checks path and dtype before `plan` is called.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from harness.adapters.program import Program

NATIVE, EMULATED, UNSUPPORTED = "native", "emulated", "unsupported"


class Unsupported(Exception):
    """The framework cannot compute this case (as opposed to computing it wrongly)."""


DEFAULTS = {
    "applies_to": lambda case, path: True,
    "known_issue": lambda case, dtype, path: None,
    "precision": lambda case, dtype, path, device: None,
    "GRADIENTS": True,
    "FORWARD_ONLY_RUNS": False,
    "layer_program": lambda case, dtype: None,
    "weight_to_native": lambda case: (),
    "weight_from_native": lambda case: (),
}


@dataclass(frozen=True)
class Plan:
    """How one framework expresses one case: the program it runs and prints, or why there is none."""

    path: str
    expression: str  # native | emulated | unsupported
    program: Program | None = None
    reason: str = ""  # why emulated or unsupported
    device: str = "cpu"  # where it computes (the adapter decides in plan(): cuda, gpu, cpu)
    details: object = None  # the adapter's own frozen dataclass of choices made by plan()

    @property
    def call(self) -> str:
        """The program as Python source (what results, reports and `harness translate` show)."""
        return self.program.source() if self.program is not None else ""


def unsupported_plan(path: str, reason: str, device: str = "cpu") -> Plan:
    return Plan(path, UNSUPPORTED, None, reason, device)


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


def installed(*modules: str) -> bool:
    """Whether every module is importable here, by find_spec (imports none of them; a submodule's
    parent is imported by find_spec, so name the top-level package first). Never raises: a broken or
    shadowed installation counts as absent."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


REFUSALS = ("not implemented", "not supported", "unimplemented", "no registered", "unsupported",
            "only supports", "is not available", "could not find a valid", "do not yet support",
            "could not find device for node")


def refusal(exc: BaseException, extra: tuple[str, ...] = ()) -> bool:
    """True when a framework's exception says it does not implement something (vs. a bug).

    `extra`: a framework's own measured refusal phrases, beyond the common ones."""
    if isinstance(exc, NotImplementedError):
        return True
    text = str(exc).lower()
    return any(n in text for n in REFUSALS + tuple(e.lower() for e in extra))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def refusals(framework: str, extra: tuple[str, ...] = (), message=first_line):
    """Inside the block, a framework exception that is a `refusal` becomes `Unsupported` with
    "framework: message"; any other exception passes through unchanged (an `error` row)."""
    try:
        yield
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - sorted: refusals are unsupported, the rest propagate
        if refusal(exc, extra):
            raise Unsupported(f"{framework}: {message(exc)}") from exc
        raise


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
