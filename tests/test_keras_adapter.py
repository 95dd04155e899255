"""The Keras 3 adapter: which canonical cases Keras's vocabulary expresses, and whether they match.

The pure translation is tested in test_keras_padding.py; these tests run keras.ops (and
keras.layers) on the backend KERAS_BACKEND selects (tensorflow by default), and the other installed
backends in a subprocess each. Cases in Keras's own vocabulary are drawn at random with the
canonical padding computed by `harness.translate` (independently of the adapter), so every one of
them must be spelled natively and pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import adapters, loader, printed, translate
from harness.adapters import keras_adapter as ka
from harness.adapters import keras_padding as kp
from harness.adapters.base import NATIVE, UNSUPPORTED
from tests.helpers import make_case, random_case

N_RANDOM = 20
# what a backend may refuse (TensorFlow on CPU), kept as its own message in the row
BACKEND_REFUSALS = ("`strides > 1` not supported in conjunction with `dilation_rate > 1`",
                    "only supports NHWC", "only supports the NHWC", "only supports NDHWC",
                    "do not yet support dilation rates larger than 1")
PLAN_REASONS = ("keras.ops.conv_transpose has no groups", "is neither 'valid' nor 'same' on every axis",
                "no 'valid' / 'same' + output_padding spelling")


# ------------------------------------------------------------------------------------------------
# against the oracle


@pytest.fixture
def keras_adapter(monkeypatch):
    pytest.importorskip("keras")
    if not ka.available():
        pytest.skip(f"keras backend {ka.backend_name()} is not installed")
    monkeypatch.setitem(adapters.REGISTRY, "keras", ("harness.adapters.keras_adapter", "ops"))
    return adapters.get("keras")


def keras_shaped_case(rng: np.random.Generator, seed: int):
    """A random case written in Keras's vocabulary (word, optional output_shape), made canonical
    by harness.translate like the loader does."""
    while True:
        op = ("conv", "conv_transpose")[seed % 2]
        nd = 1 + (seed // 2) % 3
        word = ("valid", "same")[int(rng.integers(0, 2))]
        groups = int(rng.choice([1, 2])) if op == "conv" else 1
        kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
        stride = tuple(int(v) for v in rng.integers(1, 4, nd))
        dilation = tuple(1 if s > 1 and op == "conv" else int(rng.integers(1, 3)) for s in stride)
        size = tuple(int(v) for v in rng.integers(2, 6 if nd < 3 else 4, nd))
        axes = list(zip(size, kernel, stride, dilation))
        output_shape = None
        if op == "conv":
            if word == "valid" and any(i < translate.effective_kernel(k, d) for i, k, _, d in axes):
                continue
            pads = tuple(translate.conv_word_padding(word, *a) for a in axes)
        else:
            if rng.integers(0, 2):
                output_shape = tuple(int(rng.integers(*np.add(translate.transpose_length_range(word, *a), (0, 1))))
                                     for a in axes)
            lengths = output_shape or tuple(translate.transpose_default_length(word, *a) for a in axes)
            pads = tuple(translate.transpose_word_crop(word, *a, o) for a, o in zip(axes, lengths))
        layout = ("channels_first", "channels_last")[(seed // 6) % 2]
        return make_case(op, nd, int(rng.integers(1, 3)), groups * 2, groups * int(rng.integers(1, 3)), size,
                         kernel, stride, dilation, groups, bool(rng.integers(0, 2)), pads, layout=layout,
                         padding_word=word, output_shape=output_shape, id=f"keras_shaped_{seed}")


KERAS_SHAPED = [keras_shaped_case(np.random.default_rng(4400 + s), s) for s in range(N_RANDOM)]


def test_keras_shaped_cases_are_all_spelled_natively():
    for case in KERAS_SHAPED:
        plan = ka.plan(case, "float32")
        assert plan.expression == NATIVE, (case, plan.reason)


def test_keras_shaped_cases_match_the_oracle(keras_adapter):
    from harness.runner import run_item

    for case in KERAS_SHAPED:
        rows = run_item(case, "float32", keras_adapter, identities=True)
        for r in rows:
            if r["status"] == "unsupported":
                assert any(m in r["message"] for m in BACKEND_REFUSALS + PLAN_REASONS), r["message"]
            else:
                assert r["status"] == "pass", (case.id, r["quantity"], r["status"], r["message"], r.get("call"))
        assert any(r["status"] == "pass" for r in rows if r["quantity"] == "y") or case.groups > 1 or \
            any(d > 1 for d in case.dilation), case


def test_random_canonical_cases_pass_or_say_why(keras_adapter):
    from harness.runner import run_item

    passed = 0
    for seed in range(N_RANDOM):
        case = random_case(np.random.default_rng(4500 + seed), id=f"keras_random_{seed}",
                           layout=("channels_first", "channels_last")[seed % 2])
        rows = run_item(case, "float32", keras_adapter, identities=True)
        for r in rows:
            if r["status"] == "unsupported":
                assert any(m in r["message"] for m in BACKEND_REFUSALS + PLAN_REASONS), r["message"]
            else:
                assert r["status"] == "pass", (case.id, r["quantity"], r["message"])
                passed += r["quantity"] == "y"
    assert passed >= 1


@pytest.mark.skipif(ka.backend_name() != "tensorflow", reason="what TensorFlow on CPU refuses")
def test_tensorflow_cpu_refuses_nchw_float64_but_computes_nhwc(keras_adapter):
    from harness.runner import run_item

    for op, pads in (("conv", ((1, 1), (1, 1))), ("conv_transpose", ((0, 1), (0, 1)))):
        for layout, expect in (("channels_first", "unsupported"), ("channels_last", "pass")):
            case = make_case(op, 2, 2, 2, 3, 6, 3, 1 if op == "conv" else 2, padding=pads, padding_word="same",
                             layout=layout)
            rows = {r["quantity"]: r for r in run_item(case, "float64", keras_adapter)}
            assert {r["status"] for r in rows.values()} == {expect}, (op, layout, rows["y"]["message"])
            if expect == "unsupported":
                assert "NHWC" in rows["y"]["message"] and rows["y"]["message"].startswith("keras[tensorflow]")


def test_grouped_conv_passes_and_grouped_transpose_is_unsupported(keras_adapter):
    from harness.runner import run_item

    conv = make_case("conv", 2, 2, 4, 6, 5, 3, 1, groups=2, padding=((1, 1),), padding_word="same",
                     layout="channels_last")
    rows = run_item(conv, "float32", keras_adapter, identities=False)
    assert {r["status"] for r in rows} == {"pass"}
    convt = make_case("conv_transpose", 2, 2, 4, 6, 5, 3, 1, groups=2, padding=((1, 1),))
    plan = ka.plan(convt, "float32")
    assert plan.expression == UNSUPPORTED and plan.reason == "keras.ops.conv_transpose has no groups"
    rows = run_item(convt, "float32", keras_adapter)
    assert {r["status"] for r in rows} == {"unsupported"}


def test_environment_records_the_backend(keras_adapter):
    env = ka.environment()
    assert env["keras.backend"] == ka.backend_name()
    assert ka.backend_name() in ka.version()


def test_plan_details_name_the_spelling():
    plan = ka.plan(KERAS_SHAPED[1], "float32")
    assert plan.details == kp.spelling(KERAS_SHAPED[1]) and printed.formulation(plan) == plan.details.label
    assert plan.call == plan.program.source() and "keras.ops.conv_transpose(x, w, " in plan.call


# ------------------------------------------------------------------------------------------------
# the layer


def _layer_cases():
    """Library cases of each (op, ndim, layout) with a Keras layer, then the Keras-shaped ones."""
    cases, _ = loader.load_paths([Path(__file__).resolve().parent.parent / "cases"], stacks=False)
    seen, chosen = set(), []
    for case in cases + KERAS_SHAPED:
        key = (case.op, case.ndim, case.layout, case.bias, case.groups > 1)
        if key not in seen and kp.layer_program(case, "float32") is not None:
            seen.add(key)
            chosen.append(case)
    return chosen


def _misplaced_bias(case, y_shape) -> bool:
    """Keras's TF backend adds a bias with tf.nn.bias_add, guessing the channel axis from shapes
    (keras/src/backend/tensorflow/numpy.py `add`, since keras-team/keras#20386): NHWC whenever the
    last axis has the bias's length. A channels-first layer output whose last spatial length equals
    its filters (> 1) gets the bias along that spatial axis."""
    assert y_shape[-1] == case.y_shape[-1]
    return kp.layer_bias_misplaced(case, ka.backend_name())


def _layer_y(keras_adapter, case, dtype):
    """(run's y, the printed layer script's y, the inputs), or None where TF refuses the case."""
    from harness.adapters.base import Unsupported
    from harness.runner import reference

    inputs = reference(case, dtype).inputs
    try:
        got = keras_adapter.run(case, dtype, inputs, keras_adapter.plan(case, dtype))
    except Unsupported:  # TF on CPU: NCHW float64, strides with dilation
        return None
    layer = kp.layer_program(case, dtype, ka.backend_name())
    return got["y"], printed.execute_script(layer, inputs.as_dict(), gradients=False)["y"], inputs


def test_layer_program_computes_what_run_computes(keras_adapter):
    """keras.layers.Conv*D / Conv*DTranspose loaded with the canonical weights, printed and executed in a
    fresh namespace, give adapter.run's y bit for bit (the layers call keras.ops.conv / conv_transpose
    and add the bias as the program does), except where Keras's TF backend misplaces the bias."""
    compared = 0
    for case in _layer_cases():
        for dtype in ("float32", "float64"):
            if (found := _layer_y(keras_adapter, case, dtype)) is None:
                continue
            y, layer_y, _ = found
            if _misplaced_bias(case, y.shape):
                continue  # test_layer_bias_on_channels_first_output
            assert np.array_equal(layer_y, y, equal_nan=True), (case.id, dtype)  # NaN: inputs with_inf
            compared += 1
    assert compared >= 10


# y: (2, 6, 7, 6): width 6 == filters 6
WIDTH_IS_FILTERS = make_case("conv", 2, 2, 4, 6, (9, 8), 3, padding=((0, 0),), padding_word="valid", bias=True)


@pytest.mark.xfail(ka.backend_name() == "tensorflow", strict=False,
                   reason="Keras's TF backend adds a channels-first layer's bias along the last axis when that "
                          "axis has `filters` entries (tf.nn.bias_add with a guessed NHWC, keras-team/keras#20386)")
def test_layer_bias_on_channels_first_output(keras_adapter):
    y, layer_y, _ = _layer_y(keras_adapter, WIDTH_IS_FILTERS, "float32")
    assert np.array_equal(layer_y, y)


def test_layer_bias_misplacement_is_the_only_difference(keras_adapter):
    """What the xfail above records: the layer's y is run's y with the bias moved to the last axis."""
    y, layer_y, inputs = _layer_y(keras_adapter, WIDTH_IS_FILTERS, "float32")
    assert _misplaced_bias(WIDTH_IS_FILTERS, y.shape) == (ka.backend_name() == "tensorflow")
    misplaced = y - inputs.b.reshape(1, -1, 1, 1) + inputs.b  # the bias broadcast on the last axis
    assert np.array_equal(layer_y, y) or np.allclose(layer_y, misplaced, atol=1e-5)
    assert not np.allclose(misplaced, y, atol=1e-3)  # the two differ: the check above tells them apart


# ------------------------------------------------------------------------------------------------
# the other backends, one subprocess each (KERAS_BACKEND is read once, when keras is imported)

OTHER_BACKEND = """
import numpy as np
from harness import adapters, printed
from harness.adapters import keras_adapter as ka, keras_padding as kp
from harness.runner import reference
from tests.test_keras_adapter import KERAS_SHAPED

adapter = adapters.get("keras")
assert ka._keras().backend.backend() == "{backend}"
for case in KERAS_SHAPED[:8]:
    for dtype in ("float32", "float64"):
        outcome = printed.check(adapter, case, dtype)
        assert outcome.same, (case.id, dtype, outcome)
        layer = kp.layer_program(case, dtype, "{backend}")
        if layer is not None:
            inputs = reference(case, dtype).inputs
            y = adapter.run(case, dtype, inputs, adapter.plan(case, dtype))["y"]
            assert np.array_equal(printed.execute_script(layer, inputs.as_dict(), False)["y"], y), case.id
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backend_runs_the_printed_program(backend):
    """The VJP (jax, under jax.jit) and STEPS (torch.autograd.grad) programs: the printed script gives
    run()'s numbers bit for bit, and so does the layer."""
    pytest.importorskip("keras")
    pytest.importorskip(backend)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", OTHER_BACKEND.format(backend=backend)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
