"""The tinygrad adapter against the oracle (tinygrad 0.14.0, CPU device compiled by clang 14).

Measured: Tensor.conv2d / conv_transpose2d agree with the oracle forward and backward (Tensor.gradient)
in float64, float32, float16 and (under tinygrad's own emulation, clang 14 having no __bf16) bfloat16,
1D to 3D, with groups, dilation, strides, asymmetric and negative padding, native and emulated. Each
item compiles its kernels (clang, once per shape: ~1-2 s on one core), so the random cases are few.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import adapters, printed
from harness.adapters import tinygrad_adapter as ta
from harness.adapters import tinygrad_padding as tgp
from harness.adapters.base import EMULATED, NATIVE, Unsupported
from harness.runner import reference, run_item
from tests.helpers import assert_all_pass, contract_failing, make_case, seeded_cases


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "tinygrad", ("harness.adapters.tinygrad_adapter", "tensor"))


# ------------------------------------------------------------------------------------------------
# availability (no tinygrad needed)


def test_available_never_raises(monkeypatch):
    import importlib.util

    def broken(name, *a, **kw):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", broken)
    assert ta.available() is False


def test_not_available_without_clang(monkeypatch):
    """The CPU device cannot start without its compiler ("RuntimeError: no usable devices"): skipped rows."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw: None)
    assert ta.available() is False
    rows = run_item(make_case(), "float32", adapters.get("tinygrad"))
    assert {r["status"] for r in rows} == {"skipped"}


# ------------------------------------------------------------------------------------------------
# against tinygrad itself


@pytest.fixture
def tinygrad():
    tg = pytest.importorskip("tinygrad")
    if not ta.available():
        pytest.skip("tinygrad's CPU device needs clang on PATH")
    return tg


def _tensor(tg, a):
    return tg.Tensor(a, dtype=tg.dtypes.float64, device="CPU")


def test_measured_vocabulary(tinygrad):
    """Per-side padding is last axis first (a non-square input and kernel: H and W swapped would give
    another shape), and tinygrad shrinks before it pads: a crop past the data raises."""
    x, w = _tensor(tinygrad, np.ones((1, 1, 5, 7))), _tensor(tinygrad, np.ones((1, 1, 2, 3)))
    assert x.conv2d(w, padding=(1, 2, 0, 3)).shape == (1, 1, 7, 8)  # W by (1, 2), H by (0, 3)
    assert x.conv2d(w, padding=(1, 2)).shape == (1, 1, 6, 9)  # per axis (H, W)
    one, k1 = _tensor(tinygrad, np.ones((1, 1, 1))), _tensor(tinygrad, np.ones((1, 1, 1)))
    with pytest.raises(ValueError, match="invalid shrink"):
        one.conv2d(k1, padding=(2, -2)).numpy()
    with pytest.raises(ValueError, match="invalid shrink"):
        one.conv_transpose2d(k1, padding=(2, -2)).numpy()
    assert not tgp.native_reach(make_case("conv", 1, size=1, kernel=1, padding=((2, -2),)))


def test_random_cases_match_the_oracle(tinygrad):
    """Seeded random cases (1D and 2D, both ops, groups, dilation, negative and asymmetric pads) in float32;
    3D is in the hand-picked cases (each item compiles its own kernels: the test stays small)."""
    seen = set()
    for case in seeded_cases("tinygrad", 6100, 4):
        assert_all_pass(run_item(case, "float32", adapters.get("tinygrad"), identities=False), case)
        seen.add((case.op, case.ndim))
    assert seen == {(op, nd) for op in ("conv", "conv_transpose") for nd in (1, 2)}


HAND_PICKED = [
    make_case("conv", 2, 1, 2, 3, (5, 7), (2, 3), (1, 2), padding=((0, 3), (1, 2))),  # per side, non-square
    make_case("conv", 1, 1, 2, 2, 1, 1, padding=((2, -2),)),  # pre_pad
    make_case("conv_transpose", 2, 1, 4, 6, (4, 5), (3, 2), (2, 3), (1, 2), groups=2,
              padding=((2, 0), (1, 0))),  # output_padding
    make_case("conv_transpose", 1, 1, 2, 2, 1, 1, padding=((2, -2),)),  # crop_extend
    make_case("conv_transpose", 3, 1, 3, 3, (3, 2, 4), (2, 3, 1), (1, 2, 2), (2, 1, 1), groups=3,
              padding=((1, 0), (0, 2), (-1, 1))),  # per side, 3D
    make_case("conv", 3, 1, 2, 4, (4, 5, 3), (2, 3, 1), (2, 1, 1), (1, 2, 1), groups=2,
              padding=((1, 1), (2, 2), (0, 0))),  # symmetric, 3D
]


def test_hand_picked_spellings_match_the_oracle(tinygrad):
    labels = set()
    for case in HAND_PICKED:
        plan = ta.plan(case, "float64")
        labels.add(plan.details.label)
        assert plan.expression == (NATIVE if plan.details.native else EMULATED)
        assert_all_pass(run_item(case, "float64", adapters.get("tinygrad"), identities=False), case)
    assert labels == {"native", "native_per_side", "pre_pad", "native_output_padding", "crop_extend"}


def test_low_precision_rows(tinygrad):
    """float16 natively, bfloat16 under tinygrad's emulation where clang has no __bf16 (clang 14)."""
    case = make_case("conv_transpose", 2, 2, 8, 4, 4, 3, 2, padding=((1, 0),))
    assert_all_pass(run_item(case, "float16", adapters.get("tinygrad"), identities=False), case)
    rows = run_item(case, "bfloat16", adapters.get("tinygrad"), identities=False)
    assert_all_pass(rows, case)
    assert {r["expression"] for r in rows} == {EMULATED if not ta.clang_has_bf16() else NATIVE}


def test_bfloat16_needs_the_emulation_here(tinygrad):
    """Without the emulation (a bfloat16 program sets it for the process: reset here), clang 14 cannot
    compile tinygrad's bfloat16 kernels: the gradient's reduce writing a __bf16 buffer fails with
    "__bf16 is not supported on this target" (CalledProcessError from clang)."""
    import subprocess

    from harness.adapters import program as pg

    if ta.clang_has_bf16():
        pytest.skip("this clang has __bf16")
    case = make_case("conv_transpose", 2, 2, 8, 4, 4, 3, 2, padding=((1, 0),))
    program, spelled = tgp.program(case, "bfloat16", bf16_emulated=False)
    assert spelled.native and not program.prelude
    with tinygrad.helpers.Context(EMULATED_DTYPES=""), pytest.raises(subprocess.CalledProcessError):
        pg.run(program, ta.modules(), reference(case, "bfloat16").inputs.as_dict())


def test_same_layer_bug_is_predicted(tinygrad):
    """tinygrad/tinygrad#17805 in 0.14.0: nn.Conv2d(padding='same') with dilation (2, 3) and kernel (3, 5)
    pads the wrong axes; the functional call (explicit padding) is right."""
    import dataclasses

    case = dataclasses.replace(make_case("conv", 2, 1, 2, 3, (9, 11), (3, 5), dilation=(2, 3),
                                         padding=((2, 2), (6, 6))), padding_word="same")
    layer = ta.layer_program(case, "float32")
    y = printed.execute_script(layer, reference(case, "float32").inputs.as_dict(), gradients=False)["y"]
    assert y.shape == (1, 3, 11, 7)
    assert contract_failing(case, "float32", adapters.get("tinygrad"), y)[0]
    assert layer.notes[0].startswith("KNOWN ISSUE")
    ok = dataclasses.replace(case, dilation=(2, 2), padding=((2, 2), (4, 4)))
    y = printed.execute_script(ta.layer_program(ok, "float32"), reference(ok, "float32").inputs.as_dict(), False)["y"]
    assert not contract_failing(ok, "float32", adapters.get("tinygrad"), y)[0]


def test_refusals(tinygrad, monkeypatch):
    case = make_case("conv", 1, padding=((1, 1),))
    inputs = reference(case, "float32").inputs

    def refuse(*a, **kw):
        raise NotImplementedError("no such kernel")

    monkeypatch.setattr(tinygrad.Tensor, "conv2d", refuse)
    with pytest.raises(Unsupported, match="^tinygrad: no such kernel$"):
        ta.run(case, "float32", inputs, ta.plan(case, "float32"))


def test_environment(tinygrad):
    env = ta.environment()
    assert env["tinygrad.device"] == "CPU" and env["tinygrad.renderer"] == "ClangRenderer"
    assert env["tinygrad.clang_bf16"] in ("True", "False")
    assert ta.version() == "0.14.0"
