"""The Chainer adapter: skipped rows where Chainer cannot live (numpy 2), and against the oracle in
the chainer tox environment (numpy 1.26, chainer 7.8.1).

Measured with chainer 7.8.1: convolution_nd / deconvolution_nd (and the 2D forms) agree with the
oracle forward and backward in float64, float32 and float16, for native and emulated spellings,
except one Chainer bug: a deconvolution whose `outsize` needs cover_all on one axis and not on
another fails in its backward ("shape-mismatch for sum"), because DeconvolutionND keeps one
cover_all flag for all axes (`chainer_padding.deconv_backward_breaks`).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import adapters
from harness.adapters import chainer_adapter as ca
from harness.adapters import chainer_padding as cp
from harness.adapters.base import EMULATED, NATIVE, UNSUPPORTED
from harness.runner import expected_failure, run_item
from tests.helpers import make_case, random_case

N_RANDOM = 20


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "chainer", ("harness.adapters.chainer_adapter", "functions"))


# ------------------------------------------------------------------------------------------------
# where Chainer is not available


def test_available_never_raises(monkeypatch):
    import importlib.util

    def broken(name, *a, **kw):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", broken)
    assert ca.available() is False


def test_not_available_with_numpy_2(monkeypatch):
    monkeypatch.setattr(ca, "_numpy_major", lambda: 2)
    assert ca.available() is False


def test_not_available_when_the_import_fails(monkeypatch):
    import builtins
    import importlib.util

    real_import = builtins.__import__

    def failing(name, *a, **kw):
        if name == "chainer":
            raise ModuleNotFoundError("No module named 'distutils.msvccompiler'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **kw: object())
    monkeypatch.setattr(ca, "_numpy_major", lambda: 1)
    monkeypatch.setattr(builtins, "__import__", failing)
    monkeypatch.delitem(__import__("sys").modules, "chainer", raising=False)
    ca._importable.cache_clear()
    try:
        assert ca.available() is False
    finally:
        ca._importable.cache_clear()


def test_rows_are_skipped_where_chainer_is_missing(monkeypatch):
    monkeypatch.setattr(ca, "available", lambda: False)
    case = make_case("conv_transpose", 2, 1, 2, 2, 4, 3, 2, padding=((1, 1),))
    rows = run_item(case, "float32", adapters.get("chainer"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert all("chainer is not installed" in r["message"] for r in rows)


def test_main_environment_skips_chainer_without_importing_it():
    import sys

    if ca.available():
        pytest.skip("chainer is available here (tox -e chainer)")
    rows = run_item(make_case(), "float32", adapters.get("chainer"))
    assert {r["status"] for r in rows} == {"skipped"}
    assert "chainer" not in sys.modules


# ------------------------------------------------------------------------------------------------
# plans (pure)


def test_plans():
    cover = make_case("conv", 2, 1, 2, 2, 6, 3, 2, padding=((1, 2),), cover_all=True)
    plan = ca.plan(cover, "float32")
    assert plan.expression == NATIVE and "cover_all=True" in plan.call and "pad=(1, 1)" in plan.call
    assert "chainer.functions.convolution_2d" in plan.call
    outsize = make_case("conv_transpose", 1, 1, 2, 2, 5, 4, 2, padding=((1, 0),))
    plan = ca.plan(outsize, "float32")
    assert plan.expression == NATIVE and "outsize=(11,)" in plan.call and "deconvolution_nd" in plan.call
    default = make_case("conv_transpose", 3, 1, 2, 2, 3, 2, 2, padding=((1, 1),))
    assert "outsize" not in ca.plan(default, "float32").call
    neg = make_case("conv_transpose", 2, 1, 2, 2, 4, 3, 2, padding=((-1, 0),))
    plan = ca.plan(neg, "float32")
    assert plan.expression == EMULATED and "p >= 0" in plan.reason
    asym = make_case("conv", 2, 1, 2, 2, 5, 3, 1, padding=((1, 0),))
    plan = ca.plan(asym, "float32")
    assert plan.expression == EMULATED and "Chainer pads (p, p)" in plan.reason
    plan = ca.plan(asym, "bfloat16")
    assert plan.expression == UNSUPPORTED and plan.reason.startswith("chainer has no bfloat16")


# ------------------------------------------------------------------------------------------------
# against the oracle (tox -e chainer)


@pytest.fixture
def chainer_adapter():
    if not ca.available():
        pytest.skip("chainer needs numpy < 2: run tox -e chainer")
    pytest.importorskip("chainer")
    return adapters.get("chainer")


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_random_cases_match_the_oracle(chainer_adapter, dtype):
    seen = {"native": 0, "emulated": 0}
    for seed in range(N_RANDOM):
        case = random_case(np.random.default_rng(5100 + seed), op=("conv", "conv_transpose")[seed % 2],
                           ndim=1 + (seed // 2) % 3, id=f"chainer_random_{seed}")
        rows = run_item(case, dtype, chainer_adapter)
        failed = any(r["status"] == "error" for r in rows)
        # the strict xfail `known_issue` declares must predict exactly the items that fail
        assert failed == (expected_failure(case, dtype, chainer_adapter) is not None), (case, rows[0].get("call"))
        if failed:
            assert all(r["status"] in ("pass", "error") for r in rows)
            assert any("chainer backward failed" in r["message"] for r in rows if r["status"] == "error")
            continue
        bad = [(r["quantity"], r["status"], r["message"]) for r in rows if r["status"] != "pass"]
        assert not bad, (case, bad, rows[0].get("call"))
        seen[rows[0]["expression"]] += 1
    assert seen["native"] and seen["emulated"]


def test_bfloat16_is_unsupported(chainer_adapter):
    rows = run_item(make_case(), "bfloat16", chainer_adapter)
    assert {r["status"] for r in rows} == {"unsupported"}
    assert all(r["message"].startswith("chainer has no bfloat16") for r in rows)


def test_cover_all_and_outsize_spellings_match(chainer_adapter):
    cases = [
        make_case("conv", 2, 2, 2, 3, (6, 7), 3, (2, 3), padding=((1, 2), (1, 3)), cover_all=True),
        make_case("conv_transpose", 2, 2, 2, 3, 5, 4, 2, padding=((1, 0), (1, 0))),  # outsize 11: no cover_all
        make_case("conv_transpose", 2, 2, 2, 3, 5, 4, 2, padding=((1, 2), (1, 2))),  # outsize 9: cover_all
        make_case("conv_transpose", 3, 1, 2, 2, 3, 2, 2, groups=2, padding=((1, 1),)),
        make_case("conv", 1, 2, 4, 6, 9, 3, 2, 2, groups=2, padding=((2, 2),)),
    ]
    for case in cases:
        plan = ca.plan(case, "float64")
        assert plan.expression == NATIVE, plan.reason
        rows = run_item(case, "float64", chainer_adapter, identities=True)
        assert {r["status"] for r in rows} == {"pass"}, (plan.call, [(r["quantity"], r["message"]) for r in rows])


def test_deconvolution_backward_bug(chainer_adapter):
    """outsize (4, 5): axis 0 maps back to 3 without cover_all, axis 1 only with it. Forward works,
    the backward raises: the row is an error naming the backward."""
    case = make_case("conv_transpose", 2, 1, 1, 2, 3, (3, 2), (2, 3), padding=((2, 1), (1, 2)), bias=False)
    spelled = cp.deconv_spelling(case.input_size, case.kernel, case.stride, case.dilation, case.padding)
    assert spelled == ((2, 1), (4, 5))
    rows = {r["quantity"]: r for r in run_item(case, "float64", chainer_adapter)}
    assert rows["y"]["status"] == "error"
    assert "chainer backward failed (ValueError: shape-mismatch for sum)" in rows["y"]["message"]
    # the same in 2D with outsize (11, 9) for i=5, k=4, s=2, p=1
    case = make_case("conv_transpose", 2, 2, 2, 3, 5, 4, 2, padding=((1, 0), (1, 2)))
    assert "deconvolution_2d" in ca.plan(case, "float32").call
    rows = run_item(case, "float32", chainer_adapter)
    assert {r["status"] for r in rows} == {"error"}


def test_environment(chainer_adapter):
    env = ca.environment()
    assert env["chainer.numpy"].startswith("1.")
    assert ca.version() == "7.8.1"
