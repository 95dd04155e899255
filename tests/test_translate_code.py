"""What `harness translate` prints beyond the functional call is executed here: every adapter's layer
object on the library's formulations (against the oracle, and counted bit-identical to run()), and the
weight conversions between every pair of frameworks (round trips, and A → B equal to torch → B)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness import adapters, printed, translations
from harness.adapters import program as pg
from harness.adapters.base import refusal
from harness.runner import reference
from tests.helpers import contract_failing, make_case
from tests.test_printed_code import _library, _one_per_formulation


@pytest.mark.parametrize("name", list(adapters.REGISTRY))
def test_layer_objects_compute_the_case(name):
    adapter = adapters.get(name)
    if not adapter.available():
        pytest.skip(f"{adapter.library} is not installed here")
    checked, failures = 0, []
    for case, dtype in _one_per_formulation(adapter, _library(), limit=80):
        layer = adapter.layer_program(case, dtype)
        if layer is None:
            continue
        ref = reference(case, dtype)
        try:
            namespace = printed.execute_script(layer, ref.inputs.as_dict(), gradients=False)
        except Exception as exc:  # noqa: BLE001 - the framework refusing the layer, as it refuses the call
            assert refusal(exc), f"{case.id} {dtype}: {type(exc).__name__}: {exc}"
            continue
        failing, message = contract_failing(case, dtype, adapter, namespace["y"])
        checked += 1
        flagged = any(n.startswith("KNOWN ISSUE") for n in layer.notes)  # printed above the layer, strict
        if failing != flagged and not adapter.known_issue(case, dtype):
            failures.append(f"{case.id} {dtype}: failing {failing}: {message}, flagged as known: {flagged}")
    assert not failures, "\n".join(failures)
    if not checked:  # no layer object (TF, ONNX), or its library missing (flax): the adapter's tests say which
        pytest.skip(f"{name}: no layer program here")


CASES = [make_case("conv", groups=2, cin=4, cout=6, kernel=(2, 3)),
         make_case("conv_transpose", groups=2, cin=4, cout=6, kernel=(3, 2), stride=2),
         make_case("conv_transpose", ndim=1, groups=1, cin=3, cout=2, kernel=3),
         make_case("conv", ndim=3, groups=3, cin=3, cout=6, kernel=(1, 2, 3), size=5)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}{c.ndim}d_g{c.groups}")
def test_weight_conversions_between_every_pair(case):
    w_torch = np.random.default_rng(0).normal(size=case.w_shape)
    names = [n for n in adapters.REGISTRY if adapters.get(n).weight_steps(case)[0]]
    native = {"torch": ("w_torch", w_torch)}  # the canonical layout: no steps either way
    for name in names:
        to_native, from_native = adapters.get(name).weight_steps(case)
        env = pg.execute(to_native, {"numpy": np, "w_torch": w_torch.copy()})
        native[name] = (to_native[-1].out, env[to_native[-1].out])
        back = pg.execute(from_native, {"numpy": np, native[name][0]: native[name][1].copy()})
        np.testing.assert_array_equal(back["w_torch"], w_torch, err_msg=f"{name}: from_native(to_native(w))")
    assert {"tensorflow", "jax", "keras", "onnxruntime", "chainer"} <= set(names)  # pure: no framework needed
    for a, b in itertools.permutations(["torch", *names], 2):
        steps = translations.weight_conversion(case, adapters.get(a), adapters.get(b))
        env = pg.execute(steps, {"numpy": np, native[a][0]: native[a][1].copy()})
        np.testing.assert_array_equal(env[native[b][0]], native[b][1], err_msg=f"{a} → {b}")
