"""The pytest plugin end to end (in a subprocess): items, failures, bad files, results file."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

pytest.importorskip("torch")

CASES = """
cases:
  - id: up
    description: k3 s2 p1 op1, crops (1, 0)
    op: conv_transpose2d
    in_channels: 3
    out_channels: 2
    input_size: [5, 5]
    kernel: 3
    stride: 2
    padding: 1
    output_padding: 1
    dtype: float64
"""

BROKEN_CONFTEST = """
import dataclasses, sys, types
from harness import adapters
from harness.adapters import torch_adapter

broken = types.ModuleType("broken_torch")
for name in ("LIBRARY", "PATHS", "DTYPES", "available", "version", "environment", "plan"):
    setattr(broken, name, getattr(torch_adapter, name))

def run(case, dtype, inputs, plan):
    # the classic bug: padding sides swapped (crop the end instead of the start)
    swapped = dataclasses.replace(case, padding=tuple((hi, lo) for lo, hi in case.padding))
    return torch_adapter.run(swapped, dtype, inputs, torch_adapter.plan(swapped, dtype))

broken.run = run
sys.modules["broken_torch"] = broken
adapters.REGISTRY["torch"] = ("broken_torch", "functional")
"""


def _setup(pytester, conftest=""):
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "t.yaml").write_text(textwrap.dedent(CASES))
    if conftest:
        pytester.makeconftest(conftest)


def test_correct_adapter_passes_and_writes_results(pytester):
    _setup(pytester)
    result = pytester.runpytest_subprocess("--framework", "torch", "--framework", "numpy", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*t.yaml::up?float64-torch? PASSED*", "harness: 12 result rows written to*"])
    df = pd.read_parquet(pytester.path / "reports" / "pytest-results.parquet")
    assert set(df.framework) == {"torch", "numpy"} and set(df.status) == {"pass"}
    assert set(df.quantity) == {"y", "dx", "dw", "db", "adjoint", "transpose_is_grad"}


def test_broken_adapter_fails_with_a_clear_message(pytester):
    _setup(pytester, BROKEN_CONFTEST)
    result = pytester.runpytest_subprocess("--framework", "torch")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "torch 2" in out and "disagrees with the oracle" in out and "cases/t.yaml:3 case 'up'" in out
    assert "conv_transpose2d(x, w, b" in out  # the native call that reproduces it
    assert "mismatch" in out and "worst index" in out and "bound_ratio" in out


def test_bad_case_file_is_one_failure_and_others_still_run(pytester):
    _setup(pytester)
    (pytester.path / "cases" / "bad.yaml").write_text("cases:\n  - id: x\n    op: conv2d\n    kernal: 3\n")
    result = pytester.runpytest_subprocess("--framework", "numpy", "-n", "2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*invalid case: cases/bad.yaml:4: case 'x' field 'kernal': unknown key*"])


def test_case_scope_groups_one_case_and_leaves_other_tests_alone():
    from harness.plugin import case_scope

    assert case_scope("cases/a.yaml::k3-s2[float32-torch]") == "cases/a.yaml::k3-s2"
    assert case_scope("cases/a.yaml::k3[s2][float64-jax-dilated]") == "cases/a.yaml::k3[s2]"
    assert case_scope("tests/test_x.py::test_f[1-2]") == "tests/test_x.py::test_f[1-2]"


def test_loadgroup_keeps_every_item_of_a_case_on_one_worker(pytester):
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "cases").mkdir()
    many = "cases:\n" + "".join(
        f"  - id: c{i}\n    op: conv1d\n    in_channels: 2\n    out_channels: 2\n    input_size: [{5 + i}]\n"
        f"    kernel: 3\n    dtype: [float64, float32]\n" for i in range(8))
    (pytester.path / "cases" / "m.yaml").write_text(many)
    result = pytester.runpytest_subprocess("--framework", "numpy", "-n", "2", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=16)
    workers: dict[str, set[str]] = {}
    for line in result.stdout.lines:
        if line.startswith("[gw") and "PASSED" in line:
            worker, nodeid = line.split("]")[0], line.partition(" PASSED ")[2]
            workers.setdefault(nodeid.split("[")[0].strip(), set()).add(worker)
    assert len(workers) == 8 and all(len(w) == 1 for w in workers.values()), workers
    assert len(set().union(*workers.values())) == 2  # and the cases are still spread over both workers


def test_a_framework_not_installed_is_one_header_line_not_skipped_items(pytester, monkeypatch):
    _setup(pytester)
    monkeypatch.setenv("HARNESS_EXTRA_ADAPTERS", "absent=harness_no_such_framework_adapter:x")
    result = pytester.runpytest_subprocess("--collect-only")
    result.stdout.fnmatch_lines(["*harness: absent is not installed here: its items are not collected*"])
    assert "float64-absent" not in result.stdout.str() and "float64-numpy" in result.stdout.str()
    named = pytester.runpytest_subprocess("--collect-only", "-q", "--framework", "absent")
    named.stdout.fnmatch_lines(["*t.yaml::up?float64-absent?*"])
