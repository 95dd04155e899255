"""The shape solver against the frameworks themselves: brute force over small parameter ranges
(running torch and ONNX Runtime for every configuration and reading the output length), never the
solver's own formulas."""

from __future__ import annotations

import numpy as np
import pytest

from harness import cli
from harness.solve import candidates, solve

LIMITS = dict(max_kernel=5, max_stride=3, max_dilation=2)


def _torch_lengths(op: str, i: int):
    """{(k, s, d, p, output_padding): length} for torch's own conv1d / conv_transpose1d."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.zeros(1, 1, i)
    found = {}
    for k in range(1, LIMITS["max_kernel"] + 1):
        w = torch.zeros(1, 1, k)
        for s in range(1, LIMITS["max_stride"] + 1):
            for d in range(1, LIMITS["max_dilation"] + 1):
                for p in range(d * (k - 1) + 1):
                    for extra in (range(max(s, d)) if op_is_t(op) else [0]):
                        try:
                            y = (F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=extra, dilation=d)
                                 if op_is_t(op) else F.conv1d(x, w, stride=s, padding=p, dilation=d))
                        except RuntimeError:
                            continue
                        found[k, s, d, p, extra] = y.shape[-1]
    return found


def op_is_t(op: str) -> bool:
    return op == "conv_transpose"


@pytest.mark.parametrize("op", ["conv_transpose", "conv"])
@pytest.mark.parametrize("i", [3, 5, 14])
def test_torch_native_solutions_are_exactly_what_torch_computes(op, i):
    lengths = _torch_lengths(op, i)
    for o in sorted(set(lengths.values()))[:: max(1, len(set(lengths.values())) // 6)]:
        want = {key for key, n in lengths.items() if n == o}
        got = set()
        for s in solve(op, i, o, frameworks=["torch"], **LIMITS):
            if "torch" in s.native_in:
                lo, hi = s.padding
                got.add((s.kernel, s.stride, s.dilation, lo, lo - hi if op_is_t(op) else 0))
        assert got == want, (op, i, o, sorted(got ^ want))


def test_onnxruntime_explicit_pads_agree_with_the_solver():
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    i, found = 4, {}
    x = np.zeros((1, 1, i), np.float32)
    for k in range(1, 4):
        for s in range(1, 4):
            for lo in range(k):
                for hi in range(k):
                    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[k], strides=[s],
                                            pads=[lo, hi])
                    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
                                                            helper.make_tensor_value_info("w", TensorProto.FLOAT, None)],
                                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
                    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                    model.ir_version = 8
                    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
                    try:
                        y = sess.run(None, {"x": x, "w": np.zeros((1, 1, k), np.float32)})[0]
                    except Exception:  # noqa: BLE001 - a configuration ORT refuses (empty output)
                        continue
                    found[k, s, lo, hi] = y.shape[-1]
    for o in sorted(set(found.values())):
        want = {key for key, n in found.items() if n == o}
        got = {(c.kernel, c.stride, *c.padding) for c in candidates("conv_transpose", i, o, max_kernel=3, max_stride=3)
               if c.padding[1] >= 0 and c.padding[0] < c.kernel and c.padding[1] < c.kernel}
        assert got == want, (o, sorted(got ^ want))


def test_the_seed_decoder_question_14_to_28():
    """The seed's ConvTranspose2d(32, 1, kernel_size=3, stride=2, padding=1, output_padding=1) is a
    solution, flagged uneven (its taps alternate 1 and 2: the checkerboard); even ones come first."""
    found = solve("conv_transpose", 14, 28, frameworks=["torch"])
    seed = [s for s in found if (s.kernel, s.stride, s.dilation, s.padding) == (3, 2, 1, (1, 0))]
    assert seed and "torch" in seed[0].native_in and seed[0].taps == (1, 2) and not seed[0].even_overlap
    assert "padding=(1,), output_padding=(1,)" in seed[0].spellings[0].call
    assert found[0].even_overlap and (found[0].kernel, found[0].stride, found[0].padding) == (2, 2, (0, 0))
    order = [(min(s.padding) < 0, not s.even_overlap) for s in found]
    assert order == sorted(order)


def test_cli_solve(capsys):
    assert cli.main(["solve", "--input", "14", "14", "--output", "28", "28", "-f", "torch", "--kernel", "3"]) == 0
    out = capsys.readouterr().out
    assert "axis 0, 1: conv_transpose 14 → 28" in out and "1-2 uneven" in out and "checkerboard artifacts" in out
    assert "torch.nn.functional.conv_transpose1d(x, w, None, padding=(1,), output_padding=(1,)" in out
    assert cli.main(["solve", "--input", "4", "--output", "100", "--kernel", "2", "--stride", "2"]) == 1
    assert cli.main(["solve", "--input", "4", "5", "--output", "8"]) == 2
