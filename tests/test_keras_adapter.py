"""The Keras 3 adapter: which canonical cases Keras's vocabulary expresses, and whether they match.

The pure translation is tested first (no keras import needed); the rest runs keras.ops on the
backend KERAS_BACKEND selects (tensorflow by default). Cases in Keras's own vocabulary are drawn
at random with the canonical padding computed by `harness.translate` (independently of the
adapter), so every one of them must be spelled natively and pass.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness import adapters, translate
from harness.adapters import keras_adapter as ka
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
# pure translation


def test_conv_words():
    assert ka.conv_words(7, 3, 1, 1, 1, 1) == ("same",)
    assert ka.conv_words(7, 3, 1, 1, 0, 0) == ("valid",)
    # k=1, s=1: same and valid both pad nothing
    assert ka.conv_words(5, 1, 1, 1, 0, 0) == ("valid", "same")
    # i=6, k=3, s=2: TF SAME pads (0, 1), PyTorch's padding=1 pads (1, 1): not Keras
    assert ka.conv_words(6, 3, 2, 1, 1, 1) == ()
    assert ka.conv_words(6, 3, 2, 1, 0, 1) == ("same",)
    # a trailing pad that no window reaches computes what valid computes
    assert ka.conv_words(7, 3, 2, 1, 0, 1) == ("valid",)
    assert ka.conv_words(6, 2, 2, 1, 0, 1) == ("valid", "same")


def test_transpose_lengths_and_crops():
    # k=3, s=2, i=5: F = 11; same → 10, crop (0, 1); valid → 11, crop (0, 0)
    assert ka.transpose_length("same", 5, 3, 2, 1, None) == 10
    assert ka.transpose_crop("same", 5, 3, 2, 1, None) == (0, 1)
    assert ka.transpose_crop("valid", 5, 3, 2, 1, None) == (0, 0)
    assert ka.transpose_crop("valid", 5, 3, 2, 1, 1) == (0, -1)
    # k=2, s=3: valid appends a zero (max(e, s) = s)
    assert ka.transpose_crop("valid", 4, 2, 3, 1, None) == (0, -1)
    # same + output_padding: (i-1)*s + e%2 + op; op=0 with an even kernel is refused by TF
    assert ka.transpose_length("same", 5, 4, 2, 1, 1) == 9
    assert ka.transpose_crop("same", 5, 4, 2, 1, 0) is None


def test_transpose_spelling():
    case = make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((0, 1),), padding_word="same")
    assert ka.transpose_spelling(case) == ("same", None)
    # PyTorch's padding=1, output_padding=1 (crop (1, 0)) has no Keras spelling for k=3, s=2
    assert ka.transpose_spelling(make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((1, 0),))) is None
    # per-axis output_padding
    case = make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((0, -1), (0, 0)))
    assert ka.transpose_spelling(case) == ("valid", (1, 0))


def test_transpose_length_is_keras_own_formula():
    backend_utils = pytest.importorskip("keras.src.backend.common.backend_utils")
    own = backend_utils._get_output_shape_given_tf_padding
    for i, k, s, d, word in itertools.product(range(1, 5), range(1, 5), range(1, 4), range(1, 3), ("valid", "same")):
        for op in (None, *range(max(s, d))):
            assert ka.transpose_length(word, i, k, s, d, op) == own(i, k, s, word, op, d), (i, k, s, d, word, op)


def test_kernel_permutation():
    assert ka.kernel_permutation(2) == (2, 3, 1, 0)
    assert ka._perms(3) == ((0, 2, 3, 4, 1), (0, 4, 1, 2, 3))


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
