"""`harness repro` scripts run standalone (a subprocess with NumPy and the framework only) and
reproduce the harness's own numbers: the same max abs error per quantity, exit 1 for every strict
xfail of the library (a known bug reproduced), 0 for passing items."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import adapters, loader, repro, runner
from harness.status import Status

LIBRARY = Path(__file__).resolve().parent.parent / "cases"
LINE = re.compile(r"^(y|dx|dw|db): (ok|MISMATCH)  max abs error (\S+)", re.M)
# Runs each script as __main__ in one interpreter (one framework import for all), with no harness on sys.path.
DRIVER = """
import contextlib, io, json, runpy, sys, traceback
sys.path = [p for p in sys.path if p not in ('', {root!r})]
out = []
for path in sys.argv[1:]:
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(path, run_name='__main__')
        except SystemExit as e:
            code = e.code or 0
        except Exception:
            code = 1
            buf.write(traceback.format_exc())
    out.append({{'path': path, 'code': code, 'stdout': buf.getvalue(), 'harness': 'harness' in sys.modules}})
print(json.dumps(out))
"""


def _run_scripts(paths: list[Path]) -> list[dict]:
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run([sys.executable, "-c", DRIVER.format(root=root), *map(str, paths)], capture_output=True,
                          text=True, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@functools.lru_cache(maxsize=1)
def _library():
    return loader.load_paths([LIBRARY], stacks=False)[0]


def _xfail_items():
    items = []
    for case in _library():
        for name in adapters.REGISTRY:
            adapter = adapters.get(name)
            if name == "numpy" or not adapter.available() or not adapter.applies_to(case):
                continue
            if case.frameworks and not any(adapters.named(name, f) for f in case.frameworks):
                continue
            items += [(case, d, adapter) for d in case.dtypes if runner.expected_failure(case, d, adapter)]
    return items


def _check(items, tmp_path: Path, want_code: int | None):
    scripts, expect = [], []
    for n, (case, dtype, adapter) in enumerate(items):
        path = tmp_path / f"repro_{n}.py"
        made = repro.build(case, dtype, adapter, npz_name=path.with_suffix(".npz").name)
        path.write_text(made.text)
        if made.arrays:
            import numpy as np

            np.savez(path.with_suffix(".npz"), **made.arrays)
        expect.append((case.id, dtype, adapter.name, made.rows))
        scripts.append(path)
    problems = []
    for (cid, dtype, name, rows), result in zip(expect, _run_scripts(scripts)):
        where = f"{cid} {dtype} {name}"
        failing = any(Status.of(r["status"]).failing for r in rows)
        code = want_code if want_code is not None else int(failing)
        if result["code"] != code or result["harness"]:
            problems.append(f"{where}: exit {result['code']} (want {code}), harness imported: {result['harness']}\n"
                            + result["stdout"][-1500:])
            continue
        problems += _numbers_differ(where, rows, result["stdout"])
    assert not problems, "\n".join(problems)


def _numbers_differ(where: str, rows: list[dict], stdout: str) -> list[str]:
    """The script's verdict and max abs error per quantity against the harness's rows. A quantity whose
    values change from one run to the next (a framework reading uninitialised memory, as XLA's mixed-sign
    padding bug does: the case is marked `nondeterministic`) must fail in both, but cannot have the
    same error."""
    verdicts = {q: (ok == "ok", float(err)) for q, ok, err in LINE.findall(stdout)}
    problems = []
    for r in rows:
        err, q = r.get("max_abs_error"), r["quantity"]
        if not isinstance(err, float) or err != err:
            continue
        ok, printed = verdicts.get(q, (None, None))
        if ok is None or ok == Status.of(r["status"]).failing:
            problems.append(f"{where} {q}: script says {'ok' if ok else 'MISMATCH'}, harness {r['status']}")
        elif printed != err and not _nondeterministic(r):
            problems.append(f"{where} {q}: script max abs error {printed!r}, harness {err!r}")
    return problems


def _nondeterministic(row: dict) -> bool:
    """The case says its framework's wrong values differ from run to run (`marks: [nondeterministic]`)."""
    return any(c.id == row["case_id"] and "nondeterministic" in c.marks for c in _library())


def test_every_strict_xfail_reproduces(tmp_path):
    items = _xfail_items()
    if not items:
        pytest.skip("no framework with an expected failure is installed here")
    by_framework: dict[str, list] = {}
    for item in items:
        by_framework.setdefault(item[2].library, []).append(item)
    for group in by_framework.values():
        _check(group, tmp_path, want_code=1)



@pytest.mark.parametrize("name", [n for n in adapters.REGISTRY if n != "numpy"])
def test_passing_items_exit_zero(name, tmp_path):
    adapter = adapters.get(name)
    if not adapter.available():
        pytest.skip(f"{adapter.library} is not installed here")
    chosen = []
    for case in _library():
        if len(chosen) == 3:
            break
        for dtype in case.dtypes:
            if (dtype == "float32" and adapter.applies_to(case) and not runner.expected_failure(case, dtype, adapter)
                    and adapter.plan(case, dtype).program is not None
                    and not any(c.op == case.op and c.ndim == case.ndim for c, _, _ in chosen)):
                chosen.append((case, dtype, adapter))
                break
    _check(chosen, tmp_path, want_code=None)


def test_numpy_is_not_reproducible():
    from tests.helpers import make_case

    with pytest.raises(repro.ReproError, match="harness's own"):
        repro.build(make_case(), "float64", adapters.get("numpy"))
