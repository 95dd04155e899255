"""The stack library (cases/stacks): every file loads, each stack reaches the sizes its seed says,
and the generator spelled two ways shows what a TF → PyTorch port of SAME k5 s2 gets wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import loader
from harness.stack import judge
from harness.stack.reference import reference

STACKS = Path(__file__).resolve().parents[1] / "cases" / "stacks"


def _library() -> dict:
    cases, errors = loader.load_paths([STACKS])
    assert not errors, errors
    return {c.id: c for c in cases}


def test_every_stack_reaches_its_seed_sizes():
    lib = _library()
    seed000 = [c for i, c in lib.items() if i.startswith("seed000_")]
    assert len(seed000) == 8 and len(lib) >= 16
    for case in seed000:
        want = (3, 50, 200) if case.id.endswith("2d") else (3, 12, 48, 24)
        assert case.layers[-1].out_shape == want, case.id
    sizes = {i: lib[i].layers[-1].out_shape for i in ("tf_dcgan_generator_64", "pytorch_dcgan_generator_64",
                                                        "chainer_dcgan_generator_32", "chainer_dcgan_generator_96")}
    assert sizes == {"tf_dcgan_generator_64": (3, 64, 64), "pytorch_dcgan_generator_64": (3, 64, 64),
                     "chainer_dcgan_generator_32": (3, 32, 32), "chainer_dcgan_generator_96": (3, 96, 96)}
    assert "slow" in lib["chainer_dcgan_generator_96"].marks
    unet = lib["unet_decoder_skip_concat"]
    assert [lay.source for lay in unet.layers if lay.kind == "concat"] == [3, 1]


def _pair():
    lib = _library()
    tf_case, torch_case = lib["generator_tf_same_spelling"], lib["generator_torch_padding2_outpad1_spelling"]
    # the same shapes everywhere, so the same stack id gives both the same seeded parameters
    assert [lay.out_shape for lay in tf_case.layers] == [lay.out_shape for lay in torch_case.layers]
    return tf_case, torch_case


def test_tf_same_and_the_usual_pytorch_port_are_one_pixel_apart():
    tf_case, torch_case = _pair()
    assert tf_case.layers[0].case.padding == ((1, 2), (1, 2))
    assert torch_case.layers[0].case.padding == ((2, 1), (2, 1))
    tf_ref = reference("generator-pair", list(tf_case.layers), 2, "float64")
    torch_ref = reference("generator-pair", list(torch_case.layers), 2, "float64")
    assert np.array_equal(tf_ref.x, torch_ref.x)
    first_tf, first_torch = tf_ref.outputs[0], torch_ref.outputs[0]
    # the same full output, cropped one pixel later by PyTorch: torch[i] == tf[i + 1]
    assert np.array_equal(first_torch[:, :, :-1, :-1], first_tf[:, :, 1:, 1:])
    assert not np.allclose(first_torch, first_tf)
    gap = np.abs(tf_ref.outputs[-1] - torch_ref.outputs[-1]).max()
    assert gap > 1e6 * tf_ref.bounds[-1].max(), "the port is a different network, far outside any bound"


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_each_spelling_agrees_with_the_oracle_in_each_framework(framework):
    pytest.importorskip(framework)
    from harness import adapters
    from harness.stack import runners

    run = runners.runner(adapters.get(framework))
    for case in _pair():
        ref = reference("generator-pair", list(case.layers), 2, "float32")
        got = run.run(case.layers, ref, "float32")
        found = judge.verdicts(list(case.layers), ref, got["outputs"], "float32")
        assert judge.blame(found) is None and max(v.e2e_ratio for v in found) <= 1, (case.id, found)
