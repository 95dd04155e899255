"""harness.formatting: what report and diff share (numbers, colours, sort keys, orders)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness import adapters, formatting
from harness.formatting import fmt, framework_rank, page_number
from harness.status import STATUSES, Status

ROOT = Path(__file__).resolve().parents[1]


def test_framework_order_follows_the_adapter_registry(monkeypatch):
    names = ["zeta-fw", "oracle", "loader", "alpha-fw", *reversed(list(adapters.REGISTRY))]
    ordered = sorted(names, key=framework_rank)
    assert ordered == [*adapters.REGISTRY, "alpha-fw", "zeta-fw", "loader", "oracle"]
    # a framework registered later (HARNESS_EXTRA_ADAPTERS, a test double) takes its registry place
    monkeypatch.setitem(adapters.REGISTRY, "alpha-fw", ("tests.somewhere", "default"))
    assert sorted(names, key=framework_rank)[len(adapters.REGISTRY) - 1] == "alpha-fw"
    monkeypatch.setattr(adapters, "REGISTRY", {"torch": adapters.REGISTRY["torch"],
                                               "numpy": adapters.REGISTRY["numpy"]})
    assert sorted(["numpy", "jax", "torch"], key=framework_rank) == ["torch", "numpy", "jax"]


def test_report_tables_use_the_registry_order(monkeypatch):
    from harness.report.rows import ResultRow
    from harness.report.views import counts_view, matrix_columns

    rows = [ResultRow(case_id="c", framework=fw, dtype="float32", status=Status.PASS) for fw in
            ("zz-new", "jax", "oracle", "numpy", "torch")]
    assert [c.framework for c in matrix_columns(rows, False)] == ["numpy", "torch", "jax", "zz-new", "oracle"]
    monkeypatch.setattr(adapters, "REGISTRY", {"jax": ("m", "p"), "torch": ("m", "p"), "numpy": ("m", "p")})
    assert [r.framework for r in counts_view(rows, False).rows] == ["jax", "torch", "numpy", "zz-new", "oracle"]


@pytest.mark.parametrize("value", [None, float("nan"), 0, 0.0, -0.0, 1, 17, 123456, 2**40, 0.5, 0.012345,
                                   -0.012345, 1.5e-7, 99.96, 999.6, 1234.5, -1234.5, 1e9, 3.7e12, 4.7e14,
                                   1.26e-44, 1e-320, float("inf"), float("-inf")])
def test_page_number_is_what_fmt_shows(value):
    sent = page_number(value)
    assert sent is None or isinstance(sent, (int, float, str))
    if sent is None:
        assert fmt(value) == "–"
    elif isinstance(sent, str):  # only where a plain number would not say it
        assert sent == fmt(value) and ("e+" in sent or "∞" in sent)
    else:
        assert fmt(sent) == fmt(value)
        assert not math.isinf(sent) and len(repr(sent)) <= len(fmt(value)) + 3


def test_status_styles_cover_every_status():
    css = formatting.status_css()
    for status in STATUSES:
        assert f".st-{status.value} " in css
        assert formatting.status_style(status, 0.5)[0]
    assert formatting.status_style(Status.MISMATCH, 0.5) == formatting.ratio_color(math.inf)  # non-finite
    assert formatting.status_style(Status.PASS, 0.5) == formatting.ratio_color(0.5)


def test_report_and_diff_do_not_import_each_other():
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print(' '.join(m for m in sys.modules if m.startswith('harness.')))")
    loaded = {}
    for module in ("harness.diff", "harness.report", "harness.diff_page"):
        proc = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        loaded[module] = set(proc.stdout.split())
    assert not {m for m in loaded["harness.diff"] if m.startswith("harness.report")}
    assert "harness.diff" not in loaded["harness.report"]
    assert "harness.diff" not in loaded["harness.diff_page"]
    assert not {m for m in loaded["harness.diff_page"] if m.startswith("harness.report")}
