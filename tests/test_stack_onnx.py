"""Stacks as one ONNX graph, run by onnxruntime and by onnx.reference, judged layer by layer against the
oracle: the generator of tests/test_stack.py, a small conditional U-Net decoder (concat, condition), a
3-D stack (conv_transpose3d, unpool), the adapter's emulations as nodes, a wrong middle node blamed on
its layer alone, and what onnxruntime refuses (float64 kernels) or computes otherwise (float16)."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from harness.stack import judge, spec
from harness.stack.model import StackUnsupported
from harness.stack.reference import reference
from tests.test_stack import _stack

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from harness.stack import onnx_stack  # noqa: E402 - after the skips

RUNTIMES = onnx_stack.RUNTIMES
UNET = [{"conv2d": {"out_channels": 4, "kernel": 3, "padding": 1}}, "relu",
        {"conv2d": {"out_channels": 8, "kernel": 4, "stride": 2, "padding": 1}}, "relu",
        {"condition": {"features": 3}},
        {"conv_transpose2d": {"out_channels": 4, "kernel": 4, "stride": 2, "padding": 1}},
        {"concat": {"from": 1}},
        {"conv2d": {"out_channels": 2, "kernel": 3, "padding": 1}}]
VOLUME = [{"conv_transpose3d": {"out_channels": 3, "kernel": 3, "stride": 2, "padding": 1}}, {"leaky_relu": {"slope": 0.2}},
          {"unpool": {"ksize": 2, "cover_all": True}},
          {"conv3d": {"out_channels": 2, "kernel": 3, "padding": [1, [0, 2], 1]}}, "sigmoid",
          {"upsample": {"scale": [1, 2, 1]}}]
# canonical paddings ONNX cannot spell: an input crop (a Slice before the Conv), a ConvTranspose's negative
# start crop and zeros appended >= stride (its full output padded, sliced, then the bias added)
EMULATED = [{"conv2d": {"out_channels": 3, "kernel": 3, "padding": [[-1, 1], [1, 0]]}}, "tanh",
            {"conv_transpose2d": {"out_channels": 2, "kernel": 3, "stride": 2, "padding": [[-1, 0], [1, -2]]}}]


def _unet(dtype: str = "float32"):
    layers = spec.layers((3, 8, 8), UNET, batch=2)
    return layers, reference("unet", layers, 2, dtype)


def _within(layers, ref, got, dtype: str):
    found = judge.verdicts(layers, ref, got["outputs"], dtype)
    assert judge.blame(found) is None and max(v.e2e_ratio for v in found) <= 1.0, found
    return found


def _checked(layers, ref, dtype: str):
    m = onnx_stack.model(layers, ref, dtype)
    onnx.checker.check_model(m, full_check=True)
    assert [o.name for o in m.graph.output] == [f"y{lay.index}" for lay in layers]
    return m


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_generator_runs_as_one_graph_inside_every_bound(runtime):
    layers = _stack()
    ref = reference("generator", layers, 2, "float32")
    m = _checked(layers, ref, "float32")
    assert len(m.graph.node) == len(layers)  # nothing emulated: one node per layer
    got = onnx_stack.run(layers, ref, "float32", runtime)
    found = _within(layers, ref, got, "float32")
    assert max(v.local_ratio for v in found) > 1e-3  # the bounds are not vacuous
    assert got["dx"] is None and got["grads"] is None and not onnx_stack.GRADIENTS
    assert got["calls"][4] == "ConvTranspose(dilations=[1, 1], group=1, kernel_shape=[4, 4], pads=[1, 1, 1, 1], strides=[2, 2])"
    assert got["calls"][7] == ("ConvTranspose(auto_pad='SAME_UPPER', dilations=[1, 1], group=1, kernel_shape=[5, 5], "
                               "output_shape=[8, 8], strides=[2, 2])")
    assert got["calls"][9] == "ConvTranspose(dilations=[1, 1], group=4, kernel_shape=[2, 2], pads=[0, 0, 1, 1], strides=[2, 2])"
    assert got["calls"][11] == ("Resize(coordinate_transformation_mode='asymmetric', mode='nearest', nearest_mode='floor', "
                                "scales=[1.0, 1.0, 2.0, 2.0])")
    assert got["calls"][:3] == ["Gemm(transB=1)", "Reshape(shape=[2, 16, 2, 2])", "BatchNormalization(epsilon=1e-05)"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_conditional_unet_decoder_in_float32(runtime):
    layers, ref = _unet()
    _checked(layers, ref, "float32")
    got = onnx_stack.run(layers, ref, "float32", runtime)
    _within(layers, ref, got, "float32")
    assert got["calls"][4] == "Expand(shape=[2, 3, 4, 4]) -> Concat(axis=1)"
    assert got["calls"][6] == "Concat(axis=1)"


def test_the_unet_in_float64_on_the_reference_evaluator_and_what_onnxruntime_refuses():
    """onnxruntime 1.31 CPU has no float64 Conv (nor ConvTranspose, LeakyRelu, Resize): the session names
    the first such node, and the stack is refused at that layer before anything runs."""
    layers, ref = _unet("float64")
    _checked(layers, ref, "float64")
    _within(layers, ref, onnx_stack.run(layers, ref, "float64", "reference"), "float64")
    with pytest.raises(StackUnsupported) as err:
        onnx_stack.run(layers, ref, "float64", "onnxruntime")
    assert (err.value.index, err.value.kind) == (0, "conv") and "NOT_IMPLEMENTED" in err.value.reason
    alone = spec.layers((11, 4, 4), UNET[5:6], batch=2)  # the transposed conv alone
    with pytest.raises(StackUnsupported) as err:
        onnx_stack.run(alone, reference("unet5", alone, 2, "float64"), "float64", "onnxruntime")
    assert (err.value.index, err.value.kind) == (0, "conv_transpose") and "ConvTranspose(22)" in err.value.reason


def test_float64_attributes_onnx_holds_in_32_bits_are_spelled_exactly():
    """BatchNormalization's epsilon and LeakyRelu's alpha are float32 attributes: 1e-5 and 0.2 as they
    are would be off by 2.5e-13 and 1.5e-8 relative (beyond float64's bounds), so float64 folds eps into
    the variance and takes the slope as a PRelu tensor; float32 keeps the plain attributes."""
    layers = _stack()
    ref = reference("generator", layers, 2, "float64")
    got = onnx_stack.run(layers, ref, "float64", "reference")
    _within(layers, ref, got, "float64")
    assert got["calls"][2].startswith("BatchNormalization(epsilon=0.0) [input_var = var + 1e-05")
    assert got["calls"][8].startswith("PRelu(slope=[0.2])")
    assert onnx_stack.calls(onnx_stack.model(layers, reference("generator", layers, 2, "float32"), "float32"))[8] == \
        "LeakyRelu(alpha=0.2)"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_3d_stack_with_a_transposed_conv_and_unpooling(runtime):
    layers = spec.layers((2, 3, 3, 3), VOLUME, batch=1)
    assert [lay.out_shape for lay in layers][-1] == (2, 9, 18, 9)
    for dtype in ("float32", "float64") if runtime == "reference" else ("float32",):
        ref = reference("volume", layers, 1, dtype)
        _checked(layers, ref, dtype)
        got = onnx_stack.run(layers, ref, dtype, runtime)
        _within(layers, ref, got, dtype)
    assert got["calls"][2] == ("ConvTranspose(dilations=[1, 1, 1], group=3, kernel_shape=[2, 2, 2], "
                               "pads=[0, 0, 0, 1, 1, 1], strides=[2, 2, 2])")
    assert got["calls"][5].endswith("scales=[1.0, 1.0, 1.0, 2.0, 1.0])")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_adapters_emulations_are_nodes_that_compute_what_it_computes(runtime):
    """Where the single-case adapter emulates around its node in NumPy, the graph has the same steps as
    nodes: on onnx.reference the outputs equal the single-case program's on the same input, bit for bit
    (onnxruntime runs the stack's 2-D Conv as an NCHWc kernel the single case does not: see below)."""
    from harness.adapters import onnx_adapter
    from harness.adapters import onnx_padding as op
    from harness.adapters import program as pg

    layers = spec.layers((2, 6, 6), EMULATED, batch=2)
    ref = reference("emulated", layers, 2, "float32")
    _checked(layers, ref, "float32")
    got = onnx_stack.run(layers, ref, "float32", runtime)
    _within(layers, ref, got, "float32")
    assert got["calls"][0].startswith("Slice(starts=[1], ends=[6], axes=[2]) -> Conv(")
    assert [c.split("(")[0] for c in got["calls"][2].split(" -> ")] == ["ConvTranspose", "Pad", "Slice", "Add"]
    for i in (0, 2) if runtime == "reference" else (2,):
        prog, _ = op.program(layers[i].case, "float32", runtime)
        x = got["outputs"][i - 1] if i else ref.x
        single = pg.run(prog, onnx_adapter._modules(runtime), {"x": x, **ref.params[i]})["y"]
        assert np.array_equal(single, got["outputs"][i]), i


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="MLAS's NCHWc kernels: measured on x86-64")
def test_onnxruntime_fuses_nothing_across_layers_and_blocks_the_2d_conv(tmp_path):
    """The session as the single-case adapter makes it (default options: ORT_ENABLE_ALL): every layer's
    output is still computed, no layer fused into another; the 2-D Conv (initializer weights) becomes
    com.microsoft.nchwc.Conv, the transposed convs stay ConvTranspose."""
    ort = onnx_stack._ort()
    layers = _stack()
    m = onnx_stack.model(layers, reference("generator", layers, 2, "float32"), "float32")
    options = ort.SessionOptions()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(options.optimized_model_filepath).graph.node
    kinds = [(n.domain, n.op_type) for n in nodes]
    assert {f"y{lay.index}" for lay in layers} <= {o for n in nodes for o in n.output}
    assert kinds.count(("", "ConvTranspose")) == 3 and kinds.count(("com.microsoft.nchwc", "Conv")) == 1
    assert ("", "Gemm") in kinds and kinds.count(("", "BatchNormalization")) == 2
    assert not [k for k in kinds if "Fused" in k[1]]


def _shift_last_axis(nodes):
    """The layer's Conv / ConvTranspose node one pixel off along the last axis (pads begin+1, end-1), or
    with SAME_LOWER for SAME_UPPER: the same shape, wrong values."""
    node = next(n for n in nodes if n.op_type in ("Conv", "ConvTranspose"))
    attrs = {a.name: a for a in node.attribute}
    if "pads" in attrs:
        pads, nd = attrs["pads"].ints, len(attrs["pads"].ints) // 2
        pads[nd - 1] += 1
        pads[2 * nd - 1] -= 1
    else:
        attrs["auto_pad"].s = b"SAME_LOWER"


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("wrong", [4, 7, 10])
def test_a_wrong_middle_node_is_blamed_and_no_other(wrong, runtime):
    layers = _stack()
    ref = reference("generator", layers, 2, "float32")
    got = onnx_stack.run(layers, ref, "float32", runtime, override={wrong: _shift_last_axis})
    found = judge.verdicts(layers, ref, got["outputs"], "float32")
    assert judge.blame(found).index == wrong
    assert [v.index for v in found if not v.local_ok] == [wrong], [(v.name, v.local_ratio) for v in found]
    assert all(v.e2e_ratio <= 1 for v in found[:wrong]) and found[wrong].e2e_ratio > 10
    assert ("SAME_LOWER" if wrong == 7 else "pads=[1, 2, 1, 0]") in got["calls"][wrong]  # the calls say what ran


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="measured on x86-64 (no float16 Conv kernel)")
def test_onnxruntime_float16_keeps_float32_between_nodes_it_has_no_float16_kernel_for():
    """A finding, not a bound to loosen: onnxruntime 1.31 on an x86-64 CPU runs float16 Conv / Relu in
    float32 behind inserted Casts (any optimization level) and does not round between such nodes; a
    graph output is a rounded copy. So layer 2 of the U-Net is not computed from the float16 y1 the graph
    returns: blamed against it (local ratio ~36), inside its bound against the unrounded y1 (the float32
    graph on the same values)."""
    from harness.stack import reference as ref_mod

    layers, ref = _unet("float16")
    got = onnx_stack.run(layers, ref, "float16", "onnxruntime")
    assert judge.blame(judge.verdicts(layers, ref, got["outputs"], "float16")).index == 2
    y1 = onnx_stack.run(layers, ref, "float32", "onnxruntime")["outputs"][1]  # the same values, not rounded
    assert np.array_equal(y1.astype(np.float16).astype(np.float64), got["outputs"][1])
    err = np.abs(got["outputs"][2] - ref_mod.apply(layers[2], ref.params[2], y1))
    assert (err / ref_mod.local_bound(layers[2], ref.params[2], y1, "float16")).max() <= 1.0


def test_known_issues_name_the_layer_onnx_reference_gets_wrong():
    """The single-case adapter's known bugs reach a stack's conv layers: onnx.reference's grouped
    ConvTranspose (with a bias) but not unpooling's depthwise one without."""
    layers = spec.layers((4, 3, 3), [{"conv_transpose2d": {"out_channels": 4, "kernel": 2, "stride": 2, "groups": 2}},
                                     {"unpool": {"ksize": 2}}], batch=1)
    assert list(onnx_stack.known_issues(layers, "float32", "reference")) == [0]
    assert onnx_stack.known_issues(layers, "float32", "onnxruntime") == {}
