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

from harness import adapters, loader, printed
from harness.adapters import chainer_adapter as ca
from harness.adapters import chainer_padding as cp
from harness.adapters import program as pg
from harness.adapters.base import EMULATED, NATIVE, UNSUPPORTED, Unsupported
from harness.runner import expected_failure, reference, run_item
from tests.helpers import expected_deviation, make_case, random_case

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
    assert plan.expression == NATIVE and plan.details.label == "native+cover_all"
    assert "chainer.functions.convolution_2d(x, w, b, stride=(2, 2), pad=(1, 1), cover_all=True" in plan.call
    outsize = make_case("conv_transpose", 1, 1, 2, 2, 5, 4, 2, padding=((1, 0),))
    plan = ca.plan(outsize, "float32")
    assert plan.expression == NATIVE and plan.details.label == "native+outsize"
    assert "outsize=(11,)" in plan.call and "deconvolution_nd" in plan.call
    default = make_case("conv_transpose", 3, 1, 2, 2, 3, 2, 2, padding=((1, 1),))
    plan = ca.plan(default, "float32")
    assert "outsize" not in plan.call and plan.details.label == "native"
    neg = make_case("conv_transpose", 2, 1, 2, 2, 4, 3, 2, padding=((-1, 0),))
    plan = ca.plan(neg, "float32")
    assert plan.expression == EMULATED and "p >= 0" in plan.reason and plan.details.label == "crop_extend"
    assert "chainer.functions.bias(y, b, axis=1)" in plan.call
    asym = make_case("conv", 2, 1, 2, 2, 5, 3, 1, padding=((1, 0),))
    plan = ca.plan(asym, "float32")
    assert plan.expression == EMULATED and "Chainer pads (p, p)" in plan.reason and plan.details.label == "pre_pad"
    assert "xp = chainer.functions.pad(x, [(0, 0), (0, 0), (1, 0), (1, 0)], 'constant')" in plan.call
    plan = adapters.get("chainer").plan(asym, "bfloat16")  # the registry checks the dtype
    assert plan.expression == UNSUPPORTED and plan.reason.startswith("chainer has no bfloat16")


def test_program_is_the_whole_computation():
    """Setup casts and wraps each array as a Variable, the cotangent too; chainer.grad takes the
    gradients; the outputs go back through numpy.asarray(v.array, dtype=numpy.float64)."""
    program = ca.plan(make_case("conv", 1, padding=((1, 1),)), "float16").program
    assert program.autodiff == pg.STEPS and program.leaves == ("x", "w", "b")
    assert [pg.render(s) for s in program.cotangent] == ["g = g.astype(numpy.float16)", "g = chainer.Variable(g)"]
    assert [pg.render(s) for s in program.gradient] == ["dx, dw, db = chainer.grad([y], [x, w, b], grad_outputs=[g])"]
    assert pg.render(program.output_steps("dw")[0]) == "dw = numpy.asarray(dw.array, dtype=numpy.float64)"
    assert pg.names_used(program) <= {"chainer", "numpy", "x", "w", "b", "xp", "y"}
    assert "no channels-last" in ca.plan(make_case(layout="channels_last"), "float32").call


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
            assert all(r["status"] in ("pass", "error") or expected_deviation(r) for r in rows)
            assert any("chainer backward failed" in r["message"] for r in rows if r["status"] == "error")
            continue
        bad = [(r["quantity"], r["status"], r["message"]) for r in rows if r["status"] != "pass"
               and not expected_deviation(r)]
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


def test_run_config_is_chainers_default(chainer_adapter):
    """run() sets train=True and use_ideep='never'; the printed script relies on the defaults, which
    are the same (and no iDeep here to use)."""
    import chainer

    assert chainer.config.train is True and chainer.config.use_ideep == "never"
    assert not chainer.backends.intel64.is_ideep_available()


def _modules():
    import chainer

    return {"chainer": chainer, "numpy": np}


def test_refusals(chainer_adapter, monkeypatch):
    """NotImplementedError in the forward or in chainer.grad is Unsupported; any other failure of
    chainer.grad is a RuntimeError naming the backward."""
    import chainer

    case = make_case("conv", 2, padding=((1, 1),))
    plan = ca.plan(case, "float32")
    inputs = reference(case, "float32").inputs

    def raising(exc):
        def f(*args, **kwargs):
            raise exc
        return f

    monkeypatch.setattr(chainer.functions, "convolution_2d", raising(NotImplementedError("no such kernel")))
    with pytest.raises(Unsupported, match="^chainer: NotImplementedError: no such kernel$"):
        ca.run(case, "float32", inputs, plan)
    monkeypatch.undo()
    monkeypatch.setattr(chainer, "grad", raising(NotImplementedError("double backprop")))
    with pytest.raises(Unsupported, match="^chainer backward: NotImplementedError: double backprop$"):
        ca.run(case, "float32", inputs, plan)
    monkeypatch.setattr(chainer, "grad", raising(ValueError("shape-mismatch for sum\nmore")))
    with pytest.raises(RuntimeError, match=r"^chainer backward failed \(ValueError: shape-mismatch for sum\)$"):
        ca.run(case, "float32", inputs, plan)


def test_native_weight_gives_the_same_numbers(chainer_adapter):
    """weight_to_native's W, fed to chainer.functions with groups, computes what run() computes."""

    for case in (make_case("conv", 2, 1, 4, 6, 6, 3, 2, groups=2, padding=((1, 1),)),
                 make_case("conv_transpose", 1, 1, 6, 4, 5, 3, 2, groups=2, padding=((1, 1),)),
                 make_case("conv", 3, 1, 3, 3, 4, 2, 1, groups=3, padding=((0, 0),), bias=False)):
        inputs = reference(case, "float64").inputs
        env = pg.execute(cp.weight_to_native(case), {"numpy": np, "w_torch": inputs.w})
        op = pg.resolve(cp.function_name(case), _modules())
        y = op(inputs.x, env["w_chainer"], inputs.b, stride=case.stride, pad=tuple(lo for lo, _ in case.padding),
               dilate=case.dilation, groups=case.groups).array
        got = ca.run(case, "float64", inputs, ca.plan(case, "float64"))
        assert np.array_equal(y, got["y"]), case


def _layer_cases():
    """Library cases of every (formulation, link, op, ndim) the layer program has, and random ones."""
    cases, _ = loader.load_paths(["cases"], stacks=False)
    seen, chosen = set(), []
    for case in cases:
        key = (cp.spelling(case).label, cp.link_name(case, cp.spelling(case)), case.op, case.ndim)
        if key not in seen and (not case.frameworks or "chainer" in case.frameworks):
            seen.add(key)
            chosen.append(case)
    rng = np.random.default_rng(5300)
    return chosen + [random_case(rng, id=f"chainer_layer_{n}") for n in range(12)]


def test_layer_program_gives_runs_y(chainer_adapter):
    """chainer.links with W and b loaded through initializers.Constant: the printed layer script's y
    is run()'s y bit for bit (the links call the same functions), in every dtype."""
    labels, failures = set(), []
    for case in _layer_cases():
        for dtype in ("float64", "float32", "float16"):
            inputs = reference(case, dtype).inputs
            plan = ca.plan(case, dtype)
            y = pg.run(plan.program, _modules(), {**inputs.as_dict(), "g": None})["y"]  # run()'s forward
            layer = cp.layer_program(case, dtype)
            assert layer is not None
            got = printed.execute_script(layer, inputs.as_dict(), gradients=False)["y"]
            labels.add((plan.details.label, cp.link_name(case, plan.details).rpartition(".")[2]))
            if not (got.shape == y.shape and np.array_equal(got, y, equal_nan=True)):
                failures.append(f"{case.id} {dtype}: {layer.source()}")
    assert not failures, "\n".join(failures)
    assert {"native", "native+cover_all", "native+outsize", "pre_pad", "crop_extend"} == {lab for lab, _ in labels}
    assert {"Convolution2D", "ConvolutionND", "Deconvolution2D", "DeconvolutionND"} == {link for _, link in labels}
