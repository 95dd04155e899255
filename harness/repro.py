"""`harness repro`: one standalone script that reproduces one item, for an upstream bug report.

The script imports NumPy and the framework only (no harness), prints their versions, builds the
case's inputs (inline literals when small, else an .npz next to it), runs the framework's program
forward and backward (the same `Program` the harness ran: `program.script`), and compares each
quantity with the harness's float64 oracle values under the harness's bound, both embedded. It
prints the max abs error, the bound and the worst element of each quantity, and exits 1 when it
reproduces a mismatch (or the framework raises), 0 when the framework agrees.

An item whose own quantities pass but whose identity rows fail (a bug in the dual op, as for
onnx.reference's grouped ConvTranspose reached from a conv case) is reproduced on the dual case.
"""

from __future__ import annotations

import datetime
import math
import textwrap
from dataclasses import dataclass

import numpy as np

from harness import compare as cmp
from harness import runner
from harness.adapters import Adapter
from harness.adapters import program as pg
from harness.case import Case
from harness.identities import dual_case
from harness.status import Status

INLINE_LIMIT = 2000  # numbers written into the script; beyond this the arrays go to an .npz beside it
CHECK = '''
def check(name, got, want, bound):
    """|got - want| <= bound elementwise; NaN/Inf in want must be reproduced exactly (the harness's rule)."""
    got = numpy.asarray(got, dtype=numpy.float64)
    if got.shape != want.shape:
        print(f"{name}: MISMATCH shape {got.shape}, expected {want.shape}")
        return False
    special = ~numpy.isfinite(want)
    same_special = (numpy.isnan(want) & numpy.isnan(got)) | (numpy.isinf(want) & (got == want))
    bad = (special & ~same_special) | (~special & ~numpy.isfinite(got))
    with numpy.errstate(invalid="ignore", over="ignore"):
        err = numpy.where(numpy.isfinite(want) & numpy.isfinite(got), numpy.abs(got - want), 0.0)
    ratio = numpy.divide(err, bound, out=numpy.where(err > 0, numpy.inf, 0.0), where=bound > 0)
    ratio[bad] = numpy.inf
    worst = numpy.unravel_index(int(ratio.argmax()), ratio.shape) if ratio.size else ()
    ok = not bad.any() and not (err > bound).any()
    print(f"{name}: {'ok' if ok else 'MISMATCH'}  max abs error {float(err.max(initial=0.0))!r}"
          f"  {int(((err > bound) | bad).sum())} of {err.size} element(s) outside the bound")
    if ratio.size:
        w = tuple(int(i) for i in worst)
        print(f"    worst element {w}: got {float(got[w])!r}, expected {float(want[w])!r}, bound {float(bound[w])!r}")
    return ok
'''


class ReproError(Exception):
    """The item cannot be reproduced by a script (the framework does not compute it)."""


@dataclass(frozen=True)
class Repro:
    text: str
    arrays: dict[str, np.ndarray]  # what goes to the .npz (empty when everything is inline)
    case: Case  # the case reproduced (the dual one when the failure is in the identity rows)
    rows: tuple[dict, ...]  # the harness's rows for that case's quantities (what the script reproduces)


def _array_source(a: np.ndarray) -> str:
    def num(v: float) -> str:
        if math.isnan(v):
            return "numpy.nan"
        if math.isinf(v):
            return "numpy.inf" if v > 0 else "-numpy.inf"
        return repr(float(v))

    values = ", ".join(num(v) for v in np.asarray(a, dtype=np.float64).ravel())
    wrapped = textwrap.fill(values, 100, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)
    return f"numpy.array([{wrapped}]).reshape({tuple(a.shape)!r})"


def _target(case: Case, dtype: str, adapter: Adapter) -> tuple[Case, list[dict], str]:
    """The case to reproduce, the harness's rows for it, and a note when it is the dual case."""
    rows = runner.run_item(case, dtype, adapter, identities=True)
    quantities = runner.quantities(case)
    own = [r for r in rows if r["quantity"] in quantities]
    identity_fails = [r for r in rows if r["quantity"] not in quantities and Status.of(r["status"]).failing]
    if identity_fails and not any(Status.of(r["status"]).failing for r in own):
        dual = dual_case(case)
        note = (f"The harness's identity rows for {case.id} failed ({identity_fails[0]['message']}); they run the "
                f"dual {dual.op}, which this script reproduces.")
        return dual, runner.run_item(dual, dtype, adapter, identities=False), note
    return case, own, ""


def _found(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        err = r.get("max_abs_error", math.nan)
        ratio = r.get("bound_ratio", math.nan)
        lines.append(f"    {r['quantity']:<3} {r['status']:<15} max abs error {err:.6g}, bound ratio {ratio:.3g}"
                     if isinstance(err, float) and not math.isnan(err) else
                     f"    {r['quantity']:<3} {r['status']:<15} {r.get('message', '')[:120]}")
    return lines


def _header(case: Case, dtype: str, adapter: Adapter, rows: list[dict], note: str) -> str:
    reason = runner.expected_failure(case, dtype, adapter) or ""
    params = (f"input {case.x_shape}, weight {case.w_shape} (PyTorch layout), stride {case.stride}, "
              f"canonical padding {case.padding}, dilation {case.dilation}, groups {case.groups}, "
              f"bias {case.bias}, layout {case.layout} -> output {case.y_shape}")
    title = (f"Reproducer: {case.id} ({case.file}:{case.line}), {case.name} in {dtype}, {adapter.name} "
             f"({adapter.module.version()}).")
    lines = [*textwrap.wrap(title, 96), "", *textwrap.wrap(params, 96)]
    if case.description:
        lines += ["", *textwrap.wrap(case.description.strip(), 96)]
    lines += ["", f"What the harness found ({datetime.date.today().isoformat()}):", *_found(rows)]
    if note:
        lines += ["", *textwrap.wrap(note, 96)]
    if reason:
        lines += ["", "Known issue:", *textwrap.wrap(reason, 92, initial_indent="    ", subsequent_indent="    ")]
    lines += ["", *textwrap.wrap(
        "Expected values: the harness's float64 oracle (a direct sum over the definition), embedded below. "
        "An element agrees when |got - expected| <= bound, the harness's precision contract: gamma_{K+1} * "
        "(|x| * |w|) in the dtype's unit roundoff for float32/float64, u_out * |expected| + gamma_K(float32) * "
        "(|x| * |w|) for float16/bfloat16 (0 where integer inputs make every sum exact). Needs only NumPy and "
        "the framework. "
        "Exit status 1: mismatch reproduced; 0: the framework agrees.", 96)]
    return '"""' + "\n".join(lines) + '\n"""'


def _versions(program: pg.Program) -> list[str]:
    top = [(alias, module) for alias, module in program.imports if "." not in module and module != "numpy"]
    return [f"print({module!r}, {alias}.__version__)" for alias, module in top]


def _data(arrays: dict[str, np.ndarray], npz_name: str | None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Lines defining every array, inline or loaded from the .npz (returned to be written)."""
    if sum(a.size for a in arrays.values()) <= INLINE_LIMIT or npz_name is None:
        return [f"{name} = {_array_source(a)}" for name, a in arrays.items()], {}
    lines = [f"repro_data = numpy.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "
             f"{npz_name!r}))", *(f"{name} = repro_data[{name!r}]" for name in arrays)]
    return lines, arrays


def build(case: Case, dtype: str, adapter: Adapter, npz_name: str | None = None) -> Repro:
    """The script for one item (`npz_name`: where large arrays go; None inlines everything)."""
    if not adapter.available():
        raise ReproError(f"{adapter.library} is not installed here")
    if adapter.name == "numpy":
        raise ReproError("numpy is the harness's own second formulation (it calls harness.oracle): there is no "
                         "framework to report to; a failing numpy row is a harness bug")
    case, rows, note = _target(case, dtype, adapter)
    plan = adapter.plan(case, dtype)
    if plan.program is None:
        raise ReproError(f"{adapter.name} does not compute this case: {plan.reason}")
    ref = runner.reference(case, dtype)
    gradients = adapter.gradients
    quantities = [q for q in runner.quantities(case) if gradients or q == "y"]
    inputs = {k: v for k, v in ref.inputs.as_dict().items() if v is not None and (gradients or k != "g")}
    parts = runner.expected_for(case, dtype, adapter.contract(case, dtype, plan.device)).parts
    expected = {f"expected_{q}": ref.values[q] for q in quantities}
    bounds = {f"bound_{q}": cmp.finite_part(parts[q]).bound * case.tolerance for q in quantities}
    data_lines, arrays = _data({**inputs, **expected, **bounds}, npz_name)
    checks = [f"    check({q!r}, {q}, expected_{q}, bound_{q})," for q in quantities]
    text = "\n".join([
        "#!/usr/bin/env python3", _header(case, dtype, adapter, rows, note), "import os", "import sys", "",
        "import numpy", "",
        f"# inputs: channels-first, PyTorch weight layout; float64 values exact in {dtype}",
        *data_lines, "", "# the computation the harness ran",
        *(line for line in pg.script(plan.program, gradients) if line != "import numpy"), "",
        *_versions(plan.program), 'print("numpy", numpy.__version__)', CHECK,
        "results = [", *checks, "]", "sys.exit(0 if all(results) else 1)", ""])
    return Repro(text, arrays, case, tuple(rows))
